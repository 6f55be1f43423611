"""Incremental publishing (store/publish.py): a store is extended only when that equals writing it fresh.

Every writer command publishes. When only rows were added since the last publish,
each store is its previous file plus the new rows; when anything published was
deleted, hidden or changed, both are written fresh. Either way the stores must hold
exactly what a fresh publish of the same warehouse holds, and no byte of a row
hidden from analysts or purged may stay behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import Warehouse, csv_text, good_row

from deletedcalls.published import STORES, store_path
from deletedcalls.settings import load_settings
from deletedcalls.store.publish import publish
from deletedcalls.store.warehouse import connect, exclusive

DPO = "dpo"
BOOKKEEPING = {"published_info", "published_tables"}


@pytest.fixture
def wh(wh: Warehouse) -> Warehouse:
    """The shared warehouse, set to extend stores of any size (by default, stores under 200,000 rows are written fresh)."""
    config = wh.home / "config.toml"
    text = config.read_text()
    assert "extend_min_rows = 200000" in text
    config.write_text(text.replace("extend_min_rows = 200000", "extend_min_rows = 0"))
    return wh


def number(i: int) -> str:
    return f"+4479461{i:05d}"


def contents(path: Path) -> dict[str, list[str]]:
    """Every table of a store but its bookkeeping, as sorted row texts."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]
        tables = {n: sorted(repr(row) for row in con.execute(f'SELECT * FROM "{n}"').fetchall()) for n in names if n not in BOOKKEEPING}
        tables["(views)"] = views
        return tables
    finally:
        con.close()


def mode(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return str(con.execute("SELECT publishMode FROM published_info").fetchall()[0][0])
    finally:
        con.close()


def modes(w: Warehouse) -> set[str]:
    return {mode(store_path(load_settings(w.home), s)) for s in STORES}


def fresh_contents(w: Warehouse, tmp_path: Path) -> dict[str, dict[str, list[str]]]:
    """What a fresh publish of the same warehouse holds: published from a copy of the home."""
    copy = tmp_path / "fresh-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(w.home, copy, symlinks=True)
    settings = load_settings(copy)
    with exclusive(settings):
        con = connect(settings)
        try:
            done = publish(con, settings, None, fresh=True)
        finally:
            con.close()
    assert not done.incremental
    return {s: contents(store_path(settings, s)) for s in STORES}


def published(w: Warehouse) -> dict[str, dict[str, list[str]]]:
    settings = load_settings(w.home)
    return {s: contents(store_path(settings, s)) for s in STORES}


def calls_file(write, name: str, ids: range) -> Path:
    rows = [good_row(i, target=number(i), carrierCallID=f"BT-{i:012d}", costCDR=f"{i}.0100") for i in ids]
    return write(name, csv_text(rows))


def deletion_log(write, name: str, entry_id: str, carrier_call_ids: list[str]) -> Path:
    entry = {"id": entry_id, "user": "alice", "timestamp": "2026-03-05T10:00:00Z", "action": "delete_calls",
             "selector": {"carrierCallIds": carrier_call_ids}}
    return write(name, json.dumps(entry) + "\n")


def test_each_step_publishes_what_a_fresh_publish_holds_and_extends_only_after_appends(wh, write, tmp_path):
    # (command, the mode it must publish in)
    steps = [
        # into empty stores, then growing them by a third: many new rows, where one fresh write is cheaper
        (("ingest", "cdr", str(calls_file(write, "a.csv", range(0, 60)))), "fresh"),
        (("ingest", "cdr", str(calls_file(write, "b.csv", range(60, 80)))), "fresh"),
        (("ingest", "cdr", str(calls_file(write, "b2.csv", range(80, 84)))), "extended"),
        (("tokens", "create", "--user", "portal"), "extended"),
        # a pending deletion hides calls 3 and 50 from analysts: their published rows go, so fresh
        (("ingest", "deletions", str(deletion_log(write, "d1.jsonl", "UAL-1", ["BT-000000000003", "BT-000000000050"]))), "fresh"),
        (("materialise",), "fresh"),  # calls deleted from `calls`
        (("materialise",), "extended"),  # nothing left to do: only the access log and runs grow
        # a resent deleted call: a rejected duplicate, appended to rejected_rows
        (("ingest", "cdr", str(calls_file(write, "c.csv", [3, *range(90, 95)])), "--max-reject-ratio", "0.5"), "extended"),
        (("retention", "enforce", "--as-of", "2027-01-01"), "fresh"),  # a purge
        (("ingest", "cdr", str(calls_file(write, "e.csv", range(95, 98)))), "extended"),
    ]
    for args, expected in steps:
        result = wh.cli(*args, user=DPO)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        assert wh.cli("deleted-calls", "list", user=DPO).exit_code == 0  # a read to fold into access_log
        assert modes(wh) == {expected}, args
        assert published(wh) == fresh_contents(wh, tmp_path), args


def test_a_call_hidden_after_it_was_published_leaves_no_byte_in_the_analyst_store(wh, write):
    wh.cli("ingest", "cdr", str(calls_file(write, "a.csv", range(0, 60))), ok=True)
    analyst = wh.home / "published" / "analyst.duckdb"
    assert number(7).encode() in analyst.read_bytes(), "control: the call is published"
    wh.cli("ingest", "deletions", str(deletion_log(write, "d.jsonl", "UAL-9", ["BT-000000000007"])), ok=True)
    assert modes(wh) == {"fresh"}
    assert number(7).encode() not in analyst.read_bytes()
    assert number(8).encode() in analyst.read_bytes(), "control: a live call is still there"
    # and the next, extended, publish does not bring it back
    wh.cli("ingest", "cdr", str(calls_file(write, "b.csv", range(60, 63))), ok=True)
    assert modes(wh) == {"extended"}, "control: this publish extended the stores"
    assert number(7).encode() not in analyst.read_bytes()


def test_a_changed_published_row_forces_a_fresh_publish(wh, write):
    """A change in place, not a deletion: the count is the same, the row hashes are not."""
    wh.cli("ingest", "cdr", str(calls_file(write, "a.csv", range(0, 10))), ok=True)
    settings = load_settings(wh.home)
    with exclusive(settings):
        con = connect(settings)
        try:
            con.execute("UPDATE calls SET costCDR = 9.9999 WHERE carrierCallID = 'BT-000000000004'")
            first = publish(con, settings, None)
            second = publish(con, settings, None)
        finally:
            con.close()
    assert not first.incremental and second.incremental
    costs = {r["carrierCallID"]: r["costCDR"] for r in wh.json("sql", "SELECT carrierCallID, costCDR FROM calls")}
    assert costs["BT-000000000004"] == "9.9999"


@pytest.mark.parametrize("store", STORES)
def test_a_store_whose_bookkeeping_does_not_match_is_written_fresh(wh, write, store):
    """A published file from older code (no published_tables) or tampered with is never extended."""
    wh.cli("ingest", "cdr", str(calls_file(write, "a.csv", range(0, 10))), ok=True)
    path = store_path(load_settings(wh.home), store)
    con = duckdb.connect(str(path))
    try:
        con.execute("DROP TABLE published_tables")
    finally:
        con.close()
    wh.cli("ingest", "cdr", str(calls_file(write, "b.csv", range(10, 20))), ok=True)
    assert modes(wh) == {"fresh"}
    assert len(wh.json("sql", "SELECT id FROM calls")) == 20


def leb128(n: int) -> bytes:
    """DuckDB's variable-length integer encoding, as its statistics hold a column's min and max."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def test_raising_min_cell_withdraws_a_cells_cost_from_the_file_not_only_from_its_rows(wh, write):
    """Found by an outside tester: an extended store kept the withdrawn cost in a dropped table's free blocks."""
    rows = [good_row(i, target=number(i), costCDR="98765.4321" if i < 5 else "0.0100", duration="98777" if i < 5 else "1")
            for i in range(100)]
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows))), ok=True)
    wh.cli("ingest", "deletions", str(deletion_log(write, "d.jsonl", "UAL-1", [f"BT-{i:012d}" for i in range(5)])), ok=True)
    wh.cli("materialise", ok=True)
    analyst = wh.home / "published" / "analyst.duckdb"
    cost, duration = leb128(5 * 987654321), leb128(5 * 98777)  # the cell's sums (cost scaled by 10^4)
    assert cost in analyst.read_bytes() and duration in analyst.read_bytes(), "control: a cell of 5 shows its cost"
    config = wh.home / "config.toml"
    config.write_text(config.read_text().replace("min_cell = 5", "min_cell = 6"))
    wh.cli("tokens", "create", "--user", "portal", user=DPO, ok=True)
    assert modes(wh) == {"fresh"}
    cell = wh.json("sql", "SELECT deletions, costCDR, duration FROM deleted_calls_summary")
    assert cell == [{"deletions": 5, "costCDR": None, "duration": None}]
    assert cost not in analyst.read_bytes() and duration not in analyst.read_bytes()


