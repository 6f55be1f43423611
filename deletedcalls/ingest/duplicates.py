"""Records of a CDR load that repeat a known call: whether a file loaded straight into the lake repeats any key (then it
is staged instead), duplicates found in the staged file (before the lake's insert), and rejected records that are
copies of a deleted or purged call; and the raw text of records by line (a second scan of the same open file).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import polars as pl

from deletedcalls.ingest.csvscan import read_header, scan_records
from deletedcalls.ingest.delivery import Delivery
from deletedcalls.ingest.profiles import Profile
from deletedcalls.sqlfiles import sql
from deletedcalls.store.keys import touch

RawLines = Callable[[Delivery, set[int], int], dict[int, str]]


def raw_lines_of(
    source: Delivery, profile: Profile, lines: set[int], chunk_size: int, start: int = 0, start_line: int = 1,
) -> dict[int, str]:
    """The raw text of the records starting on `lines`, read in the file's profile (from `start`, a later extent)."""
    if profile.identity:
        return _canonical_raw_lines(source, lines, chunk_size, start, start_line)
    from deletedcalls.ingest.profile_reading import raw_lines

    return raw_lines(source, profile, lines, chunk_size, start, start_line)


def protect_copies(con: duckdb.DuckDBPyConnection, rejects: list, keys: list[tuple[int, str, str]]) -> None:
    """Treat a rejected record that repeats a known call's key as a copy of that call (in place in ``rejects``).

    A record rejected for a bad field may still be a re-sent copy of a call: of a
    deleted one (its line is then withheld from analysts and erased when that call's
    row is purged, as a duplicate's is: ``duplicateOf``), or of one retention purged
    (its line is not kept at all). Found by an outside tester: a purged call re-sent
    with a malformed duration kept its whole line, readable by analysts.
    """
    if not keys:
        return
    frame = pl.DataFrame(keys, schema={"line": pl.Int64, "carrier": pl.String, "carrierCallID": pl.String}, orient="row")
    con.register("reject_keys", frame)
    try:
        touch(con, "SELECT call_key(carrierCallID) FROM reject_keys")
        found = {line: (copy_of, purged) for line, copy_of, purged in con.execute(sql("ingest/rejected_copies")).fetchall()}
    finally:
        con.unregister("reject_keys")
    for n, reject in enumerate(rejects):
        if len(reject) != 3 or reject[0] not in found:
            continue
        copy_of, purged = found[reject[0]]
        if purged:
            rejects[n] = (reject[0], [*reject[1], "a copy of a deleted call that was purged: its line is not kept"], "")
        elif copy_of is not None:
            rejects[n] = (*reject, int(copy_of))


class RepeatsKnown(Exception):  # noqa: N818 -- a signal to stage the file, not an error anybody sees
    """The calls a file wrote straight into the lake repeat a key: its transaction is rolled back and the file staged."""


def settle_calls(
    con: duckdb.DuckDBPyConnection, staged: bool, source: Delivery, raw_lines: RawLines, file_id: int, chunk_size: int,
    rejects: list,
) -> int:
    """After a file's streamed INSERT: index the calls it wrote straight into the lake (or raise RepeatsKnown), or,
    staged, reject its repeats and insert the rest into the lake and the key index; returns how many were rejected."""
    if not staged:
        index_new_calls(con, file_id)
        return 0
    removed = reject_duplicates(con, source, raw_lines, file_id, chunk_size, rejects)
    con.execute(sql("ingest/insert_calls"))
    con.execute(sql("ingest/insert_keys"))
    con.execute("DROP TABLE staged_calls")
    return removed


def index_new_calls(con: duckdb.DuckDBPyConnection, file_id: int) -> None:
    """Add the key index rows of the calls a file wrote straight into the lake, or raise RepeatsKnown.

    Most files repeat nothing, and for them this is all the duplicate check costs: the
    file's keys read back from its new files, looked up in the key index (only the months
    that hit are read), in itself and, if any key was ever purged, among the purged keys.
    A file that repeats anything is loaded again through the staged path, which rejects
    each repeat with its reason and its raw line exactly as before (``reject_duplicates``).
    """
    con.execute(sql("ingest/file_keys"), {"file": file_id})
    touch(con, "SELECT keyHash FROM file_keys")  # the months of calls its keys can repeat
    purged = bool(con.execute("SELECT count(*) FROM purged_keys").fetchall()[0][0])
    if con.execute(sql("ingest/file_repeats"), {"file": file_id, "purged": purged}).fetchall()[0][0]:
        raise RepeatsKnown
    con.execute(sql("ingest/insert_file_keys"))
    con.execute("DROP TABLE file_keys")


def reject_duplicates(
    con: duckdb.DuckDBPyConnection, source: Delivery, raw_lines: RawLines, file_id: int, chunk_size: int, rejects: list
) -> int:
    """Reject (and remove) the file's records whose key was already known, or purged; returns how many.

    A record of a deleted call that retention purged is rejected without its raw line:
    that line is a copy of a call the warehouse has erased.
    """
    purged: list[tuple[int, int]] = []
    if con.execute("SELECT count(*) FROM purged_keys").fetchall()[0][0]:
        purged = con.execute(sql("ingest/purged_duplicates")).fetchall()
    # every record of a purged key is rejected as such (a repeat of one in this file too): none keeps its line
    gone = {r[0] for r in purged}
    touch(con, "SELECT call_key(carrierCallID) FROM staged_calls")  # the months of calls its keys can repeat
    found = [r for r in con.execute(sql("ingest/duplicate_keys")).fetchall() if r[0] not in gone]
    if not found and not purged:
        return 0
    ids = [r[0] for r in found] + [r[0] for r in purged]
    con.execute("DELETE FROM staged_calls WHERE id IN (SELECT unnest($ids::BIGINT[]))", {"ids": ids})
    raw = raw_lines(source, {r[1] for r in found}, chunk_size) if found else {}
    for _, line, where, other_file, original in found:
        if other_file == file_id:
            why = "duplicate: (carrier, carrierCallID) appears earlier in this file"
        else:
            why = f"duplicate: (carrier, carrierCallID) is already in {where} (CDR file id {other_file})"
        rejects.append((int(line), [why], raw.get(int(line), ""), int(original)))
    for _, line in purged:
        why = "duplicate: (carrier, carrierCallID) is a deleted call whose partition was archived to dr/ and purged; its line is not kept"
        rejects.append((int(line), [why], ""))
    return len(found) + len(purged)


def _canonical_raw_lines(source: Delivery, lines: set[int], chunk_size: int, start: int = 0, start_line: int = 1) -> dict[int, str]:
    """The raw text of the records starting on the given lines (a second scan; duplicates are rare).

    The scan reads the same open file as the load (its delivery, after the reader thread
    is done), so the text is that of the bytes hashed; from `start` on for a later extent.
    """
    out: dict[int, str] = {}
    source.seek(0)
    _, _, first_line = read_header(source)  # type: ignore[arg-type]
    if start:
        source.seek(start)
        first_line = start_line
    for chunk in scan_records(source, first_line=first_line, chunk_size=chunk_size):  # type: ignore[arg-type]
        for i in np.flatnonzero(np.isin(chunk.lines, list(lines))):
            out[int(chunk.lines[i])] = chunk.raw(int(i))
    return out
