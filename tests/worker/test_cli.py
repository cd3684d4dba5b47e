"""``pledge worker`` as a process: inline and on Redis, stopped by SIGTERM; bad input exits 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pledge.audit.log import AuditLog
from pledge.config import Settings
from pledge.declaration import load_declaration
from pledge.requests.services import RequestServices
from pledge.requests.steps import Identity
from pledge.requests.workflow import Workflow
from pledge.storage.db import Database
from pledge.tokens import TokenService
from tests.conftest import ROOT
from tests.requests.support import DECLARATION

PLEDGE = str(Path(sys.executable).with_name("pledge"))


def _environ(tmp_path: Path, db_url: str, declaration: str = DECLARATION) -> dict[str, str]:
    (tmp_path / "privacy.yaml").write_text(declaration)
    return {
        **os.environ,
        "PLEDGE_DATA_DIR": str(tmp_path / "data"),
        "PLEDGE_DB_URL": db_url,
        "PLEDGE_DECLARATION": str(tmp_path / "privacy.yaml"),
        "PYTHONPATH": str(ROOT),
    }


@contextmanager
def _workflow(environ: dict[str, str]) -> Iterator[Workflow]:
    settings = Settings.from_env(environ).with_secrets()
    db = Database(settings.db_url)
    db.migrate()
    audit = AuditLog.from_settings(settings, db, flush_interval=None)
    assert settings.declaration is not None
    services = RequestServices.from_settings(
        settings,
        load_declaration(settings.declaration).declaration,
        db=db,
        audit=audit,
        tokens=TokenService(settings.keys.signing_key, db),
    )
    try:
        yield Workflow(services)
    finally:
        audit.close()
        db.dispose()


def _serve_until_done(
    args: list[str], environ: dict[str, str], tmp_path: Path, jurisdiction: str | None = "gdpr"
) -> Workflow:
    with _workflow(environ) as workflow:
        ids = [
            workflow.create_request(
                "access",
                [Identity("email", f"p{i}@example.org")],
                jurisdiction=jurisdiction,
                source="cli",
                operator="op",
            ).id
            for i in range(3)
        ]
        with open(tmp_path / "worker.log", "w") as log:
            proc = subprocess.Popen([PLEDGE, "worker", *args], env=environ, stderr=log, stdout=log, cwd=ROOT)
            try:
                deadline = time.monotonic() + 60
                while {workflow.get_request(i).state for i in ids} != {"completed"}:
                    assert proc.poll() is None, (tmp_path / "worker.log").read_text()
                    assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                    time.sleep(0.1)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        for rid in ids:
            assert workflow.request_report(rid)["request"]["state"] == "completed"
    return workflow
    return workflow


def test_inline_worker_process(tmp_path: Path, sqlite_url: str) -> None:
    environ = _environ(tmp_path, sqlite_url)
    args = [
        "--inline",
        "--planner",
        "tests.worker.planners:three_steps",
        "--poll",
        "0.1",
        "--worker-id",
        "w1",
    ]
    _serve_until_done(args, environ, tmp_path)


def test_broker_worker_process(tmp_path: Path, sqlite_url: str, redis_url: str) -> None:
    environ = _environ(tmp_path, sqlite_url)
    args = [
        "--broker",
        redis_url,
        "--planner",
        "tests.worker.planners:three_steps",
        "--poll",
        "0.2",
        "--threads",
        "2",
    ]
    _serve_until_done(args, environ, tmp_path)


def test_inline_worker_runs_the_datamap_steps(tmp_path: Path, sqlite_url: str) -> None:
    from tests.requests import fixtures_shop as shop

    urls = {"shop": f"sqlite:///{tmp_path / 'shop.db'}", "marketing": f"sqlite:///{tmp_path / 'mkt.db'}"}
    shop.create(urls["shop"], shop.shop_meta, shop.SHOP_ROWS)
    shop.create(urls["marketing"], shop.mkt_meta, shop.MKT_ROWS)
    (tmp_path / "datamap.yaml").write_text(shop.DATAMAP)
    environ = _environ(tmp_path, sqlite_url, shop.DECLARATION)
    args = ["--inline", "--datamap", str(tmp_path / "datamap.yaml"), "--poll", "0.1"]
    args += [f"--connect={key}={url}" for key, url in urls.items()]
    _serve_until_done(args, environ, tmp_path, jurisdiction=None)
    archives = sorted((tmp_path / "data" / "requests").glob("*/archive.zip"))
    assert len(archives) == 3  # one per request, written by the real access steps


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--inline"], "needs to know how to run steps"),
        (["--inline", "--planner", "nowhere"], "expected MODULE:CALLABLE"),
        (["--inline", "--planner", "tests.worker.planners:missing"], "has no attribute"),
        (["--broker", "kafka://x", "--planner", "tests.worker.planners:three_steps"], "not a broker URL"),
    ],
)
def test_bad_worker_options_exit_2(tmp_path: Path, sqlite_url: str, args: list[str], message: str) -> None:
    environ = _environ(tmp_path, sqlite_url)
    done = subprocess.run(
        [PLEDGE, "worker", *args], env=environ, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_worker_without_a_declaration_exits_2(tmp_path: Path, sqlite_url: str) -> None:
    environ = _environ(tmp_path, sqlite_url)
    del environ["PLEDGE_DECLARATION"]
    done = subprocess.run(
        [PLEDGE, "worker", "--inline"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "needs the declaration" in done.stderr
