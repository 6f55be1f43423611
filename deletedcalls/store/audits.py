"""Audits: queries in sql/audits/ that return the rows breaking an invariant (no rows = pass)."""

from __future__ import annotations

import duckdb

from deletedcalls.errors import IntegrityFailure
from deletedcalls.sqlfiles import sql, sql_dir


def audit_names() -> list[str]:
    return sorted(p.stem for p in (sql_dir() / "audits").glob("*.sql"))


def failed_audits(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    failures = {}
    for name in audit_names():
        rows = con.execute(sql(f"audits/{name}")).fetchall()
        if rows:
            failures[name] = rows[:5]
    return failures


def check_invariants(con: duckdb.DuckDBPyConnection) -> None:
    """Raise IntegrityFailure naming every audit that finds rows (call inside the transaction, before COMMIT)."""
    failures = failed_audits(con)
    if failures:
        detail = "; ".join(f"{name}: {rows}" for name, rows in failures.items())
        raise IntegrityFailure(f"warehouse invariant broken, nothing was committed: {detail}")
