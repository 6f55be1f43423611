"""Ingest carrier CDR files into ``calls``: stream, validate, load in one transaction.

Per file: hash it; a known (name, content) is a no-op and a known name with
other content is refused. Otherwise, inside one transaction: a reader thread
scans records (exact line numbers), parses them with polars and validates
them with the pandera schema while the main thread checks duplicates and
inserts the previous batch into DuckDB. Rejected records are kept with every
reason and their raw text. Over the reject limit, the transaction is rolled
back and only the file's rejection and its reasons are recorded.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Generator, Iterator
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
from deletedcalls.warehouse import next_ids, rollback_quietly, sql, utc_now

Progress = Callable[[int], None]
INGEST_MEMORY_LIMIT = "384MB"


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
    """One validated batch: the good records, typed, and the rejected ones."""

    good: pl.DataFrame  # CDR columns in their warehouse types + lineNumber
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
    if len(idx) == len(chunk) and chunk.data.endswith(b"\n"):
        payload = chunk.data
    elif len(idx) == 0:
        payload = b""
    else:
        data, starts, ends = chunk.data, chunk.starts, chunk.ends
        payload = b"\n".join(data[starts[i] : ends[i]] for i in idx) + b"\n"
    try:
        payload.decode("utf-8") if len(idx) != len(chunk) else None
        frame = _read(payload, header, wanted)
    except (pl.exceptions.ComputeError, UnicodeDecodeError):
        frame, idx, more = _read_valid_utf8(chunk, idx, header, wanted)
        rejects.extend(more)
    if frame.height != len(idx):  # the scanner and polars must agree on every record
        raise RuntimeError(f"parser disagreement: {frame.height} rows for {len(idx)} records")
    return frame, idx, rejects


def _read(payload: bytes, header: list[str], wanted: list[str]) -> pl.DataFrame:
    if not payload:
        return pl.DataFrame(schema={c: pl.String for c in wanted})
    positions = sorted(header.index(c) for c in wanted)
    frame = pl.read_csv(
        io.BytesIO(payload),
        has_header=False,
        infer_schema=False,
        quote_char='"',
        separator=",",
        columns=positions,
        raise_if_empty=False,
    )
    # polars names unnamed columns column_<position>; an empty field, quoted or not, is absent
    return frame.select(
        pl.when(pl.col(f"column_{header.index(c)}") != "").then(pl.col(f"column_{header.index(c)}")).alias(c)
        for c in wanted
    )


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
    data, starts, ends = chunk.data, chunk.starts, chunk.ends
    payload = b"\n".join(data[starts[i] : ends[i]] for i in idx) + b"\n" if len(idx) else b""
    return _read(payload, header, wanted), idx, rejects


def _batches(path: Path, chunk_size: int) -> Iterator[_Batch | tuple[list[str], list[str]]]:
    """First the (header, extra columns), then validated batches."""
    with open(path, "rb") as f:
        header, _, first_line = read_header(f)
        yield header, [c for c in header if c not in CDR_COLUMNS]
        present = [c for c in CDR_COLUMNS if c in header]
        for chunk in scan_records(f, first_line=first_line, chunk_size=chunk_size):
            frame, idx, rejects = _parse(chunk, header, present)
            for c in CDR_COLUMNS:
                if c not in frame.columns:
                    frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
            frame = frame.select(list(CDR_COLUMNS)).with_columns(
                lineNumber=pl.Series(chunk.lines[idx], dtype=pl.Int64)
            )
            reasons = rejection_reasons(frame) if frame.height else {}
            if reasons:
                bad = np.fromiter(reasons, dtype=np.int64)
                for row in bad:
                    i = int(idx[row])
                    rejects.append((int(chunk.lines[i]), reasons[int(row)], chunk.raw(i)))
                mask = np.ones(frame.height, dtype=bool)
                mask[bad] = False
                frame = frame.filter(pl.Series(mask))
            # within the file, the first record of a (carrier, carrierCallID) wins
            first = frame.select(pl.struct("carrier", "carrierCallID").is_first_distinct()).to_series()
            if not first.all():
                for line in frame.filter(~first)["lineNumber"]:
                    raw = chunk.raw(int(np.searchsorted(chunk.lines, line)))
                    rejects.append((int(line), ["duplicate: (carrier, carrierCallID) appears earlier in this file"], raw))
                frame = frame.filter(first)
            frame = typed(frame)
            carriers = set(frame["carrier"].unique().to_list())
            records = len(chunk) - int(np.sum(chunk.ends == chunk.starts))
            yield _Batch(frame, rejects, records, carriers, len(chunk.data))


def typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast validated text to the warehouse types, in the reader thread (exact: Decimal, not float)."""
    return frame.with_columns(
        pl.col("startDate").str.to_date("%Y-%m-%d"),
        pl.col("startTime").str.to_time("%H:%M:%S"),
        pl.col("duration").cast(pl.Int64),
        pl.col("answerTime").cast(pl.Int64),
        *[pl.col(c).cast(pl.Decimal(18, 4)) for c in COST_COLUMNS],
    )


