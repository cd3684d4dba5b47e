"""Benchmark: consent reads and writes per second over HTTP on one uvicorn worker, against a
FastAPI hello-world endpoint on one uvicorn worker, same machine, same load generator, same run.

- **ours**: ``pledge serve``'s app (``pledge.web.app.create_app``: security headers, the consent
  API, SQLite in WAL mode as ``pledge demo`` uses) with the demo's declaration and 2,000 banner
  visitors already recorded.
  - *read*: ``GET /api/v1/consent?cookie_id=…`` for a random known visitor (their state per
    purpose and category, and their history);
  - *write*: ``POST /api/v1/consent`` as the banner sends it, each request flipping one known
    visitor's choice, so every request appends to the consent ledger and the audit log in one
    transaction and answers with a freshly signed consent cookie;
  - *mixed* (headline): one read for each write, as a site sees them.
- **peer**: ``@app.get("/hello") def hello(): return {"hello": "world"}`` in a bare FastAPI app,
  served the way FastAPI's docs deploy it (``uvicorn``, one worker). It is the ceiling for any
  endpoint on this stack: the ratio says how much of it the consent API keeps. Our endpoints are
  plain ``def`` too (run in the same thread pool); the same app's ``async def`` hello is measured
  as well and reported beside it (``peer_async``).

Both servers run in child processes started the same way, with the same uvicorn settings (one
worker, the same event loop and HTTP implementation, access log off, log level warning).

``--db sqlite`` (default): a SQLite file in WAL mode, as ``pledge demo`` uses. ``--db postgresql``:
a fresh database on the server at ``PLEDGE_BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``), dropped afterwards.

Load generator: ``wrk`` (Debian's; installed with apt-get when missing), one thread, 32
connections, ``--seconds`` per run after a 2-second warm-up, with a Lua script choosing visitors.
Without wrk, an asyncio httpx generator in another process takes its place (and says so). Every
figure is measured ``--rounds`` times, alternating with the peer, and the best round of each side
counts (other work on the machine only ever slows a round down). Each line also gives the server
processes' CPU time per request (``ours_cpu_us``, ``peer_cpu_us``, medians), which other load on
the machine disturbs far less than requests per second.

Prints one JSON line per figure, the headline last: ``{"bench", "ours", "peer", "unit": "req/s",
"ratio"}`` (ratio = ours / peer; the goal is 0.5).

Usage: ``python benchmarks/http.py [--seconds 10] [--connections 32] [--rounds 2] [--db sqlite]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py, as the issue asks; run as a script, its folder comes first on the
# path and would hide the standard library's ``http`` package from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VISITORS = 2000
VERSION = "2026-11-01"
PG_ADMIN = os.environ.get("PLEDGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

READ_LUA = """
local n = 0
request = function()
  n = n + 1
  local i = math.random(0, %(visitors)d - 1)
  return wrk.format("GET", string.format("/api/v1/consent?cookie_id=bench-visitor-%%06d", i))
end
"""
WRITE_LUA = """
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local i = math.random(0, %(visitors)d - 1)
  local on = (math.random(0, 1) == 1) and "true" or "false"
  local body = string.format('{"cookie_id":"bench-visitor-%%06d",' ..
    '"choices":{"analytics":%%s,"advertising":false},' ..
    '"policy_version":"%(version)s","gpc":false,"source":"banner"}', i, on)
  return wrk.format("POST", "/api/v1/consent", nil, body)
end
"""
MIXED_LUA = """
local n = 0
request = function()
  n = n + 1
  local i = math.random(0, %(visitors)d - 1)
  if n %% 2 == 0 then
    return wrk.format("GET", string.format("/api/v1/consent?cookie_id=bench-visitor-%%06d", i))
  end
  local on = (math.random(0, 1) == 1) and "true" or "false"
  local body = string.format('{"cookie_id":"bench-visitor-%%06d",' ..
    '"choices":{"analytics":%%s,"advertising":false},' ..
    '"policy_version":"%(version)s","gpc":false,"source":"banner"}', i, on)
  return wrk.format("POST", "/api/v1/consent", {["Content-Type"] = "application/json"}, body)
