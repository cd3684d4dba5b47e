"""Charts of a release (PNG and SVG) for the admin console, drawn with matplotlib's Agg backend.

Readable without colour: the two daily series differ by marker and line style as well as hue;
bars carry their values as text. Colours are the Okabe–Ito palette, distinguishable with the
common colour-vision deficiencies. Each chart comes with a text description (``alt``) that the
console puts beside the image. Only released numbers are drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pledge.logs.release import Release, ReleasedTable

__all__ = ["draw_charts"]

BLUE, ORANGE, GREEN, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
_BARS = 15


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 12,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "pledge",  # stable ids: the same release draws the same SVG
            "svg.fonttype": "none",  # text stays text in SVG (selectable, read by screen readers)
        }
    )
    return plt


def draw_charts(release: Release, directory: Path) -> list[dict[str, str]]:
    """Write ``<table>.png`` and ``<table>.svg`` for each table with rows; return their descriptions."""
    plt = _pyplot()
    drawn = []
    for table in release.tables:
        if not table.rows:
            continue
        figure = _daily(plt, table) if table.name == "daily" else _bars(plt, table)
        alt = _describe(table)
        for suffix in ("png", "svg"):
            metadata = {"Title": table.title, "Description": alt}
            if suffix == "svg":
                metadata = {"Title": table.title, "Description": alt, "Date": None}  # type: ignore[dict-item]
            figure.savefig(directory / f"{table.name}.{suffix}", format=suffix, dpi=120, bbox_inches="tight",
                           metadata=metadata)  # fmt: skip
        plt.close(figure)
        drawn.append(
            {"table": table.name, "png": f"{table.name}.png", "svg": f"{table.name}.svg", "alt": alt}
        )
    return drawn


def _label(measure: str) -> str:
    return measure.replace("_", " ").capitalize()


def _daily(plt: Any, table: ReleasedTable) -> Any:
    figure, axes = plt.subplots(figsize=(8, 4.2))
    days = [key for key, _ in table.rows]
    styles = [(BLUE, "o", "-"), (ORANGE, "s", "--")]
    for index, measure in enumerate(table.measures):
        colour, marker, line = styles[index % len(styles)]
        axes.plot(days, [values[index] for _, values in table.rows], color=colour, marker=marker,
                  linestyle=line, linewidth=2, markersize=5, label=_label(measure))  # fmt: skip
    axes.set_title(table.title)
    axes.set_xlabel("Day (UTC)")
    axes.set_ylabel("Count")
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(frameon=False)
    step = max(1, len(days) // 12)
    axes.set_xticks(range(0, len(days), step))
    axes.set_xticklabels(days[::step], rotation=45, ha="right")
    return figure


def _bars(plt: Any, table: ReleasedTable) -> Any:
    rows = table.rows[:_BARS]
    labels = [_short(key) for key, _ in rows][::-1]
    values = [row[1][0] for row in rows][::-1]
    height = 1.2 + 0.35 * len(rows)
    figure, axes = plt.subplots(figsize=(8, height))
    colour = GREEN if table.measures[0] == "requests" else BLUE
    bars = axes.barh(labels, values, color=colour)
    total = sum(v[0] for _, v in table.rows) or 1
    for bar, value in zip(bars, values, strict=True):
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:,} ({value / total:.0%})",
                  va="center", fontsize=9)  # fmt: skip
    axes.set_title(table.title)
    axes.set_xlabel(_label(table.measures[0]))
    axes.set_ylabel(table.key.capitalize())
    axes.set_xlim(0, max([*values, 1]) * 1.25)
    axes.grid(axis="x", alpha=0.3)
    return figure


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(table: ReleasedTable) -> str:
    if table.name == "daily":
        totals = table.total() or [0] * len(table.measures)
        parts = ", ".join(
            f"{total:,} {_label(m).lower()}" for m, total in zip(table.measures, totals, strict=True)
        )
        return f"{table.title}, {len(table.rows)} days: {parts} in total."
    top = ", ".join(f"{key} {values[0]:,}" for key, values in table.rows[:5])
    return f"{table.title} ({_label(table.measures[0]).lower()}); largest: {top}."
