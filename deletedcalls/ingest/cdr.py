"""Ingest carrier CDR files into ``calls``: stream, validate, load in one transaction.

Per file: a known (name, content) is a no-op and a known name with other
content is refused. A file whose name and size are both new cannot be known, so
it is hashed while it loads. Inside one transaction: a reader thread scans
records (exact line numbers), parses them with polars and validates groups of
them with the pandera schema (`reader`, `cdr_reading`, `profile_reading`), while the main thread casts the
previous group to the warehouse types and DuckDB inserts it into the lake (one
streaming INSERT per file). Repeated keys are then looked for through the key index
(duplicates.py): a file with any is rolled back and loaded again through a staged table
that rejects them. Rejected records are kept with every reason and their raw text. Over
the reject limit, the transaction is rolled back and only the file's rejection and its
reasons are recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from deletedcalls import logs
from deletedcalls.clock import utc_now
from deletedcalls.environment import listed, note_committed, stops_the_command
from deletedcalls.errors import InputRejected
from deletedcalls.ingest.call_types import ARROW_LEVEL, CALL_BATCH_SCHEMA, typed
from deletedcalls.ingest.csvscan import DEFAULT_CHUNK
from deletedcalls.ingest.delivery import (
    SNIFF_BYTES,
    ChangedWhileRead,
    Delivery,
    DeliveryRejected,
    NotReadable,
    compression,
    delivered_text,
    inner_name,
    open_delivery,
    shown,
    sniff,
    stored_name,
)
from deletedcalls.ingest.detection import Detection, choose
from deletedcalls.ingest.duplicates import RepeatsKnown, protect_copies, raw_lines_of, settle_calls
from deletedcalls.ingest.extents import (
    Plan,
    Seen,
    history,
    plan,
    retry_reason,
    rotating_profiles,
    rotation_order,
)
from deletedcalls.ingest.profile_reading import LayoutRejected
from deletedcalls.ingest.profiles import Catalog, Profile
from deletedcalls.ingest.reader import ReadAhead, Reading, loading, start_reading
from deletedcalls.ingest.rejects import delivered_hash, record_rejects, unexpected_reason
from deletedcalls.ingest.schemas import REQUIRED_COLUMNS, cdr_schema
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import sql
from deletedcalls.store.warehouse import insert_from, next_ids, rollback_quietly

Progress = Callable[[int], None]
INGEST_MEMORY_LIMIT = "384MB"
PARTITION_FLUSH_ROWS = 122_880  # rows a thread writing the month partitions buffers: a row group (see _ingest_settings)
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
    # the extent of the file's text this load read (a growing file loads in several: extents.py)
    start_byte: int = 0
    end_byte: int | None = None
    first_line: int = 1
    last_line: int | None = None
    text_sha256: str | None = None
    extends: int | None = None
    profile_sha256: str | None = None

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
            "bytes": [self.start_byte, self.end_byte],
            "lines": [self.first_line, self.last_line],
            "extends": self.extends,
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
    retry: bool = False,
) -> list[FileResult]:
    """Ingest each file in turn, logging each outcome; a rejected file does not stop the others.

    `ahead` is a file whose reading has already started (reader.read_ahead).
    `profile` names the profile of every file; else a job's `pins` (glob, profile),
    else detection (detection.choose). Every profile is checked first: a bad one is
    a usage error before any file is read. Rotated copies of growing files go first
    (extents.rotation_order). `retry`: files rejected before load again as they are.
    """
    catalog = Catalog(settings.home)
    if profile:
        catalog.get(profile)
    for _, name in pins:
        catalog.get(name)
    results: list[FileResult] = []
    for path in rotation_order(paths, catalog):
        try:
            r = ingest_cdr_file(
                con, settings, path, run_id, progress=progress, ahead=ahead, catalog=catalog, profile=profile, pins=pins,
                retry=retry,
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
    return results


@contextlib.contextmanager
def _ingest_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB settings for loading, restored afterwards.

    Insertion order is not needed (ids are assigned here, in file order), and without it
    DuckDB writes row groups on all its threads. A memory cap on DuckDB's buffers keeps
    peak RSS flat with the file size (docs/BENCHMARKS.md). A thread writing into the month
    partitions hands its rows on every row group (by default every 524,288 rows: over the cap
    with two threads, whose eviction cost a 1M-row load 0.9 CPU-s, a third of its Parquet write).
    """
    saved = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order'), "
        "current_setting('partitioned_write_flush_threshold')"
    ).fetchall()[0]
    con.execute("SET memory_limit = $m", {"m": INGEST_MEMORY_LIMIT})
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET partitioned_write_flush_threshold = {PARTITION_FLUSH_ROWS}")
    try:
        yield
    finally:
        con.execute("SET memory_limit = $m", {"m": saved[0]})
        con.execute(f"SET preserve_insertion_order = {bool(saved[1])}")
        con.execute(f"SET partitioned_write_flush_threshold = {int(saved[2])}")


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
    retry: bool = False,
) -> FileResult:
    """Ingest one file; a file that cannot be read is a rejected file, one that changed while read is not recorded.

    The file is read once (delivery.py): the hash recorded is that of the bytes parsed
    (of a compressed delivery: of the file as delivered, read once while it is
    decompressed). A file whose name and size are both new, and that is no rotated copy
    of a growing file, cannot be known: it is hashed while it loads. Any other is
    planned against the loads it may relate to (extents.py) in the same read.
    Its calls go straight into the lake; a file that repeats a known key (or itself) is
    rolled back and read once more into a staged table, where its repeats are rejected.
    """
    choice = _Choice(catalog or Catalog(settings.home), profile, pins, retry)
    try:
        return _ingest_once(con, settings, path, run_id, progress, chunk_size, ahead, choice)
    except RepeatsKnown:
        return _ingest_once(con, settings, path, run_id, progress, chunk_size, None, choice, staged=True)


