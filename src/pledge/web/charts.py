"""Charts for the admin console as accessible inline SVG, and the numbers behind them.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that states the numbers,
and the page shows the same numbers as a table; bars carry their values as text, and series
differ by pattern as well as by colour (Okabe–Ito palette, as ``pledge.logs.charts`` uses), so
nothing depends on seeing colour. Labels are escaped; everything else is numbers we computed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

import sqlalchemy as sa
from markupsafe import Markup

from pledge.consent._sql import as_utc
from pledge.consent.tables import events
from pledge.requests.tables import requests

if TYPE_CHECKING:
    from pledge.system import Pledge

__all__ = [
    "ConsentRate",
    "WeeklyRequests",
    "consent_rates",
    "rate_chart",
    "requests_per_week",
    "weekly_chart",
]

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True)
class WeeklyRequests:
    weeks: list[dt.date]
    """Mondays, oldest first."""
    kinds: list[str]
    counts: dict[str, list[int]]
    """kind → one count per week."""

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.counts.values())


@dataclass(frozen=True)
class ConsentRate:
    purpose: str
    name: str
    granted: int
    """People for whom the purpose is allowed now."""
    decided: int
    """People it concerns (known to the ledger)."""

    @property
    def rate(self) -> float:
        return self.granted / self.decided if self.decided else 0.0


def requests_per_week(system: Pledge, weeks: int = 12) -> WeeklyRequests:
    today = system.now().date()
    monday = today - dt.timedelta(days=today.weekday())
    starts = [monday - dt.timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    since = dt.datetime.combine(starts[0], dt.time(), tzinfo=dt.UTC)
    with system.db.connect() as conn:
        rows = conn.execute(
            sa.select(requests.c.kind, requests.c.received_at).where(requests.c.received_at >= since)
        ).all()
    counted: Counter[tuple[str, dt.date]] = Counter()
    for kind, received in rows:
        day = as_utc(received).date()
        counted[(kind, day - dt.timedelta(days=day.weekday()))] += 1
    kinds = sorted({kind for kind, _ in counted})
    return WeeklyRequests(starts, kinds, {k: [counted[(k, w)] for w in starts] for k in kinds})


def consent_rates(system: Pledge) -> list[ConsentRate]:
    """Per purpose with a consent choice: of the people it concerns, for how many it is allowed
    now. People are those the ledger knows: banner visitors for cookie purposes, everyone else for
    the rest. The purpose's default applies to whoever never chose (opt-out: allowed)."""
    latest: dict[tuple[str, str], str] = {}
    visitors: set[str] = set()
    others: set[str] = set()
    with system.db.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.subject_id, events.c.purpose, events.c.kind, events.c.source).order_by(
                events.c.id
            )
        )
        for subject, purpose, kind, source in rows:
            (visitors if source == "banner" else others).add(subject)
            if kind in ("grant", "withdraw") and purpose != "*":
                latest[(subject, purpose)] = kind
    others -= visitors
    granted: Counter[str] = Counter()
    withdrawn: Counter[str] = Counter()
    for (_, purpose), kind in latest.items():
        (granted if kind == "grant" else withdrawn)[purpose] += 1
    declared = {p.id: p for p in system.loaded.declaration.purposes}
    out = []
    for purpose_id, rule in system.policy.purposes.items():
        if not rule.consent_choice:
            continue
        purpose = declared[purpose_id]
        population = len(visitors if purpose.cookie_category is not None else others)
        allowed = (
            population - withdrawn[purpose_id] if rule.default_mode == "opt_out" else granted[purpose_id]
        )
        out.append(ConsentRate(purpose_id, purpose.name, max(0, allowed), population))
    return out


def _svg_open(width: int, height: int, ident: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{ident}-t {ident}-d" class="chart">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
    ]


