"""Property test of the CDR reader: chunks, validation groups and line numbers agree with the file.

The reader scans a file in chunks, parses each with polars and validates groups
of chunks with pandera. Whatever the chunk and group sizes, every record must
come out once, good or rejected, with the physical line it starts on and (when
rejected) its raw text and reason. The expected values are worked out from how
the file was written, not from the reader.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from conftest import HEADER, good_row
from hypothesis import given, settings
from hypothesis import strategies as st

from deletedcalls.ingest.cdr_reading import batches
from deletedcalls.ingest.csvscan import scan_records

KINDS = ["good", "good", "good", "bad value", "short", "long", "blank", "multiline", "quoted comma", "bad multiline"]


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=30, max_size=100),
    chunk_size=st.integers(100, 1200),  # records are about 150 bytes: many chunks a file
    group_rows=st.integers(1, 30),
    eol=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    final_eol=st.booleans(),
)
def test_every_record_comes_out_once_with_its_line_raw_text_and_reason(kinds, chunk_size, group_rows, eol, bom, final_eol):
    lines = [",".join(HEADER)]
    expected_good: list[tuple[int, str]] = []
    expected_bad: list[tuple[int, str, str]] = []  # line, raw text, a word of the reason
    line = 2
    for i, kind in enumerate(kinds):
        if kind == "blank":
            lines.append("")
            line += 1
            continue
        row = good_row(i)
        if kind in ("bad value", "bad multiline"):
            row["duration"] = "-1"
        if kind in ("multiline", "bad multiline"):
            row["locationCarrier"] = f'"first{eol}second, with a comma"'
        if kind == "quoted comma":
            row["chargeBand"] = '"local, ""peak"""'
        fields = [row[c] for c in HEADER]
        if kind == "short":
            fields = fields[:-2]
        if kind == "long":
            fields.append("extra")
        raw = ",".join(fields)
        lines.append(raw)
        if kind in ("good", "multiline", "quoted comma"):
            expected_good.append((line, row["carrierCallID"]))
        else:
            reason = {"short": "found 22", "long": "found 25"}.get(kind, "duration")
            expected_bad.append((line, raw, reason))
        line += 1 + raw.count("\n")
    if not final_eol and lines[-1] == "":
        lines.append(",".join(good_row(999).values()))  # a file cannot end in a blank line without its newline
        expected_good.append((line, "BT-000000000999"))
    text = ("\ufeff" if bom else "") + eol.join(lines) + (eol if final_eol else "")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_bytes(text.encode())
        items = list(batches(path, chunk_size, group_rows))

    header, extra = items[0]
    assert header == HEADER and extra == []
    validated = items[1:]
    good = [(n, c) for b in validated for n, c in b.good.select("lineNumber", "carrierCallID").iter_rows()]
    bad = sorted((n, raw, reasons) for b in validated for n, reasons, raw in b.rejected)
    assert good == expected_good
    assert [(n, raw) for n, raw, _ in bad] == [(n, raw) for n, raw, _ in expected_bad]
    for (_, _, reasons), (_, _, word) in zip(bad, expected_bad, strict=True):
        assert any(word in r for r in reasons), reasons
    assert sum(b.records for b in validated) == len(expected_good) + len(expected_bad)


class _Trickle(io.BufferedIOBase):
    """A stream that hands out at most `step` bytes per read, as a pipe or socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        n = self._step if size is None or size < 0 else min(size, self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.sampled_from(["a", "bb", ",", '"', '""', "\n", "\r\n", "\r", "é"]), max_size=200).map(
        lambda parts: "".join(parts).encode()
    ),
    chunk_size=st.integers(1, 64),
    step=st.integers(1, 64),
)
def test_records_do_not_depend_on_how_the_bytes_arrive(data, chunk_size, step):
    def records(chunks):
        return [(int(c.lines[i]), c.raw(i), int(c.fields[i])) for c in chunks for i in range(len(c))]

    whole = records(scan_records(io.BytesIO(data), chunk_size=len(data) + 1))
    trickled = records(scan_records(_Trickle(data, step), chunk_size=chunk_size))
    assert trickled == whole
    # a file is read in chunk_size reads that seek back to the cut-off record (and read
    # more at once when one record is longer than a read)
    assert records(scan_records(io.BytesIO(data), chunk_size=chunk_size)) == whole
    # no byte of the input is in two records
    assert sum(len(raw.encode()) for _, raw, _ in whole) <= len(data)


FIELDS = ['""', '"a,b"', '"x""y"', '"two\nlines"', '"two\r\nlines, too"', "12", "", '"v"', '"Leeds, West Yorkshire"']


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=8), min_size=1, max_size=30),
    eol=st.sampled_from(["\n", "\r\n"]),
    final_eol=st.booleans(),
    cut=st.booleans(),
)
def test_quote_heavy_text_scans_the_same_by_parity_as_by_quote_pairs(rows, eol, final_eol, cut):
    """Every field quoted (FCS, FreeSWITCH) takes the parity way; it must find what the pair way finds."""
    import numpy as np

    from deletedcalls.ingest import csvscan
    data = (eol.join(",".join(r) for r in rows) + (eol if final_eol else "")).encode()
    upto = len(data) if cut else None
    found = {}
    for dense in (True, False):
        original = csvscan._quote_heavy
        csvscan._quote_heavy = lambda *a, dense=dense: dense  # type: ignore[assignment]
        try:
            found[dense] = csvscan._scan(data, upto, 1)
        finally:
            csvscan._quote_heavy = original
    (a, *rest_a), (b, *rest_b) = found[True], found[False]
    assert rest_a == rest_b
    for name in ("starts", "ends", "lines", "fields"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
