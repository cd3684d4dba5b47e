"""Restriction, objection and withdrawal run in ``pledge worker`` (inline and on a broker): the
worker is a ``Pledge`` whose executor records them in the consent ledger, so later decisions deny."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pledge.config import Settings
from pledge.requests.steps import Identity
from pledge.system import Pledge
from tests.conftest import ROOT
from tests.requests import fixtures_shop as shop
from tests.worker.test_cli import PLEDGE

EXTRA_PURPOSES = """\
  - id: newsletter
    name: Newsletter
    lawful_basis: consent
    categories: [user.contact.email]
    channels: [email]
    withdraw: [unsubscribe_link]
    consent: {default: opt_in}
  - id: analytics
    name: Analytics
    lawful_basis: legitimate_interest
    legitimate_interest: Improve the shop
    categories: [user.contact.email]
recipients:
"""
EXTRA_RIGHTS = """\
rights:
  - {right: restriction, deadline: P1M, verification: none}
  - {right: objection, deadline: P1M, verification: none}
  - {right: withdraw_consent, deadline: P1M, verification: none}
"""
DECLARATION = shop.DECLARATION.replace("recipients:\n", EXTRA_PURPOSES, 1).replace(
    "rights:\n", EXTRA_RIGHTS, 1
)
REQUESTS = {
    "restrict": ("r@example.org", {"purposes": ["orders"]}),
    "object": ("o@example.org", {"purposes": ["analytics"]}),
    "withdraw": ("w@example.org", {"purposes": ["newsletter"], "channel": "email"}),
}


def _setup(tmp_path: Path, db_url: str) -> tuple[dict[str, str], list[str]]:
    urls = {"shop": f"sqlite:///{tmp_path / 'shop.db'}", "marketing": f"sqlite:///{tmp_path / 'mkt.db'}"}
    shop.create(urls["shop"], shop.shop_meta, shop.SHOP_ROWS)
    shop.create(urls["marketing"], shop.mkt_meta, shop.MKT_ROWS)
    (tmp_path / "datamap.yaml").write_text(shop.DATAMAP, encoding="utf-8")
    (tmp_path / "privacy.yaml").write_text(DECLARATION, encoding="utf-8")
    environ = {
        **os.environ,
        "PLEDGE_DATA_DIR": str(tmp_path / "data"),
        "PLEDGE_DB_URL": db_url,
        "PLEDGE_DECLARATION": str(tmp_path / "privacy.yaml"),
        "PYTHONPATH": str(ROOT),
    }
    args = ["--datamap", str(tmp_path / "datamap.yaml"), "--poll", "0.1"]
    return environ, args + [f"--connect={key}={url}" for key, url in urls.items()]


def _web(environ: dict[str, str]) -> Pledge:
    """What the web app would be: the same database and declaration, no worker of its own."""
    return Pledge.open(Settings.from_env(environ), cross_process=False)


@pytest.mark.parametrize("mode", ["inline", "redis", "rabbitmq"])
def test_rights_requests_run_in_the_worker(
    tmp_path: Path, sqlite_url: str, mode: str, request: pytest.FixtureRequest
) -> None:
    environ, args = _setup(tmp_path, sqlite_url)
    if mode == "inline":
        args = ["--inline", *args]
    else:
        args = ["--broker", request.getfixturevalue(f"{mode}_url"), "--threads", "1", *args]
    with _web(environ) as web:
        subject = web.resolve_subject("email", "w@example.org")
        web.ledger.grant(subject, "newsletter", "email", source="privacy_center", proof="ticked")
        ids = {
            kind: web.workflow.create_request(kind, [Identity("email", who)], params=params).id
            for kind, (who, params) in REQUESTS.items()
        }
        assert {web.workflow.get_request(i).state for i in ids.values()} == {"verified"}
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([PLEDGE, "worker", *args], env=environ, stdout=out, stderr=out, cwd=ROOT)
    try:
        with _web(environ) as web:
            deadline = time.monotonic() + 60
            while {web.workflow.get_request(i).state for i in ids.values()} != {"completed"}:
                assert proc.poll() is None, log.read_text()
                states = {k: web.workflow.get_request(i).state for k, i in ids.items()}
                assert "failed" not in states.values() and time.monotonic() < deadline, (
                    states,
                    log.read_text(),
                )
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with _web(environ) as web:  # a process started afterwards sees what the worker recorded
        decide = web.enforcer.decide
        restricted = web.find_subject("email", "r@example.org")
        assert decide(restricted, "orders", ("user.name",)).reason == "restricted"
        objected = web.find_subject("email", "o@example.org")
        assert decide(objected, "analytics", ("user.contact.email",)).reason == "objection"
        withdrawn = web.find_subject("email", "w@example.org")
        by_mail = decide(withdrawn, "newsletter", ("user.contact.email",), channel="email")
        assert not by_mail and by_mail.reason == "channel_opted_out"
        for kind, request_id in ids.items():
            step = web.workflow.request_report(request_id)["steps"][0]
            assert step["name"] == f"{kind}:record" and len(step["result"]["recorded"]) == 1
            events = web.ledger.events(step["result"]["subject"])
            assert [e.source for e in events if e.proof == f"request:{request_id}"] == ["privacy_center"]