def _ingest_once(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, run_id: int, progress: Progress | None,
    chunk_size: int, ahead: ReadAhead | None, choice: _Choice, *, staged: bool = False,
) -> FileResult:
    name = stored_name(path)
    try:
        with open_delivery(path) as delivery:
            size = delivery.size
            rotating = rotating_profiles(choice.catalog, path)
            seen = history(con, name, size, rotating)
            if not seen:
                return _load(con, settings, path, size, run_id, progress, chunk_size, ahead, choice, staged=staged)
            if ahead is not None and ahead.path == path:
                before = ahead.opened_as()
                ahead.close()  # its reading from the start is not what this file needs
                if before is not None and before != delivery.opened_as:  # it changed since the reading ahead began
                    raise ChangedWhileRead(f"{name} changed while it was read (size {before[0]} -> {delivery.opened_as[0]} bytes); "
                                           "nothing of it was loaded or recorded, the next run tries it again")
            plain = delivery if compression(path) is None else None
            if plain is None:
                # a compressed delivery seen before: known by the hash of the file as delivered, before it is opened
                # (a zip that cannot be opened, or that would not fit the free space, was rejected before any profile
                # read it: nothing that decided that is a profile or a limit, so only --retry tries it again)
                digest = delivery.finish()
                same = [s for s in seen if s.sha256 == digest]
                if any(s.status == "loaded" for s in same):
                    return FileResult(shown(path), name, digest, "unchanged", message="already ingested (loaded); nothing to do")
                if same and same[-1].profile is None and not choice.retry:
                    return FileResult(shown(path), name, digest, "unchanged", message=(
                        f"already ingested (rejected: {same[-1].reason}); nothing to do. It loads again with --retry"))
            return _load(con, settings, path, size, run_id, progress, chunk_size, None, choice, _Known(seen, rotating, plain), staged=staged)
    except NotReadable as e:
        return _reject_file(
            con, settings, FileResult(shown(path), name, e.sha256, "rejected"), e.size, run_id, f"the file {e.reason}", [], 0, set()
        )
    except ChangedWhileRead as e:
        return FileResult(shown(path), name, "", "changed", message=str(e))


@dataclass(frozen=True)
class _Known:
    """The loads a delivery may relate to, and (a plain file) the delivery itself, to go on reading."""

    seen: list[Seen]
    rotating: list[str]
    delivery: Delivery | None


