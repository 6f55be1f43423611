"""Find the records of an RFC 4180 CSV file, in streamed chunks, with exact line numbers.

DuckDB and polars both parse CSV well but neither says on which physical line
a record starts once quoted fields hold newlines. This scanner finds record
boundaries with numpy: a newline ends a record exactly when an even number of
quote characters precedes it in the chunk (an escaped quote ``""`` adds two),
and chunks always start on a record boundary. Field counts come the same way
from the commas outside quotes. Memory is bounded by the chunk size, not the
file size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

QUOTE, NEWLINE, COMMA, CR = 34, 10, 44, 13
DEFAULT_CHUNK = 16 * 1024 * 1024


@dataclass
class Chunk:
    """Consecutive whole records of a file."""

    data: bytes
    starts: np.ndarray  # offset of each record's first byte in data
    ends: np.ndarray  # offset just past each record's last byte (newline and CR excluded)
    lines: np.ndarray  # physical 1-based line on which each record starts
    fields: np.ndarray  # number of fields of each record
    unterminated: bool = False  # the last record opens a quote that the file never closes

    def raw(self, i: int) -> str:
        return self.data[int(self.starts[i]) : int(self.ends[i])].decode("utf-8", errors="replace")

    def __len__(self) -> int:
        return len(self.starts)


class _Scratch:
    """A reused boolean buffer: fresh 16 MB temporaries per chunk cost page faults (measured)."""

    def __init__(self) -> None:
        self._buf = np.empty(0, dtype=bool)

    def positions(self, arr: np.ndarray, byte: int) -> np.ndarray:
        if len(self._buf) < len(arr):
            self._buf = np.empty(len(arr), dtype=bool)
        hits = self._buf[: len(arr)]
        np.equal(arr, byte, out=hits)
        return np.flatnonzero(hits)


def _scan(
    buf: bytes, upto: int | None, first_line: int, scratch: _Scratch | None = None,
    sep: int = COMMA, quote: int | None = QUOTE, dense_ok: bool = True,
) -> tuple[Chunk, int, int]:
    """Records of buf; if upto is None the buffer ends at end of file.

    Returns the chunk, the number of bytes consumed and the next record's line.
    `sep` and `quote` are the delimiter and quote bytes (a profile's; quote None: no quoting).
    """
    scratch = scratch or _Scratch()
    arr = np.frombuffer(buf, dtype=np.uint8)
    dense = _Dense(arr, sep, quote) if quote is not None and dense_ok and _quote_heavy(arr, sep, quote) else None
    if dense is not None:
        quotes = np.empty(0, dtype=np.intp)  # not needed: the dense marks answer for them
        newlines, ends_nl = dense.newlines, dense.ends_nl
    else:
        quotes = scratch.positions(arr, quote) if quote is not None else np.empty(0, dtype=np.intp)
        newlines = scratch.positions(arr, NEWLINE)
        outside = (np.searchsorted(quotes, newlines) & 1) == 0
        ends_nl = newlines[outside]
    unterminated = False
    if upto is None:
        consumed = len(buf)
        last_start = int(ends_nl[-1]) + 1 if len(ends_nl) else 0
        record_ends = ends_nl
        if last_start < len(buf):  # a last record without a final newline
            record_ends = np.append(ends_nl, len(buf))
            after = dense.quotes_from(last_start) if dense else len(quotes) - np.searchsorted(quotes, last_start)
            unterminated = bool(after & 1)
    else:
        if len(ends_nl) == 0:
            return Chunk(b"", *(np.empty(0, np.int64),) * 4), 0, first_line
        record_ends = ends_nl
        consumed = int(ends_nl[-1]) + 1
    starts = np.empty(len(record_ends), dtype=np.int64)
    if len(record_ends):
        starts[0] = 0
        starts[1:] = record_ends[:-1] + 1
    ends = record_ends.astype(np.int64)
    # a CR before the record's newline is part of the line end, not of the record
    has_nl = ends < len(buf)
    cr = np.zeros(len(ends), dtype=bool)
    nonempty = ends > starts
    check = has_nl & nonempty
    cr[check] = arr[ends[check] - 1] == CR
    # at end of file without a newline, a trailing CR is also a line end
    if len(ends) and not has_nl[-1] and ends[-1] > starts[-1] and arr[ends[-1] - 1] == CR:
        cr[-1] = True
    ends = ends - cr
    if len(ends_nl) == len(newlines):  # no newline inside quotes: one record per line
        lines = first_line + np.arange(len(starts), dtype=np.int64)
    else:
        lines = first_line + np.searchsorted(newlines, starts)
    last_end = int(ends[-1]) if len(ends) else 0
    if dense is not None:
        bounds = np.searchsorted(dense.seps_out, np.append(starts, last_end))
        fields = np.diff(bounds) + 1
        if unterminated:  # counted as the pair way counts it, whichever way a chunk took
            tail, _, _ = _scan(buf[int(starts[-1]) : last_end], None, 1, None, sep, quote, dense_ok=False)
            fields[-1] = tail.fields[-1]
        return _chunk(buf, starts, ends, lines, fields, unterminated, newlines, consumed, first_line)
    # fields = commas in the record - commas inside its quoted pairs + 1; counting per
    # quote pair costs O(quotes), not O(commas x log quotes)
    commas = scratch.positions(arr, sep)
    # between a record's end and the next record's start there are only CR and LF, so
    # the commas of record i are those in [starts[i], starts[i + 1]): one search, not two
    bounds = np.searchsorted(commas, np.append(starts, last_end))
    fields = np.diff(bounds) + 1
    paired = quotes[quotes < last_end] if len(quotes) else quotes
    paired = paired[: len(paired) // 2 * 2]
    opens, closes = paired[0::2], paired[1::2]
    wide = closes - opens > 1  # an empty quoted field ("") holds no comma
    opens, closes = opens[wide], closes[wide]
    if len(opens):
        inside = np.searchsorted(commas, closes) - np.searchsorted(commas, opens)
        if inside.any():
            record_of = np.searchsorted(starts, opens, side="right") - 1
            fields = fields - np.bincount(record_of, weights=inside, minlength=len(starts)).astype(np.int64)
    return _chunk(buf, starts, ends, lines, fields, unterminated, newlines, consumed, first_line)


def never_closed(chunk: Chunk) -> np.ndarray:
    """Per record, whether it opens a quote that the file never closes (only the last record of a file can).

    Such a record is rejected whatever its field count: counted by quote pairs, the separators after a
    lone quote count as fields, so a record cut inside a quoted field can have as many as the header.
    """
    cut = np.zeros(len(chunk), dtype=bool)
    if chunk.unterminated and len(chunk):
        cut[-1] = True
    return cut


def _quote_heavy(arr: np.ndarray, sep: int, quote: int) -> bool:
    """Whether quotes are as common as separators (every field quoted), judged on the first 64 kB."""
    head = arr[: 64 * 1024]
    return int(np.count_nonzero(head == quote)) > int(np.count_nonzero(head == sep))


class _Dense:
    """Quote parity for text where every field is quoted (FCS, FreeSWITCH).

    There, the per-quote-pair counting and the binary searches of quotes cost more than
    the rest of the reading (84 quotes a record: 3.8 s of 8.7 s for 1M FCS rows). One
    pass over the positions of every quote, separator and newline, in file order, gives
    each one the parity of the quotes before it: a separator or newline is outside
    quotes exactly when that parity is even. Linear, no search (0.15 s -> 0.07 s per
    16 MB chunk). The results are the same as the sparse way's (tests/test_scanning.py).
    """

    def __init__(self, arr: np.ndarray, sep: int, quote: int) -> None:
        marks = arr == quote
        marks |= arr == sep
        marks |= arr == NEWLINE
        self.at = np.flatnonzero(marks)
        kind = arr[self.at]
        self.quotes_upto = np.cumsum(kind == quote, dtype=np.int32)  # quotes at or before each mark (int32: faster)
        even = (self.quotes_upto & 1) == 0
        nl = kind == NEWLINE
        self.newlines = self.at[nl]
        self.ends_nl = self.at[nl & even]
        self.seps_out = self.at[(kind == sep) & even]

    def quotes_from(self, pos: int) -> int:
        """How many quotes are at or after pos."""
        k = int(np.searchsorted(self.at, pos))
        before = int(self.quotes_upto[k - 1]) if k else 0
        return int(self.quotes_upto[-1]) - before if len(self.at) else 0


def _chunk(
    buf: bytes, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray, fields: np.ndarray,
    unterminated: bool, newlines: np.ndarray, consumed: int, first_line: int,
) -> tuple[Chunk, int, int]:
    next_line = first_line + int(np.searchsorted(newlines, consumed))
    return Chunk(buf, starts, ends, lines, fields, unterminated), consumed, next_line


def scan_records(
    stream: BinaryIO, *, first_line: int = 1, chunk_size: int = DEFAULT_CHUNK,
    sep: int = COMMA, quote: int | None = QUOTE,
) -> Iterator[Chunk]:
    """Yield chunks of whole records from the current position of stream.

    Each chunk of a file is one read. The start of a record that a read cuts off is
    read again by the next read (a seek back) rather than copied in front of it,
    which would copy every chunk a second time (docs/BENCHMARKS.md). A stream that
    cannot seek, such as a pipe, carries it over instead.
    """
    line = first_line
    scratch = _Scratch()
    size = chunk_size
    carry = b""
    seekable = stream.seekable()
    while True:
        at = stream.tell() if seekable else 0
        fresh = stream.read(size)
        buf = carry + fresh if carry else fresh
        # a file reads short only at its end; a pipe is at its end when it reads nothing
        if (len(fresh) < size) if seekable else not fresh:
            if buf:
                chunk, _, line = _scan(buf, None, line, scratch, sep, quote)
                if len(chunk):
                    yield chunk
            return
        chunk, consumed, line = _scan(buf, len(buf), line, scratch, sep, quote)
        if seekable:
            stream.seek(at + consumed)
            if consumed == 0:  # a record longer than one read: read more at once
                size *= 2
        else:
            carry = buf[consumed:]
        if len(chunk):
            yield chunk


def read_header(stream: BinaryIO) -> tuple[list[str], int, int]:
    """Read the header record: (names, bytes it took, the line of the first data record).

    A UTF-8 byte-order mark is skipped. The stream is left after the header.
    """
    import csv
    import io

    head = stream.read(1024 * 1024)
    offset = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    chunk, consumed, next_line = _scan(head[offset:], None if len(head) < 1024 * 1024 else len(head), 1)
    if len(chunk) == 0:
        return [], offset + len(head), 2
    end_of_header = int(chunk.ends[0])
    # consumed bytes of the header record: up to and including its newline
    header_bytes = chunk.data[: end_of_header]
    rest_start = int(chunk.starts[1]) if len(chunk) > 1 else consumed
    names = next(csv.reader(io.StringIO(header_bytes.decode("utf-8", errors="replace"))), [])
    line_after = int(chunk.lines[1]) if len(chunk) > 1 else next_line
    stream.seek(offset + rest_start)
    return [n.strip() for n in names], offset + rest_start, line_after
