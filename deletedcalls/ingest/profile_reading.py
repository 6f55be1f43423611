"""The reading side of a CDR file in a carrier's layout: scan, parse, map, validate.

The same walk as `cdr_reading.batches` (which reads the canonical layout with
no mapping at all), one layer longer: records are scanned with the profile's
delimiter and quote (exact physical line numbers), the columns the profile
uses are parsed as text by polars (bytes invalid in the profile's encoding
become U+FFFD, which rejects a record only where a rule reads that column),
mapped to the canonical columns (`mapping.map_frame`), validated by the
pandera schema of SPEC 2.1, and given their UTC instant (`mapping.zoned`).
Reasons name the source column and the canonical one. Yields the same
`Batch`es as `cdr_reading.batches`, so the load is the same.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl

from deletedcalls.ingest.batches import GROUP_ROWS, Batch, Prefetch, records_text, records_with_nul
from deletedcalls.ingest.csvscan import DEFAULT_CHUNK, Chunk, _scan, never_closed, scan_records
from deletedcalls.ingest.delivery import Delivery, open_delivery
from deletedcalls.ingest.mapping import (
    UTC_ZONES,
    Mapped,
    ambiguous_reason,
    gap_reason,
    map_frame,
    time_label,
    zoned,
)
from deletedcalls.ingest.profiles import REQUIRED, Profile, header_names
from deletedcalls.ingest.schemas import CDR_COLUMNS, rejection_reasons

BOM = b"\xef\xbb\xbf"


class LayoutRejected(Exception):
    """The file cannot be read in its profile's layout at all (a whole-file rejection)."""


def _dialect(profile: Profile) -> tuple[int, int | None]:
    return ord(profile.delimiter), (ord(profile.quote) if profile.quote else None)


def _start(f: BinaryIO, profile: Profile) -> tuple[list[str], int]:
    """Skip the BOM, skip_lines and the header; (column names, line of the first record)."""
    head = f.read(len(BOM))
    if head != BOM:
        f.seek(0)
    line = 1
    for _ in range(profile.skip_lines):
        if not f.readline():
            break
        line += 1
    if not profile.header:
        return list(profile.columns), line
    at = f.tell()
    buf = f.read(1024 * 1024)
    sep, quote = _dialect(profile)
    chunk, consumed, next_line = _scan(buf, None if len(buf) < 1024 * 1024 else len(buf), line, None, sep, quote)
    if len(chunk) == 0:
        return [], line
    names = header_names(buf[: int(chunk.ends[0])], replace(profile, skip_lines=0))
    if len(chunk) > 1:
        f.seek(at + int(chunk.starts[1]))
        return names, int(chunk.lines[1])
    f.seek(at + consumed)
    return names, next_line


def _plan(profile: Profile, names: list[str]) -> tuple[list[str], list[str]]:
    """(the source columns to parse, the file's columns no rule reads); rejects an unusable header."""
    if not names:
        raise LayoutRejected("the file is empty")
    needed = profile.source_columns()
    missing_required = []
    for c in REQUIRED:
        rule = profile.rules[c]
        if rule.column and rule.column not in names and rule.default is None:
            missing_required.append(f"{rule.column!r} (for {c})")
        if rule.join and not any(s in names for s in rule.join):
            missing_required.append(f"{' + '.join(rule.join)} (for {c})")
    if missing_required:
        where = "the header lacks" if profile.header else "the profile's columns lack"
        raise LayoutRejected(f"{where} {', '.join(missing_required)} (profile {profile.name})")
    if profile.skip_records:
        needed = [*needed, profile.skip_records[0]]
    used = list(dict.fromkeys(c for c in needed if c in names))
    twice = sorted({c for c in used if names.count(c) > 1})
    if twice:
        raise LayoutRejected(f"the header names column(s) {', '.join(twice)} more than once")
    # columns the profile does not know of (a declared layout's unused columns are expected); a profile that
    # declares no columns reads a layout of many (CUCM has over a hundred): its unused columns are not news
    if not profile.columns:
        return used, []
    known = set(needed) | set(profile.columns)
    return used, [c for c in names if c not in known]


def _raw(chunk: Chunk, i: int, encoding: str) -> str:
    return chunk.data[int(chunk.starts[i]) : int(chunk.ends[i])].decode(encoding, errors="replace")


