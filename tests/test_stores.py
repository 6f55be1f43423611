"""The access boundary by construction (SPEC 7): published stores, readers beside the writer, the access spool."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import (
    REPO,
    Warehouse,
    csv_text,
    good_row,
    protected_connection,
    run_cli,
    uncompressed,
)

from deletedcalls.fsutil import CRASH_ENV
from deletedcalls.ingest.synthetic import write_cdr, write_deletions

DPO = "dpo"
PROTECTED = {"deleted_calls", "access_log", "user_activity_log", "deletion_items", "pending_deletions"}


def number(i: int) -> str:
    return f"+4479460{i:05d}"


@pytest.fixture
def deleted(wh: Warehouse, write) -> Warehouse:
    """12 calls with distinctive numbers; 7 of them deleted by alice (a cell of 7), 2 by bob (a cell of 2)."""
    uncompressed(wh.home)  # raw bytes of the lake's files can be scanned for numbers
    rows = [good_row(i, target=number(i), costCDR=f"{i}.0100", duration=str(60 + i)) for i in range(12)]
    wh.cli("ingest", "cdr", str(write("bt.csv", csv_text(rows))), ok=True)
    entries = [
        {"id": "UAL-1", "user": "alice", "timestamp": "2026-03-05T10:00:00Z", "action": "delete_calls",
         "selector": {"carrierCallIds": [f"BT-{i:012d}" for i in range(7)]}},
        {"id": "UAL-2", "user": "bob", "timestamp": "2026-03-06T10:00:00Z", "action": "delete_calls",
         "selector": {"callIds": [8, 9]}},
    ]
    log = write("log.jsonl", "".join(json.dumps(e) + "\n" for e in entries))
    wh.cli("ingest", "deletions", str(log), ok=True)
    wh.cli("materialise", ok=True)
    return wh


def access_log(w: Warehouse) -> list[tuple[str, str, bool, str]]:
    return w.access_log("user", "command", "allowed", "filters")


def deleted_numbers() -> list[bytes]:
    """Calls 1-7 (alice) and 8-9 (bob): the numbers of rows 0-8."""
    return [number(i).encode() for i in range(9)]


# ---------------------------------------------------------------- what the analyst store holds


def test_the_analyst_store_physically_holds_no_protected_row(deleted):
    path = deleted.home / "published" / "analyst.duckdb"
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        sources = {r[0] for r in con.execute("SELECT DISTINCT source FROM rejected_rows").fetchall()}
    finally:
        con.close()
    assert not tables & PROTECTED
    assert {"calls", "cdr_files", "rejected_rows", "runs", "deleted_calls_summary"} <= tables
    assert sources <= {"cdr"}
    # the analyst store is its file and the calls files linked into published/data/, which its calls view reads
    linked = [p for p in (deleted.home / "published" / "data").rglob("*") if p.is_file()]
    raw = b"".join(p.read_bytes() for p in [path, *linked])
    # the deleted calls are in the lake's deleted_calls files (protected)
    protected = b"".join(p.read_bytes() for p in (deleted.home / "data" / "main" / "deleted_calls").rglob("*") if p.is_file())
    for n in deleted_numbers():
        assert n in protected, "control: the scan finds numbers in a store that holds them"
        assert n not in raw, f"deleted number {n!r} is in the analyst store"
    assert number(11).encode() in raw, "control: a live call is in the analyst store"


def test_small_summary_cells_show_counts_but_no_cost_or_duration(deleted):
    rows = {r["deletedBy"]: r for r in deleted.json("sql", "SELECT * FROM deleted_calls_summary")}
    assert rows["alice"]["deletions"] == 7 and rows["alice"]["costCDR"] == "21.0700"
    assert rows["bob"]["deletions"] == 2 and rows["bob"]["costCDR"] is None and rows["bob"]["duration"] is None
    officer = {r["deletedBy"]: r for r in deleted.json("sql", "SELECT * FROM deleted_calls_summary", user=DPO)}
    assert officer["bob"]["costCDR"] == "15.0200" and officer["bob"]["duration"] == 67 + 68


@pytest.mark.parametrize("query", [
    # the check-then-run trick: one meaning while a plan is checked, another when it runs
    "SELECT * FROM query(CASE WHEN current_query() LIKE 'EXPLAIN%' THEN 'SELECT 1 AS x' ELSE 'SELECT target AS x FROM deleted_calls' END)",
    "SELECT * FROM query('SELECT * FROM ' || 'deleted' || '_calls')",
    "SELECT count(*) FROM query_table('deleted_calls')",
    "SELECT count(*) FROM query_table(lower('DELETED_CALLS'))",
    "SELECT min(target), max(target) FROM deleted_calls",
    "SELECT count(*) FROM deleted_calls WHERE target > '+4479460'",
    "SELECT * FROM pragma_storage_info('deleted_calls')",
    "SELECT * FROM user_activity_log",
    "SELECT * FROM pending_deletions",
    "SELECT * FROM read_blob('published/protected.duckdb')",
    "SELECT content FROM read_text('../deletedcalls.duckdb')",
])
def test_no_query_of_an_analyst_reaches_a_deleted_call(deleted, query):
    result = deleted.cli("sql", query, "--json")
    assert result.exit_code == 4, (query, result.stdout, result.stderr)
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert all(n.decode() not in result.stderr for n in deleted_numbers())
    assert ("analyst", "sql", False, json.dumps({"query": query}, sort_keys=True)) in access_log(deleted)


def test_statistics_of_protected_tables_are_not_in_the_analyst_store(deleted):
    rows = deleted.json("sql", "SELECT table_name, estimated_size, column_count FROM duckdb_tables()")
    assert not {r["table_name"] for r in rows} & PROTECTED
    columns = deleted.json("sql", "SELECT DISTINCT table_name FROM duckdb_columns()")
    assert not {r["table_name"] for r in columns} & PROTECTED


def test_an_officer_reads_everything_and_each_read_is_logged(deleted):
    rows = deleted.json("sql", "SELECT target FROM deleted_calls ORDER BY id", user=DPO)
    assert [r["target"] for r in rows] == [number(i) for i in range(9)]
    log = [e for e in access_log(deleted) if e[1] == "sql"]
    query = "SELECT target FROM deleted_calls ORDER BY id"
    assert log[0] == (DPO, "sql", True, json.dumps({"query": query}, sort_keys=True))  # before it ran
    assert log[1][:3] == (DPO, "sql", True) and json.loads(log[1][3])["query"] == query and len(log) == 2  # its outcome


def test_sql_file_never_prints_a_line_of_a_file_that_is_not_sql(deleted, tmp_path):
    secret = tmp_path / "numbers.csv"
    secret.write_text(f"target,name\n{number(99)},Jane Doe\n")
    result = deleted.cli("sql", "--file", str(secret))
    assert result.exit_code == 2
    assert number(99) not in result.stderr and "Jane" not in result.stderr and "target" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    inside = deleted.cli("sql", "--file", str(deleted.home / "config.toml"))
    assert inside.exit_code == 2 and "inside the warehouse home" in inside.stderr and "dpo" not in inside.stderr
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\xff\xfe" + number(98).encode("utf-16-le"))
    result = deleted.cli("sql", "--file", str(binary))
    assert result.exit_code == 2 and "98" not in result.stderr


# ---------------------------------------------------------------- a home that cannot be trusted


def _dpo_grants(home: Path, target: Path) -> None:
    target.write_text('[permissions]\ndata_protection = ["analyst"]\n')
    os.chmod(target, 0o600)


def test_a_symlinked_config_is_refused_before_it_is_believed(deleted, tmp_path):
    crafted = tmp_path / "crafted.toml"
    _dpo_grants(deleted.home, crafted)
    config = deleted.home / "config.toml"
    config.unlink()
    config.symlink_to(crafted)
    for args in (["deleted-calls", "list"], ["sql", "SELECT * FROM deleted_calls"], ["materialise"]):
        result = deleted.cli(*args)
        assert result.exit_code == 4, (args, result.stderr)
        assert str(config) in result.stderr and "symbolic link" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("make_unsafe", ["config-group-writable", "config-foreign-owner", "home-world-writable",
                                         "store-symlink", "database-group-writable"])
def test_an_unsafe_home_is_exit_4_naming_the_file_and_the_fix(deleted, tmp_path, make_unsafe):
    home = deleted.home
    if make_unsafe == "config-group-writable":
        os.chmod(home / "config.toml", 0o620)
        named, fix = home / "config.toml", "chmod go-w"
    elif make_unsafe == "config-foreign-owner":
        os.chown(home / "config.toml", 65534, 65534)
        named, fix = home / "config.toml", "chown"
    elif make_unsafe == "home-world-writable":
        os.chmod(home, 0o777)
        named, fix = home, "chmod go-w"
    elif make_unsafe == "store-symlink":
        store = home / "published" / "protected.duckdb"
        elsewhere = tmp_path / "elsewhere.duckdb"
        store.rename(elsewhere)
        store.symlink_to(elsewhere)
        named, fix = store, "symbolic link"
    else:
        os.chmod(home / "deletedcalls.duckdb", 0o660)
        named, fix = home / "deletedcalls.duckdb", "chmod go-w"
    result = deleted.cli("deleted-calls", "list", user=DPO)
    assert result.exit_code == 4, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and str(named) in line and fix in line and result.stdout == ""


# ---------------------------------------------------------------- file modes


def _modes(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): stat.S_IMODE(p.lstat().st_mode) for p in [home, *home.rglob("*")]}


def _cli(home: Path, *args: str, user: str = "analyst", umask: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    full = dict(os.environ, DELETEDCALLS_USER=user, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "deletedcalls", "--home", str(home), *args], env=full,
                          capture_output=True, timeout=120, preexec_fn=lambda: os.umask(umask), check=False)


def test_every_file_is_owner_only_under_a_permissive_umask(tmp_path):
    home = tmp_path / "wh"
    inbox = tmp_path / "in"
    inbox.mkdir()
    write_cdr(inbox / "a.csv", 200, seed=3)
    write_deletions(inbox / "d.jsonl", [{"id": "U1", "user": "u", "timestamp": "2026-01-10T00:00:00Z",
                                          "action": "delete_calls", "selector": {"callIds": list(range(1, 50))}}])
    assert _cli(home, "init").returncode == 0
    assert _cli(home, "ingest", "cdr", str(inbox / "a.csv")).returncode == 0
    assert _cli(home, "ingest", "deletions", str(inbox / "d.jsonl")).returncode == 0
    assert _cli(home, "materialise").returncode == 0
    assert _cli(home, "retention", "enforce", "--as-of", "2027-01-01").returncode == 0
    assert _cli(home, "deleted-calls", "list", user=DPO).returncode == 0
    restored = tmp_path / "restored.duckdb"
    assert _cli(home, "dr", "restore", "2026-01-part-0001", "--into", str(restored), user=DPO).returncode == 0
    modes = _modes(home)
    assert {"published/analyst.duckdb", "published/protected.duckdb", "dr/deletedMonth=2026-01/part-0001.parquet",
            "spool", "config.toml", ".lock", "deletedcalls.duckdb"} <= set(modes)
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert loose == {}
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600


def test_a_restore_is_owner_only_while_it_is_written(deleted, tmp_path):
    deleted.cli("retention", "enforce", "--as-of", "2027-01-01", ok=True)
    into = tmp_path / "investigation.duckdb"
    killed = _cli(deleted.home, "dr", "restore", "2026-03-part-0001", "--into", str(into), user=DPO,
                  env={CRASH_ENV: "restore-written"})
    assert killed.returncode == -signal.SIGKILL
    private = tmp_path / ".investigation.duckdb.restore"
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    partial = list(private.iterdir())
    assert partial, "control: the restore was caught while writing"
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in partial} == {p.name: "0o600" for p in partial}
    done = _cli(deleted.home, "dr", "restore", "2026-03-part-0001", "--into", str(into), user=DPO)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(into.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".investigation")]


# ---------------------------------------------------------------- readers beside the writer


def _big_inbox(inbox: Path) -> None:
    inbox.mkdir()
    write_cdr(inbox / "a.csv", 150_000, seed=1, carrier="BT")
    write_deletions(inbox / "log.jsonl", [{"id": f"U{k}", "user": "u", "timestamp": "2026-02-10T00:00:00Z",
                                           "action": "delete_calls", "selector": {"callIds": list(range(k * 100 + 1, k * 100 + 101))}}
                                          for k in range(20)])


def test_an_analyst_connection_held_open_does_not_stop_the_nightly_run(deleted, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text('[job]\nname = "night"\ninbox = "inbox"\n\n[inbox]\nmin_age_seconds = 0\n')
    _big_inbox(tmp_path / "inbox")
    held = duckdb.connect(str(deleted.home / "published" / "analyst.duckdb"), read_only=True)
    try:
        before = held.execute("SELECT count(*) FROM calls").fetchall()[0][0]
        run = _cli(deleted.home, "run", str(job), "--as-of", "2026-03-31")
        assert run.returncode == 0, run.stderr
        # the open connection keeps the state it opened, or, when the run superseded a calls file its view reads
        # (a superseded file may hold a call deleted since: its link goes at once), says so and must reopen
        try:
            assert held.execute("SELECT count(*) FROM calls").fetchall()[0][0] == before
        except duckdb.IOException as e:
            assert "No files found" in str(e)
    finally:
        held.close()
    after = deleted.scalar("SELECT count(*) FROM calls")
    assert after > before
    assert deleted.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": after}]


def test_readers_answer_while_a_writer_is_stopped_and_their_reads_are_folded_once(deleted, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text('[job]\nname = "night"\ninbox = "inbox"\n\n[inbox]\nmin_age_seconds = 0\n')
    _big_inbox(tmp_path / "inbox")
    writer = run_cli(deleted.home, "run", str(job), "--as-of", "2026-03-31")
    assert writer.stderr is not None
    assert b"run=" in writer.stderr.readline()  # it holds the warehouse now
    writer.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        listing = deleted.cli("deleted-calls", "list", "--limit", "3", "--json", user=DPO)
        assert listing.exit_code == 0, listing.stderr
        assert [r["target"] for r in json.loads(listing.stdout)["results"]] == [number(i) for i in range(3)]
        analyst = deleted.json("sql", "SELECT count(*) AS n FROM calls")
        assert analyst == [{"n": 3}]
        assert time.monotonic() - started < 30
        reads = [e for e in access_log(deleted) if e[1] == "deleted-calls list"]
        assert len(reads) == 1, "visible at once, before any writer folds it"
    finally:
        writer.send_signal(signal.SIGCONT)
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    folded = deleted.query("SELECT count(*) FROM access_log WHERE command = 'deleted-calls list'")
    assert folded == [(1,)]
    assert [e for e in access_log(deleted) if e[1] == "deleted-calls list"] == reads


def test_kill_9_during_publish_keeps_the_last_published_state_and_the_next_writer_finishes(deleted, write):
    before = deleted.json("sql", "SELECT count(*) AS n FROM calls")
    more = write("more.csv", csv_text([good_row(100 + i, target=number(50 + i)) for i in range(5)]))
    killed = _cli(deleted.home, "ingest", "cdr", str(more), env={CRASH_ENV: "publish-written"})
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in (deleted.home / "published").iterdir() if p.name.startswith(".")], "control: killed mid-publish"
    # readers see the previous publish, whole
    assert deleted.json("sql", "SELECT count(*) AS n FROM calls") == before
    assert deleted.cli("materialise").exit_code == 0
    assert deleted.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": before[0]["n"] + 5}]
    assert sorted(p.name for p in (deleted.home / "published").iterdir()) == ["analyst.duckdb", "data", "pages", "protected.duckdb"]
    assert not [p for p in (deleted.home / "published" / "data").rglob(".*")], "a killed publish left a temporary copy"
    folder, months = _pages(deleted.home)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*months.values(), "manifest.json"])


def test_kill_9_during_the_spool_fold_loses_no_entry_and_doubles_none(deleted):
    for i in (1, 2, 3):
        assert deleted.cli("deleted-calls", "get", str(i), user=DPO).exit_code == 0
    assert deleted.cli("sql", "SELECT * FROM deleted_calls").exit_code == 4
    killed = _cli(deleted.home, "materialise", env={CRASH_ENV: "spool-folded"})
    assert killed.returncode == -signal.SIGKILL
    assert deleted.cli("materialise").exit_code == 0
    logged = deleted.query('SELECT "user", command, allowed, count(*) FROM access_log GROUP BY ALL ORDER BY ALL')
    assert logged == [("analyst", "sql", False, 1), (DPO, "deleted-calls get", True, 3)]
    assert list((deleted.home / "spool").iterdir()) == []
    # and the officer's view of access_log agrees, once each
    assert sorted(e[:3] for e in access_log(deleted)) == sorted(
        [("analyst", "sql", False)] + [(DPO, "deleted-calls get", True)] * 3)


def test_a_read_that_cannot_be_logged_returns_nothing(deleted):
    spool = deleted.home / "spool"
    if spool.exists():
        for p in spool.iterdir():
            p.unlink()
        spool.rmdir()
    spool.write_text("")  # the spool folder cannot be made
    os.chmod(spool, 0o600)
    result = deleted.cli("deleted-calls", "list", user=DPO)
    assert result.exit_code == 4 and result.stdout == "" and "spool" in result.stderr


def test_the_protected_store_equals_the_warehouse(deleted):
    con = protected_connection(deleted.home)
    try:
        for table in ("calls", "deleted_calls", "user_activity_log", "deletion_items", "cdr_files", "deleted_calls_summary"):
            assert con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == deleted.query(f"SELECT * FROM {table} ORDER BY ALL"), table
        info = con.execute("SELECT store, runId FROM published_info").fetchall()
    finally:
        con.close()
    assert info == [("protected", deleted.scalar("SELECT max(id) FROM runs"))]


def test_a_restore_into_a_shared_folder_cannot_be_intercepted(deleted, tmp_path):
    deleted.cli("retention", "enforce", "--as-of", "2027-01-01", ok=True)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    os.chmod(shared, 0o1777)
    planted = shared / ".r.duckdb.restore"
    planted.mkdir()
    os.chown(planted, 65534, 65534)
    refused = deleted.cli("dr", "restore", "2026-03-part-0001", "--into", str(shared / "r.duckdb"), user=DPO)
    assert refused.exit_code == 2 and "not a private folder" in refused.stderr
    assert not (shared / "r.duckdb").exists() and list(planted.iterdir()) == []
    # another user's WAL planted where a plain temporary name would have been is never used
    wal = shared / ".s.duckdb.tmp.wal"
    wal.write_bytes(b"")
    os.chmod(wal, 0o666)
    ok = deleted.cli("dr", "restore", "2026-03-part-0001", "--into", str(shared / "s.duckdb"), user=DPO)
    assert ok.exit_code == 0, ok.stderr
    assert wal.read_bytes() == b"" and stat.S_IMODE((shared / "s.duckdb").stat().st_mode) == 0o600


def test_a_duplicate_of_a_deleted_call_is_withheld_from_analysts_and_erased_with_it(deleted, write):
    resent = write("resent.csv", csv_text([good_row(1, target=number(1), costCDR="1.0100", duration="61"),
                                           good_row(200, target=number(200))]))
    assert deleted.cli("ingest", "cdr", str(resent), "--max-reject-ratio", "0.6").exit_code == 0
    officer = deleted.json("sql", "SELECT rawLine, duplicateOf FROM rejected_rows WHERE fileName = 'resent.csv'", user=DPO)
    assert number(1) in officer[0]["rawLine"] and officer[0]["duplicateOf"] == 2
    analyst = deleted.json("sql", "SELECT rawLine, reasons FROM rejected_rows WHERE fileName = 'resent.csv'")
    assert analyst[0]["rawLine"] is None and "duplicate" in analyst[0]["reasons"][0]
    assert number(1).encode() not in (deleted.home / "published" / "analyst.duckdb").read_bytes()
    deleted.cli("retention", "enforce", "--as-of", "2027-01-01", ok=True)
    files = [p for p in deleted.home.rglob("*") if p.is_file() and "dr" not in p.relative_to(deleted.home).parts]
    outside_dr = b"".join(p.read_bytes() for p in files)
    assert number(1).encode() not in outside_dr, [str(p) for p in files if number(1).encode() in p.read_bytes()]
    assert number(200).encode() in outside_dr, "control: a live call is still found"
    erased = deleted.json("sql", "SELECT rawLine, reasons FROM rejected_rows WHERE fileName = 'resent.csv'", user=DPO)
    assert erased[0]["rawLine"] == "" and "erased" in erased[0]["reasons"][-1]


def test_calls_a_pending_deletion_names_are_hidden_from_analysts_before_materialise(wh, write):
    log = write("early.jsonl", json.dumps({"id": "E1", "user": "carol", "timestamp": "2026-03-05T00:00:00Z",
                                           "action": "delete_calls", "selector": {"cdrFile": "late.csv", "lines": [2]}}) + "\n")
    wh.cli("ingest", "deletions", str(log), ok=True)
    late = write("late.csv", csv_text([good_row(i, target=number(300 + i)) for i in range(3)]))
    wh.cli("ingest", "cdr", str(late), ok=True)  # no materialise yet
    seen = [r["target"] for r in wh.json("sql", "SELECT target FROM calls ORDER BY id")]
    assert seen == [number(301), number(302)]
    assert number(300).encode() not in (wh.home / "published" / "analyst.duckdb").read_bytes()
    assert len(wh.json("sql", "SELECT target FROM calls", user=DPO)) == 3  # officers see the warehouse as it is


def test_entries_folded_by_a_writer_killed_before_publishing_stay_visible(deleted):
    for i in (1, 2):
        assert deleted.cli("deleted-calls", "get", str(i), user=DPO).exit_code == 0
    killed = _cli(deleted.home, "materialise", env={CRASH_ENV: "publish-written"})
    assert killed.returncode == -signal.SIGKILL
    gets = [e for e in access_log(deleted) if e[1] == "deleted-calls get"]
    assert len(gets) == 2
    deleted.cli("materialise", ok=True)
    assert [e for e in access_log(deleted) if e[1] == "deleted-calls get"] == gets
    assert deleted.query("SELECT count(*) FROM access_log WHERE command = 'deleted-calls get'") == [(2,)]


def test_a_foreign_spool_file_is_not_believed(deleted):
    spool = deleted.home / "spool"
    spool.mkdir(exist_ok=True)
    forged = spool / "access-1.jsonl"
    forged.write_text(json.dumps({"entryId": "forged", "user": "nobody", "at": "2026-01-01T00:00:00", "command": "x",
                                  "filters": "{}", "allowed": True}) + "\n")
    os.chown(forged, 65534, 65534)
    deleted.cli("materialise", ok=True)
    assert deleted.query("SELECT count(*) FROM access_log WHERE entryId = 'forged'") == [(0,)]
    assert all(e[0] != "nobody" for e in access_log(deleted))


def test_table_output_shows_values_as_they_are(wh, write):
    rows = [good_row(0, locationCarrier="[/x]"), good_row(1, locationCarrier="[bold red]x")]
    wh.cli("ingest", "cdr", str(write("m.csv", csv_text(rows))), ok=True)
    out = wh.cli("sql", "SELECT locationCarrier FROM calls ORDER BY id")
    assert out.exit_code == 0, out.stderr
    assert "[/x]" in out.stdout and "[bold red]x" in out.stdout


def test_sql_file_refuses_devices_and_fifos_without_reading(wh, tmp_path):
    assert wh.cli("sql", "--file", "/dev/zero").exit_code == 2
    fifo = tmp_path / "q.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    result = wh.cli("sql", "--file", str(fifo))
    assert result.exit_code == 2 and "regular file" in result.stderr and time.monotonic() - started < 10


def test_a_decompressed_delivery_left_by_a_killed_load_is_removed_by_the_next_writer(deleted):
    left = deleted.home / ".delivery-killed"
    left.mkdir(mode=0o700)
    (left / "text").write_text(f"target\n{number(1)}\n")
    deleted.cli("materialise", ok=True)
    assert not left.exists()


# ---------------------------------------------------------------- the officers' page store


def _pages(home: Path) -> tuple[Path, dict[str, str]]:
    folder = home / "published" / "pages"
    return folder, json.loads((folder / "manifest.json").read_text())["months"]


def _page_rows(folder: Path, name: str) -> list[tuple]:
    con = duckdb.connect(str(folder / name), read_only=True)
    try:
        return con.execute("SELECT * FROM deleted_calls ORDER BY id").fetchall()
    finally:
        con.close()


def test_officers_pages_are_a_private_duckdb_file_per_deleted_month_written_again_only_when_it_changes(deleted, write):
    folder, months = _pages(deleted.home)
    assert list(months) == ["2026-03"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == sorted([*months.values(), "manifest.json"])
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert _page_rows(folder, months["2026-03"]) == deleted.query("SELECT * FROM deleted_calls ORDER BY id")
    march = (folder / months["2026-03"]).stat()
    # a writer command that changes no deleted call writes no page
    more = write("more.csv", csv_text([good_row(100 + i, target=number(60 + i)) for i in range(3)]))
    deleted.cli("ingest", "cdr", str(more), ok=True)
    _, again = _pages(deleted.home)
    assert again == months and (folder / months["2026-03"]).stat().st_ino == march.st_ino
    # a deletion dated January adds a month; March's file is kept as it was
    log = write("jan.jsonl", json.dumps({"id": "UAL-J", "user": "carol", "timestamp": "2026-01-15T10:00:00Z",
                                         "action": "delete_calls", "selector": {"callIds": [11]}}) + "\n")
    deleted.cli("ingest", "deletions", str(log), ok=True)
    deleted.cli("materialise", ok=True)
    _, now = _pages(deleted.home)
    assert sorted(now) == ["2026-01", "2026-03"] and now["2026-03"] == months["2026-03"]
    assert (folder / now["2026-03"]).stat().st_ino == march.st_ino
    january = _page_rows(folder, now["2026-01"])
    assert january == deleted.query("SELECT * FROM deleted_calls WHERE callId = 11")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*now.values(), "manifest.json"])
    # another deletion dated March: March's file is a new one (the previous rows and the new), January's is kept
    log = write("mar.jsonl", json.dumps({"id": "UAL-M", "user": "carol", "timestamp": "2026-03-20T10:00:00Z",
                                         "action": "delete_calls", "selector": {"callIds": [12]}}) + "\n")
    deleted.cli("ingest", "deletions", str(log), ok=True)
    deleted.cli("materialise", ok=True)
    _, later = _pages(deleted.home)
    assert later["2026-01"] == now["2026-01"] and later["2026-03"] != now["2026-03"]
    assert _page_rows(folder, later["2026-03"]) == deleted.query("SELECT * FROM deleted_calls WHERE deletedMonth = '2026-03' ORDER BY id")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*later.values(), "manifest.json"])
    # officers list exactly the lake's deleted calls, in id order, through the pages
    listing = deleted.json("deleted-calls", "list", "--limit", "100", user=DPO)
    assert [r["id"] for r in listing["results"]] == [r[0] for r in deleted.query("SELECT id FROM deleted_calls ORDER BY id")]
    assert listing["total"] == 11
    one = deleted.json("deleted-calls", "get", str(january[0][0]), user=DPO)
    assert one["target"] == number(10) and one["callId"] == 11 and one["deletedMonth"] == "2026-01"


def test_a_purged_month_leaves_no_page_file_and_no_byte_in_published(deleted, write):
    log = write("jan.jsonl", json.dumps({"id": "UAL-J", "user": "carol", "timestamp": "2026-01-15T10:00:00Z",
                                         "action": "delete_calls", "selector": {"callIds": [11]}}) + "\n")
    deleted.cli("ingest", "deletions", str(log), ok=True)
    deleted.cli("materialise", ok=True)
    folder, months = _pages(deleted.home)
    january = folder / months["2026-01"]
    assert number(10).encode() in january.read_bytes(), "control: the scan below can see a page's numbers"
    deleted.cli("retention", "enforce", "--as-of", "2026-05-02", ok=True)  # January's deleted calls expire, March's stay
    _, after = _pages(deleted.home)
    assert sorted(after) == ["2026-03"] and not january.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted([*after.values(), "manifest.json"])
    raw = b"".join(p.read_bytes() for p in (deleted.home / "published").rglob("*") if p.is_file())
    assert number(10).encode() not in raw
    assert [r["callId"] for r in deleted.json("deleted-calls", "list", "--limit", "100", user=DPO)["results"]] == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_a_manifest_naming_a_missing_page_file_is_a_damaged_store_told_in_one_line(deleted):
    folder, months = _pages(deleted.home)
    (folder / months["2026-03"]).unlink()
    result = deleted.cli("deleted-calls", "list", user=DPO)
    assert result.exit_code == 6, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "materialise" in result.stderr
    deleted.cli("materialise", ok=True)  # the next writer command publishes the pages again
    assert deleted.json("deleted-calls", "list", user=DPO)["total"] == 9
