"""Read-only SQL for analysts."""

from __future__ import annotations

from typing import Any

import duckdb

from deletedcalls.errors import UsageError
from deletedcalls.settings import Settings
from deletedcalls.warehouse import reader


def run_query(settings: Settings, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one query on a read-only connection that cannot reach files or other databases."""
    with reader(settings) as con:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            rel = con.sql(query)
            if rel is None:
                raise UsageError("sql: the statement returned no rows; only queries are allowed")
            return list(rel.columns), rel.fetchall()
        except duckdb.Error as e:
            raise UsageError(f"sql: {' '.join(str(e).split())}") from e
