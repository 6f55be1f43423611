"""The report's page: one self-contained HTML file (its charts inline as PNG data, its style inline).

It loads nothing from anywhere: a Content-Security-Policy allows inline
images and style only, and there is no script. Every value is escaped. Each
table row is one line of the file, so that ``grep`` finds a month, a file or a
user with its numbers. Tables have captions and column headers for screen
readers; a highlighted row also carries a visible marker, not colour alone.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from deletedcalls.report.model import Section, Table, Window

STYLE = """
:root { --ink: #1d232a; --muted: #5b6570; --line: #d9dee3; --band: #f5f7f9; --warn: #b3261e; --warn-bg: #fdeceb;
        --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
header, main, nav, footer { max-width: 1180px; margin: 0 auto; padding: 0 28px; }
header { padding-top: 28px; padding-bottom: 8px; border-bottom: 3px solid var(--ink); }
.kicker { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted); }
h1 { margin: 4px 0 14px; font-size: 28px; line-height: 1.2; }
h2 { margin: 0 0 6px; font-size: 21px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0 0 16px; font-size: 14px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
code { font: 13px/1.4 "DejaVu Sans Mono", "Liberation Mono", monospace; background: var(--band); padding: 0 3px; border-radius: 3px; }
nav { padding-top: 18px; padding-bottom: 6px; }
nav h2 { font-size: 17px; }
nav ol { margin: 6px 0 0; padding-left: 22px; }
nav li { margin: 3px 0; }
nav a { color: var(--accent); font-weight: 600; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { padding: 22px 0 10px; border-top: 1px solid var(--line); margin-top: 18px; }
p.figure { margin: 0 0 12px; font-size: 16.5px; font-weight: 600; }
p.empty { margin: 0 0 8px; padding: 12px 16px; background: var(--band); border-left: 4px solid var(--muted);
          font-size: 16px; }
figure { margin: 0 0 14px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
.scroll { max-height: 520px; overflow: auto; margin: 0 0 14px; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption { text-align: left; font-weight: 700; padding: 8px 10px; background: var(--band); border-bottom: 1px solid var(--line); }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { position: sticky; top: 0; background: #fff; font-weight: 600; color: var(--muted); font-size: 13px;
           border-bottom: 2px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nw { white-space: nowrap; }
tr.hl td { background: var(--warn-bg); }
tr.hl td:first-child { box-shadow: inset 4px 0 0 var(--warn); }
.flag { display: inline-block; min-width: 16px; margin-right: 6px; border-radius: 8px; background: var(--warn); color: #fff;
        font-weight: 700; font-size: 11px; line-height: 16px; text-align: center; }
p.note, p.source { margin: -6px 0 14px; font-size: 13px; color: var(--muted); }
footer { padding-top: 18px; padding-bottom: 40px; font-size: 13px; color: var(--muted); border-top: 1px solid var(--line);
         margin-top: 24px; }
@media print { .scroll { max-height: none; overflow: visible; } section, figure, tr { break-inside: avoid; }
               header, main, nav, footer { max-width: none; padding: 0; } }
"""

NUM = ' class="num"'
NOWRAP = ' class="nw"'
HIGHLIGHT = ' class="hl"'
FLAG = '<span class="flag" aria-label="stands out">!</span>'
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


@dataclass(frozen=True)
class Header:
    """What the page says about itself: which warehouse and store, as of when, for whom."""

    home: str
    store: str
    published_at: datetime | None
    run_id: int | None
    generated_at: datetime
    user: str
    version: str


def cell(value: Any) -> tuple[str, bool]:
    """A value as the page shows it, and whether it is a number (right-aligned)."""
    if value is None:
        return "—", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, Decimal):
        return f"{value:,}", True
    if isinstance(value, float):
        return f"{value:,.1f}", True
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}", False
    if isinstance(value, date):
        return value.isoformat(), False
    return str(value), False


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _table(t: Table) -> str:
    rows, marks, left_out = t.shown()
    numeric = [any(cell(r[i])[1] for r in rows) for i in range(len(t.columns))]
    head = "".join(f'<th scope="col"{NUM if numeric[i] else ""}>{escape(c)}</th>' for i, c in enumerate(t.columns))
    body = []
    for row, mark in zip(rows, marks, strict=True):
        cells = []
        for i, value in enumerate(row):
            text, num = cell(value)
            flag = FLAG if mark and i == 0 else ""
            kind = NUM if num else (NOWRAP if len(text) <= 24 else "")  # dates, ids and names stay on one line
            cells.append(f'<td{kind}>{flag}{escape(text)}</td>')
        body.append(f'<tr{HIGHLIGHT if mark else ""}>{"".join(cells)}</tr>')
    if not rows:
        body.append(f'<tr><td colspan="{len(t.columns)}">none</td></tr>')
    notes = [t.note] if t.note else []
    if left_out:
        notes.append(f"Showing the first {len(rows):,} of {len(t.rows):,} rows; the source query gives them all.")
    note = "".join(f'<p class="note">{escape(n)}</p>\n' for n in notes)
    return (f'<div class="scroll"><table>\n<caption>{escape(t.title)}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody></table></div>\n" + note)


def _section(number: int, s: Section, images: dict[str, bytes]) -> str:
    parts = [f'<section id="{s.key}" aria-labelledby="{s.key}-h">', f'<h2 id="{s.key}-h">{number}. {escape(s.title)}</h2>']
    parts.append(f'<p class="{"empty" if s.empty else "figure"}">{escape(s.caption)}</p>')
    for chart in s.charts:
        data = images[chart.name]
        width, height = png_size(data)
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(f'<figure><img src="{src}" alt="{escape(chart.alt)}" width="{width}" height="{height}" '
                     f'data-chart="{chart.name}"><figcaption>Chart: {escape(chart.name)}.png, beside this page.'
                     "</figcaption></figure>")
    parts += [_table(t) for t in s.tables]
    parts.append(f'<p class="source">Source: {escape(s.source)}.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def render(sections: list[Section], images: dict[str, bytes], w: Window, h: Header) -> str:
    """The whole page."""
    kind = "analysts' report (counts only, from the analyst store)" if w.analyst else "data-protection review report"
    published = h.store
    if h.published_at:
        published += f", published {h.published_at:%Y-%m-%d %H:%M:%S} UTC" + (f" by run {h.run_id}" if h.run_id else "")
    meta = [
        ("Warehouse", h.home), ("Store", published),
        ("Window", f"{w.month_list[0]} to {w.as_of} ({w.months} months); rejected records: the last {w.runs} runs"),
        ("Retention", f"{w.retention_days} days after a month's last day"),
        ("Generated", f"{h.generated_at:%Y-%m-%d %H:%M:%S} UTC by {h.user}, deletedcalls {h.version}"),
    ]
    meta_html = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in meta)
    glance = "".join(f'<li><a href="#{s.key}">{escape(s.title)}</a>: {escape(s.caption)}</li>' for s in sections)
    title = f"Deleted calls: review as of {w.as_of}"
    body = "\n".join(_section(i, s, images) for i, s in enumerate(sections, 1))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="generator" content="deletedcalls {escape(h.version)}">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<p class="kicker">deletedcalls · {escape(kind)}</p>
<h1>{escape(title)}</h1>
<dl class="meta">{meta_html}</dl>
</header>
<nav aria-labelledby="glance-h"><h2 id="glance-h">At a glance</h2><ol>{glance}</ol></nav>
<main>
{body}
</main>
<footer>Written by <code>deletedcalls report</code>{" --analyst" if w.analyst else ""}. Every number comes from the
published store named above, through the queries in <code>sql/report/</code>; docs/REPORT.md says what each chart shows.
Times are UTC.</footer>
</body>
</html>
"""
