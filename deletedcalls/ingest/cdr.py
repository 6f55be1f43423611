"""Ingest carrier CDR files into ``calls``: stream, validate, load in one transaction.

Per file: a known (name, content) is a no-op and a known name with other
content is refused. A file whose name and size are both new cannot be known, so
it is hashed while it loads. Inside one transaction: a reader thread scans
records (exact line numbers), parses them with polars and validates groups of
them with the pandera schema (`reader`, `cdr_reading`, `profile_reading`), while the main thread casts the
previous group to the warehouse types and DuckDB inserts it (one streaming
INSERT per file).
Duplicate keys are found set-based after the insert. Rejected records are kept
with every reason and their raw text. Over the reject limit, the transaction is
rolled back and only the file's rejection and its reasons are recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from deletedcalls import logs
from deletedcalls.clock import utc_now
from deletedcalls.environment import listed, note_committed, stops_the_command
from deletedcalls.errors import InputRejected
from deletedcalls.ingest.call_types import ARROW_LEVEL, CALL_BATCH_SCHEMA, typed
from deletedcalls.ingest.csvscan import DEFAULT_CHUNK, read_header, scan_records
from deletedcalls.ingest.delivery import (
    SNIFF_BYTES,
    ChangedWhileRead,
    Delivery,
    DeliveryRejected,
    NotReadable,
    delivered_text,
    inner_name,
    open_delivery,
    shown,
    sniff,
    stored_name,
)
from deletedcalls.ingest.profile_reading import LayoutRejected
from deletedcalls.ingest.profiles import Catalog, Profile, choose
from deletedcalls.ingest.reader import ReadAhead, Reading, loading, start_reading
from deletedcalls.ingest.rejects import delivered_hash, record_rejects, unexpected_reason
from deletedcalls.ingest.schemas import REQUIRED_COLUMNS, cdr_schema
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import sql
from deletedcalls.store.warehouse import insert_from, next_ids, rollback_quietly

Progress = Callable[[int], None]
INGEST_MEMORY_LIMIT = "384MB"
# rows per Arrow batch handed to DuckDB: each of its threads takes whole batches, so a
# group handed over as one batch was inserted by one thread (docs/BENCHMARKS.md)
BATCH_ROWS = 32_768


@dataclass
class FileResult:
    """What happened to one CDR file."""

    path: str
    file_name: str
    sha256: str
    status: str  # loaded | rejected | unchanged
    file_id: int | None = None
    rows: int = 0
    rejected: int = 0
    extra_columns: list[str] = field(default_factory=list)
    message: str = ""
    profile: str | None = None
    ambiguous: int = 0  # records in the autumn hour, resolved by the profile's `ambiguous`

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "fileName": self.file_name,
            "sha256": self.sha256,
            "status": self.status,
            "id": self.file_id,
            "rows": self.rows,
            "rejected": self.rejected,
            "extraColumns": self.extra_columns,
            "message": self.message,
            "profile": self.profile,
            "ambiguousTimes": self.ambiguous,
        }


def ingest_cdr_files(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    paths: list[Path],
    run_id: int,
    *,
    progress: Progress | None = None,
    log_unchanged: bool = True,
    ahead: ReadAhead | None = None,
    profile: str | None = None,
    pins: tuple[tuple[str, str], ...] = (),
) -> list[FileResult]:
    """Ingest each file in turn, logging each outcome; a rejected file does not stop the others.

    `ahead` is a file whose reading has already started (reader.read_ahead).
    `profile` names the profile of every file; else a job's `pins` (glob, profile),
    else detection (profiles.choose). Every profile is checked first: a bad one is
    a usage error before any file is read.
    """
    catalog = Catalog(settings.home)
    if profile:
        catalog.get(profile)
    for _, name in pins:
        catalog.get(name)
    results: list[FileResult] = []
    for path in paths:
        try:
            r = ingest_cdr_file(
                con, settings, path, run_id, progress=progress, ahead=ahead, catalog=catalog, profile=profile, pins=pins
            )
        except Exception as e:  # one file never stops the others (SPEC 2.3): it is recorded as rejected first
            if stops_the_command(e) or logs.debugging():
                done = [f"{r.file_name} ({r.status})" for r in results if r.status in ("loaded", "rejected")]
                note_committed(e, f"CDR file(s) {listed(done)}" if done else "")
                raise
            r = _reject_unexpected(con, settings, path, run_id, e)
        results.append(r)
        if r.status == "unchanged" and not log_unchanged:
            continue
        log = logs.warning if r.status in ("rejected", "conflict", "changed") else logs.info
        log(f"{r.file_name}: {r.message}", stage="ingest-cdr", file=r.path, status=r.status, rows=r.rows, rejected=r.rejected)
    if any(r.status == "loaded" for r in results):
        # Each parallel INSERT leaves partly filled row groups, which DuckDB merges at the
        # next checkpoint. Done here, under the ingest memory cap, rather than when the
        # connection closes without it: a 20-file nightly run peaked at 1.7 GB there, 0.8 GB
        # here, and the merge was faster (docs/BENCHMARKS.md).
        with _ingest_settings(con):
            con.execute("CHECKPOINT")
    return results


@contextlib.contextmanager
def _ingest_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB settings for loading, restored afterwards.

    Insertion order is not needed (ids are assigned here, in file order), and without it
    DuckDB writes row groups on all its threads. A memory cap on DuckDB's buffers keeps
    peak RSS flat with the file size (docs/BENCHMARKS.md).
    """
    saved = con.execute("SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order')").fetchall()[0]
    con.execute("SET memory_limit = $m", {"m": INGEST_MEMORY_LIMIT})
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute("SET memory_limit = $m", {"m": saved[0]})
        con.execute(f"SET preserve_insertion_order = {bool(saved[1])}")