end
"""


# --- the servers (run in child processes: `python benchmarks/http.py --serve ...`) ------------------------


def _hello_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/hello-async")
    async def hello_async() -> dict[str, str]:
        return {"hello": "world"}

    return app


def _open(folder: Path, db_url: str, **options: Any) -> Any:
    from pledge.config import Settings, SmtpSettings
    from pledge.demo.declaration import demo_declarations
    from pledge.system import Pledge

    _, current = demo_declarations(folder / "declaration")
    settings = Settings(db_url=db_url, data_dir=folder, smtp=SmtpSettings(outbox=folder / "outbox"))
    return Pledge.open(settings, declaration=current, **options)


def _pledge_app(folder: Path, db_url: str) -> Any:
    from pledge.web.app import create_app

    system = _open(folder, db_url)
    system.publish()
    return create_app(system)


def _seed(folder: Path, db_url: str) -> None:
    """Record the visitors once, before the servers start (a site with a history)."""
    from pledge.web.consent import record_banner_choice

    rng = random.Random(7)
    with _open(folder, db_url, cross_process=False) as system:
        system.publish()
        for i in range(VISITORS):
            choice = {"analytics": rng.random() < 0.5, "advertising": rng.random() < 0.3}
            record_banner_choice(system, f"bench-visitor-{i:06d}", choice, VERSION, gpc=False)


UVICORN = {"workers": 1, "loop": "asyncio", "http": "h11", "log_level": "warning", "access_log": False}
"""The same for both servers (h11 and asyncio: what ``pip install uvicorn`` gives without extras)."""


def _serve(kind: str, port: int, folder: Path, db_url: str) -> None:
    import uvicorn

    app = _hello_app() if kind == "hello" else _pledge_app(folder, db_url)
    uvicorn.run(app, host="127.0.0.1", port=port, **UVICORN)  # type: ignore[arg-type]


# --- driving ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(kind: str, folder: Path, db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--port",
            str(port),
            "--folder",
            str(folder),
            "--db-url",
            db_url,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, base
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the {kind} server did not start") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {kind} server did not start in time")


def _ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for command in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"]):
        subprocess.run([*sudo, *command], capture_output=True, check=False)
        if command[1] == "update":
            subprocess.run(
                [*sudo, "apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False
            )
        found = shutil.which("wrk")
        if found:
            return found
    return None


def _wrk(
    wrk: str, url: str, lua: str | None, seconds: int, connections: int, pid: int
) -> tuple[float, float | None]:
    """Requests per second, and the server's CPU microseconds per request (after the warm-up)."""
    args = [wrk, "-t1", f"-c{connections}", "--latency"]
    with tempfile.TemporaryDirectory() as scratch:
        if lua is not None:
            script = Path(scratch) / "load.lua"
            script.write_text(lua % {"visitors": VISITORS, "version": VERSION}, encoding="utf-8")
            args += ["-s", str(script)]
        subprocess.run([*args, "-d2s", url], capture_output=True, check=True)  # warm-up
        before = _cpu_seconds(pid)
        done = subprocess.run([*args, f"-d{seconds}s", url], capture_output=True, text=True, check=True)
        after = _cpu_seconds(pid)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if errors and int(errors.group(1)) > 0:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses\n{done.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    served = re.search(r"(\d+) requests in", done.stdout)
    if match is None or served is None:
        raise SystemExit(f"could not read wrk's output:\n{done.stdout}")
    cpu = None
    if before is not None and after is not None and int(served.group(1)):
        cpu = (after - before) / int(served.group(1)) * 1e6
    return float(match.group(1)), cpu


def _httpx_load(base: str, kind: str, seconds: int, connections: int) -> float:
    """The fallback generator, in its own process so it does not share the servers' CPU time slice."""
    code = _HTTPX_LOAD % {
        "base": base,
        "kind": kind,
        "seconds": seconds,
        "connections": connections,
        "visitors": VISITORS,
        "version": VERSION,
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


_HTTPX_LOAD = """
import asyncio, random, time, httpx
async def main():
    stop = time.monotonic() + %(seconds)d
    count = 0
    limits = httpx.Limits(max_connections=%(connections)d)
    async with httpx.AsyncClient(base_url="%(base)s", limits=limits) as c:
        async def worker():
            nonlocal count
            n = 0
            while time.monotonic() < stop:
                n += 1
                i = random.randrange(%(visitors)d)
                read = "%(kind)s" == "read" or ("%(kind)s" == "mixed" and n %% 2 == 0)
                if "%(kind)s" == "hello":
                    r = await c.get("/hello")
                elif read:
                    r = await c.get("/api/v1/consent", params={"cookie_id": f"bench-visitor-{i:06d}"})
                else:
                    r = await c.post("/api/v1/consent", json={"cookie_id": f"bench-visitor-{i:06d}",
                        "choices": {"analytics": random.random() < 0.5, "advertising": False},
                        "policy_version": "%(version)s", "gpc": False, "source": "banner"})
                r.raise_for_status()
                count += 1
        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(%(connections)d)))
        print(count / (time.monotonic() - began))
asyncio.run(main())
"""


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a process and all its threads so far; None off Linux."""
    try:
        total = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _pg_database() -> tuple[str, str]:
    """A fresh database for the run: (its name, its SQLAlchemy URL)."""
    import psycopg

    name = f"pledge_bench_http_{uuid.uuid4().hex[:8]}"
    base = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return name, base.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def _pg_drop(name: str) -> None:
    import psycopg

    base = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="measurements per figure (best counts)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--serve", choices=("hello", "pledge"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.port, args.folder, args.db_url)
        return

    folder = Path(tempfile.mkdtemp(prefix="pledge-bench-http-"))
    wrk = _ensure_wrk()
    generator = "wrk 1 thread" if wrk else "httpx asyncio (wrk unavailable)"
    processes: list[subprocess.Popen[bytes]] = []
    pg_name = None
    try:
        if args.db == "postgresql":
            pg_name, db_url = _pg_database()
        else:
            db_url = f"sqlite:///{folder / 'pledge.db'}"
        _seed(folder, db_url)
        hello, hello_base = _start("hello", folder, db_url)
        processes.append(hello)
        ours, ours_base = _start("pledge", folder, db_url)
        processes.append(ours)

        def measure(
            process: subprocess.Popen[bytes], base: str, path: str, lua: str | None, kind: str
        ) -> tuple[float, float | None]:
            if wrk:
                return _wrk(wrk, base + path, lua, args.seconds, args.connections, process.pid)
            return _httpx_load(base, kind, args.seconds, args.connections), None

        loads = {"read": READ_LUA, "write": WRITE_LUA, "mixed": MIXED_LUA}
        rates: dict[str, list[float]] = {k: [] for k in ("peer", "peer_async", *loads)}
        cpus: dict[str, list[float]] = {k: [] for k in rates}
        for _ in range(max(1, args.rounds)):
            # Alternating, so a machine warming up or busy with other work shows as a spread
            # between rounds rather than favouring one side.
            for key, process, base, path, lua in (
                ("peer", hello, hello_base, "/hello", None),
                ("peer_async", hello, hello_base, "/hello-async", None),
                *((k, ours, ours_base, "/", script) for k, script in loads.items()),
            ):
                rate, cpu = measure(process, base, path, lua, key if key in loads else "hello")
                rates[key].append(rate)
                if cpu is not None:
                    cpus[key].append(cpu)

        def cpu_of(key: str) -> float | None:
            return round(statistics.median(cpus[key])) if cpus[key] else None

        peer, peer_async = max(rates["peer"]), max(rates["peer_async"])
        for name in loads:
            value = max(rates[name])
            line = {
                "bench": f"http_consent_{name}",
                "ours": round(value, 1),
                "peer": round(peer, 1),
                "unit": "req/s",
                "ratio": round(value / peer, 3),
                "peer_name": "FastAPI hello world (def), uvicorn 1 worker",
                "peer_async": round(peer_async, 1),
                "ratio_async_peer": round(value / peer_async, 3),
                "ours_cpu_us": cpu_of(name),
                "peer_cpu_us": cpu_of("peer"),
                "db": args.db,
                "rounds": [round(r) for r in rates[name]],
                "peer_rounds": [round(r) for r in rates["peer"]],
                "load": f"{generator}, {args.connections} connections, {args.seconds} s",
                "best_of": args.rounds,
            }
            print(json.dumps(line), flush=True)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)
        if pg_name is not None:
            _pg_drop(pg_name)


if __name__ == "__main__":
    main()
