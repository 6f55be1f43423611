"""Writing rejected records (CDR rows and deletion-log lines) to rejected_rows.

Each reason is kept as written (it may quote the value it rejects: for officers,
in the protected store) and as a reason code without any value (``reasonCodes``,
``sql/macros/reason_code.sql``: what the analyst store shows). A record whose
line is not kept (a copy of a purged call) keeps no quoted value either: its
reasons are its codes. A record's key (carrier, carrierCallID), when it could be
read, is kept so that a purge can erase the line of a copy of a purged call
(``sql/retention/erase_rejected_lines.sql``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb
import polars as pl

from deletedcalls.ingest.delivery import ChangedWhileRead, NotReadable, open_delivery
from deletedcalls.store.warehouse import insert_from

Reject = tuple  # (line, reasons, raw text) or (line, reasons, raw text, id of the call it duplicates)


def record_rejects(
    con: duckdb.DuckDBPyConnection, source: str, file_id: int, name: str, run_id: int, rejects: list[Reject],
    keys: Iterable[tuple[int, str, str]] = (),
) -> None:
    """Insert rejects of one file (source 'cdr' or 'deletions') in line order, in the caller's transaction.

    ``keys``: (line, carrier, carrierCallID) of the rejected records whose key could be read.
    """
    if not rejects:
        return
    rejects.sort(key=lambda r: r[0])
    key_of = {line: (carrier, call_id) for line, carrier, call_id in keys}
    # a polars frame, not pyarrow arrays: pa.array() of Python lists imports pandas (0.18 s)
    table = pl.DataFrame(
        {"line": [r[0] for r in rejects], "reasons": [r[1] for r in rejects], "raw": [r[2] for r in rejects],
         "duplicate_of": [r[3] if len(r) > 3 else None for r in rejects],
         "carrier": [key_of.get(r[0], (None, None))[0] for r in rejects],
         "call_id": [key_of.get(r[0], (None, None))[1] for r in rejects]},
        schema={"line": pl.Int64, "reasons": pl.List(pl.String), "raw": pl.String, "duplicate_of": pl.Int64,
                "carrier": pl.String, "call_id": pl.String},
    )
    cdr_id, deletion_id = (file_id, None) if source == "cdr" else (None, file_id)
    insert_from(
        con, "rejects", table,
        "INSERT INTO rejected_rows (source, CDRFileID, deletionFileID, fileName, lineNumber, reasons, rawLine, runId, duplicateOf, "
        "reasonCodes, carrier, carrierCallID) "
        "SELECT $source, $cdr, $del, $name, line, "
        "CASE WHEN raw = '' THEN list_transform(reasons, lambda r: reason_code(r)) ELSE reasons END, "
        "raw, $run, duplicate_of, list_transform(reasons, lambda r: reason_code(r)), "
        # the key of a copy of a purged call (its line not kept) is that call's: not kept either
        "CASE WHEN raw <> '' THEN carrier END, CASE WHEN raw <> '' THEN call_id END "
        "FROM rejects ORDER BY line",
        {"source": source, "cdr": cdr_id, "del": deletion_id, "name": name, "run": run_id},
    )


def unexpected_reason(error: Exception, doing: str) -> str:
    """Why a file is rejected whose `doing` (load, reading, ingestion) failed in a way nobody foresaw: a bug.

    The kind of the error only, never its message: a parser's message quotes the text it failed on (a record's
    fields), and this reason reaches cdr_files and runs, which the analyst store holds (issue 25, SPEC 7). Known
    value-free parts of a message are kept: which check of which column could not run (schemas.py)."""
    known = _VALUE_FREE_ERROR.search(str(error))
    kind = f"{type(error).__name__}: {known.group(0)}" if known else type(error).__name__
    return (f"an unexpected error stopped its {doing} ({kind}); "
            "this is a bug: report it with the file (`--debug` shows the traceback and the error's message)")


# the part of schemas.raise_for_broken_checks' message that names a check of the schema and a column, nothing else
_VALUE_FREE_ERROR = re.compile(r"the check '[A-Za-z0-9_ ]{1,80}' of [A-Za-z]{1,40} could not run")


def delivered_hash(path: Path) -> tuple[str, int]:
    """(SHA-256, size) of a file as delivered, read once, for recording it; ("", 0) when it cannot be read whole."""
    try:
        with open_delivery(path) as d:
            return d.finish(), d.size
    except (NotReadable, ChangedWhileRead, OSError):
        return "", 0
