"""Issue 25: what an outside security review found (SPEC 5-7), each reproducer a test."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, Warehouse, csv_text, good_row
from hypothesis import given, settings
from hypothesis import strategies as st
from test_profiles import fcs_row, fcs_text

from deletedcalls.ingest.schemas import CDR_COLUMNS

DPO = "dpo"


def number(i: int) -> str:
    """Distinctive, high-entropy numbers a byte scan can find."""
    return f"+4479{(i * 7919 + 104729) % 10**8:08d}"


def home_bytes_outside_dr(w: Warehouse) -> bytes:
    return b"".join(p.read_bytes() for p in w.home.rglob("*") if p.is_file() and "dr" not in p.relative_to(w.home).parts)


# ---------------------------------------------------------------- 1. raw lines of rejected records


def test_rejected_copies_of_a_purged_call_leave_no_byte_in_the_home_nor_anything_for_analysts(wh: Warehouse, write):
    """The issue's reproducer: a rejected copy ingested before its call, and one whose key cannot be read."""
    x = good_row(50, target=number(50), external=number(51), costCDR="73.9187", carrierCallID="BT-X-4471-Q")
    early = [good_row(i, target=number(i)) for i in range(3)] + [dict(x, duration="-7")]
    wh.cli("ingest", "cdr", str(write("early.csv", csv_text(early))), "--max-reject-ratio", "0.5", ok=True)
    wh.cli("ingest", "cdr", str(write("late.csv", csv_text([x]))), ok=True)
    entry = {"id": "UAL-9", "user": "alice", "timestamp": "2026-03-05T10:00:00Z", "action": "delete_calls",
             "selector": {"cdrFile": "late.csv", "lines": [2]}}
    wh.cli("ingest", "deletions", str(write("d.jsonl", json.dumps(entry) + "\n")), ok=True)
    wh.cli("materialise", ok=True)
    surplus = csv_text([good_row(i + 10, target=number(i + 10)) for i in range(3)]) + csv_text([x]).splitlines()[1] + ",surplus\n"
    wh.cli("ingest", "cdr", str(write("surplus.csv", surplus)), "--max-reject-ratio", "0.5", ok=True)
    secrets = [number(50), number(51), "73.9187", "BT-X-4471-Q"]
    analyst_store = (wh.home / "published" / "analyst.duckdb").read_bytes()
    assert [s for s in secrets if s.encode() in analyst_store] == []
    rejected = wh.json("sql", "SELECT rawLine, reasons FROM rejected_rows ORDER BY fileName")
    assert len(rejected) == 2
    assert not [s for s in secrets if s in json.dumps(rejected)], "the analyst store quotes a rejected record"
    wh.cli("retention", "enforce", "--as-of", "2027-01-01", ok=True)
    rejected = wh.json("sql", "SELECT * FROM rejected_rows")
    assert not [s for s in secrets if s in json.dumps(rejected)]
    scan = home_bytes_outside_dr(wh)
    assert [s for s in secrets if s.encode() in scan] == []
    assert number(1).encode() in scan and number(11).encode() in scan, "control: live calls are still found"


def test_the_summary_keeps_counts_of_purged_months_but_no_cost_or_duration_in_any_store(wh: Warehouse, write):
    rows = [good_row(i, costCDR=f"{i}.5000", duration=str(100 + i)) for i in range(6)]
    wh.cli("ingest", "cdr", str(write("bt.csv", csv_text(rows))), ok=True)
    log = "".join(json.dumps({"id": f"U{i}", "user": "alice", "timestamp": ts, "action": "delete_calls",
                              "selector": {"callIds": ids}}) + "\n"
                  for i, (ts, ids) in enumerate([("2026-01-10T00:00:00Z", [1]), ("2026-06-10T00:00:00Z", [2, 3, 4, 5, 6])]))
    wh.cli("ingest", "deletions", str(write("d.jsonl", log)), ok=True)
    wh.cli("materialise", ok=True)
    before = wh.query("SELECT deletedMonth, deletions, costCDR, duration FROM deleted_calls_summary ORDER BY 1")
    assert [r[:2] for r in before] == [("2026-01", 1), ("2026-06", 5)] and before[0][2] is not None
    wh.cli("retention", "enforce", "--as-of", "2026-06-30", ok=True)  # January expires, June does not
    query = "SELECT deletedMonth, deletions, costCDR, duration FROM deleted_calls_summary ORDER BY 1"
    for where in (wh.query(query), [tuple(r.values()) for r in wh.json("sql", query)],
                  [tuple(r.values()) for r in wh.json("sql", query, user=DPO)]):
        assert where[0] == ("2026-01", 1, None, None), where
        assert where[1][:2] == ("2026-06", 5) and where[1][3] == sum(100 + i for i in range(1, 6)), where