def _parse(chunk: Chunk, names: list[str], used: list[str], profile: Profile) -> tuple[pl.DataFrame, np.ndarray, list]:
    ncols = len(names)
    blank = chunk.ends == chunk.starts
    cut = never_closed(chunk)
    good = (chunk.fields == ncols) & ~blank & ~cut
    rejects: list[tuple[int, list[str], str]] = []
    miscounted = ~good & ~blank
    if b"\x00" in chunk.data:  # as on the canonical path: a record holding a NUL byte is binary data, not text
        for i in records_with_nul(chunk):
            if good[i]:
                good[i] = False
                rejects.append((int(chunk.lines[i]), ["holds a NUL byte: binary data, not text"], _raw(chunk, int(i), profile.encoding)))
    for i in np.flatnonzero(miscounted):
        where = "the header" if profile.header else f"profile {profile.name}'s columns"
        reason = f"expected {ncols} fields as in {where}, found {int(chunk.fields[i])}"
        if cut[i]:
            reason = "a quoted field is never closed (runs to the end of the file)"
        rejects.append((int(chunk.lines[i]), [reason], _raw(chunk, int(i), profile.encoding)))
    idx = np.flatnonzero(good)
    utf8 = profile.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    records = None
    if utf8 and len(idx) == len(chunk):  # every record: the chunk as read, without a copy
        payload, records = chunk.data, len(idx)
    else:
        payload = records_text(chunk, idx)
        if not utf8:
            payload = payload.decode(profile.encoding, errors="replace").encode("utf-8")
    positions = sorted(names.index(c) for c in used)
    if not payload or not positions:
        frame = pl.DataFrame({c: pl.Series([None] * len(idx), dtype=pl.String) for c in used})
    else:
        frame = pl.read_csv(
            payload, has_header=False, infer_schema=False, separator=profile.delimiter,
            quote_char=profile.quote or None, columns=positions, raise_if_empty=False,
            null_values=["", *profile.null_values], encoding="utf8-lossy", n_rows=records,
        )
        frame = frame.rename({f"column_{p}": names[p] for p in positions})
    if frame.height != len(idx):
        raise RuntimeError(f"parser disagreement: {frame.height} rows for {len(idx)} records")
    if profile.skip_records and profile.skip_records[0] in frame.columns:  # records the profile says are not calls
        column, values = profile.skip_records
        keep = ~frame[column].is_in(list(values)).fill_null(False)
        if not keep.all():
            frame, idx = frame.filter(keep), idx[keep.to_numpy()]
    return frame, idx, rejects


def mapped_batches(
    source: Path | Delivery, profile: Profile, zone: str, chunk_size: int = DEFAULT_CHUNK, group_rows: int = GROUP_ROWS,
    stop: threading.Event | None = None, start: int = 0, start_line: int = 1,
) -> Iterator[Batch | tuple[list[str], list[str]]]:
    """First (the canonical columns, the file's unused columns), then validated batches.

    Two stages in two threads: scanning and parsing (`_parsed_groups`, in a thread of
    its own) run one group ahead of mapping and validating (here). A mapped layout
    does about twice the reading work of the canonical one (every field quoted, dates
    and money converted), and one thread doing all of it was the ingest's bottleneck
    (docs/BENCHMARKS.md). `stop` ends both at the next chunk.
    """
    stop = stop or threading.Event()
    parsed = Prefetch(_parsed_groups(source, profile, chunk_size, group_rows, stop, start, start_line), depth=1, stop=stop)
    try:
        yield next(parsed)
        for group in parsed:
            yield _map_validate(group, profile, zone)
    finally:
        parsed.close()


Group = list[tuple[Chunk, pl.DataFrame, np.ndarray, list]]


def _parsed_groups(
    source: Path | Delivery, profile: Profile, chunk_size: int, group_rows: int, stop: threading.Event,
    start: int = 0, start_line: int = 1,
) -> Iterator[Any]:
    """First the header tuple, then groups of scanned and parsed chunks (see batches).

    The file is read once, through its Delivery (hashed as read), like the canonical layout's;
    `start` > 0 reads the records from that byte on (the header still from the top).
    """
    sep, quote = _dialect(profile)
    with contextlib.ExitStack() as closing:
        f: Any = source if isinstance(source, Delivery) else closing.enter_context(open_delivery(source))
        size = f.size
        f.seek(0)
        names, first_line = _start(f, profile)
        if start:
            f.seek(start)
            first_line = start_line
        used, unused = _plan(profile, names)
        yield list(CDR_COLUMNS), (unused if profile.header else [])
        group: Group = []
        rows, first = 0, True
        for chunk in scan_records(f, first_line=first_line, chunk_size=chunk_size, sep=sep, quote=quote):
            if stop.is_set():
                return
            parsed = _parse(chunk, names, used, profile)
            group.append((chunk, *parsed))
            rows += parsed[0].height
            if rows >= group_rows or first or size - f.tell() < chunk_size:
                yield group
                group, rows, first = [], 0, False
        if group:
            yield group


