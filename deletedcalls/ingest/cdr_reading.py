"""The reading side of CDR ingest: scan, parse and validate a file in a thread.

Records are scanned (exact line numbers), parsed by polars and validated in
groups by the pandera schema, in a reader thread that runs ahead of DuckDB's
insert (`ingest_cdr`). This module imports numpy and polars, not duckdb or
pyarrow, so that the CLI can start reading a file while it still imports
those and opens the warehouse (`read_ahead`).
"""

from __future__ import annotations

import contextlib
import gc
import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from deletedcalls.ingest.csvscan import DEFAULT_CHUNK, Chunk, read_header, scan_records
from deletedcalls.ingest.delivery import SNIFF_BYTES, Delivery, NotReadable, open_delivery, sniff
from deletedcalls.ingest.mapping import UTC_ZONES, ambiguous_reason, gap_reason, zoned
from deletedcalls.ingest.schemas import CDR_COLUMNS, rejection_reasons

if TYPE_CHECKING:
    from deletedcalls.ingest.profiles import Profile

# records validated at once (see batches)
GROUP_ROWS = 250_000
# Python's GIL switch interval while a file loads (the default is 5 ms; see loading)
SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Interpreter settings for loading a file, restored afterwards (they nest).

    The cyclic garbage collector found nothing to free while a file loads but cost
    about 4 % of the CPU time of a 1M-row ingest (its many short-lived objects keep
    triggering it). The reader thread, the main thread and DuckDB's threads (which
    pull batches from a Python generator) each hold the GIL only briefly, between
    long calls into polars, numpy and DuckDB that release it. At the default 5 ms
    switch interval, a thread back from such a call could wait up to 5 ms for a thread
    running Python (at the start, imports), so the reader, the slowest stage,
    stalled: 0.5 ms took 4-8 % off a 1M-row ingest (docs/DECISIONS.md).
    """
    collecting = gc.isenabled()
    gc.disable()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()


@dataclass
class Batch:
    """One validated batch: the good records and the rejected ones."""

    good: pl.DataFrame  # CDR columns as checked text + lineNumber
    rejected: list[tuple[int, list[str], str]]  # (line, reasons, raw text)
    records: int
    carriers: set[str]
    nbytes: int
    ambiguous: int = 0  # records whose wall-clock time occurs twice in the zone (the autumn hour)
    # (line, carrier, carrierCallID) of the rejected records whose key could be read: a rejected line may be a
    # copy of a call that is deleted, or purged (ingest_cdr protects it as such)
    keys: list[tuple[int, str, str]] = field(default_factory=list)


def _parse(chunk: Chunk, header: list[str], wanted: list[str]) -> tuple[pl.DataFrame, np.ndarray, list]:
    """Parse the well-formed records of a chunk; returns (frame, their indexes, rejects)."""
    ncols = len(header)
    blank = chunk.ends == chunk.starts
    good = (chunk.fields == ncols) & ~blank
    rejects: list[tuple[int, list[str], str]] = []
    if b"\x00" in chunk.data:  # one memchr, nothing more, when the chunk holds no NUL byte (the usual case)
        for i in _records_with_nul(chunk):
            if good[i]:
                good[i] = False
                rejects.append((int(chunk.lines[i]), ["holds a NUL byte: binary data, not text"], chunk.raw(int(i))))
    bad_idx = np.flatnonzero((chunk.fields != ncols) & ~blank)
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


def _records_with_nul(chunk: Chunk) -> np.ndarray:
    """Indexes of the chunk's records that hold a NUL byte."""
    nul = np.flatnonzero(np.frombuffer(chunk.data, dtype=np.uint8) == 0)
    rec = np.searchsorted(chunk.starts, nul, side="right") - 1
    inside = (rec >= 0) & (nul < chunk.ends[np.maximum(rec, 0)])
    return np.unique(rec[inside])


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