def ingest_cdr_file(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    path: Path,
    run_id: int,
    *,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    ahead: ReadAhead | None = None,
    catalog: Catalog | None = None,
    profile: str | None = None,
    pins: tuple[tuple[str, str], ...] = (),
) -> FileResult:
    """Ingest one file; a file that cannot be read is a rejected file, one that changed while read is not recorded.

    The file is read once (delivery.py): the hash recorded is that of the bytes parsed
    (of a compressed delivery: of the file as delivered, read once while it is
    decompressed). Only a file whose name or size matches a known file may be known
    already; it is hashed first, and a load that follows must read the same bytes
    again (same hash).
    """
    choice = _Choice(catalog or Catalog(settings.home), profile, pins)
    name = stored_name(path)
    try:
        with open_delivery(path) as delivery:
            size = delivery.size
            # The same content has the same size: a file whose name and size are both new cannot be
            # a known file (nor conflict with one), so it is hashed while it loads, not before.
            maybe_known = con.execute(
                "SELECT count(*) FROM cdr_files WHERE fileName = $n OR sizeBytes = $z", {"n": name, "z": size}
            ).fetchall()[0][0]
            if not maybe_known:
                return _load(con, settings, path, None, size, run_id, progress, chunk_size, ahead, choice)
            sha = delivery.finish()
        known = _known(con, settings, path, sha, size, progress)
        if known is not None:
            return known
        return _load(con, settings, path, sha, size, run_id, progress, chunk_size, ahead, choice)
    except NotReadable as e:
        return _reject_file(
            con, settings, FileResult(shown(path), name, e.sha256, "rejected"), e.size, run_id, f"the file {e.reason}", [], 0, set()
        )
    except ChangedWhileRead as e:
        return FileResult(shown(path), name, "", "changed", message=str(e))


def _known(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sha: str, size: int, progress: Progress | None
) -> FileResult | None:
    """The result for a known content or a name conflict, or None when the file is to be loaded.

    Only a loaded file's name and content are protected (SPEC 2.3): a content rejected
    over its limit loads again when the limit is now higher than the one it was judged
    by, and a rejected file's name may bring other content.
    """
    name = stored_name(path)
    known = con.execute(
        "SELECT id, fileName, sha256, status, rejected, maxRejectRatio, reason FROM cdr_files "
        "WHERE sha256 = $s OR fileName = $n ORDER BY id",
        {"s": sha, "n": name},
    ).fetchall()
    same = [k for k in known if k[2] == sha]
    loaded = [k for k in same if k[3] == "loaded"]
    if same:
        fid, fname, _, fstatus, rejected, ratio, reason = (loaded or same)[-1]
        retry = fstatus == "rejected" and rejected and settings.max_reject_ratio > (0.01 if ratio is None else ratio)
        if not retry:
            if progress:
                progress(size)
            as_name = "" if fname == name else f" as {fname!r}"
            why = f": {reason}" if fstatus == "rejected" and reason else ""
            return FileResult(shown(path), name, sha, "unchanged", fid,
                              message=f"already ingested{as_name} ({fstatus}{why}); nothing to do")
    for fid, fname, fsha, fstatus, *_ in known:
        if fname == name and fstatus == "loaded" and fsha != sha:
            return FileResult(
                shown(path), name, sha, "conflict", fid,
                message=f"a different file of this name was already loaded (id {fid}, sha256 {fsha[:12]}…); "
                "refused, nothing changed. Send corrections under a new file name.",
            )
    return None