@dataclass(frozen=True)
class _Choice:
    """What decides a file's profile: the catalog, --profile, the job's pins."""

    catalog: Catalog
    profile: str | None
    pins: tuple[tuple[str, str], ...]
    retry: bool = False


@dataclass(frozen=True)
class _Layout:
    """How one file is read: its profile and zone, and where in the file (an extent of a growing file)."""

    profile: Profile
    zone: str
    start: int = 0
    start_line: int = 1
    extends: int | None = None

    def raw_lines(self, source: Delivery, lines: set[int], chunk_size: int) -> dict[int, str]:
        return raw_lines_of(source, self.profile, lines, chunk_size, self.start, self.start_line)


def _load(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, size: int, run_id: int, progress: Progress | None,
    chunk_size: int, ahead: ReadAhead | None, choice: _Choice, known: _Known | None = None, *, staged: bool = False,
) -> FileResult:
    """Load one file (or the new part of a growing one) in one transaction, from one read that also hashes it.

    The delivery is opened as text (a compressed one is decompressed once into a private
    folder, its hash taken on the way). A file with history is planned first (extents.py):
    unchanged and conflicting ones stop here; a longer copy of a loaded file goes on
    reading after the bytes verified. A file no profile matches, or a compressed file
    that cannot be opened, is a rejected file.
    """
    name = stored_name(path)
    try:
        with delivered_text(path, settings.home) as (text, delivered_sha), contextlib.ExitStack() as stack:
            source = None if known is None else (known.delivery or stack.enter_context(open_delivery(text)))
            if source is not None:
                head = source.peek(SNIFF_BYTES)
            else:
                with open(text, "rb") as f:
                    head = f.read(SNIFF_BYTES)
            detected: list[Detection] = []

            def now() -> Detection:
                if not detected:
                    detected.append(choose(choice.catalog, head, inner_name(path), profile=choice.profile, pins=choice.pins))
                return detected[0]

            def now_profile() -> tuple[str | None, str | None]:
                if sniff(head, "CSV"):  # not text of any layout: rejected before a profile, whatever the profiles say
                    return None, None
                p = now().profile
                return (p.name, p.digest(p.zone_for(settings.zone))) if p else (None, None)

            planned = Plan("load")
            if known is not None and source is not None:
                planned = plan(known.seen, source, name, delivered_sha, known.rotating, retry_reason(settings, choice.retry, now_profile))
                if planned.kind in ("unchanged", "conflict"):
                    if progress and planned.kind == "unchanged":
                        progress(size)
                    return FileResult(shown(path), name, planned.digest or "", planned.kind,
                                      planned.seen.id if planned.seen else None, message=planned.message)
            unreadable = sniff(head, "CSV")  # not text of any CSV layout: no profile is asked
            if unreadable:
                raise NotReadable(unreadable, delivered_sha or planned.digest or _hash_of(path, size), size)
            chosen = now()
            if planned.kind == "append" and planned.seen and not choice.profile and planned.seen.profile in choice.catalog.names:
                chosen = Detection(choice.catalog.get(planned.seen.profile), planned.message)
            if chosen.profile is None:
                digest = delivered_sha or planned.digest or _hash_of(path, size)
                return _reject_file(con, settings, FileResult(shown(path), name, digest, "loaded"), size, run_id, chosen.why, [], 0, set())
            layout = _Layout(chosen.profile, chosen.profile.zone_for(settings.zone))
            if planned.kind == "append" and planned.seen:
                layout = _Layout(layout.profile, layout.zone, planned.seen.end_byte or 0, (planned.seen.last_line or 0) + 1,
                                 planned.seen.id)
            with loading():  # GC off, short GIL switch interval (see reader.loading)
                # the reader scans and parses from now on (or already does); validation waits for the schema
                if source is not None:
                    stream = Reading(source, chunk_size, layout.profile, layout.zone, layout.start, layout.start_line)
                else:
                    plain = delivered_sha is None  # a compressed delivery is never read ahead
                    taken = ahead.take(path, chunk_size, layout.profile, layout.zone) if ahead and plain else None
                    stream = taken or start_reading(text, chunk_size, layout.profile, layout.zone)
                delivery = stream.delivery

                def sha(result: FileResult) -> str:
                    digest = delivery.finish()
                    if delivered_sha is None and delivery.file_size != size:
                        raise ChangedWhileRead(f"{name} changed while it was read; nothing of it was loaded or recorded, the next run tries it again")
                    result.text_sha256, result.end_byte, result.last_line = digest, delivery.size, delivery.lines()
                    result.start_byte, result.first_line, result.extends = layout.start, layout.start_line, layout.extends
                    result.profile_sha256 = layout.profile.digest(layout.zone)
                    return delivered_sha or digest

                try:
                    with _ingest_settings(con):
                        return _load_stream(con, settings, path, sha, size, run_id, progress, chunk_size, stream, layout, staged)
                finally:
                    if source is None:
                        stream.close()
                    else:
                        stream.stop_reading()
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
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sha: Callable[[FileResult], str],
    size: int, run_id: int, progress: Progress | None, chunk_size: int, stream: Reading, layout: _Layout, staged: bool,
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
            result.sha256 = sha(result)
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
            result.sha256 = sha(result)
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

        # One INSERT for the whole file, streamed straight into the lake; a file that repeats a known key
        # is rolled back (its new files go with the transaction) and staged instead: in a temporary table
        # (DuckDB spills it under the memory cap) its repeats are found and left out, so that the lake's
        # files get only the calls that stay (a DELETE in the lake would leave a delete file and a rewrite).
        reader = pa.RecordBatchReader.from_batches(CALL_BATCH_SCHEMA, arrow_batches())
        insert_from(con, "batch", reader, sql("ingest/stage_calls" if staged else "ingest/load_calls"))
        records = stats["records"]  # settle_calls raises RepeatsKnown from a direct load that repeats a key (rolled back below)
        result.rows = stats["rows"] - settle_calls(con, staged, stream.delivery, layout.raw_lines, file_id, chunk_size, rejects)
        protect_copies(con, rejects, reject_keys)
        result.ambiguous = stats["ambiguous"]
        con.execute("UPDATE counters SET value = $v WHERE name = 'call'", {"v": first_call_id + stats["rows"] - 1})
        result.rejected = len(rejects)
        result.sha256 = sha(result)
        if not records and (layout.start or layout.profile.grows):  # nothing complete since the last load (or yet)
            con.execute("ROLLBACK")
            result.status, result.file_id = "unchanged", layout.extends
            result.message = (f"nothing new after byte {layout.start} (line {layout.start_line - 1})" if layout.start
                              else "no complete line yet") + "; a last line without its line end waits for the next run"
            return result
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
            return _reject_file(con, settings, result, size, run_id, why, rejects, records, carriers, reject_keys)
        _record_file(con, result, size, run_id, "loaded", None, carriers, settings.max_reject_ratio)
        record_rejects(con, "cdr", file_id, result.file_name, run_id, rejects, reject_keys)
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
        "INSERT INTO cdr_files (id, fileName, sha256, carrier, status, \"rows\", rejected, sizeBytes, extraColumns, reason, "
        "ingestedAt, runId, profile, maxRejectRatio, startByte, endByte, firstLine, lastLine, textSha256, extendsFile, profileSha256) "
        "VALUES ($id, $name, $sha, $carrier, $status, $rows, $rejected, $size, $extra, $reason, $at, $run, $profile, $ratio, "
        "$start, $end, $first, $last, $text, $extends, $psha)",
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
            "start": result.start_byte,
            "end": result.end_byte,
            "first": result.first_line,
            "last": result.last_line,
            "text": result.text_sha256,
            "extends": result.extends,
            "psha": result.profile_sha256,
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
    keys: list[tuple[int, str, str]] | None = None,
) -> FileResult:
    """Record a whole-file rejection (nothing of the file loads), with its reasons (and the keys of its rejects)."""
    con.execute("BEGIN")
    try:
        result.file_id = next_ids(con, "cdr_file", 1)
        result.status = "rejected"
        result.rows = 0
        result.rejected = len(rejects)
        _record_file(con, result, size, run_id, "rejected", why, carriers, settings.max_reject_ratio)
        record_rejects(con, "cdr", result.file_id, result.file_name, run_id, rejects, keys or ())
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
