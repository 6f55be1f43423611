"""Writing rejected records (CDR rows and deletion-log lines) to rejected_rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from deletedcalls.ingest.delivery import ChangedWhileRead, NotReadable, open_delivery
from deletedcalls.store.warehouse import insert_from

Reject = tuple  # (line, reasons, raw text) or (line, reasons, raw text, id of the call it duplicates)


def record_rejects(
    con: duckdb.DuckDBPyConnection, source: str, file_id: int, name: str, run_id: int, rejects: list[Reject]
) -> None:
    """Insert rejects of one file (source 'cdr' or 'deletions') in line order, in the caller's transaction."""
    if not rejects:
        return
    rejects.sort(key=lambda r: r[0])
    # a polars frame, not pyarrow arrays: pa.array() of Python lists imports pandas (0.18 s)
    table = pl.DataFrame(
        {"line": [r[0] for r in rejects], "reasons": [r[1] for r in rejects], "raw": [r[2] for r in rejects],
         "duplicate_of": [r[3] if len(r) > 3 else None for r in rejects]},
        schema={"line": pl.Int64, "reasons": pl.List(pl.String), "raw": pl.String, "duplicate_of": pl.Int64},
    )
    cdr_id, deletion_id = (file_id, None) if source == "cdr" else (None, file_id)
    insert_from(
        con, "rejects", table,
        "INSERT INTO rejected_rows (source, CDRFileID, deletionFileID, fileName, lineNumber, reasons, rawLine, runId, duplicateOf) "
        "SELECT $source, $cdr, $del, $name, line, reasons, raw, $run, duplicate_of FROM rejects ORDER BY line",
        {"source": source, "cdr": cdr_id, "del": deletion_id, "name": name, "run": run_id},
    )


def unexpected_reason(error: Exception, doing: str) -> str:
    """Why a file is rejected whose `doing` (load, reading, ingestion) failed in a way nobody foresaw: a bug."""
    return (f"an unexpected error stopped its {doing} ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
            "this is a bug: report it with the file (`--debug` shows the traceback)")


def delivered_hash(path: Path) -> tuple[str, int]:
    """(SHA-256, size) of a file as delivered, read once, for recording it; ("", 0) when it cannot be read whole."""
    try:
        with open_delivery(path) as d:
            return d.finish(), d.size
    except (NotReadable, ChangedWhileRead, OSError):
        return "", 0