# the codes sql/macros/reason_code.sql may give (docs/TABLES.md lists them)
CODES = set((REPO / "sql" / "macros" / "reason_code.sql").read_text().split("THEN '")[i].split("'")[0]
            for i in range(1, (REPO / "sql" / "macros" / "reason_code.sql").read_text().count("THEN '") + 1)) | {"other"}


@pytest.fixture(scope="module")
def macros() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute((REPO / "sql" / "macros" / "reason_code.sql").read_text())
    return con


def split_code(code: str) -> tuple[list[str], str]:
    columns, _, rule = code.rpartition(": ")
    return (columns.split(", ") if columns else []), rule


@settings(max_examples=300, deadline=None)
@given(reason=st.one_of(
    st.text(),
    st.builds(lambda c, v: f"{c}: must be whole seconds >= 0 (got {v!r})", st.sampled_from(list(CDR_COLUMNS)), st.text()),
    st.builds(lambda src, c, v: f"{src} → {c}: {v} pounds cannot be held exactly", st.text(), st.sampled_from(list(CDR_COLUMNS)), st.text()),
    st.builds(lambda v: f"{v}: {v}", st.text()),
))
def test_a_reason_code_holds_only_column_names_and_codes_whatever_the_reason_quotes(macros, reason):
    code = macros.execute("SELECT reason_code($r)", {"r": reason}).fetchall()[0][0]
    columns, rule = split_code(code)
    assert rule in CODES and set(columns) <= set(CDR_COLUMNS), (reason, code)


def test_every_reason_the_readers_give_has_a_code(wh: Warehouse, write):
    bad = {"target": "12", "external": "x1", "callTypeDirectionFlag": "C", "callTypeOriginationTypeFlag": "Q",
           "callTypeRecordingFlag": "M", "startDate": "2026-02-30", "startTime": "25:00:00", "tariffTime": "night",
           "duration": "-7", "answerTime": "1.5", "costCDR": "1.23456", "carrier": ""}
    rows = [good_row(i) for i in range(40)] + [good_row(100 + n, **{c: v}) for n, (c, v) in enumerate(bad.items())]
    rows += [good_row(200, startDate="2026/03/05"), good_row(0)]  # a date in another format; a duplicate
    text = (csv_text(rows) + csv_text([good_row(300)]).splitlines()[1] + ",surplus\n").encode()
    text += csv_text([good_row(301, locationCarrier="Le\udcffds")]).splitlines()[1].encode("utf-8", "surrogateescape") + b"\n"
    text += b'a,"never closed,\n'  # runs to the end of the file: last
    wh.cli("ingest", "cdr", str(write("bad.csv", text)), "--max-reject-ratio", "1", ok=True)
    gamma = fcs_text([fcs_row(1, Salesprice="0.0000001"), fcs_row(2, Salesprice="-0.5"), fcs_row(3, **{"Time Band": "7"}),
                      fcs_row(4, **{"Call Date": "29/03/2026", "Call Time": "01:30:00"}), fcs_row(5, **{"Call Date": "31/02/2026"})]
                     + [fcs_row(10 + i) for i in range(20)])
    wh.cli("ingest", "cdr", str(write("gamma.csv", gamma)), "--max-reject-ratio", "1", ok=True)
    officer = wh.json("sql", "SELECT fileName, lineNumber, reasons, reasonCodes FROM rejected_rows ORDER BY 1, 2", user=DPO)
    assert len(officer) == len(bad) + 2 + 3 + 5
    unknown = [(r["reasons"], r["reasonCodes"]) for r in officer if any(split_code(c)[1] == "other" for c in r["reasonCodes"])]
    assert unknown == []
    analyst = wh.json("sql", "SELECT fileName, lineNumber, reasons, rawLine FROM rejected_rows ORDER BY 1, 2")
    assert [(r["fileName"], r["lineNumber"], r["reasons"]) for r in analyst] == [
        (r["fileName"], r["lineNumber"], r["reasonCodes"]) for r in officer]
    assert {r["rawLine"] for r in analyst} == {None}
