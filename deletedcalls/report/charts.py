"""The report's charts, drawn with matplotlib into PNG bytes (docs/DECISIONS.md: why matplotlib).

matplotlib is imported here, inside ``draw``, and only by the report: no other
command pays its import. Figures are made with the object API (``Figure``,
the Agg canvas), not pyplot: no global state, no GUI backend, nothing left
open. The fonts are matplotlib's own (DejaVu Sans), so a chart looks the same
on a server without fonts installed. Colours are the Okabe-Ito palette, told
apart by people with colour-blindness; the tables beneath carry every number.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from deletedcalls.report.model import Bars, Chart, Runs, Timeline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OTHER = "#a0a0a0"
WARN = "#C0392B"
OUTCOMES = {"ok": "#0072B2", "rejected": "#E69F00", "failed": "#C0392B", "interrupted": "#7f7f7f", "running": "#56B4E9"}
SPANS = {"warehouse": ("#0072B2", "in the warehouse"), "overdue": ("#D55E00", "in the warehouse past its retention"),
         "archive": ("#009E73", "in a DR archive"), "shredded": ("#7f7f7f", "DR key shredded")}
WIDTH = 10.0  # inches; at DPI, 1100 pixels: the page shows it at its column's width
DPI = 110
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#8a8a8a", "axes.labelcolor": "#333333",
    "axes.grid": True, "axes.axisbelow": True, "grid.color": "#e4e4e4", "grid.linewidth": 0.8,
    "xtick.color": "#333333", "ytick.color": "#333333", "legend.frameon": False, "legend.fontsize": 9,
    "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
}


def draw(chart: Chart) -> bytes:
    """The chart as PNG bytes."""
    import matplotlib

    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # its keys are matplotlib's own
        if isinstance(chart, Bars):
            fig = _bars(chart)
        elif isinstance(chart, Timeline):
            fig = _timeline(chart)
        else:
            fig = _runs(chart)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _figure(height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height), layout="constrained")


def _colours(names: list[str], warn: frozenset[str], muted: frozenset[str]) -> list[str]:
    out, k = [], 0
    for name in names:
        if name in warn:
            out.append(WARN)
        elif name in muted:
            out.append(OTHER)
        else:
            out.append(PALETTE[k % len(PALETTE)])
            k += 1
    return out


def _thousands(axis: Any, bins: int | Literal["auto"] = "auto") -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=bins, integer=True))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _sparse_ticks(ax: Axes, labels: list[str], at_least: int = 0) -> None:
    """Category labels on the x axis, thinned so that they never overlap; fewer than `at_least` bars keep the
    width of that many (a single run is not drawn as a wall)."""
    n = len(labels)
    step = 1 if n <= 14 else -(-n // 14)
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks, labels=[labels[i] for i in ticks], rotation=0 if n <= 8 else 35,
                  ha="center" if n <= 8 else "right", rotation_mode="anchor")
    pad = max(at_least - n, 0) / 2
    ax.set_xlim(-0.6 - pad, n - 0.4 + pad)


def _rectangles(ax: Axes, at: list[float], length: list[float], start: list[float], *, width: float, colour: str | list[str],
                label: str | None = None, horizontal: bool = False, hatch: str | None = None,
                edges: list[str] | None = None, linewidths: list[float] | None = None) -> None:
    """Bars as one collection of rectangles (``ax.bar`` makes an artist per bar: seconds for a few thousand).

    Bars of length 0 are left out. `at` is each bar's centre on the category axis, `start` where it begins.
    """
    from matplotlib.collections import PolyCollection

    keep = [i for i, v in enumerate(length) if v]
    half = width / 2
    verts = []
    for i in keep:
        a, b = start[i], start[i] + length[i]
        lo, hi = at[i] - half, at[i] + half
        verts.append([(a, lo), (b, lo), (b, hi), (a, hi)] if horizontal else [(lo, a), (hi, a), (hi, b), (lo, b)])
    colours = [colour[i] for i in keep] if isinstance(colour, list) else colour
    thin = len(at) > 60  # white gaps between stacks would wash out bars this thin
    collection = PolyCollection(verts, facecolors=colours, label=label, hatch=hatch,
                                edgecolors=[edges[i] for i in keep] if edges else ("none" if thin else "white"),
                                linewidths=[linewidths[i] for i in keep] if linewidths else (0 if thin else 0.6))
    ax.add_collection(collection, autolim=False)


def _title(ax: Axes, title: str) -> None:
    ax.set_title(title, loc="left", fontweight="bold", color="#1d232a", pad=10)


def _legend(ax: Axes, handles: list[Any] | None = None) -> None:
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
        if not handles:
            return
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _bars(c: Bars) -> Figure:
    n = len(c.categories)
    names = [name for name, _ in c.series]
    colours = _colours(names, c.warn, c.muted)
    if c.horizontal:
        fig = _figure(max(2.4, 0.36 * n + 1.3))
        ax = fig.subplots()
        positions = [float(n - 1 - i) for i in range(n)]  # the first category on top
        left = [0.0] * n
        for (name, values), colour in zip(c.series, colours, strict=True):
            _rectangles(ax, positions, values, left, width=0.68, colour=colour, label=name, horizontal=True,
                        hatch="///" if name in c.warn else None)
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_yticks(positions, labels=c.categories)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_xlim(0, (max(left) if left and max(left) > 0 else 1.0) * 1.05)
        _title(ax, c.title)
        ax.set_xlabel(c.ylabel)
        _thousands(ax.xaxis)
        ax.grid(axis="y", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.1 - 0.5 / max(n, 1)), ncol=2, borderaxespad=0)
        return fig
    fig = _figure(4.3)
    ax = fig.subplots()
    x = [float(i) for i in range(n)]
    bottom = [0.0] * n
    for (name, values), colour in zip(c.series, colours, strict=True):
        _rectangles(ax, x, values, bottom, width=0.78, colour=colour, label=name, hatch="///" if name in c.warn else None)
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    _sparse_ticks(ax, c.categories, at_least=6)
    _title(ax, c.title)
    ax.set_ylabel(c.ylabel)
    _thousands(ax.yaxis)
    ax.grid(axis="x", visible=False)
    top = max(bottom) if bottom and max(bottom) > 0 else 1.0
    ax.set_ylim(0, top * 1.15)
    handles, _ = ax.get_legend_handles_labels()
    if c.divider is not None:
        from matplotlib.lines import Line2D

        at, label = c.divider
        ax.axvspan(ax.get_xlim()[0], at - 0.5, color="#eeeeee", zorder=0, lw=0)
        ax.axvline(at - 0.5, color="#333333", linestyle="--", linewidth=1.2)
        if c.shaded_label and at >= 2:
            ax.text((at - 1) / 2, top * 1.12, c.shaded_label, ha="center", va="top", fontsize=9, color="#555555")
        handles.append(Line2D([], [], color="#333333", linestyle="--", linewidth=1.2, label=label))
    _legend(ax, handles)
    return fig


def _timeline(c: Timeline) -> Figure:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = len(c.labels)
    fig = _figure(max(2.6, 0.42 * n + 1.4))
    ax = fig.subplots()
    kinds: set[str] = set()
    ends = [c.as_of]
    for i, spans in enumerate(c.spans):
        y = n - 1 - i
        for s in spans:
            kinds.add(s.kind)
            lane = (y - 0.38, 0.36) if s.kind in ("archive", "shredded") else (y + 0.02, 0.36)
            start, end = date2num(s.start), date2num(max(s.end, s.start + timedelta(days=1)))
            ax.broken_barh([(start, end - start)], lane, facecolors=SPANS[s.kind][0], edgecolors="none")
            ends.append(s.end)
        kept = c.kept_until[i]
        if kept is not None and kept < date(9000, 1, 1):
            ax.plot([date2num(kept)] * 2, [y - 0.42, y + 0.42], color="#222222", linewidth=1.6, solid_capstyle="butt")
            ends.append(kept)
    first = min((s.start for spans in c.spans for s in spans), default=c.as_of)
    last = max(ends)
    pad = max((last - first).days * 0.02, 3)
    ax.set_xlim(date2num(first - timedelta(days=pad)), date2num(last + timedelta(days=pad)))
    ax.axvline(date2num(c.as_of), color="#555555", linestyle=":", linewidth=1.2)
    ax.text(date2num(c.as_of), -0.62, f"as of {c.as_of} ", fontsize=9, color="#555555", ha="right", va="bottom")
    ax.set_ylim(-0.7, n - 0.3)
    _title(ax, c.title)
    ax.set_yticks([n - 1 - i for i in range(n)], labels=c.labels)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.grid(axis="y", visible=False)
    handles: list[Any] = [Patch(color=SPANS[k][0], label=SPANS[k][1]) for k in SPANS if k in kinds]
    handles.append(Line2D([], [], color="#222222", linewidth=1.6, label="kept until (expiry)"))
    _legend(ax, handles)
    return fig


def _runs(c: Runs) -> Figure:
    from matplotlib.patches import Patch

    n = len(c.labels)
    fig = _figure(5.4)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
    x = [float(i) for i in range(n)]
    seconds = [s or 0.0 for s in c.seconds]
    _rectangles(top, x, seconds, [0.0] * n, width=0.72 if n <= 60 else 0.9,
                colour=[OUTCOMES.get(o, OTHER) for o in c.outcomes])
    highest = max(seconds + [0.0])
    if c.median:
        top.axhline(c.median, color="#333333", linestyle="--", linewidth=1, label=f"median {c.median:.1f} s")
        top.axhline(3 * c.median, color=WARN, linestyle=":", linewidth=1.2, label="3× the median")
        highest = max(highest, 3 * c.median)
        slow = [i for i, s in enumerate(c.slow) if s]
        if slow:
            top.scatter(slow, [seconds[i] for i in slow], marker="v", s=36, color=WARN, zorder=3,
                        label="3× the median or more")
        for i in sorted(slow, key=lambda i: -seconds[i])[:12]:  # the longest are named; the table has them all
            top.annotate(f"{seconds[i] / c.median:.1f}×", (i, seconds[i]), xytext=(0, 7), textcoords="offset points",
                         ha="center", va="bottom", color=WARN, fontweight="bold", fontsize=9)
    top.set_ylim(0, highest * 1.18 or 1)
    _title(top, c.title)
    top.set_ylabel("seconds")
    top.grid(axis="x", visible=False)
    handles, _ = top.get_legend_handles_labels()
    outcomes = [o for o in OUTCOMES if o in c.outcomes] + sorted(set(c.outcomes) - set(OUTCOMES))
    handles = [Patch(color=OUTCOMES.get(o, OTHER), label=o) for o in outcomes] + handles
    _legend(top, handles)
    _rectangles(bottom, x, [float(r) for r in c.rows], [0.0] * n, width=0.72 if n <= 60 else 0.9, colour="#56B4E9")
    bottom.set_ylim(0, max(c.rows + [0]) * 1.1 or 1)
    bottom.set_ylabel("rows loaded")
    _thousands(bottom.yaxis, bins=3)
    bottom.grid(axis="x", visible=False)
    _sparse_ticks(bottom, c.labels, at_least=12)
    return fig
