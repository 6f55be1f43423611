"""Materialise deletions: move the calls that pending deletion items name from calls into deleted_calls.

Set-based SQL in one transaction (sql/materialise/, in order): find the
winning entry for each named live call, copy the calls with their deletion
facts, delete them from calls, resolve the items, mark entries applied, and
check the invariants before COMMIT. A kill at any point leaves the previous
state; a re-run does the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from deletedcalls.clock import utc_now
from deletedcalls.sqlfiles import sql, sql_dir
from deletedcalls.store.audits import check_invariants
from deletedcalls.store.keys import pending_touched
from deletedcalls.store.warehouse import next_ids, rollback_quietly


@dataclass
class MaterialiseResult:
    deleted: int
    entries_applied: int
    items_resolved: int
    pending_items: int
    pending_entries: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def materialise(con: duckdb.DuckDBPyConnection, run_id: int, *, now: datetime | None = None) -> MaterialiseResult:
    now = now or utc_now()
    items, entries = con.execute(
        "SELECT (SELECT count(*) FROM deletion_items WHERE resolvedAt IS NULL), "
        "(SELECT count(*) FROM user_activity_log WHERE appliedAt IS NULL)"
    ).fetchall()[0]
    if not items and not entries:
        # nothing pending: no call is read (a night with no deletion costs nothing here, whatever the history)
        return MaterialiseResult(deleted=0, entries_applied=0, items_resolved=0, pending_items=0, pending_entries=0)
    steps = sorted(p.stem for p in (sql_dir() / "materialise").glob("*.sql"))
    con.execute("BEGIN")
    try:
        pending_touched(con)  # the months of calls the pending items' keys can be in (store/keys.py)
        con.execute(sql(f"materialise/{steps[0]}"))
        count = con.execute("SELECT count(*) FROM materialise_winners").fetchall()[0][0]
        first_id = next_ids(con, "deleted_call", count) if count else 1
        resolved_before = con.execute("SELECT count(*) FROM deletion_items WHERE resolvedAt IS NOT NULL").fetchall()[0][0]
        applied_before = con.execute("SELECT count(*) FROM user_activity_log WHERE appliedAt IS NOT NULL").fetchall()[0][0]
        params = {"first_id": first_id, "now": now, "run": run_id}
        for step in steps[1:]:
            text = sql(f"materialise/{step}")
            used = {k: v for k, v in params.items() if f"${k}" in text}
            con.execute(text, used or None)
        con.execute("DROP TABLE materialise_winners")
        check_invariants(con)
        resolved_after, pending_items = con.execute(
            "SELECT count(*) FILTER (resolvedAt IS NOT NULL), count(*) FILTER (resolvedAt IS NULL) FROM deletion_items"
        ).fetchall()[0]
        applied_after, pending_entries = con.execute(
            "SELECT count(*) FILTER (appliedAt IS NOT NULL), count(*) FILTER (appliedAt IS NULL) FROM user_activity_log"
        ).fetchall()[0]
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise
    return MaterialiseResult(
        deleted=count,
        entries_applied=applied_after - applied_before,
        items_resolved=resolved_after - resolved_before,
        pending_items=pending_items,
        pending_entries=pending_entries,
    )
