"""Writing rejected records (CDR rows and deletion-log lines) to rejected_rows."""

from __future__ import annotations

import duckdb
import pyarrow as pa

Reject = tuple[int, list[str], str]  # (line, reasons, raw text)


def record_rejects(
    con: duckdb.DuckDBPyConnection, source: str, file_id: int, name: str, run_id: int, rejects: list[Reject]
) -> None:
    """Insert rejects of one file (source 'cdr' or 'deletions') in line order, in the caller's transaction."""
    if not rejects:
        return
    rejects.sort(key=lambda r: r[0])
    table = pa.table({
        "line": pa.array([r[0] for r in rejects], pa.int64()),
        "reasons": pa.array([r[1] for r in rejects], pa.list_(pa.string())),
        "raw": pa.array([r[2] for r in rejects], pa.string()),
    })
    cdr_id, deletion_id = (file_id, None) if source == "cdr" else (None, file_id)
    con.register("rejects", table)
    con.execute(
        "INSERT INTO rejected_rows SELECT $source, $cdr, $del, $name, line, reasons, raw, $run FROM rejects ORDER BY line",
        {"source": source, "cdr": cdr_id, "del": deletion_id, "name": name, "run": run_id},
    )
    con.unregister("rejects")
