"""The retention timeline (each partition's life: in the warehouse, past retention, archived, purged) and the
DR inventory per target.

The inventory is one function, ``dr_inventory``, that reads what ``dr list``
reads (``dr/archives.list_archives`` over ``dr_archives`` and ``dr_copies``):
the live archives per DR target (SPEC 11), whether each target is off the
machine, plain archives written before SPEC 11, and the shredded ones.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls.clock import partition_expiry
from deletedcalls.dr.archives import list_archives
from deletedcalls.dr.targets import parse_target
from deletedcalls.report.model import Section, Span, Table, Timeline, Window, fmt_bytes, plural
from deletedcalls.report.sections import rows_of

PARTITIONS_CHARTED = 36
# The default DR target, the home's own dr/ folder (when [dr] targets is not set), and where plain archives lie.
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
    inventory, dr_caption = dr_inventory(con, w)
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


def dr_inventory(con: duckdb.DuckDBPyConnection, w: Window | None = None) -> tuple[Table, str]:
    """The live DR archives per target, from what ``dr list`` reads; and the words for the section's caption."""
    archives = list_archives(con)
    live = [a for a in archives if a["state"] == "live"]
    shredded = len(archives) - len(live)
    home_dr = f"file://{Path(w.home).absolute() / 'dr'}" if w is not None and w.home else None
    by_target: dict[str, list[dict[str, Any]]] = {}
    notes: dict[str, str] = {}
    for a in live:
        uris = [c["target"] for c in a["copies"] if c["deletedAt"] is None] if a.get("keyId") else [None]
        for uri in uris:
            name, note = _target_words(uri, home_dr, w)
            by_target.setdefault(name, []).append(a)
            notes[name] = note
    rows = []
    for target, held in by_target.items():
        created = [a["created"] for a in held]
        rows.append([target, len(held), len({a["partition"] for a in held}), sum(a["rows"] for a in held),
                     fmt_bytes(sum(a["size"] for a in held)), min(created), max(created), notes[target]])
    table = Table("DR archives per target", ["target", "archives", "partitions", "rows", "size", "oldest (UTC)",
                                             "newest (UTC)", "note"], rows,
                  highlight=["not off-site" in r[7] or "plain" in r[7] for r in rows],
                  note="Live archives, from dr_archives and dr_copies, as `deletedcalls dr list` shows them; "
                       "`deletedcalls dr verify` reads each copy back from its target and checks it."
                       + (f" {plural(shredded, 'archive')} shredded (key destroyed at DR expiry) not counted." if shredded else ""))
    if not live:
        return table, "no DR archive yet" if not shredded else f"DR: {plural(shredded, 'archive')}, all shredded"
    size = fmt_bytes(sum(a["size"] for a in live))
    head = f"DR: {plural(len(live), 'archive')} of {plural(len({a['partition'] for a in live}), 'partition')} ({size})"
    if len(rows) == 1:
        where = f"in {rows[0][0]}, {rows[0][7]}"
    else:
        local = [r[0] for r in rows if "not off-site" in r[7]]
        where = f"on {len(rows)} targets" + (f", {len(local)} of them on this machine: not off-site" if local else ", all off-site")
    return table, f"{head} {where}" + (f"; {shredded} shredded" if shredded else "")


def _target_words(uri: str | None, home_dr: str | None, w: Window | None) -> tuple[str, str]:
    """(the name a reader knows a target by, whether it is off the machine) of a copy's target URI."""
    if uri is None:
        return f"{LOCAL_TARGET} (plain)", "plain (unencrypted), written before SPEC 11: run `dr migrate`; not off-site"
    if uri == home_dr:
        return LOCAL_TARGET, "on this machine: not off-site"
    try:
        target = parse_target(uri, home=Path(w.home) if w is not None and w.home else None,
                              endpoint=w.s3_endpoint if w is not None else "")
    except Exception:  # a URI recorded by an older configuration that no longer parses: name it, judge nothing
        return uri, "unknown"
    return uri, ("off-site (" + target.where + ")" if target.off_machine else "on this machine: not off-site")
