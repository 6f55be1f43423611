"""What a report is made of: its window, sections, tables and charts, as plain data.

The sections (``sections.py``, ``timeline.py``) fill these from SQL aggregates;
``charts.py`` draws the charts and ``page.py`` writes the page. Nothing here
reads a store or imports the plotting library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

# The number of series a chart names; the rest are drawn as one "other" series (the tables list them all).
TOP_SERIES = 8
# Rows a table shows on the page; a longer one says how many it left out and which query gives them all.
MAX_TABLE_ROWS = 200


@dataclass(frozen=True)
class Window:
    """What the report covers: the as-of date, the months before it, the runs, and the settings it judges by."""

    as_of: date
    months: int
    runs: int
    retention_days: int
    min_cell: int
    analyst: bool
    home: str | None = None  # the warehouse home: which DR target is its own dr/ (SPEC 11)
    s3_endpoint: str = ""  # [dr.s3] endpoint: whether an S3 target is on this machine

    @property
    def month_list(self) -> list[str]:
        """The window's months, ``YYYY-MM``, oldest first, ending with the as-of date's month."""
        y, m = self.as_of.year, self.as_of.month
        out = []
        for _ in range(self.months):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        return out[::-1]

    @property
    def first_day(self) -> date:
        """The first day of the window's first month."""
        first = self.month_list[0]
        return date(int(first[:4]), int(first[5:7]), 1)

    @property
    def end(self) -> date:
        """The day after the as-of date: the window ends before it."""
        return self.as_of + timedelta(days=1)

    def span(self) -> str:
        """The window in words: "in 2026-12", "from 2026-01 to 2026-12"."""
        months = self.month_list
        return f"in {months[0]}" if len(months) == 1 else f"from {months[0]} to {months[-1]}"


@dataclass(frozen=True)
class Bars:
    """Stacked bars: one bar per category, one stack per series, in order."""

    name: str
    title: str
    alt: str
    categories: list[str]
    series: list[tuple[str, list[float]]]
    ylabel: str
    horizontal: bool = False
    # (index of the first category right of the line, its label): the categories left of it are shaded
    divider: tuple[int, str] | None = None
    shaded_label: str = ""
    warn: frozenset[str] = frozenset()  # series drawn in the warning colour, hatched (refusals)
    muted: frozenset[str] = frozenset()  # series drawn in grey (the "other" series of top_series)


@dataclass(frozen=True)
class Span:
    start: date
    end: date
    kind: str  # warehouse | overdue | archive | shredded


@dataclass(frozen=True)
class Timeline:
    """One row per partition: the spans of its life, and the day it is kept until."""

    name: str
    title: str
    alt: str
    labels: list[str]
    spans: list[list[Span]]
    kept_until: list[date | None]
    as_of: date


@dataclass(frozen=True)
class Runs:
    """Nightly runs: duration per run (coloured by outcome, the slow ones marked) and rows loaded."""

    name: str
    title: str
    alt: str
    labels: list[str]
    seconds: list[float | None]
    outcomes: list[str]
    rows: list[int]
    median: float | None
    slow: list[bool]


Chart = Bars | Timeline | Runs


@dataclass
class Table:
    """A table of the numbers beneath a chart; `highlight` marks rows that stand out (refusals, slow runs)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    highlight: list[bool] = field(default_factory=list)
    note: str = ""

    def shown(self) -> tuple[list[list[Any]], list[bool], int]:
        """The rows the page shows (at most MAX_TABLE_ROWS), their highlights, and how many were left out."""
        marks = self.highlight or [False] * len(self.rows)
        return self.rows[:MAX_TABLE_ROWS], marks[:MAX_TABLE_ROWS], max(len(self.rows) - MAX_TABLE_ROWS, 0)


@dataclass
class Section:
    """One section of the page: a title, the caption with the figure that matters, charts, tables.

    A section with nothing to show has no chart and says why in its caption (`empty`).
    """

    key: str
    title: str
    caption: str
    source: str  # where the numbers come from, for the reader who wants to check them
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    empty: bool = False

    def rows(self) -> int:
        return sum(len(t.rows) for t in self.tables)


def unavailable(key: str, title: str, why: str) -> Section:
    """A section the analysts' report leaves out, saying why."""
    return Section(key, title, f"Not in the analysts' report: {why}.", "published/analyst.duckdb does not hold it", empty=True)


def top_series(rows: list[tuple[str, str, float]], categories: list[str], other: str, top: int = TOP_SERIES
               ) -> tuple[list[tuple[str, list[float]]], frozenset[str]]:
    """(category, series, value) rows as the `top` largest series plus one `other` series, aligned on categories;
    and the name of that other series (empty when there is none), for Bars.muted."""
    totals: dict[str, float] = {}
    for _, s, v in rows:
        totals[s] = totals.get(s, 0) + v
    ranked = sorted(totals, key=lambda s: (-totals[s], s))
    kept = ranked if len(ranked) <= top + 1 else ranked[:top]  # one left over is named, not grouped
    rest = [s for s in ranked if s not in kept]
    index = {c: i for i, c in enumerate(categories)}
    series: dict[str, list[float]] = {s: [0.0] * len(categories) for s in kept}
    label = f"{len(rest)} {other}"
    if rest:
        series[label] = [0.0] * len(categories)
    for c, s, v in rows:
        if c in index:
            series[s if s in kept else label][index[c]] += v
    return list(series.items()), frozenset({label} if rest else ())


def fmt_int(n: float | int | None) -> str:
    return "—" if n is None else f"{int(n):,}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
