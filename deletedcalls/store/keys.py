"""The key index (``call_keys``): which months of calls a set of keys can be in (issue 28).

Looking a new record's key up in every call of the history costs time and a
hash table in proportion to the history. Instead, every call that enters the
warehouse leaves one row in ``call_keys``: a 64-bit hash of its carrierCallID
(``sql/macros/call_key.sql``) and the UTC month of its start, which is the
calls partition it went into. A set of keys (a file's, the pending deletion
items') is joined with the index, building its hash table on the keys, not on
the index; only the months that hit are then read from ``calls``, whose files
DuckLake prunes by their ``startedAt`` statistics. The index is append-only:
a call deleted later keeps its row (deleted calls are bounded by retention and
checked whole), a call whose start changes gets a row for its new month.
"""

from __future__ import annotations

import re

import duckdb

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
VIEW = "calls_touched"


def touch(con: duckdb.DuckDBPyConnection, keys: str) -> list[str]:
    """Make the temporary views ``calls_touched`` and ``deleted_touched`` for the keys of ``keys`` (a query of one
    column of call_key hashes): the calls of the months those keys hit, and the deleted calls whose key hash hit.

    The months become literal ranges of ``startedAt`` (checked YYYY-MM values), so that the lake prunes
    every other month's files before reading them; no hit reads no file at all. Returns the months.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE keys_hit AS SELECT DISTINCT keyHash, \"month\" FROM call_keys WHERE keyHash IN ({keys})"  # noqa: S608 -- fixed SQL of ours
    )
    months = [r[0] for r in con.execute('SELECT DISTINCT "month" FROM keys_hit ORDER BY 1').fetchall() if r[0] and _MONTH.match(r[0])]
    hit = "call_key(carrierCallID) IN (SELECT keyHash FROM keys_hit)" if months else "false"
    con.execute(f"CREATE OR REPLACE TEMP VIEW deleted_touched AS SELECT * FROM lake.deleted_calls WHERE {hit}")  # noqa: S608
    ranges = " OR ".join(
        f"(startedAt >= TIMESTAMPTZ '{m}-01 00:00:00+00' AND startedAt < TIMESTAMPTZ '{m}-01 00:00:00+00' + INTERVAL 1 MONTH)"
        for m in months
    ) or "false"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW} AS SELECT * FROM lake.calls WHERE {ranges}")  # noqa: S608 -- checked months
    return months


def pending_touched(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``touch`` for the carrierCallIDs that unresolved deletion items name (sql/materialise/01_matches.sql)."""
    return touch(con, "SELECT call_key(carrierCallID) FROM deletion_items WHERE resolvedAt IS NULL AND kind = 'carrierCallID'")