@dataclass(frozen=True)
class _Choice:
    """What decides a file's profile: the catalog, --profile, the job's pins."""

    catalog: Catalog
    profile: str | None
    pins: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Layout:
    """How one file is read: its profile and zone."""

    profile: Profile
    zone: str

    def raw_lines(self, source: Delivery, lines: set[int], chunk_size: int) -> dict[int, str]:
        if self.profile.identity:
            return _raw_lines(source, lines, chunk_size)
        from deletedcalls.ingest.profile_reading import raw_lines

        return raw_lines(source, self.profile, lines, chunk_size)


def _load(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, expected: str | None,
    size: int, run_id: int, progress: Progress | None, chunk_size: int, ahead: ReadAhead | None,
    choice: _Choice,
) -> FileResult:
    """Load one file in one transaction, from one read of it that also hashes it.

    `expected` is the hash of an earlier read (a maybe-known file): the load's own read
    must give the same, else the file changed in between. The delivery is opened as
    text (a compressed one is decompressed once into a private folder, its hash taken
    on the way) and its profile chosen first; a file no profile matches, or a
    compressed file that cannot be opened, is a rejected file.
    """
    name = stored_name(path)
    try:
        with delivered_text(path, settings.home) as (text, delivered_sha):
            with open(text, "rb") as f:
                head = f.read(SNIFF_BYTES)
            unreadable = sniff(head, "CSV")  # not text of any CSV layout: no profile is asked
            if unreadable:
                raise NotReadable(unreadable, delivered_sha or _hash_of(path, size), size)
            chosen = choose(choice.catalog, head, inner_name(path), profile=choice.profile, pins=choice.pins)
            if chosen.profile is None:
                digest = delivered_sha or _hash_of(path, size)
                return _reject_file(con, settings, FileResult(shown(path), name, digest, "loaded"), size, run_id, chosen.why, [], 0, set())
            layout = _Layout(chosen.profile, chosen.profile.zone_for(settings.zone))
            with loading():  # GC off, short GIL switch interval (see reader.loading)
                # the reader scans and parses from now on (or already does); validation waits for the schema
                plain = delivered_sha is None  # a compressed delivery is never read ahead
                stream = ahead.take(path, chunk_size, layout.profile, layout.zone) if ahead and plain else None
                stream = stream or start_reading(text, chunk_size, layout.profile, layout.zone)
                delivery = stream.delivery

                def sha() -> str:
                    if delivered_sha is not None:
                        digest = delivered_sha
                    else:
                        digest = delivery.finish()
                        if delivery.size != size:
                            raise ChangedWhileRead(f"{name} changed while it was read; nothing of it was loaded or recorded, the next run tries it again")
                    if expected is not None and digest != expected:
                        raise ChangedWhileRead(f"{name} changed while it was read; nothing of it was loaded or recorded, the next run tries it again")
                    return digest

                try:
                    with _ingest_settings(con):
                        return _load_stream(con, settings, path, sha, size, run_id, progress, chunk_size, stream, layout)
                finally:
                    stream.close()
    except DeliveryRejected as e:
        return _reject_file(con, settings, FileResult(shown(path), name, e.sha256, "loaded"), size, run_id, str(e), [], 0, set())


def _hash_of(path: Path, size: int) -> str:
    """The hash of a whole plain file (for a rejection decided before its load read it)."""
    with open_delivery(path) as d:
        digest = d.finish()
        if d.size != size:
            raise ChangedWhileRead(f"{stored_name(path)} changed while it was read; the next run tries it again")
        return digest


