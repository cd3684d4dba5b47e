# ruff: noqa: E501 - real User-Agent strings are long
"""Benchmark: ``pledge logs ingest`` vs GoAccess 1.7 on the same 1,000,000-line combined log.

Both run in this process's run, one after the other, on the same machine and file:

- **ours**: ``pledge logs ingest LOG --out anon.log`` — parse, anonymise the IP (truncate /24, /48),
  look up the country on the full address, parse the user agent, scrub identifiers from targets
  and referrers, write the anonymised log (both cores, as the command does by default);
- **peer**: ``goaccess LOG --log-format=COMBINED -o report.json --no-progress`` — parse and build
  its JSON report (GoAccess's documented way to produce a report non-interactively). GoAccess is
  installed with ``apt-get install -y goaccess`` when missing.

The log is synthetic and deterministic (seed 20261123): a pool of visitors, each with one
address (80 % IPv4, 20 % IPv6) and one real-world User-Agent drawn in realistic proportions (about
a tenth of them crawlers and tools), browsing in sessions of page views that pull in assets,
arriving from search engines, social sites, newsletters or directly; a few percent of the
requests carry personal data in the URL (e-mail addresses, reset tokens, order numbers). Lines
are in time order, over seven days.

GoAccess 1.7 parses on one thread (``--jobs`` arrived in 1.8), so the single-process figure of
ours is printed too. Prints JSON lines: peak memory (max RSS of the process tree, from
``/usr/bin/time -v``), lines per second with one process, and — the headline, last — lines per
second of the command as run by default. Each command runs ``--repeat`` times (default 2),
interleaved, and the best time counts, to damp the noise of a shared machine; both tools must
have read every line or the run fails. Usage: ``python benchmarks/logs.py [--lines N] [--repeat R] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = 20261123
START = 1_730_419_200  # 2024-11-01T00:00:00Z
DAYS = 7

# (weight, user agent): proportions roughly those of a European retail site in 2024.
AGENTS = [
    (
        22,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (
        6,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    ),
    (
        14,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
    ),
    (
        4,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    ),
    (
        12,
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    ),
    (
        3,
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    ),
    (
        6,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    ),
    (5, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    (
        6,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    ),
    (
        3,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (
        3,
        "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    ),
    (
        1,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (1, "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
    (
        1,
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (
        1,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/105.0.0.0",
    ),
    (4, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (
        1,
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ),
    (2, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    (1, "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"),
    (
        1,
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)",
    ),
    (1, "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"),
    (1, "curl/8.4.0"),
    (1, "python-requests/2.31.0"),
    (1, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
]
WORDS = [
    "privacy",
    "shoes",
    "winter",
    "summer",
    "garden",
    "kitchen",
    "coffee",
    "table",
    "lamp",
    "chair",
    "desk",
    "travel",
    "camera",
    "phone",
    "case",
    "cable",
    "charger",
    "book",
    "novel",
    "guide",
    "cooking",
    "yoga",
    "running",
    "jacket",
    "boots",
    "gift",
    "card",
    "sale",
]
ASSETS = [
    "/static/app.3f9a2c1e.js", "/static/vendor.8d7e6f5a.js", "/static/main.1a2b3c4d.css",
    "/static/fonts/inter.woff2", "/static/img/logo.svg", "/favicon.ico", "/static/img/hero.webp",
]  # fmt: skip
REFERRERS = [
    (40, "-"),
    (20, "https://www.google.com/"),
    (3, "https://www.bing.com/search?q=garden+chair"),
    (2, "https://duckduckgo.com/"),
    (3, "https://www.facebook.com/"),
    (2, "https://t.co/Ab12Cd34Ef"),
    (2, "https://www.instagram.com/"),
    (1, "https://news.ycombinator.com/item?id=38412345"),
    (2, "https://mail.google.com/mail/u/0/"),
]


def _pages(rng: random.Random) -> list[str]:
    pages = ["/", "/about", "/contact", "/privacy", "/cart", "/checkout", "/account", "/login"]
    for i in range(400):
        pages.append(f"/blog/{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}")
    for i in range(1500):
        pages.append(f"/products/{rng.choice(WORDS)}-{rng.choice(WORDS)}-{10000 + i}")
    for word in WORDS:
        pages.append(f"/category/{word}")
        pages.extend(f"/category/{word}?page={n}" for n in range(2, 6))
    return pages


def _personal_target(rng: random.Random) -> str:
    """The few per cent of URLs that carry personal data, as real sites leak it."""
    kind = rng.randrange(6)
    if kind == 0:
        name = f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{rng.randrange(100)}"
        return f"/newsletter/confirm?email={name}%40example.com&utm_source=newsletter"
    if kind == 1:
        return f"/reset-password?token={rng.getrandbits(128):032x}"
    if kind == 2:
        return f"/account/orders/{rng.randrange(10**9, 10**10)}"
    if kind == 3:
        return f"/search?q={rng.choice(WORDS)}+{rng.choice(WORDS)}&sort=price"
    if kind == 4:
        return f"/api/v1/sessions/{rng.getrandbits(128):032x}"
    return f"/track?uid={rng.getrandbits(64):016x}&gclid=Cj0KCQiA{rng.getrandbits(96):024x}"


def _address(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return f"{rng.choice((31, 46, 62, 77, 78, 81, 82, 84, 86, 88, 90, 91, 92, 93, 94, 95, 109, 176, 185, 188, 212, 213, 217))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return f"2a0{rng.randrange(1, 10)}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"


def generate(path: Path, lines: int, seed: int = SEED) -> None:
    """Write ``lines`` combined-format lines to ``path`` in time order."""
    rng = random.Random(seed)
    pages = _pages(rng)
    page_cum = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(len(pages))))  # Zipf-like
    agents = [a for _, a in AGENTS]
    agent_cum = list(itertools.accumulate(w for w, _ in AGENTS))
    referrers = [r for _, r in REFERRERS]
    referrer_cum = list(itertools.accumulate(w for w, _ in REFERRERS))
    visitors = [
        (_address(rng), rng.choices(agents, cum_weights=agent_cum)[0]) for _ in range(max(lines // 25, 10))
    ]
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    stamp_cache: dict[int, str] = {}

    def stamp(ts: int) -> str:
        day = ts - ts % 86400
        base = stamp_cache.get(day)
        if base is None:
            t = time.gmtime(day)
            base = stamp_cache[day] = f"{t.tm_mday:02d}/{months[t.tm_mon - 1]}/{t.tm_year}"
        rest = ts % 86400
        return f"{base}:{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d} +0000"

    def session(start: int) -> list[tuple[int, str]]:
        ip, ua = rng.choice(visitors)
        bot = "bot" in ua.lower() or "curl" in ua or "python" in ua or "facebookexternal" in ua
        views = 1 + int(rng.expovariate(1 / (12 if bot else 3)))
        referrer = rng.choices(referrers, cum_weights=referrer_cum)[0]
        out = []
        ts = start
        for _ in range(views):
            personal = rng.random() < 0.04
            target = _personal_target(rng) if personal else rng.choices(pages, cum_weights=page_cum)[0]
            status, size = (200, rng.randrange(4000, 90000))
            roll = rng.random()
            if roll < 0.02:
                status, size = 404, 1536
            elif roll < 0.03:
                status, size = 301, 0
            elif roll < 0.032:
                status, size = 500, 512
            out.append(
                (ts, f'{ip} - - [{stamp(ts)}] "GET {target} HTTP/1.1" {status} {size} "{referrer}" "{ua}"\n')
            )
            if not bot:
                for asset in rng.sample(ASSETS, rng.randrange(0, 4)):
                    code, bytes_ = (304, 0) if rng.random() < 0.5 else (200, rng.randrange(2000, 300000))
                    out.append(
                        (
                            ts,
                            f'{ip} - - [{stamp(ts)}] "GET {asset} HTTP/2.0" {code} {bytes_} "https://shop.example{target}" "{ua}"\n',
                        )
                    )
            referrer = f"https://shop.example{target}"
            ts += rng.randrange(5, 240)
        return out

    span = DAYS * 86400
    written = 0
    heap: list[tuple[int, int, str]] = []
    order = 0
    with open(path, "w", encoding="utf-8") as handle:
        # Sessions start uniformly over the period; their lines are merged in time order.
        starts = sorted(START + rng.randrange(span) for _ in range(lines // 6 + 10))
        for start in starts:
            while heap and heap[0][0] <= start:
                _ts, _o, line = heapq.heappop(heap)
                handle.write(line)
                written += 1
                if written >= lines:
                    return
            for ts, line in session(start):
                heapq.heappush(heap, (ts, order, line))
                order += 1
        while heap and written < lines:
            handle.write(heapq.heappop(heap)[2])
            written += 1


def _ensure_goaccess() -> str:
    found = shutil.which("goaccess")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    result = subprocess.run([*sudo, "apt-get", "install", "-y", "goaccess"], capture_output=True, check=False)
    if result.returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-qq"], capture_output=True, check=False)
        subprocess.run([*sudo, "apt-get", "install", "-y", "goaccess"], capture_output=True, check=True)
    found = shutil.which("goaccess")
    if not found:
        raise SystemExit("goaccess could not be installed")
    return found


def _timed(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (kB) of ``command``, via /usr/bin/time -v when present."""
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    started = time.perf_counter()
    if timer:
        result = subprocess.run([timer, "-v", *command], cwd=cwd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{command[0]} failed: {result.stderr[-2000:]}")
        peak = 0
        for line in result.stderr.splitlines():
            if "Maximum resident set size" in line:
                peak = int(line.rsplit(":", 1)[1])
        return elapsed, peak
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {result.stderr[-2000:]}")
    return elapsed, max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)


