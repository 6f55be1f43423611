"""The reading side of CDR ingest in the canonical layout: scan, parse and validate a file.

Records are scanned (exact line numbers), parsed by polars and validated in
groups by the pandera schema, in a reader thread (``reader.py``) that runs
ahead of DuckDB's insert (``cdr.py``). This module imports numpy and polars,
not duckdb or pyarrow, so that the CLI can start reading a file while it
still imports those and opens the warehouse (``reader.read_ahead``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from deletedcalls.ingest.batches import GROUP_ROWS, Batch, records_text, records_with_nul
from deletedcalls.ingest.csvscan import (
    DEFAULT_CHUNK,
    Chunk,
    never_closed,
    read_header,
    scan_records,
)
from deletedcalls.ingest.delivery import SNIFF_BYTES, Delivery, NotReadable, open_delivery, sniff
from deletedcalls.ingest.mapping import UTC_ZONES, ambiguous_reason, gap_reason, zoned
from deletedcalls.ingest.schemas import CDR_COLUMNS, rejection_reasons


def _parse(chunk: Chunk, header: list[str], wanted: list[str]) -> tuple[pl.DataFrame, np.ndarray, list]:
    """Parse the well-formed records of a chunk; returns (frame, their indexes, rejects)."""
    ncols = len(header)
    blank = chunk.ends == chunk.starts
    cut = never_closed(chunk)
    good = (chunk.fields == ncols) & ~blank & ~cut
    rejects: list[tuple[int, list[str], str]] = []
    if b"\x00" in chunk.data:  # one memchr, nothing more, when the chunk holds no NUL byte (the usual case)
        for i in records_with_nul(chunk):
            if good[i]:
                good[i] = False
                rejects.append((int(chunk.lines[i]), ["holds a NUL byte: binary data, not text"], chunk.raw(int(i))))
    bad_idx = np.flatnonzero(((chunk.fields != ncols) | cut) & ~blank)
    for i in bad_idx:
        reason = f"expected {ncols} fields as in the header, found {int(chunk.fields[i])}"
        if cut[i]:
            reason = "a quoted field is never closed (runs to the end of the file)"
        rejects.append((int(chunk.lines[i]), [reason], chunk.raw(int(i))))
    idx = np.flatnonzero(good)
    try:
        if len(idx) == len(chunk):
            # every record: the chunk as read, without a copy; its first len(idx) records
            # are the whole records, the rest of the read is the start of the next one
            frame = _read(chunk.data, header, wanted, len(idx))
        else:
            payload = records_text(chunk, idx)
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
    return _read(records_text(chunk, idx), header, wanted), idx, rejects


def batches(
    source: Path | Delivery, chunk_size: int = DEFAULT_CHUNK, group_rows: int = GROUP_ROWS, stop: threading.Event | None = None,
    zone: str = "UTC", ambiguous: str = "earlier", start: int = 0, start_line: int = 1,
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
    `start` > 0 reads only the records from that byte on (a file that grew since its last
    load), the first on line `start_line`; the header is still read from the top.
    """
    with contextlib.ExitStack() as closing:
        f = source if isinstance(source, Delivery) else closing.enter_context(open_delivery(source))
        size = f.size
        reason = sniff(f.read(SNIFF_BYTES), "CSV")
        if reason:
            raise NotReadable(reason, f.finish(), size)
        f.seek(0)
        header, _, first_line = read_header(f)  # type: ignore[arg-type]
        if start:
            f.seek(start)
            first_line = start_line
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


