"""``pledge demo``'s world: a seminar-and-book shop with a few hundred fictional customers, its
policy history, consent records, disclosures, requests in every state and a couple of complaints.

Everything lives in one folder (default ``.pledge/demo``): Pledge's database, the shop's two
SQLite databases (created from the PESI example's datamap), the outbox where e-mails land, and
the demo's ``privacy.yaml``. Building again starts afresh but keeps ``secrets.json``, so the admin
key printed last time still works.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pledge.config import Settings
from pledge.declaration import LoadedDeclaration, load_declaration
from pledge.demo.declaration import demo_declarations
from pledge.demo.fake import DEMO_PERSON, Person, people
from pledge.demo.seed import SeededShop, seed_shop
from pledge.requests.mail import MemoryMailer
from pledge.requests.steps import Identity
from pledge.requests.workflow import Workflow
from pledge.system import Pledge

__all__ = ["Demo", "build_demo", "pesi_datamap"]

_KEEP = ("secrets.json", "audit-signing-key.pem")


@dataclass
class Demo:
    system: Pledge
    folder: Path
    outbox: Path
    customers: int = 0
    shop: SeededShop | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def admin_key(self) -> str:
        return self.system.keys.admin_key


def pesi_datamap() -> Path | None:
    here = Path("examples/pesi/datamap.yaml")
    if here.is_file():
        return here
    installed = Path(__file__).resolve().parents[3] / "examples" / "pesi" / "datamap.yaml"
    return installed if installed.is_file() else None


def _clear(folder: Path) -> None:
    """Start afresh, keeping the secrets (the admin key stays the same between runs)."""
    if not folder.is_dir():
        return
    for item in folder.iterdir():
        if item.name in _KEEP:
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


def build_demo(
    folder: Path,
    *,
    base_url: str = "http://127.0.0.1:8000",
    db_url: str | None = None,
    declaration: Path | None = None,
    datamaps: Sequence[Path] = (),
    connections: Mapping[str, str] | None = None,
    customers: int = 300,
    fresh: bool = True,
    settings: Settings | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Demo:
    """Build (or, with ``fresh=False``, reopen) the demo in ``folder`` and return it, not started."""
    folder = folder.resolve()
    if fresh:
        _clear(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = settings or Settings.from_env()
    outbox = folder / "outbox"
    smtp = base.smtp if base.smtp.host else replace(base.smtp, outbox=outbox)
    settings = replace(
        base,
        data_dir=folder,
        db_url=db_url or f"sqlite:///{folder / 'pledge.db'}",
        base_url=base_url,
        smtp=smtp,
        secrets=None,
    ).with_secrets()

    first: LoadedDeclaration | None = None
    if declaration is not None:
        current = load_declaration(declaration)
    else:
        first, current = demo_declarations(folder)

    urls = dict(connections or {})
    maps = list(datamaps)
    notes: list[str] = []
    seeded: SeededShop | None = None
    persons: list[Person] = []
    if not maps:
        found = pesi_datamap() if declaration is None else None
        if found is not None:
            maps = [found]
            shop_dir = folder / "shop"
            shop_dir.mkdir(exist_ok=True)
            urls = {key: f"sqlite:///{shop_dir / key}.db" for key in ("pesi_shop", "pesi_mailing")}
        else:
            notes.append("no datamap: requests are recorded but cannot read any shop database")
    system = Pledge.open(settings, declaration=current, datamaps=maps, connections=urls, clock=clock)
    try:
        fresh_db = not system.versions()
        if fresh_db and first is not None:
            from pledge.publish.versions import publish_version

            publish_version(system.db, first, now=dt.datetime(2018, 5, 24, 9, 0, tzinfo=dt.UTC))
        system.publish()
        if fresh_db and declaration is None and maps and not datamaps:
            persons = people(customers)
            seeded = seed_shop(system.datamap, urls, persons, today=system.now().date())
            _seed_ledger(system, persons, seeded)
            _seed_requests(system, persons)
            _seed_complaints(system)
    except BaseException:
        system.close()
        raise
    return Demo(system, folder, smtp.outbox, len(persons), seeded, notes)


# --- the records a shop in use would have ----------------------------------------------------------------


def _jurisdiction(person: Person) -> str:
    if person.country == "GB":
        return "gdpr"
    if person.country == "AU":
        return "au"
    return "ccpa" if person.state == "CA" else "us"


def _seed_ledger(system: Pledge, persons: Sequence[Person], shop: SeededShop) -> None:
    """Consent as a house file would have it, a few visitors' banner choices, and disclosures."""
    from pledge.web.consent import record_banner_choice

    rng = random.Random(7)
    now = system.now()
    mailing = set().union(*(v for k, v in shop.present.items() if "house" in k or "mail" in k.split(":")[0]))
    purposes = system.policy.purposes
    subjects: dict[int, str] = {}
    with system.db.begin() as conn:
        for person in persons:
            subject = system.directory.resolve("email", person.email, conn=conn)
            subjects[person.index] = subject
            if person.index not in mailing and person.index != 0:
                continue
            where = _jurisdiction(person)

            def record(
                kind: str, purpose: str = "*", channel: str = "*", _s: str = subject, _w: str = where
            ) -> None:
                if purpose != "*" and purpose not in purposes:
                    return
                options: dict[str, object] = {"source": "import", "jurisdiction": _w, "conn": conn}
                options["occurred_at"] = now - dt.timedelta(
                    days=rng.randrange(1, 300), minutes=rng.randrange(1440)
                )
                if kind in ("grant", "withdraw"):
                    options.update(purpose=purpose, channel=channel)
                elif kind in ("object",):
                    options.update(purpose=purpose)
                system.ledger.record(_s, kind, **options)  # type: ignore[arg-type]

            if person.index == 0 or rng.random() < 0.55:
                record("grant", "relevant_offers", "email")
                if rng.random() < 0.3:
                    record("grant", "relevant_offers", "postal_mail")
            if rng.random() < 0.12:
                record("withdraw", "comparable_products", "email")
            if rng.random() < 0.15:
                record("withdraw", "third_party_offers", "third_party_offers")
            elif where == "gdpr" and rng.random() < 0.3:
                record("grant", "third_party_offers", "third_party_offers")
            if person.index != 0 and rng.random() < 0.18:
                record("withdraw", "list_rental", "postal_mail")
            if person.index != 0 and rng.random() < 0.06:
                record("opt_out_of_sale")
            if person.index != 0 and rng.random() < 0.04:
                record("object", "marketing_analysis")
    if system.version == system.loaded.version:
        for n in range(60):
            cookie = f"demo-visitor-{n:04d}-{rng.getrandbits(32):08x}"
            roll = rng.random()
            if roll < 0.45:
                choice = {"analytics": True, "advertising": True}
            elif roll < 0.85:
                choice = {"analytics": False, "advertising": False}
            else:
                choice = {"analytics": True, "advertising": False}
            try:
                record_banner_choice(system, cookie, choice, system.version, gpc=rng.random() < 0.1)
            except Exception:  # a declaration without these categories: no banner records
                break
    _seed_disclosures(system, persons, subjects, mailing, rng)


