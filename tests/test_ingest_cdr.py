"""CDR ingestion (SPEC 2.1) through the real CLI, on real files and a real warehouse."""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
import time
from decimal import Decimal

import pytest
from conftest import HEADER, csv_text, good_row, run_cli

from deletedcalls.ingest.cdr import ingest_cdr_files
from deletedcalls.ingest.csvscan import DEFAULT_CHUNK
from deletedcalls.ingest.reader import read_ahead
from deletedcalls.ingest.synthetic import write_cdr
from deletedcalls.settings import load_settings
from deletedcalls.store.session import init_warehouse, writer


def test_a_clean_file_loads_with_text_numbers_exact_money_and_typed_dates(wh, write):
    rows = [
        good_row(0, target="00353861234567", costCDR="0.0001"),
        good_row(1, target="+447700900123", external="0044123", costCDR="12.5"),
        good_row(2, target="0123", costCDR="0.1", costCDRBasic="0.2"),
    ]
    path = write("bt-2026-03-05.csv", csv_text(rows))
    result = wh.cli("ingest", "cdr", str(path))
    assert result.exit_code == 0, result.stderr
    assert "loaded 3 records" in result.stderr
    got = wh.query("SELECT target, external, startDate, startTime, costCDR, lineNumber, id FROM calls ORDER BY id")
    assert [g[0] for g in got] == ["00353861234567", "+447700900123", "0123"]
    assert got[1][1] == "0044123"
    assert str(got[0][2]) == "2026-03-05" and str(got[0][3]) == "10:22:01"
    assert [g[5] for g in got] == [2, 3, 4]
    assert [g[6] for g in got] == [1, 2, 3]
    assert wh.scalar("SELECT sum(costCDR) FROM calls") == Decimal("12.6001")
    assert wh.scalar("SELECT typeof(costCDR) FROM calls LIMIT 1") == "DECIMAL(18,4)"


def test_text_arrives_byte_for_byte_short_long_and_not_ascii_over_many_batches(wh, write):
    # Text reaches DuckDB as Arrow string views: up to 12 bytes inside the view, longer
    # in data buffers. 70,000 rows take several Arrow batches and several buffers.
    n = 70_000
    places = ["Leeds", "Llanfair-pwll", "a" * 12, "b" * 13, "Zürich Ost 🚀", "x" * 300]
    rows = [good_row(i, locationCarrier=places[i % len(places)], chargeBand="" if i % 7 else "peak") for i in range(n)]
    path = write("text.csv", csv_text(rows))
    wh.cli("ingest", "cdr", str(path), ok=True)
    got = wh.query("SELECT locationCarrier, chargeBand, carrierCallID, target FROM calls ORDER BY id")
    want = [(r["locationCarrier"], r["chargeBand"] or None, r["carrierCallID"], r["target"]) for r in rows]
    assert got == want


def test_line_numbers_are_physical_lines_with_bom_crlf_and_quoted_newlines(wh, write):
    rows = [
        good_row(0, locationCarrier='"Multi\r\nline, with comma"'),
        good_row(1, chargeBand='"say ""hi"""'),
        good_row(2, locationCarrier='"three\r\nline\r\nvalue"'),
        good_row(3),
    ]
    text = "\ufeff" + csv_text(rows, eol="\r\n")
    path = write("crlf.csv", text)
    wh.cli("ingest", "cdr", str(path), ok=True)
    got = wh.query("SELECT carrierCallID, lineNumber, locationCarrier, chargeBand FROM calls ORDER BY id")
    assert [g[1] for g in got] == [2, 4, 5, 8]
    assert got[0][2] == "Multi\r\nline, with comma"
    assert got[1][3] == 'say "hi"'
    assert got[3][2] is None  # CR of the line end is not part of the last field