def weekly_chart(data: WeeklyRequests, ident: str = "weekly") -> Markup:
    """Stacked columns: requests received per week, one colour and pattern per kind."""
    width, height, left, bottom, top = 720, 300, 44, 60, 16
    plot_w, plot_h = width - left - 150, height - top - bottom
    totals = [sum(data.counts[k][i] for k in data.kinds) for i in range(len(data.weeks))]
    peak = max([*totals, 1])
    desc = "; ".join(
        f"week of {w.strftime('%d %b')}: {t}"
        + (
            " (" + ", ".join(f"{k} {data.counts[k][i]}" for k in data.kinds if data.counts[k][i]) + ")"
            if t
            else ""
        )
        for i, (w, t) in enumerate(zip(data.weeks, totals, strict=True))
    )
    parts = _svg_open(width, height, ident, "Requests received per week, by type", desc or "No requests.")
    parts.append(_patterns(ident, len(data.kinds)))
    step = plot_w / max(len(data.weeks), 1)
    bar = step * 0.7
    for tick in _ticks(peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>{tick}</text>')
    for i, week in enumerate(data.weeks):
        x = left + i * step + (step - bar) / 2
        y = top + plot_h
        for n, kind in enumerate(data.kinds):
            value = data.counts[kind][i]
            if not value:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="url(#{ident}-p{n})" stroke="#222" stroke-width="0.5"/>'
            )
        if totals[i]:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" {_FONT}>{totals[i]}</text>'
            )
        label = week.strftime("%d %b")
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="end" '
            f'transform="rotate(-40 {x + bar / 2:.1f} {top + plot_h + 16})" {_FONT}>{label}</text>'
        )
    parts.append(_legend(ident, data.kinds, left + plot_w + 16, top))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (numbers and escaped labels only)


def rate_chart(rates: Sequence[ConsentRate], ident: str = "rates") -> Markup:
    """Horizontal bars: share of people who said yes, per purpose, with the counts as text."""
    row, left, width = 30, 260, 720
    height = 30 + row * max(len(rates), 1)
    plot_w = width - left - 130
    desc = "; ".join(f"{r.name}: allowed for {r.granted} of {r.decided} ({r.rate:.0%})" for r in rates)
    parts = _svg_open(width, height, ident, "Consent rate per purpose", desc or "Nobody recorded yet.")
    for i, rate in enumerate(rates):
        y = 10 + i * row
        name = rate.name if len(rate.name) <= 38 else rate.name[:37] + "…"
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" {_FONT}>{escape(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{plot_w}" height="16" fill="#eee" stroke="#999"/>')
        if rate.decided:
            parts.append(
                f'<rect x="{left}" y="{y + 4}" width="{plot_w * rate.rate:.1f}" height="16" '
                f'fill="{PALETTE[2]}"/>'
            )
        text = f"{rate.rate:.0%} ({rate.granted}/{rate.decided})" if rate.decided else "nobody yet"
        parts.append(f'<text x="{left + plot_w + 8}" y="{y + 16}" {_FONT}>{text}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (numbers and escaped labels only)


def _ticks(peak: int) -> list[int]:
    step = max(1, round(peak / 4))
    return list(range(0, peak + 1, step))


def _patterns(ident: str, count: int) -> str:
    """One fill per series: a colour, and for every other series diagonal hatching on it."""
    defs = ["<defs>"]
    for n in range(count):
        colour = PALETTE[n % len(PALETTE)]
        defs.append(f'<pattern id="{ident}-p{n}" width="6" height="6" patternUnits="userSpaceOnUse">')
        defs.append(f'<rect width="6" height="6" fill="{colour}"/>')
        if n % 2:
            defs.append('<path d="M0 6 L6 0" stroke="#fff" stroke-width="1.5"/>')
        defs.append("</pattern>")
    defs.append("</defs>")
    return "".join(defs)


def _legend(ident: str, kinds: Sequence[str], x: int, y: int) -> str:
    items = []
    for n, kind in enumerate(kinds):
        top = y + n * 20
        items.append(
            f'<rect x="{x}" y="{top}" width="14" height="14" fill="url(#{ident}-p{n})" stroke="#222"/>'
            f'<text x="{x + 20}" y="{top + 12}" {_FONT}>{escape(kind)}</text>'
        )
    return "".join(items)


def table_rows(data: WeeklyRequests) -> list[tuple[dt.date, dict[str, int], int]]:
    """The weekly numbers as table rows: (week, count per kind, total)."""
    out = []
    for i, week in enumerate(data.weeks):
        per: dict[str, int] = defaultdict(int)
        for kind in data.kinds:
            per[kind] = data.counts[kind][i]
        out.append((week, dict(per), sum(per.values())))
    return out


__all__ += ["table_rows"]