def _load_stream(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sha: Callable[[], str],
    size: int, run_id: int, progress: Progress | None, chunk_size: int, stream: Reading, layout: _Layout,
) -> FileResult:
    cdr_schema()  # pandera's import, while the reader thread works (see schemas.pandera_polars)
    result = FileResult(shown(path), stored_name(path), "", "loaded")  # sha256 is set once sha() is needed
    result.profile = layout.profile.name
    rejects: list[tuple[int, list[str], str]] = []
    reject_keys: list[tuple[int, str, str]] = []
    stats = {"records": 0, "rows": 0, "ambiguous": 0}
    carriers: set[str] = set()
    con.execute("BEGIN")
    try:
        file_id = next_ids(con, "cdr_file", 1)
        result.file_id = file_id
        first_call_id = con.execute("SELECT value + 1 FROM counters WHERE name = 'call'").fetchall()[0][0]
        try:
            header, extra = next(stream)
        except LayoutRejected as e:
            con.execute("ROLLBACK")
            result.sha256 = sha()
            return _reject_file(con, settings, result, size, run_id, str(e), [], 0, carriers)
        result.extra_columns = extra
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if not header or missing or duplicated:
            con.execute("ROLLBACK")
            why = (
                "the file is empty" if not header
                else f"the header lacks required column(s) {', '.join(missing)}" if missing
                else f"the header names column(s) {', '.join(duplicated)} more than once"
            )
            stream.stop_reading()  # finish() reads the rest itself, not beside the reader thread
            result.sha256 = sha()
            return _reject_file(con, settings, result, size, run_id, why, [], 0, carriers)

        def arrow_batches() -> Iterator[pa.RecordBatch]:
            for batch in stream:
                stats["records"] += batch.records
                stats["ambiguous"] += batch.ambiguous
                rejects.extend(batch.rejected)
                reject_keys.extend(batch.keys)
                good = batch.good
                if good.height:
                    first = first_call_id + stats["rows"]
                    # typed here, on DuckDB's side of the pipeline: the reader thread is the slower one
                    table = typed(good).with_columns(
                        id=pl.int_range(first, first + good.height, dtype=pl.Int64),
                        CDRFileID=pl.lit(file_id, pl.Int64),
                    ).to_arrow(compat_level=ARROW_LEVEL)
                    if table.schema != CALL_BATCH_SCHEMA:  # typed() and the schema must agree
                        raise RuntimeError(f"batch schema {table.schema} is not {CALL_BATCH_SCHEMA}")
                    stats["rows"] += good.height
                    carriers.update(batch.carriers)
                    yield from table.to_batches(max_chunksize=BATCH_ROWS)
                if progress:
                    progress(batch.nbytes)

        # One INSERT for the whole file, streamed: DuckDB writes full row groups to disk as
        # they fill, so memory does not grow with the file (many small INSERTs in one
        # transaction are held in memory until COMMIT).
        reader = pa.RecordBatchReader.from_batches(CALL_BATCH_SCHEMA, arrow_batches())
        insert_from(con, "batch", reader, sql("ingest/insert_calls"))
        records = stats["records"]
        result.rows = stats["rows"] - _reject_duplicates(con, stream.delivery, layout, file_id, chunk_size, rejects)
        _protect_copies(con, rejects, reject_keys)
        result.ambiguous = stats["ambiguous"]
        con.execute("UPDATE counters SET value = $v WHERE name = 'call'", {"v": first_call_id + stats["rows"] - 1})
        result.rejected = len(rejects)
        result.sha256 = sha()
        if not records:  # a header and nothing else: an export cut short, or sent before it was written
            con.execute("ROLLBACK")
            why = "the file holds a header and no records; send it again once it holds its calls"
            return _reject_file(con, settings, result, size, run_id, why, [], 0, carriers)
        if len(rejects) / records > settings.max_reject_ratio:
            con.execute("ROLLBACK")
            why = (
                f"{len(rejects)} of {records} records rejected ({len(rejects) / records:.2%}), "
                f"over the limit of {settings.max_reject_ratio:.2%}"
            )
            return _reject_file(con, settings, result, size, run_id, why, rejects, records, carriers)
        _record_file(con, result, size, run_id, "loaded", None, carriers, settings.max_reject_ratio)
        record_rejects(con, "cdr", file_id, result.file_name, run_id, rejects)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise
    if rejects:
        result.message = f"loaded {result.rows} records, rejected {len(rejects)} (see rejected_rows)"
    else:
        result.message = f"loaded {result.rows} records"
    if extra:
        result.message += f"; ignored extra column(s): {', '.join(extra)}"
    if result.ambiguous:
        result.message += (f"; {result.ambiguous} record(s) in the autumn hour of {layout.zone} "
                           f"(ambiguous = {layout.profile.ambiguous})")
    if layout.profile.name != "canonical":
        result.message += f" (profile {layout.profile.name})"
    return result


def _protect_copies(con: duckdb.DuckDBPyConnection, rejects: list, keys: list[tuple[int, str, str]]) -> None:
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