def test_bad_rows_are_kept_with_every_reason_and_their_raw_text(wh, write):
    rows = [good_row(i) for i in range(10)]
    rows[2] = good_row(2, startDate="2026-02-30", duration="-5")
    rows[4] = good_row(4, target="12", costCDR="1.23456", callTypeDirectionFlag="X")
    rows[6] = good_row(6, startTime="24:00:00", startDate="05/03/2026")
    rows[7] = good_row(7, carrierCallID="")
    text = csv_text(rows)
    lines = text.splitlines()
    lines[9] = lines[9] + ",surplus"  # wrong column count on line 10 (row 8)
    path = write("bad.csv", "\n".join(lines) + "\n")
    result = wh.cli("ingest", "cdr", str(path), "--max-reject-ratio", "0.9")
    assert result.exit_code == 0, result.stderr
    got = {line: (reasons, raw) for line, reasons, raw in wh.query(
        "SELECT lineNumber, reasons, rawLine FROM rejected_rows ORDER BY lineNumber")}
    assert sorted(got) == [4, 6, 8, 9, 10]
    assert any("startDate" in r and "real calendar date" in r for r in got[4][0])
    assert any("duration" in r for r in got[4][0]) and len(got[4][0]) == 2
    assert len(got[6][0]) == 3
    assert "carrierCallID: required" in got[9][0]
    assert got[10][0] == ["expected 24 fields as in the header, found 25"]
    assert got[10][1] == lines[9]
    assert got[4][1] == lines[3]
    assert wh.scalar("SELECT count(*) FROM calls") == 5
    files = wh.json("files", "list")
    assert files[0]["rows"] == 5 and files[0]["rejected"] == 5 and files[0]["status"] == "loaded"


def test_a_file_over_the_reject_limit_loads_nothing_and_exits_3(wh, write):
    rows = [good_row(i) for i in range(50)]
    rows[10] = good_row(10, duration="-1")
    path = write("over.csv", csv_text(rows))
    result = wh.cli("ingest", "cdr", str(path))
    assert result.exit_code == 3
    assert "over.csv" in result.stderr and "rejected whole" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert wh.scalar("SELECT count(*) FROM calls") == 0
    assert wh.query("SELECT status, \"rows\", rejected FROM cdr_files") == [("rejected", 0, 1)]
    assert wh.scalar("SELECT lineNumber FROM rejected_rows") == 12
    # at the configured limit exactly (2 %), the file loads
    path2 = write("limit.csv", csv_text([good_row(100 + i) for i in range(49)] + [good_row(200, duration="x")]))
    assert wh.cli("ingest", "cdr", str(path2), "--max-reject-ratio", "0.02").exit_code == 0


def test_the_reject_limit_comes_from_config_toml(wh, write):
    cfg = wh.home / "config.toml"
    cfg.write_text(cfg.read_text().replace("max_reject_ratio = 0.01", "max_reject_ratio = 0.5"))
    rows = [good_row(i) for i in range(4)] + [good_row(9, duration="-1")]
    assert wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows)))).exit_code == 0
    assert wh.scalar("SELECT count(*) FROM calls") == 4


def test_the_same_file_again_is_a_noop_that_says_so(wh, write):
    path = write("x.csv", csv_text([good_row(i) for i in range(3)]))
    wh.cli("ingest", "cdr", str(path), ok=True)
    again = wh.cli("ingest", "cdr", str(path))
    assert again.exit_code == 0
    assert "already ingested" in again.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 3
    assert wh.scalar("SELECT count(*) FROM cdr_files") == 1


def test_the_same_content_under_another_name_is_a_noop_and_hashes_are_the_files(wh, write):
    # a new name and size is hashed while it loads; the same bytes again (same size) before
    first = write("x.csv", csv_text([good_row(i) for i in range(3)]))
    wh.cli("ingest", "cdr", str(first), ok=True)
    copy = write("copy-of-x.csv", first.read_bytes())
    again = wh.cli("ingest", "cdr", str(copy))
    assert again.exit_code == 0 and "already ingested as 'x.csv'" in again.stderr
    other = write("y.csv", csv_text([good_row(i) for i in range(10, 14)]))
    wh.cli("ingest", "cdr", str(other), ok=True)
    assert wh.query("SELECT fileName, sha256 FROM cdr_files ORDER BY id") == [
        ("x.csv", hashlib.sha256(first.read_bytes()).hexdigest()),
        ("y.csv", hashlib.sha256(other.read_bytes()).hexdigest()),
    ]


def test_other_content_under_a_known_name_is_refused_and_changes_nothing(wh, write, tmp_path):
    path = write("x.csv", csv_text([good_row(i) for i in range(3)]))
    wh.cli("ingest", "cdr", str(path), ok=True)
    other = tmp_path / "other" / "x.csv"
    other.parent.mkdir()
    other.write_text(csv_text([good_row(i) for i in range(10, 14)]))
    result = wh.cli("ingest", "cdr", str(other))
    assert result.exit_code == 3
    assert "x.csv" in result.stderr and "refused" in result.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 3
    assert wh.scalar("SELECT count(*) FROM cdr_files") == 1


