"""The runs table: one row per command that changed the warehouse (lineage and outcome)."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from deletedcalls.clock import utc_now
from deletedcalls.store.warehouse import next_ids


def start_run(con: duckdb.DuckDBPyConnection, command: str, user: str) -> int:
    """Record a run as running, in its own transaction; returns its id."""
    con.execute("BEGIN")
    run_id = next_ids(con, "run", 1)
    con.execute(
        "INSERT INTO runs VALUES ($id, $cmd, $user, $t, NULL, 'running', NULL, NULL, NULL)",
        {"id": run_id, "cmd": command, "user": user, "t": utc_now()},
    )
    con.execute("COMMIT")
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    outcome: str,
    exit_code: int,
    counts: dict[str, Any] | None = None,
    message: str | None = None,
) -> None:
    con.execute(
        "UPDATE runs SET endedAt = $t, outcome = $o, exitCode = $e, counts = $c, message = $m WHERE id = $id",
        {
            "t": utc_now(),
            "o": outcome,
            "e": exit_code,
            "c": json.dumps(counts or {}, sort_keys=True, default=str),
            "m": message,
            "id": run_id,
        },
    )


def mark_interrupted(con: duckdb.DuckDBPyConnection) -> int:
    """Runs left 'running' by a killed process; called only while holding the writer lock."""
    running = int(con.execute("SELECT count(*) FROM runs WHERE outcome = 'running'").fetchall()[0][0])
    if running:  # DuckLake has no UPDATE … RETURNING
        con.execute("UPDATE runs SET outcome = 'interrupted' WHERE outcome = 'running'")
    return running


def list_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rel = con.sql(
        'SELECT id, command, "user", startedAt, endedAt, outcome, exitCode, counts, message FROM runs ORDER BY id'
    )
    cols = rel.columns
    return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