def _seed_disclosures(
    system: Pledge,
    persons: Sequence[Person],
    subjects: Mapping[int, str],
    mailing: set[int],
    rng: random.Random,
) -> None:
    fields = {"name": "user.name", "address": "user.contact.address"}
    for person in persons[:80]:
        subject = subjects[person.index]
        record = {"name": person.name, "address": person.address}
        if person.index == 0 or rng.random() < 0.4:
            system.sharing.share(record, "logistics", "order_fulfilment", subject_id=subject, fields=fields)
        if person.index in mailing and (person.index == 0 or rng.random() < 0.3):
            system.sharing.share(record, "list_broker", "list_rental", subject_id=subject, fields=fields)
    if len(persons) > 5:
        system.sharing.record_disclosure(
            "government",
            subject_id=subjects[5],
            categories=["user.name", "user.contact.address", "user.behavior.purchase_history"],
            legal_basis="subpoena",
            reference="Demo County case DC-2026-0042",
            purpose="government_requests",
            note="Fictional subpoena for the demo.",
        )


def _seed_requests(system: Pledge, persons: Sequence[Person]) -> None:
    """Requests spread over twelve weeks: done ones (run by the worker on start) and open ones
    due soon, overdue or fine, as an operator's queue would look."""
    rng = random.Random(11)
    now = system.now()
    first = min(10, len(persons) - 1)  # leave the demo's own people alone when there are enough

    def someone() -> Person:
        return persons[rng.randrange(first, len(persons))] if first > 0 else persons[0]

    def workflow_at(days_ago: float) -> Workflow:
        when = now - dt.timedelta(days=days_ago)
        services = replace(system.services, clock=lambda: when, mailer=MemoryMailer(), on_runnable=None)
        return Workflow(services)

    done = ("access", "object", "withdraw", "access", "erase", "object", "portability", "withdraw")
    for n in range(18):
        person = someone()
        kind = done[n % len(done)]
        params = {"purposes": ["comparable_products"]} if kind in ("object", "withdraw") else {}
        workflow_at(rng.uniform(7, 83)).create_request(
            kind,  # type: ignore[arg-type]
            [Identity("email", person.email)],
            jurisdiction="gdpr",
            source="cli",
            operator="Dana (privacy team)",
            params=params,
        )
    waiting = [(38, "access"), (34, "erase"), (27, "portability"), (26, "erase"), (25, "access")]
    waiting += [(9, "access"), (4, "erase"), (2, "portability"), (1, "access")]
    for days, kind in waiting:
        person = someone()
        workflow_at(days + rng.random()).create_request(
            kind,  # type: ignore[arg-type]
            [Identity("email", person.email)],
            jurisdiction=rng.choice(("gdpr", "ccpa")),
            source="privacy_center",
        )
    extended = workflow_at(20).create_request(
        "erase",
        [Identity("email", persons[min(3, len(persons) - 1)].email)],
        jurisdiction="gdpr",
        source="privacy_center",
    )
    workflow_at(19).extend(
        extended.id, "Dana (privacy team)", "We are checking which records the tax hold covers."
    )


def _seed_complaints(system: Pledge) -> None:
    from pledge.web.complaints import ComplaintStore

    store = ComplaintStore(
        system.db,
        system.audit,
        master_key=system.keys.master_key,
        hash_key=system.keys.hash_key,
        jurisdictions=frozenset(system.policy.jurisdictions),
        clock=system.now,
    )
    store.submit(
        kind="complaint",
        topic="marketing",
        message="I unsubscribed from the seminar mailings in March and still get the catalogue by post.",
        email="kira.marsh@example.org",
        name="Kira Marsh",
        jurisdiction="gdpr",
    )
    ref = store.submit(
        kind="question",
        topic="processing",
        message="Which list agencies received my postal address last year?",
        email="otto.rook@example.net",
        jurisdiction="us",
    )
    store.close(ref, by="Dana (privacy team)")


__all__ += ["DEMO_PERSON"]