def _check(work: Path, lines: int) -> None:
    """Both tools must have read every line: otherwise the speeds are not comparable."""
    with open(work / "anon.log", "rb") as handle:
        written = sum(1 for _ in handle)
    report = json.loads((work / "report.json").read_text(encoding="utf-8"))
    parsed = int(report["general"]["total_requests"])
    if written != lines or parsed != lines:
        raise SystemExit(f"incomplete run: {lines} lines, pledge wrote {written}, goaccess parsed {parsed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the generated files in this directory")
    args = parser.parse_args()
    goaccess = _ensure_goaccess()
    pledge = str(Path(sys.executable).with_name("pledge"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="pledge-bench-logs-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        log = work / "access.log"
        if not log.exists():
            generate(log, args.lines)
        with open(log, "rb") as handle:
            lines = sum(1 for _ in handle)
        ours = [
            pledge,
            "logs",
            "ingest",
            str(log),
            "--format",
            "combined",
            "--out",
            str(work / "anon.log"),
            "--json",
        ]
        commands = {
            "ours": ours,  # the command as users run it: one worker per core on a large file
            "ours_one_process": [*ours, "--jobs", "1"],
            "peer": [
                goaccess,
                str(log),
                "--log-format=COMBINED",
                "-o",
                str(work / "report.json"),
                "--no-progress",
            ],
        }
        runs: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
        for _ in range(max(args.repeat, 1)):  # interleaved, so that load from elsewhere hits all alike
            for name, command in commands.items():
                runs[name].append(_timed(command, work))
        _check(work, lines)
        best = {name: min(seconds for seconds, _ in found) for name, found in runs.items()}
        memory = {name: max(kb for _, kb in found) / 1024 for name, found in runs.items()}
        _emit(
            "logs_ingest_peak_memory", memory["ours"], memory["peer"], "MB", memory["peer"] / memory["ours"]
        )
        one, peer = lines / best["ours_one_process"], lines / best["peer"]
        _emit("logs_ingest_throughput_one_process", one, peer, "lines/s", one / peer)
        ours_rate = lines / best["ours"]
        _emit("logs_ingest_throughput", ours_rate, peer, "lines/s", ours_rate / peer)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _emit(name: str, ours: float, peer: float, unit: str, ratio: float) -> None:
    print(
        json.dumps(
            {
                "bench": name,
                "ours": round(ours, 1),
                "peer": round(peer, 1),
                "unit": unit,
                "ratio": round(ratio, 3),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