def batches(
    source: Path | Delivery, chunk_size: int = DEFAULT_CHUNK, group_rows: int = GROUP_ROWS, stop: threading.Event | None = None,
    zone: str = "UTC", ambiguous: str = "earlier",
) -> Iterator[Batch | tuple[list[str], list[str]]]:
    """First the (header, extra columns), then validated batches of about group_rows records.

    Records are scanned and parsed a chunk at a time, but validated in groups of
    several chunks: pandera has a fixed cost per validation (1M rows: 0.4 s as one
    frame, 0.8 s as ten). The first and the last chunks go alone, so that DuckDB,
    which inserts what this thread validated, starts early and finishes soon after.
    Setting `stop` ends it at the next chunk. The file is read once, through a
    Delivery (hashed as read); one that is not CSV text at all raises NotReadable
    with its hash (delivery.sniff). Times are wall clock in `zone` (the
    warehouse's [ingest] zone); outside UTC each record's instant is computed here.
    """
    with contextlib.ExitStack() as closing:
        f = source if isinstance(source, Delivery) else closing.enter_context(open_delivery(source))
        size = f.size
        reason = sniff(f.read(SNIFF_BYTES), "CSV")
        if reason:
            raise NotReadable(reason, f.finish(), size)
        f.seek(0)
        header, _, first_line = read_header(f)  # type: ignore[arg-type]
        yield header, [c for c in header if c not in CDR_COLUMNS]
        present = [c for c in CDR_COLUMNS if c in header]
        group: list[tuple[Chunk, pl.DataFrame, np.ndarray, list]] = []
        rows, first = 0, True
        for chunk in scan_records(f, first_line=first_line, chunk_size=chunk_size):  # type: ignore[arg-type]
            if stop is not None and stop.is_set():
                return
            frame, idx, rejects = _parse(chunk, header, present)
            group.append((chunk, frame, idx, rejects))
            rows += frame.height
            near_end = size - f.tell() < chunk_size
            if rows >= group_rows or first or near_end:
                yield _validate(group, zone, ambiguous)
                group, rows, first = [], 0, False
        if group:
            yield _validate(group, zone, ambiguous)


def _validate(group: list[tuple[Chunk, pl.DataFrame, np.ndarray, list]], zone: str = "UTC", ambiguous: str = "earlier") -> Batch:
    """Validate the parsed records of some chunks as one frame; the good ones stay text."""
    frame = pl.concat([f for _, f, _, _ in group], how="vertical", rechunk=False)
    for c in CDR_COLUMNS:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
    lines = np.concatenate([chunk.lines[idx] for chunk, _, idx, _ in group])
    frame = frame.select(list(CDR_COLUMNS)).with_columns(lineNumber=pl.Series(lines, dtype=pl.Int64))
    rejects = [r for _, _, _, chunk_rejects in group for r in chunk_rejects]
    reasons = rejection_reasons(frame) if frame.height else {}
    started, twice = None, 0
    if frame.height and zone not in UTC_ZONES:
        started, twice = _zone(frame, reasons, zone, ambiguous)
        frame = frame.with_columns(started)
    keys: list[tuple[int, str, str]] = []
    if reasons:
        offsets = np.cumsum([0] + [len(idx) for _, _, idx, _ in group])
        bad = np.fromiter(reasons, dtype=np.int64)
        carrier, call_id = frame["carrier"], frame["carrierCallID"]
        for row in bad:
            k = int(np.searchsorted(offsets, row, side="right")) - 1
            chunk, _, idx, _ = group[k]
            i = int(idx[row - offsets[k]])
            rejects.append((int(chunk.lines[i]), reasons[int(row)], chunk.raw(i)))
            if carrier[int(row)] is not None and call_id[int(row)] is not None:
                keys.append((int(chunk.lines[i]), carrier[int(row)], call_id[int(row)]))
        mask = np.ones(frame.height, dtype=bool)
        mask[bad] = False
        frame = frame.filter(pl.Series(mask))
    carriers = set(frame["carrier"].unique().to_list())
    records = sum(len(chunk) - int(np.sum(chunk.ends == chunk.starts)) for chunk, _, _, _ in group)
    return Batch(frame, rejects, records, carriers, sum(len(chunk.data) for chunk, _, _, _ in group), twice, keys)


def _zone(frame: pl.DataFrame, reasons: dict[int, list[str]], zone: str, ambiguous: str) -> tuple[pl.Series, int]:
    """Each valid row's UTC instant; the spring-forward gap (and, if so set, the autumn hour) joins reasons."""
    ok = np.ones(frame.height, dtype=bool)
    if reasons:
        ok[np.fromiter(reasons, dtype=np.int64)] = False
    rows = np.flatnonzero(ok)
    z = zoned(frame if len(rows) == frame.height else frame[rows], zone, ambiguous)
    d, t = frame["startDate"], frame["startTime"]
    for j in z.gap:
        reasons[int(rows[j])] = [gap_reason(d[int(rows[j])], t[int(rows[j])], zone, "startDate, startTime")]
    if ambiguous == "reject":
        for j in z.ambiguous:
            reasons[int(rows[j])] = [ambiguous_reason(d[int(rows[j])], t[int(rows[j])], zone, "startDate, startTime")]
    if len(rows) == frame.height:
        return z.started_at, len(z.ambiguous)
    full = pl.Series("startedAt", dtype=z.started_at.dtype).extend_constant(None, frame.height)
    return full.scatter(rows, z.started_at), len(z.ambiguous)


