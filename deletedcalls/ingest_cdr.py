"""Ingest carrier CDR files into ``calls``: stream, validate, load in one transaction.

Per file: a known (name, content) is a no-op and a known name with other
content is refused. A file whose name and size are both new cannot be known, so
it is hashed while it loads. Inside one transaction: a reader thread scans
records (exact line numbers), parses them with polars and validates groups of
them with the pandera schema, while the main thread casts the previous group to
the warehouse types and DuckDB inserts it (one streaming INSERT per file).
Duplicate keys are found set-based after the insert. Rejected records are kept
with every reason and their raw text. Over the reject limit, the transaction is
rolled back and only the file's rejection and its reasons are recorded.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from deletedcalls import logs
from deletedcalls.csvscan import DEFAULT_CHUNK, Chunk, read_header, scan_records
from deletedcalls.errors import InputRejected, UsageError
from deletedcalls.fsutil import file_sha256
from deletedcalls.rejects import record_rejects
from deletedcalls.schemas import (
    CDR_COLUMNS,
    COST_COLUMNS,
    REQUIRED_COLUMNS,
    cdr_schema,
    rejection_reasons,
)
from deletedcalls.settings import Settings
from deletedcalls.warehouse import insert_from, next_ids, rollback_quietly, sql, utc_now

Progress = Callable[[int], None]
INGEST_MEMORY_LIMIT = "384MB"
# records validated at once (see _batches)
GROUP_ROWS = 250_000
# rows per Arrow batch handed to DuckDB: each of its threads takes whole batches, so a
# group handed over as one batch was inserted by one thread (docs/BENCHMARKS.md)
BATCH_ROWS = 32_768
# Python's GIL switch interval while a file loads (the default is 5 ms; see _load)
SWITCH_INTERVAL = 0.0005
# Arrow as polars holds it: text as string_view, which DuckDB reads as it is. At the
# default (oldest) level, to_arrow copies every string into a large_string buffer
# first: 0.2 CPU-s per million rows (docs/BENCHMARKS.md).
ARROW_LEVEL = pl.CompatLevel.newest()


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
        }


@dataclass
class _Batch:
    """One validated batch: the good records and the rejected ones."""

    good: pl.DataFrame  # CDR columns as checked text + lineNumber
    rejected: list[tuple[int, list[str], str]]  # (line, reasons, raw text)
    records: int
    carriers: set[str]
    nbytes: int


def _parse(chunk: Chunk, header: list[str], wanted: list[str]) -> tuple[pl.DataFrame, np.ndarray, list]:
    """Parse the well-formed records of a chunk; returns (frame, their indexes, rejects)."""
    ncols = len(header)
    blank = chunk.ends == chunk.starts
    good = (chunk.fields == ncols) & ~blank
    rejects: list[tuple[int, list[str], str]] = []
    bad_idx = np.flatnonzero(~good & ~blank)
    for i in bad_idx:
        reason = f"expected {ncols} fields as in the header, found {int(chunk.fields[i])}"
        if chunk.unterminated and i == len(chunk) - 1:
            reason = "a quoted field is never closed (runs to the end of the file)"
        rejects.append((int(chunk.lines[i]), [reason], chunk.raw(int(i))))
    idx = np.flatnonzero(good)
    try:
        if len(idx) == len(chunk):
            # every record: the chunk as read, without a copy; its first len(idx) records
            # are the whole records, the rest of the read is the start of the next one
            frame = _read(chunk.data, header, wanted, len(idx))
        else:
            payload = _records_text(chunk, idx)
            payload.decode("utf-8")
            frame = _read(payload, header, wanted)
    except (pl.exceptions.ComputeError, UnicodeDecodeError):
        frame, idx, more = _read_valid_utf8(chunk, idx, header, wanted)
        rejects.extend(more)
    if frame.height != len(idx):  # the scanner and polars must agree on every record
        raise RuntimeError(f"parser disagreement: {frame.height} rows for {len(idx)} records")
    return frame, idx, rejects


def _read(payload: bytes, header: list[str], wanted: list[str], records: int | None = None) -> pl.DataFrame:
    """The wanted columns of the first `records` records of payload (all when None), as text."""
    if not payload:
        return pl.DataFrame(schema={c: pl.String for c in wanted})
    positions = sorted(header.index(c) for c in wanted)
    frame = pl.read_csv(
        payload,  # bytes as they are; a BytesIO would be copied
        has_header=False,
        infer_schema=False,
        quote_char='"',
        separator=",",
        columns=positions,
        n_rows=records,
        raise_if_empty=False,
        null_values=[""],  # an empty field, quoted or not, is absent (null)
    )
    # polars names unnamed columns column_<position>
    return frame.select(pl.col(f"column_{header.index(c)}").alias(c) for c in wanted)


def _read_valid_utf8(
    chunk: Chunk, idx: np.ndarray, header: list[str], wanted: list[str]
) -> tuple[pl.DataFrame, np.ndarray, list]:
    keep, rejects = [], []
    for i in idx:
        raw = chunk.data[chunk.starts[i] : chunk.ends[i]]
        try:
            raw.decode("utf-8")
            keep.append(i)
        except UnicodeDecodeError:
            rejects.append((int(chunk.lines[i]), ["not valid UTF-8 text"], raw.decode("utf-8", "replace")))
    idx = np.array(keep, dtype=np.int64)
    return _read(_records_text(chunk, idx), header, wanted), idx, rejects


def _records_text(chunk: Chunk, idx: np.ndarray) -> bytes:
    """The text of the chunk's records idx (ascending), one per line: a few slices of runs."""
    if len(idx) == 0:
        return b""
    # runs of consecutive records are copied as one slice, line ends and all
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    firsts, lasts = idx[np.r_[0, breaks]], idx[np.r_[breaks - 1, len(idx) - 1]]
    data, starts, ends = memoryview(chunk.data), chunk.starts, chunk.ends
    parts: list[memoryview | bytes] = []
    for a, b in zip(firsts, lasts, strict=True):
        parts += (data[starts[a] : ends[b]], b"\n")
    return b"".join(parts)  # the one copy