def _map_validate(group: Group, profile: Profile, zone: str) -> Batch:
    frame = pl.concat([f for _, f, _, _ in group], how="vertical", rechunk=False)
    lines = np.concatenate([chunk.lines[idx] for chunk, _, idx, _ in group])
    frame = frame.with_columns(lineNumber=pl.Series(lines, dtype=pl.Int64))
    # ASCII text holds no invalid bytes: the per-column search for them is skipped (most files)
    ascii_only = all(chunk.data.isascii() for chunk, _, _, _ in group)
    mapped: Mapped = map_frame(frame, profile, check_bytes=not ascii_only, zone=zone)
    canon = mapped.frame
    rejects = [r for _, _, _, chunk_rejects in group for r in chunk_rejects]
    offsets = np.cumsum([0] + [len(idx) for _, _, idx, _ in group])

    def raw_of(row: int) -> tuple[int, str]:
        k = int(np.searchsorted(offsets, row, side="right")) - 1
        chunk, _, idx, _ = group[k]
        i = int(idx[row - offsets[k]])
        return int(chunk.lines[i]), _raw(chunk, i, profile.encoding)

    reasons: dict[int, list[str]] = {}
    if canon.height:
        labels = {c: r.label(c) for c, r in profile.rules.items()}
        for row, found in rejection_reasons(canon.select(list(CDR_COLUMNS)), profile.text_columns).items():
            skip = {c for c, _ in mapped.errors.get(row, [])}
            for text in found:
                column, _, rest = text.partition(":")
                if column in skip:
                    continue
                reasons.setdefault(row, []).append(f"{labels.get(column, column)}:{rest}")
        for row, errs in mapped.errors.items():
            reasons.setdefault(row, []).extend(msg for _, msg in errs)
    ambiguous = 0
    started = None
    if profile.epoch:  # the instant itself: no wall clock to resolve
        started = canon["startedAt"]
    elif canon.height and zone not in UTC_ZONES:
        ok = np.ones(canon.height, dtype=bool)
        if reasons:
            ok[np.fromiter(reasons, dtype=np.int64)] = False
        good_rows = np.flatnonzero(ok)
        z = zoned(canon if len(good_rows) == canon.height else canon[good_rows], zone, profile.ambiguous)
        label = time_label(profile)
        d, t = canon["startDate"], canon["startTime"]
        for j in z.gap:
            row = int(good_rows[j])
            reasons[row] = [gap_reason(d[row], t[row], zone, label)]
        ambiguous = len(z.ambiguous)
        if profile.ambiguous == "reject":
            for j in z.ambiguous:
                row = int(good_rows[j])
                reasons[row] = [ambiguous_reason(d[row], t[row], zone, label)]
        if len(good_rows) == canon.height:
            started = z.started_at
        else:
            started = pl.Series("startedAt", dtype=z.started_at.dtype).extend_constant(None, canon.height)
            started = started.scatter(good_rows, z.started_at)
    if started is not None:
        canon = canon.with_columns(started.alias("startedAt"))
    keys: list[tuple[int, str, str]] = []
    if reasons:
        bad = np.fromiter(reasons, dtype=np.int64)
        carrier, call_id = canon["carrier"], canon["carrierCallID"]
        for row in sorted(reasons):
            line, raw = raw_of(row)
            rejects.append((line, reasons[row], raw))
            if carrier[row] is not None and call_id[row] is not None:
                keys.append((line, carrier[row], call_id[row]))
        mask = np.ones(canon.height, dtype=bool)
        mask[bad] = False
        canon = canon.filter(pl.Series(mask))
    good = canon.select(*CDR_COLUMNS, "lineNumber", *(["startedAt"] if started is not None else []))
    carriers = set(good["carrier"].unique().to_list())
    # the records read (a blank line is none, nor one the profile skips): those parsed and those rejected unparsed
    records = sum(len(idx) + len(chunk_rejects) for _, _, idx, chunk_rejects in group)
    return Batch(good, rejects, records, carriers, sum(len(chunk.data) for chunk, _, _, _ in group), ambiguous, keys)


def raw_lines(
    source: Path | Delivery, profile: Profile, lines: set[int], chunk_size: int = DEFAULT_CHUNK, start: int = 0, start_line: int = 1,
) -> dict[int, str]:
    """The raw text of the records starting on the given lines (a second scan of the same open file; duplicates are rare)."""
    out: dict[int, str] = {}
    sep, quote = _dialect(profile)
    with contextlib.ExitStack() as closing:
        f: Any = source if isinstance(source, Delivery) else closing.enter_context(open_delivery(source))
        f.seek(0)
        _, first_line = _start(f, profile)
        if start:
            f.seek(start)
            first_line = start_line
        for chunk in scan_records(f, first_line=first_line, chunk_size=chunk_size, sep=sep, quote=quote):
            for i in np.flatnonzero(np.isin(chunk.lines, list(lines))):
                out[int(chunk.lines[i])] = _raw(chunk, int(i), profile.encoding)
    return out
