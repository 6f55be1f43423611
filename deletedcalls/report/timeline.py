"""The retention timeline (each partition's life: in the warehouse, past retention, archived, purged) and the
DR inventory per target.

The inventory is one function, ``dr_inventory``, that reads what ``dr list``
reads (``dr/archives.list_archives`` over ``dr_archives``): the DR work of
SPEC 11 (targets, encryption, shredding) reaches the report there.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb

from deletedcalls.clock import partition_expiry
from deletedcalls.dr.archives import list_archives
from deletedcalls.report.model import Section, Span, Table, Timeline, Window, fmt_bytes, plural
from deletedcalls.report.sections import rows_of

PARTITIONS_CHARTED = 36
# The only target today: the home's dr/ folder (SPEC 11's targets are not configurable yet).
LOCAL_TARGET = "dr/ in the warehouse home"


def _day(t: datetime | date | None) -> date | None:
    return t.date() if isinstance(t, datetime) else t


def partition_state(p: dict[str, Any], w: Window) -> tuple[str, bool]:
    """A partition's state in words, and whether it needs attention (past retention, yet rows still in the warehouse)."""
    held = p["deletions"] - p["purgedRows"]
    overdue = partition_expiry(p["partition"], w.retention_days) < w.as_of
    if held > 0 and overdue:
        return "past retention, still in the warehouse", True
    if held > 0:
        return ("in the warehouse; earlier rows archived and purged" if p["parts"] else "in the warehouse"), False
    if p["purgedRows"]:
        return ("archived and purged" + ("" if p["erasedAt"] else "; erasure from the warehouse file pending")), not p["erasedAt"]
    if p["parts"]:
        return "archived", False
    return "nothing left", False


def _spans(p: dict[str, Any], w: Window) -> list[Span]:
    y, m = int(p["partition"][:4]), int(p["partition"][5:7])
    start = date(y, m, 1)
    expiry = partition_expiry(p["partition"], w.retention_days)
    held = p["deletions"] - p["purgedRows"]
    spans = []
    purged = _day(p["firstPurged"])
    # in the warehouse until now (rows held) or until the purge; past its expiry, the time is drawn as overdue
    left = w.as_of if held > 0 or purged is None else purged
    if expiry < left:
        spans += [Span(start, expiry, "warehouse"), Span(expiry, left, "overdue")]
    else:
        spans.append(Span(start, max(left, start), "warehouse"))
    archived = _day(p["firstArchived"])
    if archived is not None:
        spans.append(Span(archived, max(w.as_of, archived), "archive"))
    return spans


def retention(con: duckdb.DuckDBPyConnection, w: Window) -> Section:
    """Each partition's state with its dates, as a timeline, and the DR inventory beneath."""
    parts = rows_of(con, "partitions")
    inventory, dr_caption = dr_inventory(con)
    source = ("deleted_calls_summary, dr_archives, retention_events; sql/report/partitions.sql; "
              "expiry: a month's last day plus [retention] days")
    if not parts:
        return Section("retention", "Retention and DR archives",
                       "No partition yet: no call has been deleted, so nothing is kept, archived or purged.", source,
                       tables=[inventory], empty=True)
    states = [partition_state(p, w) for p in parts]
    held = sum(1 for p in parts if p["deletions"] > p["purgedRows"])
    overdue = [p["partition"] for p, (_, bad) in zip(parts, states, strict=True) if bad and p["deletions"] > p["purgedRows"]]
    purged = sum(1 for p in parts if p["purgedRows"] and p["deletions"] <= p["purgedRows"])
    caption = (f"{plural(len(parts), 'partition')}: {held} in the warehouse"
               + (f" ({len(overdue)} past retention: {', '.join(overdue[:3])}{'…' if len(overdue) > 3 else ''})" if overdue else "")
               + f", {purged} archived and purged; {dr_caption}.")
    shown = parts[-PARTITIONS_CHARTED:]
    chart = Timeline(
        "retention-timeline", "Each partition's life: in the warehouse, past retention, in a DR archive",
        f"Timeline of the {len(shown)} most recent partitions (months of deletion): time in the warehouse, past its "
        f"{w.retention_days}-day retention, and in a DR archive, with the day each is kept until; as of {w.as_of}.",
        [p["partition"] for p in shown], [_spans(p, w) for p in shown],
        [partition_expiry(p["partition"], w.retention_days) for p in shown], w.as_of,
    )
    table = Table(
        "Partitions", ["partition", "calls deleted", "in the warehouse", "kept until", "state", "archived",
                       "DR parts", "archived rows", "purged", "erased"],
        [[p["partition"], p["deletions"], p["deletions"] - p["purgedRows"],
          partition_expiry(p["partition"], w.retention_days), state, _day(p["firstArchived"]), p["parts"],
          p["archivedRows"], _day(p["lastPurged"]), _day(p["erasedAt"])] for p, (state, _) in zip(parts, states, strict=True)],
        highlight=[bad for _, bad in states],
        note="Highlighted: past retention with rows still in the warehouse (the next `retention enforce` archives "
             "and purges them), or purged but not yet erased from the warehouse file.",
    )
    return Section("retention", "Retention and DR archives", caption, source, [chart], [table, inventory])


def dr_inventory(con: duckdb.DuckDBPyConnection) -> tuple[Table, str]:
    """The DR archives per target, from what ``dr list`` reads; and the words for the section's caption."""
    archives = list_archives(con)
    by_target: dict[str, list[dict[str, Any]]] = {LOCAL_TARGET: archives} if archives else {}
    rows = []
    for target, held in by_target.items():
        created = [a["created"] for a in held]
        rows.append([target, len(held), len({a["partition"] for a in held}), sum(a["rows"] for a in held),
                     fmt_bytes(sum(a["size"] for a in held)), min(created), max(created),
                     "on this machine: not off-site"])
    table = Table("DR archives per target", ["target", "archives", "partitions", "rows", "size", "oldest (UTC)",
                                             "newest (UTC)", "note"], rows,
                  highlight=[True] * len(rows),
                  note="From dr_archives, as `deletedcalls dr list` shows them; `deletedcalls dr verify` reads each "
                       "archive back and checks it.")
    if not archives:
        return table, "no DR archive yet"
    size = fmt_bytes(sum(a["size"] for a in archives))
    return table, (f"DR: {plural(len(archives), 'archive')} of {plural(len({a['partition'] for a in archives}), 'partition')} "
                   f"({size}) in {LOCAL_TARGET}, on this machine: not off-site")
