"""Deletion logs (SPEC 2.2) and materialise (SPEC 3) through the real CLI."""

from __future__ import annotations

import json
import signal
import time

import pytest
from conftest import csv_text, good_row, run_cli

from deletedcalls.ingest.synthetic import write_cdr, write_deletions


def entry(i: str, selector: dict, ts: str = "2026-03-05T10:22:01Z", user: str = "alice", **kw) -> dict:
    return {"id": i, "user": user, "timestamp": ts, "action": "delete_calls", "reason": "customer request",
            "selector": selector, **kw}


def jsonl(*entries: dict) -> str:
    return "".join(json.dumps(e) + "\n" for e in entries)


def load_calls(wh, write, name="bt.csv", n=10, **kw):
    carrier = kw.get("carrier", "BT")
    path = write(name, csv_text([good_row(i, carrierCallID=f"{carrier}-{i:012d}", **kw) for i in range(n)]))
    wh.cli("ingest", "cdr", str(path), ok=True)
    return path


def test_each_selector_kind_moves_its_calls_with_every_field(wh, write):
    load_calls(wh, write)
    log = write("log.jsonl", jsonl(
        entry("UAL-1", {"carrierCallIds": ["BT-000000000001"], "carrier": "BT"}),
        entry("UAL-2", {"carrierCallIds": ["BT-000000000002"]}, ts="2026-04-01T00:30:00+02:00", user="bob"),
        entry("UAL-3", {"callIds": [4, 5]}, ts="2026-04-02T08:00:00"),
        entry("UAL-4", {"cdrFile": "bt.csv", "lines": [8]}),
    ))
    wh.cli("ingest", "deletions", str(log), ok=True)
    result = wh.cli("materialise", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["deleted"] == 5
    got = wh.query("SELECT callId, userActivityLog, deletedBy, deletedAt::VARCHAR, deletedMonth FROM deleted_calls ORDER BY id")
    by_call = {g[0]: g[1:] for g in got}
    assert by_call[2] == ("UAL-1", "alice", "2026-03-05 10:22:01", "2026-03")
    assert by_call[3] == ("UAL-2", "bob", "2026-03-31 22:30:00", "2026-03")  # offset converted to UTC
    assert by_call[4][1:3] == ("alice", "2026-04-02 08:00:00")  # no offset means UTC
    assert by_call[7][0] == "UAL-4"
    moved = wh.query("SELECT * EXCLUDE (id, callId, userActivityLog, deletedBy, deletedAt, deletedMonth, created, updated, runId) FROM deleted_calls WHERE callId = 2")
    assert moved[0][2] == "07700900001"  # target keeps its leading zero
    assert wh.scalar("SELECT count(*) FROM calls") == 5
    assert wh.scalar("SELECT count(*) FROM pending_deletions") == 0
    # ids follow the entry time, then the entry id, then the call id
    assert [g[0] for g in got] == [2, 7, 3, 4, 5]


def test_a_whole_file_selector_and_a_deletion_before_its_cdr_file(wh, write):
    log = write("early.jsonl", jsonl(entry("UAL-9", {"cdrFile": "late.csv"}),
                                     entry("UAL-10", {"carrierCallIds": ["VF-000000000003"], "carrier": "VF"})))
    wh.cli("ingest", "deletions", str(log), ok=True)
    first = wh.cli("materialise")
    assert "2 items of 2 entries still pending" in first.stderr
    pending = wh.query("SELECT userActivityLog, kind, cdrFile, carrierCallID FROM pending_deletions ORDER BY 1")
    assert pending == [("UAL-10", "carrierCallID", None, "VF-000000000003"), ("UAL-9", "cdrFile", "late.csv", None)]
    load_calls(wh, write, name="late.csv", n=4)
    load_calls(wh, write, name="vf.csv", n=5, carrier="VF")
    wh.cli("materialise", ok=True)
    assert wh.scalar("SELECT count(*) FROM deleted_calls") == 5
    assert wh.scalar("SELECT count(*) FROM pending_deletions") == 0
    assert wh.scalar("SELECT count(*) FROM user_activity_log WHERE appliedAt IS NULL") == 0


def test_bad_lines_are_rejected_with_line_and_reason_and_the_others_apply(wh, write):
    load_calls(wh, write)
    text = jsonl(entry("UAL-1", {"callIds": [1]})) + "not json\n\n" + jsonl(
        entry("UAL-2", {"callIds": [2], "cdrFile": "x"}),
        entry("UAL-3", {"callIds": ["3"]}),
        entry("UAL-4", {"callIds": [4]}, ts="05/03/2026"),
        {"id": "UAL-5", "user": "a", "timestamp": "2026-03-05T10:00:00Z", "action": "launch", "selector": {"callIds": [5]}},
        entry("UAL-6", {"cdrFile": "bt.csv", "lines": [1]}),
        entry("UAL-7", {"callIds": [7]}),
    ) + "[1, 2]\n"
    result = wh.cli("ingest", "deletions", str(write("bad.jsonl", text)))
    assert result.exit_code == 0, result.stderr
    got = dict(wh.query("SELECT lineNumber, reasons FROM rejected_rows WHERE source = 'deletions' ORDER BY 1"))
    assert sorted(got) == [2, 4, 5, 6, 7, 8, 10]
    assert got[2][0].startswith("not valid JSON")
    assert "exactly one of" in got[4][0]
    assert "positive integers" in got[5][0]
    assert got[6][0].startswith("timestamp")
    assert got[7][0].startswith("action")
    assert "header" in got[8][0]
    assert got[10] == ["not a JSON object"]
    wh.cli("materialise", ok=True)
    assert sorted(r[0] for r in wh.query("SELECT callId FROM deleted_calls")) == [1, 7]


def test_exact_duplicate_entries_are_noops_and_a_conflict_is_refused_with_exit_3(wh, write):
    load_calls(wh, write)
    first = write("a.jsonl", jsonl(entry("UAL-1", {"callIds": [1]}), entry("UAL-1", {"callIds": [1]})))
    wh.cli("ingest", "deletions", str(first), ok=True)
    again = write("b.jsonl", jsonl(entry("UAL-1", {"callIds": [1]}), entry("UAL-2", {"callIds": [2]})))
    result = wh.cli("ingest", "deletions", str(again))
    assert result.exit_code == 0 and "seen before" in result.stderr
    conflict = write("c.jsonl", jsonl(entry("UAL-1", {"callIds": [3]}), entry("UAL-3", {"callIds": [4]})))
    result = wh.cli("ingest", "deletions", str(conflict))
    assert result.exit_code == 3
    assert "UAL-1" in result.stderr and "conflict" in result.stderr
    wh.cli("materialise", ok=True)
    assert sorted(r[0] for r in wh.query("SELECT callId FROM deleted_calls")) == [1, 2, 4]
    assert wh.scalar("SELECT count(*) FROM user_activity_log") == 3
    # the same file again is a no-op
    result = wh.cli("ingest", "deletions", str(first))
    assert result.exit_code == 0 and "already ingested" in result.stderr


def test_deleting_a_deleted_call_changes_nothing(wh, write):
    load_calls(wh, write)
    wh.cli("ingest", "deletions", str(write("a.jsonl", jsonl(entry("UAL-1", {"callIds": [1, 2]})))), ok=True)
    wh.cli("materialise", ok=True)
    before = wh.query("SELECT * FROM deleted_calls ORDER BY id")
    later = jsonl(entry("UAL-2", {"callIds": [1]}, ts="2026-05-01T00:00:00Z"),
                  entry("UAL-3", {"carrierCallIds": ["BT-000000000001"]}, ts="2026-05-01T00:00:00Z"))
    wh.cli("ingest", "deletions", str(write("b.jsonl", later)), ok=True)
    result = wh.cli("materialise", "--json")
    assert json.loads(result.stdout)["deleted"] == 0
    assert wh.query("SELECT * FROM deleted_calls ORDER BY id") == before
    assert wh.scalar("SELECT count(*) FROM pending_deletions") == 0


def test_two_entries_naming_one_call_the_earlier_wins(wh, write):
    load_calls(wh, write)
    log = jsonl(entry("UAL-B", {"callIds": [1]}, ts="2026-03-06T00:00:00Z", user="late"),
                entry("UAL-A", {"callIds": [1]}, ts="2026-03-05T00:00:00Z", user="early"))
    wh.cli("ingest", "deletions", str(write("a.jsonl", log)), ok=True)
    wh.cli("materialise", ok=True)
    assert wh.query("SELECT callId, deletedBy FROM deleted_calls") == [(1, "early")]


def test_deleted_call_ids_are_deterministic_for_the_same_inputs(tmp_path, write):
    from conftest import Warehouse

    runs = []
    cdr = write("bt.csv", csv_text([good_row(i) for i in range(20)]))
    log = write("a.jsonl", jsonl(entry("UAL-2", {"callIds": [5, 3]}, ts="2026-03-06T00:00:00Z"),
                                 entry("UAL-1", {"cdrFile": "bt.csv", "lines": [10, 2]})))
    for n in range(2):
        w = Warehouse(tmp_path / f"w{n}")
        w.cli("init", ok=True)
        w.cli("ingest", "cdr", str(cdr), ok=True)
        w.cli("ingest", "deletions", str(log), ok=True)
        w.cli("materialise", ok=True)
        runs.append(w.query("SELECT id, callId, userActivityLog FROM deleted_calls ORDER BY id"))
    assert runs[0] == runs[1]
    assert runs[0] == [(1, 1, "UAL-1"), (2, 9, "UAL-1"), (3, 3, "UAL-2"), (4, 5, "UAL-2")]


@pytest.mark.slow
def test_a_kill_during_materialise_then_a_rerun_gives_the_clean_end_state(wh, tmp_path):
    big = write_cdr(tmp_path / "big.csv", 120_000, seed=5)
    wh.cli("ingest", "cdr", str(big), ok=True)
    entries = [entry(f"UAL-{k}", {"callIds": list(range(k * 1000 + 1, k * 1000 + 1001))}) for k in range(90)]
    entries.append(entry("UAL-file", {"cdrFile": "big.csv", "lines": list(range(108_000, 114_000))}))
    log = write_deletions(tmp_path / "big.jsonl", entries)
    killed_during = []
    for delay in (0.5, 1.2, 2.0):
        proc = run_cli(wh.home, "ingest", "deletions", str(log))
        time.sleep(delay)
        killed_during.append(proc.poll() is None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = run_cli(wh.home, "materialise")
        time.sleep(delay)
        killed_during.append(proc.poll() is None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert wh.scalar("SELECT count(*) FROM calls") + wh.scalar("SELECT count(*) FROM deleted_calls") == 120_000
    assert any(killed_during), "no kill landed mid-work"
    wh.cli("ingest", "deletions", str(log))
    wh.cli("materialise", ok=True)
    assert wh.scalar("SELECT count(*) FROM deleted_calls") == 96_000
    assert wh.scalar("SELECT count(DISTINCT callId) FROM deleted_calls") == 96_000
    assert wh.scalar("SELECT max(id) FROM deleted_calls") == 96_000
    assert wh.scalar("SELECT count(*) FROM calls") == 24_000
    assert wh.scalar("SELECT count(*) FROM pending_deletions") == 0
