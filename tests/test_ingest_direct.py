"""A CDR file's calls go straight into the lake; one that repeats a key is rolled back and staged (issue 28).

The direct load decides one thing: whether the file repeats any key (earlier in
itself, a call of another file, a deleted call, a purged one). A repeat it misses
would be a duplicate call in the warehouse; one it sees sends the file through the
staged load, which rejects each repeat with its reason. These tests check both the
decision and what the rolled-back attempt leaves behind (nothing).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
from conftest import csv_text, good_row, lake_connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deletedcalls.ingest.duplicates as duplicates
from deletedcalls.ingest.cdr import ingest_cdr_file
from deletedcalls.settings import load_settings
from deletedcalls.store.session import init_warehouse, writer


def _staged_files(monkeypatch) -> list[int]:
    """The ids of the files the staged load handled (a spy on the real function; the database is real)."""
    staged: list[int] = []
    real = duplicates.reject_duplicates

    def spy(con, source, raw_lines, file_id, chunk_size, rejects):  # type: ignore[no-untyped-def]
        staged.append(file_id)
        return real(con, source, raw_lines, file_id, chunk_size, rejects)

    monkeypatch.setattr(duplicates, "reject_duplicates", spy)
    return staged


def _files_on_disk_not_in_the_catalog(home: Path) -> set[str]:
    con = lake_connection(home)
    try:
        listed = {r[0] for t in ("calls", "call_keys")
                  for r in con.execute("SELECT data_file FROM ducklake_list_files('lake', $t)", {"t": t}).fetchall()}
        deletes = con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'calls') WHERE delete_file IS NOT NULL").fetchall()[0][0]
    finally:
        con.close()
    assert deletes == 0
    on_disk = {str(p) for t in ("calls", "call_keys") for p in (home / "data" / "main" / t).rglob("*.parquet")}
    return on_disk - listed


def test_a_file_without_repeats_is_not_staged_and_one_with_a_repeat_is_staged_leaving_no_file_behind(wh, write, monkeypatch):
    staged = _staged_files(monkeypatch)
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text([good_row(i) for i in range(5)]))), ok=True)
    # the same carrierCallIDs from another carrier are other calls: no repeat, straight in
    wh.cli("ingest", "cdr", str(write("b.csv", csv_text([good_row(i, carrier="VF") for i in range(3)]))), ok=True)
    assert staged == []
    result = wh.cli("ingest", "cdr", str(write("c.csv", csv_text([good_row(i) for i in range(4, 8)]))), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert staged == [3]  # c.csv repeats BT-4: rolled back, staged, BT-4 rejected
    assert wh.query("SELECT lineNumber, reasons[1] LIKE '%already in calls%' FROM rejected_rows") == [(2, True)]
    assert wh.scalar("SELECT count(*) FROM calls") == 5 + 3 + 3
    assert wh.scalar("SELECT count(*) FROM call_keys") == 5 + 3 + 3
    assert wh.scalar("SELECT count(*) FROM (SELECT DISTINCT carrier, carrierCallID FROM calls)") == 11
    assert _files_on_disk_not_in_the_catalog(wh.home) == set()
    # ids: the rolled-back attempt reserved none (counters rolled back with it)
    assert wh.query("SELECT min(id), max(id) FROM calls WHERE CDRFileID = 3") == [(10, 12)]


def test_a_repeat_within_the_file_alone_sends_it_to_the_staged_load(wh, write, monkeypatch):
    staged = _staged_files(monkeypatch)
    rows = [good_row(1), good_row(2), good_row(1, duration="5")]
    result = wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows))), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert staged == [1]
    assert wh.query("SELECT lineNumber, reasons[1] LIKE '%earlier in this file%' FROM rejected_rows") == [(4, True)]
    assert wh.query("SELECT lineNumber, duration FROM calls ORDER BY id") == [(2, 61), (3, 61)]


# A night of files drawn from a small pool of keys under two carriers: repeats within a file, across files and
# across carriers (not a repeat) in any mix. Model: a record is a duplicate exactly when its (carrier, carrierCallID)
# came before it, in an earlier file or earlier in its own.
keys = st.tuples(st.sampled_from(["BT", "VF"]), st.integers(0, 9))
nights = st.lists(st.lists(keys, min_size=1, max_size=8), min_size=1, max_size=3)


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nights)
def test_whatever_repeats_a_night_brings_each_key_is_one_call_and_every_repeat_a_rejected_row(night):
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "wh"
        s = dataclasses.replace(load_settings(home), max_reject_ratio=1.0)  # every repeat a rejected row, none a rejected file
        init_warehouse(s)
        seen: set[tuple[str, int]] = set()
        expected_rejects: list[tuple[str, int]] = []
        with writer(s) as con:
            for n, records in enumerate(night):
                path = Path(tmp) / f"f{n}.csv"
                rows = [good_row(i, carrier=c, carrierCallID=f"X-{i}", duration=str(n + 1)) for c, i in records]  # no two files alike
                path.write_text(csv_text(rows))
                for line, key in enumerate(records, start=2):
                    if key in seen:
                        expected_rejects.append((path.name, line))
                    seen.add(key)
                r = ingest_cdr_file(con, s, path, 1)
                assert r.status == "loaded", r.message
            got = con.execute("SELECT carrier, carrierCallID FROM calls ORDER BY ALL").fetchall()
            rejected = con.execute("SELECT fileName, lineNumber FROM rejected_rows ORDER BY ALL").fetchall()
            indexed = con.execute("SELECT count(*) FROM call_keys").fetchall()[0][0]
        assert got == sorted((c, f"X-{i}") for c, i in seen)
        assert rejected == sorted(expected_rejects)
        assert indexed == len(seen)
        assert _files_on_disk_not_in_the_catalog(home) == set()
