"""Minimum group size: no published cell describes fewer than k visitors, in any output."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pledge.logs.aggregate import Aggregate, Hit
from pledge.logs.export import table_csv, write_release
from pledge.logs.release import OTHER
from pledge.logs.suppress import release_suppressed

DAY = 1_730_419_200  # 2024-11-01T00:00:00Z

# Each visitor has fixed attributes, so the true visitors of every cell are easy to count here.
VISIT_TABLES = {"countries": 0, "browsers": 1, "os": 2, "devices": 3, "referrers": 4}


def _attributes(visitor: int) -> tuple[str, str, str, str, str]:
    return (
        f"C{visitor % 7}",
        f"B{visitor % 5}",
        f"O{visitor % 3}",
        ("desktop", "mobile")[visitor % 2],
        f"r{visitor % 11}.example",
    )


hits_strategy = st.lists(
    st.tuples(
        st.integers(0, 40),  # visitor
        st.integers(0, 3 * 86400),  # time
        st.integers(0, 30),  # page
        st.sampled_from([200, 200, 304, 404, 500]),
        st.booleans(),  # bot
    ),
    min_size=1,
    max_size=300,
)


def _hits(raw: list[tuple[int, int, int, int, bool]]) -> list[Hit]:
    out = []
    for visitor, offset, page, status, bot in sorted(raw, key=lambda r: r[1]):
        country, browser, os_name, device, referrer = _attributes(visitor)
        out.append(
            Hit(
                DAY + offset,
                visitor,
                country,
                browser,
                os_name,
                "bot" if bot else device,
                bot,
                "GET",
                f"/p{page}/",
                status,
                referrer,
            )
        )
    return out


def _truth(hits: list[Hit]) -> dict[str, dict[str, set[int]]]:
    """True distinct visitors per table and key."""
    truth: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for hit in hits:
        assert hit.visitor is not None
        truth["status"][str(hit.status)].add(hit.visitor)
        truth["bots"]["bot" if hit.bot else "human"].add(hit.visitor)
        if hit.bot or hit.status not in (200, 304):
            continue
        import datetime as dt

        truth["daily"][dt.datetime.fromtimestamp(hit.ts, dt.UTC).date().isoformat()].add(hit.visitor)
        truth["pages"][hit.path].add(hit.visitor)
        for table, index in VISIT_TABLES.items():
            value = (hit.country, hit.browser, hit.os, hit.device, hit.referrer)[index]
            truth[table][value].add(hit.visitor)
    return truth


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hits_strategy, st.integers(2, 8), st.integers(1, 6))
def test_no_cell_under_k_and_no_hidden_mass(
    raw: list[tuple[int, int, int, int, bool]], k: int, top: int
) -> None:
    hits = _hits(raw)
    aggregate = Aggregate(cap=k).add_all(hits)
    release = release_suppressed(aggregate, k, top=top)
    truth = _truth(hits)
    for table in release.tables:
        cells = truth.get(table.name, {})
        exact = aggregate.tables[table.name].cells
        if table.suppressed:
            everyone = set().union(*cells.values()) if cells else set()
            assert len(everyone) < k
            assert table.rows == []
            continue
        shown = {key for key, _ in table.rows if key != OTHER}
        for key, values in table.rows:
            if key == OTHER:
                hidden = set().union(*(v for name, v in cells.items() if name not in shown))
                assert len(hidden) >= k, (table.name, len(hidden))
            else:
                assert len(cells[key]) >= k, (table.name, key)
                assert values == exact[key].values
        # Every count is accounted for: the published total is the true total.
        if exact:
            true_total = [sum(c.values[i] for c in exact.values()) for i in range(len(table.measures))]
            assert table.total() == true_total


def _hit(
    visitor: int,
    *,
    path: str = "/",
    country: str = "DE",
    browser: str = "Chrome",
    os_name: str = "Windows",
    device: str = "desktop",
    referrer: str = "(direct)",
    ts: int = DAY,
) -> Hit:
    return Hit(ts, visitor, country, browser, os_name, device, False, "GET", path, 200, referrer)


def test_small_cells_never_appear_in_json_or_csv(tmp_path: Path) -> None:
    # 12 visitors on the popular page, 1 to 3 on each rare page, with rare attributes of their own
    # (planted keys that must not appear anywhere).
    hits = [_hit(visitor, path="/popular/") for visitor in range(12)]
    for rare in range(9):
        for visitor in range(1 + rare % 3):
            hits.append(
                _hit(
                    100 + rare * 10 + visitor,
                    path=f"/rare-{rare}/",
                    country=f"Q{rare}",
                    browser=f"RareBrowser{rare}",
                    os_name=f"Plan{rare}",
                    referrer=f"rare{rare}.example",
                    ts=DAY + 100,
                )
            )
    release = release_suppressed(Aggregate(cap=10).add_all(hits), 10)
    write_release(release, tmp_path / "out", charts=False)
    texts = [path.read_text(encoding="utf-8") for path in (tmp_path / "out").iterdir()]
    for text in [*texts, json.dumps(release.as_dict())]:
        for planted in ("/rare-", "rare0.example", "RareBrowser", "Plan", '"Q', "\nQ"):
            assert planted not in text, planted
    pages = list(csv.reader(io.StringIO(table_csv(release, "pages"))))
    assert pages[0] == ["page", "page_views"]
    assert pages[1][0] == "/popular/"
    assert pages[2][0] == OTHER and int(pages[2][1]) == sum(1 + r % 3 for r in range(9))
    assert release.table("countries").rows == [("DE", [12]), (OTHER, [18])]


def test_a_table_with_too_few_visitors_is_withheld() -> None:
    hits = [
        Hit(DAY, v, "DE", "Chrome", "Windows", "desktop", False, "GET", "/", 200, "(direct)")
        for v in range(3)
    ]
    release = release_suppressed(Aggregate(cap=5).add_all(hits), 5)
    assert all(table.suppressed or not table.rows for table in release.tables)
    assert release.table("countries").note == "withheld: fewer than 5 visitors in total"
    assert release.table("countries").total() is None


def test_secondary_suppression_keeps_other_at_k() -> None:
    hits = []
    for visitor in range(10):  # a big country
        hits.append(
            Hit(DAY, visitor, "DE", "Chrome", "Windows", "desktop", False, "GET", "/", 200, "(direct)")
        )
    for visitor in range(10, 16):  # a medium one, and one visitor alone in a third
        hits.append(
            Hit(DAY, visitor, "FR", "Chrome", "Windows", "desktop", False, "GET", "/", 200, "(direct)")
        )
    hits.append(Hit(DAY, 99, "LU", "Chrome", "Windows", "desktop", False, "GET", "/", 200, "(direct)"))
    countries = release_suppressed(Aggregate(cap=6).add_all(hits), 6).table("countries")
    # LU alone is 1 < 6: FR (the smallest published) joins it so that (other) describes 7.
    assert countries.rows == [("DE", [10]), (OTHER, [7])]


def test_without_addresses_k_counts_requests() -> None:
    hits = [
        Hit(DAY + i, None, "DE", "Chrome", "Windows", "desktop", False, "GET", "/", 200, "(direct)")
        for i in range(4)
    ]
    release = release_suppressed(Aggregate(cap=3).add_all(hits), 3)
    assert release.privacy["unit"] == "request"
    assert release.table("daily").rows == [("2024-11-01", [4, 4])]
    assert release.notes


def test_summary_comes_from_released_tables() -> None:
    hits = [_hit(v, ts=DAY + v) for v in range(12)]
    hits += [
        Hit(DAY + 50 + v, 1000 + v, "US", "Googlebot", "Other", "bot", True, "GET", "/", 200, "(direct)")
        for v in range(4)
    ]
    summary = release_suppressed(Aggregate(cap=3).add_all(hits), 3).summary()
    assert summary == {"visits": 12, "page_views": 12, "requests": 16, "bot_share": 0.25}
    # With bots below k they are folded into (other): no share can be told, none is made up.
    summary = release_suppressed(Aggregate(cap=5).add_all(hits), 5).summary()
    assert summary["bot_share"] is None and summary["requests"] == 16