def _reject_duplicates(
    con: duckdb.DuckDBPyConnection, source: Delivery, layout: _Layout, file_id: int, chunk_size: int, rejects: list
) -> int:
    """Reject (and remove) the file's records whose key was already known, or purged; returns how many.

    A record of a deleted call that retention purged is rejected without its raw line:
    that line is a copy of a call the warehouse has erased.
    """
    purged: list[tuple[int, int]] = []
    if con.execute("SELECT count(*) FROM purged_keys").fetchall()[0][0]:
        purged = con.execute(sql("ingest/purged_duplicates"), {"file": file_id}).fetchall()
    # every record of a purged key is rejected as such (a repeat of one in this file too): none keeps its line
    gone = {r[0] for r in purged}
    found = [r for r in con.execute(sql("ingest/duplicate_keys"), {"file": file_id}).fetchall() if r[0] not in gone]
    if not found and not purged:
        return 0
    ids = [r[0] for r in found] + [r[0] for r in purged]
    con.execute("DELETE FROM calls WHERE id IN (SELECT unnest($ids::BIGINT[]))", {"ids": ids})
    raw = layout.raw_lines(source, {r[1] for r in found}, chunk_size) if found else {}
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


def _raw_lines(source: Delivery, lines: set[int], chunk_size: int) -> dict[int, str]:
    """The raw text of the records starting on the given lines (a second scan; duplicates are rare).

    The scan reads the same open file as the load (its delivery, after the reader thread
    is done), so the text is that of the bytes hashed.
    """
    out: dict[int, str] = {}
    source.seek(0)
    _, _, first_line = read_header(source)  # type: ignore[arg-type]
    for chunk in scan_records(source, first_line=first_line, chunk_size=chunk_size):  # type: ignore[arg-type]
        for i in np.flatnonzero(np.isin(chunk.lines, list(lines))):
            out[int(chunk.lines[i])] = chunk.raw(int(i))
    return out


def _record_file(
    con: duckdb.DuckDBPyConnection,
    result: FileResult,
    size: int,
    run_id: int,
    status: str,
    reason: str | None,
    carriers: set[str],
    ratio: float | None = None,
) -> None:
    con.execute(
        "INSERT INTO cdr_files (id, fileName, sha256, carrier, status, \"rows\", rejected, sizeBytes, extraColumns, reason, ingestedAt, runId, profile, maxRejectRatio) "
        "VALUES ($id, $name, $sha, $carrier, $status, $rows, $rejected, $size, $extra, $reason, $at, $run, $profile, $ratio)",
        {
            "id": result.file_id,
            "name": result.file_name,
            "sha": result.sha256,
            "carrier": ",".join(sorted(carriers)) or None,
            "status": status,
            "rows": result.rows,
            "rejected": result.rejected,
            "size": size,
            "extra": result.extra_columns,
            "reason": reason,
            "at": utc_now(),
            "run": run_id,
            "profile": result.profile,
            "ratio": ratio,
        },
    )


def _reject_file(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    result: FileResult,
    size: int,
    run_id: int,
    why: str,
    rejects: list,
    records: int,
    carriers: set[str],
) -> FileResult:
    """Record a whole-file rejection (nothing of the file loads), with its reasons."""
    con.execute("BEGIN")
    try:
        result.file_id = next_ids(con, "cdr_file", 1)
        result.status = "rejected"
        result.rows = 0
        result.rejected = len(rejects)
        _record_file(con, result, size, run_id, "rejected", why, carriers, settings.max_reject_ratio)
        record_rejects(con, "cdr", result.file_id, result.file_name, run_id, rejects)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise
    result.message = f"rejected whole, nothing loaded: {why}"
    return result


def _reject_unexpected(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, run_id: int, error: Exception) -> FileResult:
    """Record a file whose load failed in a way nobody foresaw (a bug) as rejected, with its hash when it can be
    read (later runs skip it), so that the run goes on; `--debug` shows the traceback instead."""
    rollback_quietly(con)
    sha, size = delivered_hash(path)
    result = FileResult(shown(path), stored_name(path), sha, "rejected")
    try:
        return _reject_file(con, settings, result, size, run_id, unexpected_reason(error, "load"), [], 0, set())
    except Exception:
        raise error from None


def run_counts(results: list[FileResult]) -> dict[str, int]:
    """What a command that ingests CDR files records in its run's counts."""
    return dict(
        files=len(results),
        loaded=sum(r.status == "loaded" for r in results),
        unchanged=sum(r.status == "unchanged" for r in results),
        rejected_files=sum(r.status in ("rejected", "conflict", "changed") for r in results),
        rows=sum(r.rows for r in results),
        rejected_rows=sum(r.rejected for r in results),
    )


def raise_for_rejections(results: list[FileResult]) -> None:
    """After every file was tried: exit 3 naming the first rejected or conflicting file."""
    bad = [r for r in results if r.status in ("rejected", "conflict", "changed")]
    if bad:
        more = f" (and {len(bad) - 1} more file(s))" if len(bad) > 1 else ""
        raise InputRejected(f"{bad[0].file_name}: {bad[0].message}{more}")