def _batches(path: Path, chunk_size: int, group_rows: int) -> Iterator[_Batch | tuple[list[str], list[str]]]:
    """First the (header, extra columns), then validated batches of about group_rows records.

    Records are scanned and parsed a chunk at a time, but validated in groups of
    several chunks: pandera has a fixed cost per validation (1M rows: 0.4 s as one
    frame, 0.8 s as ten). The first and the last chunks go alone, so that DuckDB,
    which inserts what this thread validated, starts early and finishes soon after.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        header, _, first_line = read_header(f)
        yield header, [c for c in header if c not in CDR_COLUMNS]
        present = [c for c in CDR_COLUMNS if c in header]
        group: list[tuple[Chunk, pl.DataFrame, np.ndarray, list]] = []
        rows, first = 0, True
        for chunk in scan_records(f, first_line=first_line, chunk_size=chunk_size):
            frame, idx, rejects = _parse(chunk, header, present)
            group.append((chunk, frame, idx, rejects))
            rows += frame.height
            near_end = size - f.tell() < chunk_size
            if rows >= group_rows or first or near_end:
                yield _validate(group)
                group, rows, first = [], 0, False
        if group:
            yield _validate(group)


def _validate(group: list[tuple[Chunk, pl.DataFrame, np.ndarray, list]]) -> _Batch:
    """Validate the parsed records of some chunks as one frame; the good ones stay text."""
    frame = pl.concat([f for _, f, _, _ in group], how="vertical", rechunk=False)
    for c in CDR_COLUMNS:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
    lines = np.concatenate([chunk.lines[idx] for chunk, _, idx, _ in group])
    frame = frame.select(list(CDR_COLUMNS)).with_columns(lineNumber=pl.Series(lines, dtype=pl.Int64))
    rejects = [r for _, _, _, chunk_rejects in group for r in chunk_rejects]
    reasons = rejection_reasons(frame) if frame.height else {}
    if reasons:
        offsets = np.cumsum([0] + [len(idx) for _, _, idx, _ in group])
        bad = np.fromiter(reasons, dtype=np.int64)
        for row in bad:
            k = int(np.searchsorted(offsets, row, side="right")) - 1
            chunk, _, idx, _ = group[k]
            i = int(idx[row - offsets[k]])
            rejects.append((int(chunk.lines[i]), reasons[int(row)], chunk.raw(i)))
        mask = np.ones(frame.height, dtype=bool)
        mask[bad] = False
        frame = frame.filter(pl.Series(mask))
    carriers = set(frame["carrier"].unique().to_list())
    records = sum(len(chunk) - int(np.sum(chunk.ends == chunk.starts)) for chunk, _, _, _ in group)
    return _Batch(frame, rejects, records, carriers, sum(len(chunk.data) for chunk, _, _, _ in group))


def typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast validated text to the warehouse types (exact: Decimal, not float)."""
    time = pl.col("startTime")  # checked HH:MM:SS; slicing it is twice as fast as str.to_time
    seconds = time.str.slice(0, 2).cast(pl.Int64) * 3600 + time.str.slice(3, 2).cast(pl.Int64) * 60 + time.str.slice(6, 2).cast(pl.Int64)
    return frame.with_columns(
        pl.col("startDate").str.to_date("%Y-%m-%d"),
        (seconds * 1_000_000_000).cast(pl.Time).alias("startTime"),
        pl.col("duration").cast(pl.Int64),
        pl.col("answerTime").cast(pl.Int64),
        *[pl.col(c).cast(pl.Decimal(18, 4)) for c in COST_COLUMNS],
    )


