"""A real Pledge site for the web tests: the demo shop's declarations (the PESI example published,
then the demo's later version), a few fictional customers in the shop's SQLite databases, and a
mail sink that keeps every message so tests can follow the links in them.

``open_site(tmp_path)`` returns a :class:`Site`; the ``pledge_site`` fixture in ``conftest.py``
opens and closes one per test.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from pledge.config import Secrets, Settings, SmtpSettings
from pledge.declaration import LoadedDeclaration
from pledge.demo.build import pesi_datamap
from pledge.demo.declaration import demo_declarations
from pledge.demo.fake import Person, people
from pledge.demo.seed import seed_shop
from pledge.publish.versions import publish_version
from pledge.requests.mail import OutboxMailer
from pledge.system import Pledge
from pledge.web.app import create_app
from pledge.web.context import Web

BASE = "http://testserver"
ADMIN_KEY = "test-admin-key-0123456789abcdef"
_LINK = re.compile(r"https?://[^\s]+")


class SinkMailer(OutboxMailer):
    """Writes every message to the outbox folder (as the demo does) and keeps it in memory too."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        super().send(message)
        self.sent.append(message)


@dataclass
class Site:
    system: Pledge
    mail: SinkMailer
    persons: list[Person]
    folder: Path
    shop: bool = False
    app: Any = field(init=False)

    def __post_init__(self) -> None:
        self.app = create_app(self.system, shop=self.shop)

    @property
    def web(self) -> Web:
        found: Web = self.app.web
        return found

    @property
    def admin_key(self) -> str:
        return self.system.keys.admin_key

    def client(self, **options: Any) -> TestClient:
        options.setdefault("base_url", BASE)
        return TestClient(self.app, **options)

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def links(self, to: str | None = None) -> list[str]:
        found = []
        for message in self.mail.sent:
            if to is not None and message["To"] != to:
                continue
            body = message.get_body(("plain",))
            found.extend(_LINK.findall(body.get_content() if body is not None else ""))
        return found

    def last_link(self, contains: str, to: str | None = None) -> str:
        matching = [link for link in self.links(to) if contains in link]
        assert matching, f"no mail with a link containing {contains!r}"
        return matching[-1]

    def token(self, contains: str, to: str | None = None) -> str:
        query = parse_qs(urlsplit(self.last_link(contains, to)).query)
        return query["token"][0]

    def close(self) -> None:
        self.system.close()


@functools.cache
def _declarations() -> tuple[LoadedDeclaration, LoadedDeclaration]:
    """Loaded once per test session (immutable): the PESI example and the demo's later version."""
    return demo_declarations(Path(tempfile.mkdtemp(prefix="pledge-web-decl-")))


@functools.cache
def _template(customers: int) -> Path:
    """A site built once per session and copied for each test: migrating and seeding take longer
    than the tests that use them."""
    folder = Path(tempfile.mkdtemp(prefix="pledge-web-site-"))
    _build(folder, customers=customers, clock=None, fresh=True).close()
    return folder


def open_site(
    tmp_path: Path,
    *,
    customers: int = 6,
    shop: bool = False,
    clock: Callable[[], dt.datetime] | None = None,
    worker: bool = False,
    cross_process: bool = False,
) -> Site:
    """A fresh site of its own in ``tmp_path / "site"`` (a copy of the session's template).
    ``cross_process``: hear of other processes' consent writes (see :func:`another_process`)."""
    folder = tmp_path / "site"
    fresh = clock is not None
    if not fresh:
        shutil.copytree(_template(customers), folder)
    site = _build(
        folder, customers=customers, clock=clock, fresh=fresh, shop=shop, cross_process=cross_process
    )
    if worker:
        site.system.start()
    return site


def another_process(site: Site) -> Site:
    """A second server on ``site``'s database (its own engine and caches), as another worker
    process would be; both hear of each other's consent writes. Close it before ``site``."""
    return _build(site.folder, customers=len(site.persons), clock=None, fresh=False, cross_process=True)


def _build(
    folder: Path,
    *,
    customers: int,
    clock: Callable[[], dt.datetime] | None,
    fresh: bool,
    shop: bool = False,
    cross_process: bool = False,
) -> Site:
    first, current = _declarations()
    mail = SinkMailer(folder / "outbox")
    datamap = pesi_datamap()
    assert datamap is not None
    urls = {key: f"sqlite:///{folder / key}.db" for key in ("pesi_shop", "pesi_mailing")}
    settings = Settings(
        db_url=f"sqlite:///{folder / 'pledge.db'}",
        data_dir=folder,
        base_url=BASE,
        smtp=SmtpSettings(outbox=folder / "outbox"),
        secrets=Secrets(signing_key=b"s" * 32, hash_key=b"h" * 32, master_key=b"m" * 32, admin_key=ADMIN_KEY),
    )
    system = Pledge.open(
        settings,
        declaration=current,
        datamaps=[datamap],
        connections=urls,
        mailer=mail,
        clock=clock,
        cross_process=cross_process,
    )
    persons = people(customers)
    try:
        if fresh:
            publish_version(system.db, first, now=dt.datetime(2018, 5, 24, 9, tzinfo=dt.UTC))
            system.publish()
            seed_shop(system.datamap, urls, persons, today=dt.date(2026, 11, 1))
        return Site(system, mail, persons, folder, shop)
    except BaseException:
        system.close()
        raise
