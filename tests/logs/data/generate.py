# ruff: noqa: E501 - real User-Agent strings are long
"""Regenerate the sample logs in this folder: ``python tests/logs/data/generate.py``.

Synthetic and deterministic: made-up visitors at addresses drawn from public ranges (so that the
country lookup has something to find), no real person behind any line. The samples hold what real
logs hold: crawlers, assets, personal data leaking into URLs and referrers, IPv6 visitors, escaped
quotes, TLS probes, a byte that is not UTF-8, a truncated last line.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
PAGES = ["/", "/about", "/blog/keeping-promises", "/products/garden-chair-10021", "/cart", "/privacy"]
ASSETS = ["/static/app.3f9a2c1e.js", "/static/main.css", "/favicon.ico"]
PERSONAL = [
    "/newsletter/confirm?email=jane.roe%40example.org&utm_source=mail",
    "/reset-password?token=5f2b9c0e7d1a4b3c8e6f0a9d2c4b7e1f",
    "/account/orders/4417893021",
    "/u/max.mustermann@example.net/settings",
    "/api/v1/sessions/7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "/search?q=call+%2B44+20+7946+0958",
    "/debug?client=203.0.113.77",
]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _stamp(day: int, seconds: int) -> str:
    return f"{day:02d}/Nov/2024:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d} +0100"


def combined(rng: random.Random) -> bytes:
    visitors = []
    for i in range(40):
        if i % 8 == 7:
            ip = f"2a02:{rng.randrange(0x1000, 0xFFFF):x}:{rng.randrange(0xFFFF):x}:{rng.randrange(0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"
        else:
            ip = f"{rng.choice((81, 82, 88, 91, 95, 176, 212))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        visitors.append((ip, AGENTS[i % len(AGENTS)]))
    lines: list[bytes] = []
    for day in (4, 5, 6):
        clock = 8 * 3600
        for _ in range(120):
            ip, ua = rng.choice(visitors)
            clock += rng.randrange(5, 300)
            target = rng.choice(PERSONAL) if rng.random() < 0.08 else rng.choice(PAGES)
            referrer = rng.choice(
                ["-", "https://www.google.com/search?q=garden+chair", "https://shop.example/cart"]
            )
            user = "-" if rng.random() < 0.95 else "jane.roe"
            status = rng.choice((200, 200, 200, 304, 404))
            lines.append(
                f'{ip} - {user} [{_stamp(day, clock)}] "GET {target} HTTP/1.1" {status} {rng.randrange(200, 60000)} '
                f'"{referrer}" "{ua}"'.encode()
            )
            if "bot" not in ua and rng.random() < 0.5:
                asset = rng.choice(ASSETS)
                lines.append(
                    f'{ip} - - [{_stamp(day, clock)}] "GET {asset} HTTP/1.1" 304 0 "https://shop.example{target}" "{ua}"'.encode()
                )
    # What real logs also hold (each is a malformed or odd line the reader must survive).
    lines.insert(
        17, b'198.51.100.23 - - [04/Nov/2024:08:20:00 +0100] "\\x16\\x03\\x01\\x02\\x00\\x01" 400 157 "-" "-"'
    )
    lines.insert(40, b"this is not a log line at all")
    lines.insert(
        60,
        b'81.2.69.160 - - [04/Nov/2024:09:00:00 +0100] "GET /caf\xe9 HTTP/1.1" 200 512 "-" '
        b'"Mozilla/5.0 (\\"quoted\\" app) contact=ops@example.com"',
    )
    lines.append(b'88.1.2.3 - - [06/Nov/2024:23:59:59 +0100] "GET /cart HTTP/1.1" 200 51')
    return b"\n".join(lines) + b"\n"


def common(rng: random.Random) -> bytes:
    lines = []
    for i in range(60):
        ip = f"{rng.choice((81, 91, 212))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        target = rng.choice(PAGES + PERSONAL[:2])
        lines.append(
            f'{ip} - - [{_stamp(7, 9 * 3600 + i * 61)}] "GET {target} HTTP/1.0" 200 {rng.randrange(200, 9000)}'
        )
    return ("\n".join(lines) + "\n").encode()


def vhost(rng: random.Random) -> bytes:
    lines = []
    for i in range(30):
        ip = f"{rng.choice((81, 91, 212))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        target = rng.choice(PAGES)
        forwarded = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        lines.append(
            f'shop.example:443 {ip} - - [{_stamp(8, 10 * 3600 + i * 17)}] "GET {target} HTTP/2.0" 200 '
            f'{rng.randrange(200, 9000)} "-" "{AGENTS[i % 5]}" 0.{rng.randrange(100, 999)} "{forwarded}"'
        )
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    rng = random.Random(2024_11_04)
    (HERE / "access_combined.log").write_bytes(combined(rng))
    (HERE / "access_common.log").write_bytes(common(rng))
    (HERE / "access_vhost.log").write_bytes(vhost(rng))


if __name__ == "__main__":
    main()