def _call_batch_schema() -> pa.Schema:
    empty = pl.DataFrame(schema={**{c: pl.String for c in CDR_COLUMNS}, "lineNumber": pl.Int64})
    frame = typed(empty).with_columns(id=pl.lit(0, pl.Int64), CDRFileID=pl.lit(0, pl.Int64))
    return frame.to_arrow(compat_level=ARROW_LEVEL).schema


CALL_BATCH_SCHEMA = _call_batch_schema()


class _Prefetch:
    """Run an iterator in a thread, started at once, up to `depth` items ahead.

    polars, numpy and DuckDB release the GIL, so the thread's work overlaps the
    consumer's. close() stops the thread; an error in it is raised to the consumer.
    """

    def __init__(self, it: Iterator[Any], depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(it,), daemon=True, name="cdr-reader")
        self._thread.start()

    def _work(self, it: Iterator[Any]) -> None:
        try:
            for item in it:
                while not self._stop.is_set():
                    try:
                        self._queue.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put(("done", None))
        except BaseException as e:  # handed to the consumer
            self._queue.put(("error", e))

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        kind, item = self._queue.get()
        if kind == "done":
            self._queue.put((kind, item))  # stays exhausted
            raise StopIteration
        if kind == "error":
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()


def ingest_cdr_files(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    paths: list[Path],
    run_id: int,
    *,
    progress: Progress | None = None,
    log_unchanged: bool = True,
) -> list[FileResult]:
    """Ingest each file in turn, logging each outcome; a rejected file does not stop the others."""
    results = []
    for path in paths:
        r = ingest_cdr_file(con, settings, path, run_id, progress=progress)
        results.append(r)
        if r.status == "unchanged" and not log_unchanged:
            continue
        log = logs.warning if r.status in ("rejected", "conflict") else logs.info
        log(f"{path.name}: {r.message}", stage="ingest-cdr", file=str(path), status=r.status, rows=r.rows, rejected=r.rejected)
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
) -> FileResult:
    if not path.is_file():
        raise UsageError(f"no such CDR file: {path}")
    name = path.name
    size = path.stat().st_size
    # The same content has the same size: a file whose name and size are both new cannot
    # be a known file, so it is hashed while it loads rather than before.
    maybe_known = con.execute(
        "SELECT count(*) FROM cdr_files WHERE fileName = $n OR sizeBytes = $z", {"n": name, "z": size}
    ).fetchall()[0][0]
    if not maybe_known:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as hashing:
            return _load(con, settings, path, hashing.submit(file_sha256, path).result, size, run_id, progress, chunk_size)
    sha = file_sha256(path)
    known = con.execute(
        "SELECT id, fileName, sha256, status FROM cdr_files WHERE sha256 = $s OR fileName = $n ORDER BY id",
        {"s": sha, "n": name},
    ).fetchall()
    for fid, fname, fsha, fstatus in known:
        if fsha == sha:
            if progress:
                progress(size)
            same = "" if fname == name else f" as {fname!r}"
            return FileResult(str(path), name, sha, "unchanged", fid, message=f"already ingested{same} ({fstatus}); nothing to do")
    for fid, fname, fsha, fstatus in known:
        if fname == name and fstatus == "loaded":
            return FileResult(
                str(path), name, sha, "conflict", fid,
                message=f"a different file of this name was already loaded (id {fid}, sha256 {fsha[:12]}…); "
                "refused, nothing changed. Send corrections under a new file name.",
            )
    return _load(con, settings, path, lambda: sha, size, run_id, progress, chunk_size)