def _call_batch_schema() -> pa.Schema:
    empty = pl.DataFrame(schema={**{c: pl.String for c in CDR_COLUMNS}, "lineNumber": pl.Int64})
    frame = typed(empty).with_columns(id=pl.lit(0, pl.Int64), CDRFileID=pl.lit(0, pl.Int64))
    return frame.to_arrow().schema


CALL_BATCH_SCHEMA = _call_batch_schema()


def _prefetch(it: Iterator[Any], depth: int = 2) -> Generator[Any, None, None]:
    """Run a generator in a thread, one or two items ahead (polars and DuckDB release the GIL)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", done))
        except BaseException as e:  # handed to the consumer
            q.put(("error", e))

    t = threading.Thread(target=work, daemon=True, name="cdr-reader")
    t.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


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
    return results


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
    # build the pandera schema (a slow import) while the file is hashed
    threading.Thread(target=cdr_schema, daemon=True, name="schema-import").start()
    name = path.name
    sha = file_sha256(path)
    size = path.stat().st_size
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

    # One DuckDB thread: measured faster for this insert on 2 cores (1M rows: 6.1 s end to
    # end against 6.4 s with two), and it leaves the other core to the reader thread.
    # A memory cap on DuckDB's buffers: with the streaming INSERT, peak RSS measured 656 MB
    # (1M rows) and 815 MB (4M) with it, 748 and 1049 MB without (docs/BENCHMARKS.md).
    threads, memory = con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchall()[0]
    con.execute("SET threads = 1")
    con.execute("SET memory_limit = $m", {"m": INGEST_MEMORY_LIMIT})
    try:
        return _load(con, settings, path, name, sha, size, run_id, progress, chunk_size)
    finally:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET memory_limit = $m", {"m": memory})


def _load(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, name: str, sha: str, size: int,
    run_id: int, progress: Progress | None, chunk_size: int,
) -> FileResult:
    result = FileResult(str(path), name, sha, "loaded")
    rejects: list[tuple[int, list[str], str]] = []
    stats = {"records": 0, "rows": 0}
    carriers: set[str] = set()
    con.execute("BEGIN")
    try:
        file_id = next_ids(con, "cdr_file", 1)
        result.file_id = file_id
        first_call_id = con.execute("SELECT value + 1 FROM counters WHERE name = 'call'").fetchall()[0][0]
        stream = _prefetch(_batches(path, chunk_size))
        header, extra = next(stream)
        result.extra_columns = extra
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if not header or missing or duplicated:
            stream.close()
            con.execute("ROLLBACK")
            why = (
                "the file is empty" if not header
                else f"the header lacks required column(s) {', '.join(missing)}" if missing
                else f"the header names column(s) {', '.join(duplicated)} more than once"
            )
            return _reject_file(con, settings, result, size, run_id, why, [], 0, carriers)

        def arrow_batches() -> Iterator[pa.RecordBatch]:
            for batch in stream:
                stats["records"] += batch.records
                rejects.extend(batch.rejected)
                good = batch.good
                if good.height:
                    first = first_call_id + stats["rows"]
                    table = good.with_columns(
                        id=pl.int_range(first, first + good.height, dtype=pl.Int64),
                        CDRFileID=pl.lit(file_id, pl.Int64),
                    ).to_arrow().cast(CALL_BATCH_SCHEMA)
                    stats["rows"] += good.height
                    carriers.update(batch.carriers)
                    yield from table.to_batches()
                if progress:
                    progress(batch.nbytes)

        # One INSERT for the whole file, streamed: DuckDB writes full row groups to disk as
        # they fill, so memory does not grow with the file (many small INSERTs in one
        # transaction are held in memory until COMMIT).
        reader = pa.RecordBatchReader.from_batches(CALL_BATCH_SCHEMA, arrow_batches())
        con.register("batch", reader)
        con.execute(sql("ingest/insert_calls"))
        con.unregister("batch")
        records = stats["records"]
        result.rows = stats["rows"] - _reject_duplicates(con, path, file_id, chunk_size, rejects)
        con.execute("UPDATE counters SET value = $v WHERE name = 'call'", {"v": first_call_id + stats["rows"] - 1})
        result.rejected = len(rejects)
        if records and len(rejects) / records > settings.max_reject_ratio:
            con.execute("ROLLBACK")
            why = (
                f"{len(rejects)} of {records} records rejected ({len(rejects) / records:.2%}), "
                f"over the limit of {settings.max_reject_ratio:.2%}"
            )
            return _reject_file(con, settings, result, size, run_id, why, rejects, records, carriers)
        _record_file(con, result, size, run_id, "loaded", None, carriers)
        record_rejects(con, "cdr", file_id, name, run_id, rejects)
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
    con.register("dup_ids", pa.table({"id": pa.array([r[0] for r in found], pa.int64())}))
    con.execute("DELETE FROM calls WHERE id IN (SELECT id FROM dup_ids)")
    con.unregister("dup_ids")
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