class Prefetch:
    """Run an iterator in a thread, started at once, up to `depth` items ahead.

    polars, numpy and DuckDB release the GIL, so the thread's work overlaps the
    consumer's. close() stops the thread; an error in it is raised to the consumer.
    """

    def __init__(self, it: Iterator[Any], depth: int = 2, stop: threading.Event | None = None) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = stop or threading.Event()  # an iterator that also watches it stops sooner
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


class Reading(Prefetch):
    """A reader thread over one opened delivery; finish() after the last batch gives the hash of what was read."""

    def __init__(self, delivery: Delivery, chunk_size: int, profile: Profile | None = None, zone: str = "UTC") -> None:
        self.delivery = delivery
        stop = threading.Event()
        if profile is None or profile.identity:
            ambiguous = profile.ambiguous if profile else "earlier"
            stream = batches(delivery, chunk_size, GROUP_ROWS, stop, zone, ambiguous)
        else:
            from deletedcalls.ingest.profile_reading import mapped_batches

            stream = mapped_batches(delivery, profile, zone, chunk_size, GROUP_ROWS, stop)
        super().__init__(stream, stop=stop)

    def stop_reading(self) -> None:
        """Stop the thread (at its next chunk) and wait for it; the delivery stays open for finish()."""
        super().close()

    def close(self) -> None:
        super().close()
        self.delivery.close()


def start_reading(path: Path, chunk_size: int = DEFAULT_CHUNK, profile: Profile | None = None, zone: str = "UTC") -> Reading:
    """A reader thread over the file's batches, started now; its close() stops it at the next chunk.

    The file is opened here (NotReadable when it is not a readable regular file). The
    canonical layout as it is (no profile, or one that maps every column to itself)
    takes `batches`; any other profile `profile_reading.mapped_batches`.
    """
    return Reading(open_delivery(path), chunk_size, profile, zone)


class ReadAhead:
    """A file whose reading started before the warehouse was open (see read_ahead)."""

    def __init__(self, path: Path, chunk_size: int = DEFAULT_CHUNK, profile: Profile | None = None, zone: str = "UTC") -> None:
        self.path = path
        self.chunk_size = chunk_size
        self.layout = (profile.name if profile else "canonical", profile, zone)
        self._stream: Reading | None = None
        with contextlib.suppress(NotReadable):  # the load opens it again and records why
            self._stream = start_reading(path, chunk_size, profile, zone)

    def take(self, path: Path, chunk_size: int, profile: Profile | None = None, zone: str = "UTC") -> Reading | None:
        """The started stream, once, if it reads this path in chunks of this size, with this profile and zone."""
        if self._stream is None or path != self.path or chunk_size != self.chunk_size:
            return None
        name, started_with, started_zone = self.layout
        if (profile.name if profile else "canonical") != name or zone != started_zone:
            return None
        if profile is not None and started_with is not None and profile != started_with:
            return None
        stream, self._stream = self._stream, None
        return stream

    def close(self) -> None:
        """Stop the reading if nobody took it (the file was known, or the command failed)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


@contextlib.contextmanager
def read_ahead(path: Path, profile: Profile | None = None, zone: str = "UTC") -> Iterator[ReadAhead]:
    """Start reading a CDR file now, under the load's settings; stopped on exit if not taken.

    The CLI starts the first file of `ingest cdr` before it imports duckdb and
    pandera and opens the warehouse (0.3-0.4 s of a 1M-row ingest, on one core):
    the reader thread scans and parses meanwhile, on the other core. If the file
    turns out to be known, the reading is stopped and thrown away; nothing of it
    reaches the warehouse unless `ingest_cdr_file` takes it for a load.
    """
    with loading():
        ahead = ReadAhead(path, DEFAULT_CHUNK, profile, zone)
        try:
            yield ahead
        finally:
            ahead.close()