@pytest.mark.parametrize("edit", [
    "INSERT INTO calls SELECT * REPLACE (999999 AS id) FROM calls LIMIT 1",
    "DELETE FROM calls WHERE id = 2",
    "UPDATE published_tables SET upto = upto - 3 WHERE tableName = 'calls'",
])
def test_a_published_file_that_does_not_hold_what_its_bookkeeping_says_is_written_fresh(wh, write, edit):
    """Found by an outside tester: a hand-edited store survived later extended publishes."""
    wh.cli("ingest", "cdr", str(calls_file(write, "a.csv", range(0, 60))), ok=True)
    con = duckdb.connect(str(wh.home / "published" / "analyst.duckdb"))
    try:
        con.execute(edit)
    finally:
        con.close()
    wh.cli("ingest", "cdr", str(calls_file(write, "b.csv", range(60, 62))), ok=True)
    assert modes(wh) == {"fresh"}
    ids = [r["id"] for r in wh.json("sql", "SELECT id FROM calls ORDER BY id")]
    assert ids == list(range(1, 63))


def test_a_store_under_extend_min_rows_is_always_written_fresh(wh, write):
    config = wh.home / "config.toml"
    config.write_text(config.read_text().replace("extend_min_rows = 0", "extend_min_rows = 100"))
    wh.cli("ingest", "cdr", str(calls_file(write, "a.csv", range(0, 95))), ok=True)
    wh.cli("ingest", "cdr", str(calls_file(write, "b.csv", range(95, 96))), ok=True)
    assert modes(wh) == {"fresh"}  # 95 rows held: under 100
    wh.cli("ingest", "cdr", str(calls_file(write, "c.csv", range(96, 106))), ok=True)
    assert modes(wh) == {"fresh"}  # now over 100, but the stores hold no extents yet
    wh.cli("ingest", "cdr", str(calls_file(write, "d.csv", range(106, 107))), ok=True)
    assert modes(wh) == {"extended"}
    assert len(wh.json("sql", "SELECT id FROM calls")) == 107