def _load(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sha: Callable[[], str],
    size: int, run_id: int, progress: Progress | None, chunk_size: int,
) -> FileResult:
    """Load one file in one transaction; sha() gives its hash (it may still be computing)."""
    # The cyclic garbage collector found nothing to free here but cost about 4 % of the
    # CPU time of a 1M-row ingest (its many short-lived objects keep triggering it).
    collecting = gc.isenabled()
    gc.disable()
    # The reader thread, this thread and DuckDB's threads (which pull batches from a Python
    # generator) each hold the GIL only briefly, between long calls into polars, numpy and
    # DuckDB that release it. At the default 5 ms interval, a thread back from such a call
    # could wait up to 5 ms for a thread running Python (at the start, pandera's import),
    # so the reader, the slowest stage, stalled: 0.5 ms took 4-8 % off a 1M-row ingest.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    # the reader starts scanning and parsing now; validation waits for the schema
    stream = _Prefetch(_batches(path, chunk_size, GROUP_ROWS))
    try:
        with _ingest_settings(con):
            return _load_stream(con, settings, path, sha, size, run_id, progress, chunk_size, stream)
    finally:
        stream.close()
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()


def _load_stream(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sha: Callable[[], str],
    size: int, run_id: int, progress: Progress | None, chunk_size: int, stream: _Prefetch,
) -> FileResult:
    cdr_schema()  # pandera's import, while the reader thread works (see schemas.pandera_polars)
    result = FileResult(str(path), path.name, "", "loaded")  # sha256 is set once sha() is needed
    rejects: list[tuple[int, list[str], str]] = []
    stats = {"records": 0, "rows": 0}
    carriers: set[str] = set()
    con.execute("BEGIN")
    try:
        file_id = next_ids(con, "cdr_file", 1)
        result.file_id = file_id
        first_call_id = con.execute("SELECT value + 1 FROM counters WHERE name = 'call'").fetchall()[0][0]
        header, extra = next(stream)
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
            result.sha256 = sha()
            return _reject_file(con, settings, result, size, run_id, why, [], 0, carriers)

        def arrow_batches() -> Iterator[pa.RecordBatch]:
            for batch in stream:
                stats["records"] += batch.records
                rejects.extend(batch.rejected)
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
        result.rows = stats["rows"] - _reject_duplicates(con, path, file_id, chunk_size, rejects)
        con.execute("UPDATE counters SET value = $v WHERE name = 'call'", {"v": first_call_id + stats["rows"] - 1})
        result.rejected = len(rejects)
        result.sha256 = sha()
        if records and len(rejects) / records > settings.max_reject_ratio:
            con.execute("ROLLBACK")
            why = (
                f"{len(rejects)} of {records} records rejected ({len(rejects) / records:.2%}), "
                f"over the limit of {settings.max_reject_ratio:.2%}"
            )
            return _reject_file(con, settings, result, size, run_id, why, rejects, records, carriers)
        _record_file(con, result, size, run_id, "loaded", None, carriers)
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
    return result


def _reject_duplicates(
    con: duckdb.DuckDBPyConnection, path: Path, file_id: int, chunk_size: int, rejects: list
) -> int:
    """Reject (and remove) the file's records whose key was already known; returns how many."""
    found = con.execute(sql("ingest/duplicate_keys"), {"file": file_id}).fetchall()
    if not found:
        return 0
    con.execute("DELETE FROM calls WHERE id IN (SELECT unnest($ids::BIGINT[]))", {"ids": [r[0] for r in found]})
    raw = _raw_lines(path, {r[1] for r in found}, chunk_size)
    for _, line, where, other_file in found:
        if other_file == file_id:
            why = "duplicate: (carrier, carrierCallID) appears earlier in this file"
        else:
            why = f"duplicate: (carrier, carrierCallID) is already in {where} (CDR file id {other_file})"
        rejects.append((int(line), [why], raw.get(int(line), "")))
    return len(found)


def _raw_lines(path: Path, lines: set[int], chunk_size: int) -> dict[int, str]:
    """The raw text of the records starting on the given lines (a second scan; duplicates are rare)."""
    out: dict[int, str] = {}
    with open(path, "rb") as f:
        _, _, first_line = read_header(f)
        for chunk in scan_records(f, first_line=first_line, chunk_size=chunk_size):
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
) -> None:
    con.execute(
        "INSERT INTO cdr_files VALUES ($id, $name, $sha, $carrier, $status, $rows, $rejected, $size, $extra, $reason, $at, $run)",
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
        _record_file(con, result, size, run_id, "rejected", why, carriers)
        record_rejects(con, "cdr", result.file_id, result.file_name, run_id, rejects)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise
    result.message = f"rejected whole, nothing loaded: {why}"
    return result


def raise_for_rejections(results: list[FileResult]) -> None:
    """After every file was tried: exit 3 naming the first rejected or conflicting file."""
    bad = [r for r in results if r.status in ("rejected", "conflict")]
    if bad:
        more = f" (and {len(bad) - 1} more file(s))" if len(bad) > 1 else ""
        raise InputRejected(f"{bad[0].file_name}: {bad[0].message}{more}")