def test_duplicates_in_the_file_and_in_the_warehouse_are_rejected_rows(wh, write):
    first = write("a.csv", csv_text([good_row(i) for i in range(5)]))
    wh.cli("ingest", "cdr", str(first), ok=True)
    rows = [good_row(i) for i in range(4, 8)] + [good_row(7)]  # 4 is known, 7 twice
    result = wh.cli("ingest", "cdr", str(write("b.csv", csv_text(rows))), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    got = wh.query("SELECT lineNumber, reasons[1] FROM rejected_rows ORDER BY lineNumber")
    assert [g[0] for g in got] == [2, 6]
    assert "already in calls" in got[0][1] and "earlier in this file" in got[1][1]
    assert wh.scalar("SELECT count(*) FROM calls") == 8
    # the same carrierCallID from another carrier is a different call
    other = write("c.csv", csv_text([good_row(1, carrier="VF")]))
    wh.cli("ingest", "cdr", str(other), ok=True)


def test_a_record_of_a_deleted_call_is_a_duplicate_not_a_new_call(wh, write):
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text([good_row(i) for i in range(3)]))), ok=True)
    log = '{"id": "UAL-1", "user": "alice", "timestamp": "2026-03-05T10:22:01Z", "action": "delete_calls", ' \
          '"selector": {"carrierCallIds": ["BT-000000000001"]}}\n'
    wh.cli("ingest", "deletions", str(write("d.jsonl", log)), ok=True)
    wh.cli("materialise", ok=True)
    again = write("b.csv", csv_text([good_row(1), good_row(9)]))
    result = wh.cli("ingest", "cdr", str(again), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    got = wh.query("SELECT lineNumber, reasons[1] FROM rejected_rows WHERE fileName = 'b.csv'")
    assert len(got) == 1 and got[0][0] == 2 and "already in deleted_calls" in got[0][1]
    assert wh.scalar("SELECT count(*) FROM calls WHERE carrierCallID = 'BT-000000000001'") == 0
    assert wh.scalar("SELECT count(*) FROM deleted_calls") == 1


def test_columns_in_any_order_extra_columns_ignored_and_reported(wh, write):
    header = list(reversed(HEADER)) + ["notes"]
    rows = [dict(good_row(i), notes="x") for i in range(3)]
    result = wh.cli("ingest", "cdr", str(write("r.csv", csv_text(rows, header=header))))
    assert result.exit_code == 0
    assert "notes" in result.stderr
    assert wh.scalar("SELECT extraColumns FROM cdr_files") == ["notes"]
    assert wh.scalar("SELECT min(target) FROM calls") == "07700900000"


def test_a_header_without_a_required_column_rejects_the_file(wh, write):
    header = [c for c in HEADER if c != "carrierCallID"]
    result = wh.cli("ingest", "cdr", str(write("h.csv", csv_text([good_row(0)], header=header))))
    assert result.exit_code == 3
    assert "carrierCallID" in result.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 0


def test_empty_fields_quoted_or_not_are_absent(wh, write):
    rows = [good_row(0, extension='""', chargeBand="", costCDRBasic='""')]
    wh.cli("ingest", "cdr", str(write("e.csv", csv_text(rows))), ok=True)
    assert wh.query("SELECT extension, chargeBand, costCDRBasic FROM calls") == [(None, None, None)]


def test_invalid_utf8_and_blank_lines_and_a_missing_final_newline(wh, write):
    text = csv_text([good_row(i) for i in range(3)])
    lines = text.encode().split(b"\n")
    lines[2] = lines[2].replace(b"BT-", b"B\xff-")
    data = b"\n".join(lines[:3]) + b"\n\n" + lines[3]  # blank line 4, no final newline
    result = wh.cli("ingest", "cdr", str(write("u.csv", data)), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [(3, ["not valid UTF-8 text"])]
    assert wh.query("SELECT lineNumber FROM calls ORDER BY 1") == [(2,), (5,)]


def test_an_unterminated_quote_is_one_rejected_record(wh, write):
    text = csv_text([good_row(i) for i in range(60)]) + 'x,"never closed\n' + csv_text([good_row(99)]).split("\n", 1)[1]
    result = wh.cli("ingest", "cdr", str(write("q.csv", text)), "--max-reject-ratio", "0.05")
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [
        (62, ["a quoted field is never closed (runs to the end of the file)"])]


def test_several_files_one_rejected_the_others_load_and_exit_is_3(wh, write):
    good = write("good.csv", csv_text([good_row(i) for i in range(3)]))
    bad = write("bad.csv", csv_text([good_row(10, duration="-1")]))
    good2 = write("good2.csv", csv_text([good_row(20)]))
    result = wh.cli("ingest", "cdr", str(good), str(bad), str(good2), "--json")
    assert result.exit_code == 3
    assert "bad.csv" in result.stderr
    summary = json.loads(result.stdout)
    assert [s["status"] for s in summary] == ["loaded", "rejected", "loaded"]
    assert wh.scalar("SELECT count(*) FROM calls") == 4


def test_files_list_json_has_the_documented_fields(wh, write):
    wh.cli("ingest", "cdr", str(write("f.csv", csv_text([good_row(0)]))), ok=True)
    [entry] = wh.json("files", "list")
    assert {"id", "fileName", "sha256", "carrier", "status", "rows", "rejected"} <= set(entry)
    assert entry["fileName"] == "f.csv" and entry["carrier"] == "BT" and len(entry["sha256"]) == 64


@pytest.mark.slow
def test_a_kill_mid_file_leaves_nothing_and_the_rerun_loads_it_whole(wh, tmp_path):
    big = write_cdr(tmp_path / "big.csv", 400_000, seed=3)
    def written() -> int:
        """Bytes in the lake's catalog, its data files and the writer's spill folder."""
        files = [wh.home / "deletedcalls.duckdb", *(p for d in ("data", ".spill") for p in (wh.home / d).rglob("*"))]
        total = 0
        for p in files:
            try:
                total += p.stat().st_size if p.is_file() else 0
            except FileNotFoundError:
                pass
        return total

    killed = 0
    for _ in range(2):
        before = written()
        proc = run_cli(wh.home, "ingest", "cdr", str(big))
        # mid-file: DuckDB has written some MB of the file's rows (a month's Parquet file under data/, or staged
        # rows spilled), inside the transaction that the kill must roll back
        while proc.poll() is None and written() < before + 2_000_000:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        assert wh.scalar("SELECT count(*) FROM calls") in (0, 400_000)
        if wh.scalar("SELECT count(*) FROM calls"):
            break
    assert killed, "the ingest finished before it could be killed; use a bigger file"
    assert wh.scalar("SELECT count(*) FROM cdr_files WHERE status = 'loaded'") in (0, 1)
    wh.cli("ingest", "cdr", str(big), ok=True)
    assert wh.scalar("SELECT count(*), count(DISTINCT id) FROM calls") == 400_000
    assert wh.query("SELECT outcome FROM runs ORDER BY id")[0] == ("interrupted",)


def test_the_gil_switch_interval_is_restored_after_a_load_good_or_failed(wh, write):
    # ingest lowers it while a file loads; a program that calls the library keeps its own.
    # Python keeps it in whole microseconds, hence approx.
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.007)
    try:
        wh.cli("ingest", "cdr", str(write("ok.csv", csv_text([good_row(0)]))), ok=True)
        assert sys.getswitchinterval() == pytest.approx(0.007, abs=1e-5)
        wh.cli("ingest", "cdr", str(write("bad.csv", csv_text([good_row(1, duration="-1")]))))
        assert sys.getswitchinterval() == pytest.approx(0.007, abs=1e-5)
    finally:
        sys.setswitchinterval(before)


def test_the_first_file_is_read_ahead_and_a_known_one_is_stopped_not_loaded(wh, tmp_path):
    # `ingest cdr` starts reading its first file before the warehouse is open. When the file
    # turns out to be known, that reading must stop: no reader thread is left behind.
    path = write_cdr(tmp_path / "ahead.csv", 120_000, seed=3)
    wh.cli("ingest", "cdr", str(path), ok=True)
    again = wh.cli("ingest", "cdr", str(path), ok=True)
    assert "already ingested" in again.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 120_000
    assert not [t.name for t in threading.enumerate() if t.name == "cdr-reader"]


def test_a_load_takes_the_reading_started_ahead_instead_of_reading_again(tmp_path, write):
    settings = load_settings(tmp_path / "wh")
    init_warehouse(settings)
    path = write("ahead.csv", csv_text([good_row(i) for i in range(300)] + [good_row(300, duration="-5")]))
    other = write("other.csv", csv_text([good_row(1000 + i) for i in range(5)]))
    with read_ahead(path) as ahead, writer(settings) as con:
        results = ingest_cdr_files(con, settings, [other, path], run_id=1, ahead=ahead)
        assert ahead.take(path, DEFAULT_CHUNK) is None  # taken by the load of `path`, not `other`
        got = con.execute("SELECT CDRFileID, count(*) FROM calls GROUP BY ALL ORDER BY 1").fetchall()
    assert [(r.status, r.rows, r.rejected) for r in results] == [("loaded", 5, 0), ("loaded", 300, 1)]
    assert got == [(results[0].file_id, 5), (results[1].file_id, 300)]
