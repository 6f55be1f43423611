"""The lake (issue 28): month partitions, erasure by file, the key index, and converting an old home."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, Warehouse, csv_text, entry, good_row, number, uncompressed

from deletedcalls.fsutil import CRASH_ENV
from deletedcalls.sqlfiles import schema_version_required


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def holding(paths: list[Path], needle: str) -> list[Path]:
    return [p for p in paths if needle.encode() in p.read_bytes()]


@pytest.fixture
def months(wh: Warehouse, write) -> Warehouse:
    """30 calls, 10 in each of Jan, Feb and Mar 2026 (call id i+1 has number(i+1)), each month from its own file."""
    uncompressed(wh.home)
    for m in range(3):
        rows = [good_row(i, target=number(i + 1), external=number(i + 1001), startDate=f"2026-0{m + 1}-15")
                for i in range(m * 10, m * 10 + 10)]
        wh.cli("ingest", "cdr", str(write(f"bt-{m}.csv", csv_text(rows))), ok=True)
    return wh


def calls_files(home: Path) -> list[Path]:
    """Every file under the calls folder: current, superseded (until the next writer command) and delete files."""
    return files_under(home / "data" / "main" / "calls")


def current_calls(w: Warehouse) -> list[Path]:
    """The calls files of the lake's current snapshot."""
    return [Path(r[0]) for r in w.query("SELECT data_file FROM ducklake_list_files('lake', 'calls') ORDER BY 1")]


def test_calls_are_partitioned_by_month_and_deleted_calls_by_deleted_month(months, write):
    folders = sorted({p.parent.relative_to(months.home / "data") for p in calls_files(months.home)})
    assert folders == [Path(f"main/calls/year=2026/month={m}") for m in (1, 2, 3)]
    months.cli("ingest", "deletions", str(write("d.jsonl", entry("U1", [1, 11], "2026-04-02T10:00:00Z"))), ok=True)
    months.cli("materialise", ok=True)
    deleted = files_under(months.home / "data" / "main" / "deleted_calls")
    assert {p.parent.name for p in deleted} == {"deletedMonth=2026-04"}
    # the analysts' view reads links to the lake's current calls files, one per month (the superseded one
    # and its delete file stay in data/ until the next writer command)
    linked = files_under(months.home / "published" / "data" / "main" / "calls")
    current = current_calls(months)
    assert len(current) == 3
    assert sorted(p.relative_to(months.home / "published") for p in linked) == sorted(
        p.relative_to(months.home.resolve()) for p in current)


def test_a_deletion_rewrites_only_the_files_holding_the_calls_it_deletes_and_no_analyst_file_keeps_them(months, write):
    before = {p.parent.name: p for p in calls_files(months.home)}
    months.cli("ingest", "deletions", str(write("d.jsonl", entry("U1", [3, 4], "2026-04-02T10:00:00Z"))), ok=True)
    months.cli("materialise", ok=True)
    after = {p.parent.name: p for p in current_calls(months)}
    assert after["month=2"] == before["month=2"] and after["month=3"] == before["month=3"], "other months untouched"
    assert after["month=1"] != before["month=1"], "January's file was rewritten without the deleted calls"
    # everything an analyst's group can be given: published/ but the officers' catalog copy and page store, owner-only
    protected = months.home / "published" / "protected.duckdb"
    pages = months.home / "published" / "pages"
    assert protected.stat().st_mode & 0o777 == 0o600 and pages.stat().st_mode & 0o777 == 0o700
    readable = [p for p in files_under(months.home / "published") if p != protected and pages not in p.parents]
    assert holding([p for p in files_under(pages)], number(3)), "control: the officers' pages hold the deleted calls"
    current = current_calls(months)
    for i in (3, 4):
        assert holding(readable, number(i)) == [], f"deleted number {number(i)} is in a published file"
        assert holding(current, number(i)) == [], "a live calls file holds a deleted call"
    assert holding(readable, number(5)), "control: a live call's number is found by the scan"
    # the deleted calls are where they belong: the deleted_calls month file (protected)
    assert holding(files_under(months.home / "data" / "main" / "deleted_calls"), number(3))
    # the superseded file lives until the next writer command (a reader may hold the previous catalog copy) ...
    assert before["month=1"].exists()
    months.cli("materialise", ok=True)
    assert not before["month=1"].exists()  # ... and not longer
    assert months.scalar("SELECT count(*) FROM calls") == 28


def test_a_purge_leaves_no_byte_of_a_purged_row_anywhere_in_the_home_outside_dr(months, write):
    log = entry("U1", [1, 2, 3], "2026-01-20T10:00:00Z") + entry("U2", [15, 16], "2026-06-01T00:00:00Z")
    months.cli("ingest", "deletions", str(write("d.jsonl", log)), ok=True)
    months.cli("materialise", ok=True)
    home = months.home
    everything = [p for p in files_under(home) if "dr" not in p.relative_to(home).parts]
    assert holding(everything, number(1)), "control: the number is in the home before the purge"
    catalog = home / "deletedcalls.duckdb"
    assert number(1).encode() in catalog.read_bytes(), "control: the catalog's statistics name the deleted call"
    months.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)  # January's deletions expire
    everything = [p for p in files_under(home) if "dr" not in p.relative_to(home).parts]
    for i in (1, 2, 3):
        for n in (number(i), number(i + 1000)):
            assert holding(everything, n) == [], f"purged {n} is still in {holding(everything, n)}"
    for i in (15, 16, 20):  # deleted in June, or live: still there
        assert holding(everything, number(i)), f"kept number {number(i)} not found: the scan is blind"
    assert months.scalar("SELECT count(*) FROM retention_events WHERE erasedAt IS NULL") == 0
    assert months.scalar("SELECT count(*) FROM deleted_calls") == 2


def test_a_purged_key_round_trips_exactly(months, write):
    months.cli("ingest", "deletions", str(write("d.jsonl", entry("U1", [7], "2026-01-20T10:00:00Z"))), ok=True)
    months.cli("materialise", ok=True)
    months.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)
    warehouse = months.scalar("SELECT warehouseId FROM warehouse_info")
    carrier, call = "BT", "BT-000000000006"  # call id 7
    expected = hashlib.sha256(f"{warehouse}:{len(carrier)}:{carrier}{call}".encode()).digest()[:16]
    assert months.query("SELECT keyHash FROM purged_keys") == [(expected,)]
    # and it does its job: the same record sent again is refused, its line not kept
    again = write("again.csv", csv_text([good_row(6, target=number(7), startDate="2026-01-15")]))
    result = months.cli("ingest", "cdr", str(again))
    assert result.exit_code == 3  # its only record is rejected: over the reject limit
    assert months.query("SELECT rawLine, reasons[1] LIKE '%purged%' FROM rejected_rows") == [("", True)]


def test_the_key_check_reads_only_the_months_its_keys_hit(months, write):
    """Memory and time follow the night: a file of April calls with new keys never reads an older month's file."""
    january = next(p for p in calls_files(months.home) if p.parent.name == "month=1")
    saved = january.read_bytes()
    # any read of January's rows now fails; its footer (the schema the analysts' view binds to) stays readable
    footer = int.from_bytes(saved[-8:-4], "little") + 8
    january.write_bytes(saved[:4] + b"\xff" * (len(saved) - 4 - footer) + saved[-footer:])
    try:
        april = write("apr.csv", csv_text([good_row(100 + i, startDate="2026-04-01") for i in range(5)]))
        assert months.cli("ingest", "cdr", str(april)).exit_code == 0, "read a month its keys never hit"
        # control: a key that is in January makes the check read January (and fail on the damaged file)
        dup = write("dup.csv", csv_text([good_row(3, startDate="2026-04-02")]))
        assert months.cli("ingest", "cdr", str(dup)).exit_code != 0, "control: the damaged month is read for its key"
    finally:
        january.write_bytes(saved)
    result = months.cli("ingest", "cdr", str(write("dup2.csv", csv_text([good_row(3, startDate="2026-04-02"), good_row(200)]))))
    assert result.exit_code == 3 or "duplicate" in months.query("SELECT reasons[1] FROM rejected_rows")[0][0]
    assert months.scalar("SELECT count(*) FROM calls WHERE carrierCallID = 'BT-000000000003'") == 1


# ---------------------------------------------------------------- converting a home of the old layout


# the purged key of schema version 10 (main before issue 28): the same 128 bits as a UHUGEINT
LEGACY_PURGED_KEY = """
CREATE OR REPLACE TEMP MACRO purged_key(warehouse_id, carrier, carrier_call_id) AS (
    (CAST(CAST('0x' || left(sha256(warehouse_id || ':' || length(carrier) || ':' || carrier || carrier_call_id), 16) AS UBIGINT) AS UHUGEINT) << 64)
    | CAST(CAST('0x' || substr(sha256(warehouse_id || ':' || length(carrier) || ':' || carrier || carrier_call_id), 17, 16) AS UBIGINT) AS UHUGEINT)
)"""


def legacy_home(home: Path) -> dict[str, list[tuple]]:
    """A home of the old layout (one DuckDB file at schema version 10) with calls, deleted calls and purged keys."""
    home.mkdir(mode=0o700)
    (home / "dr").mkdir(mode=0o700)
    (home / "config.toml").write_text("[retention]\ndays = 90\n")
    os.chmod(home / "config.toml", 0o600)
    con = duckdb.connect(str(home / "deletedcalls.duckdb"))
    for macro in sorted((REPO / "sql" / "macros").glob("*.sql")):  # a legacy migration may use them (012: reason_code)
        con.execute(macro.read_text())
    for path in sorted((REPO / "sql" / "legacy").glob("*.sql")):
        con.execute(path.read_text())
        con.execute("INSERT INTO schema_migrations VALUES ($v, $n, now()::TIMESTAMP)", {"v": int(path.name[:3]), "n": path.name})
    con.execute("""INSERT INTO calls (id, CDRFileID, lineNumber, target, callTypeDirectionFlag, callTypeRecordingFlag, startDate,
                   startTime, duration, costCDR, carrier, carrierCallID, startedAt)
                   SELECT i, 1, i + 1, '+4479' || lpad(i::VARCHAR, 8, '0'), 'A', 'N', DATE '2026-01-01' + INTERVAL (i % 60) DAY,
                          TIME '10:00:00', i, (i / 100)::DECIMAL(18, 4), 'BT', 'BT-' || i, TIMESTAMPTZ '2026-01-01 10:00:00+00' + INTERVAL (i % 60) DAY
                   FROM range(1, 301) t(i)""")
    con.execute("""INSERT INTO deleted_calls BY NAME SELECT i AS id, 1000 + i AS callId, 'A' AS callTypeDirectionFlag, 'N' AS callTypeRecordingFlag,
                   DATE '2026-02-01' AS startDate, TIME '09:00:00' AS startTime, 5 AS duration, 'VF' AS carrier, 'VF-' || i AS carrierCallID,
                   'U1' AS userActivityLog, 'alice' AS deletedBy, TIMESTAMP '2026-03-01' AS deletedAt, '2026-03' AS deletedMonth,
                   now()::TIMESTAMP AS created, now()::TIMESTAMP AS updated, 1 AS runId, TIMESTAMPTZ '2026-02-01 09:00:00+00' AS startedAt,
                   {'accountId': 'a', 'agentId': NULL, 'voice': NULL, 'metadata': MAP {'k': 'v'}, 'endReason': NULL, 'recordingEnabled': true,
                    'created': NULL, 'joined': NULL, 'ended': NULL, 'maxDuration': '3600s', 'hadSummary': false, 'callObject': true} AS ultravox
                   FROM range(1, 21) t(i)""")
    con.execute(LEGACY_PURGED_KEY)
    con.execute("INSERT INTO purged_keys SELECT purged_key(w.warehouseId, 'BT', 'BT-' || i), '2025-10', now()::TIMESTAMP "
                "FROM range(5000, 5010) t(i), warehouse_info AS w")
    con.execute("UPDATE counters SET value = 300 WHERE name = 'call'")
    con.execute("UPDATE counters SET value = 1 WHERE name = 'cdr_file'")  # the calls name file 1
    expected = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("calls", "deleted_calls", "counters", "warehouse_info")}
    expected["purged"] = con.execute("SELECT w.warehouseId FROM warehouse_info AS w").fetchall()
    con.close()
    return expected


def _converted_equal(home: Path, expected: dict[str, list[tuple]]) -> None:
    w = Warehouse(home)
    for table in ("calls", "deleted_calls", "counters", "warehouse_info"):
        assert w.query(f"SELECT * FROM {table} ORDER BY ALL") == expected[table], table
    assert w.scalar("SELECT max(version) FROM schema_migrations") == schema_version_required()
    assert w.scalar("SELECT count(*) FROM call_keys") == 320
    # purged keys are the same 128 bits, as bytes: a re-sent purged call is still refused
    warehouse = expected["purged"][0][0]
    keys = {r[0] for r in w.query("SELECT keyHash FROM purged_keys")}
    assert keys == {hashlib.sha256(f"{warehouse}:2:BTBT-{i}".encode()).digest()[:16] for i in range(5000, 5010)}
    assert not (home / ".deletedcalls.duckdb.lake").exists() and not (home / ".data.converting").exists()


def test_init_converts_an_old_home_verified_row_for_row(tmp_path, write):
    home = tmp_path / "old"
    expected = legacy_home(home)
    w = Warehouse(home)
    refused = w.cli("files", "list")
    assert refused.exit_code == 2
    assert w.cli("materialise").exit_code == 2 and "init" in w.cli("materialise").stderr
    result = w.cli("init")
    assert result.exit_code == 0, result.stderr
    _converted_equal(home, expected)
    # the converted warehouse works: a purged key refuses its call, a duplicate of a converted call is rejected
    again = write("again.csv", csv_text([good_row(0, carrierCallID="BT-5003"), good_row(1, carrierCallID="BT-7"),
                                         *[good_row(10 + i) for i in range(200)]]))
    assert w.cli("ingest", "cdr", str(again)).exit_code == 0
    reasons = [r[0] for r in w.query("SELECT reasons[1] FROM rejected_rows ORDER BY lineNumber")]
    assert len(reasons) == 2 and "purged" in reasons[0] and "already in calls" in reasons[1]
    assert w.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 500}]


@pytest.mark.parametrize("step", ["convert-copied", "convert-verified", "convert-swapped"])
def test_a_conversion_killed_at_any_step_is_finished_by_the_next_init(tmp_path, step):
    home = tmp_path / "old"
    expected = legacy_home(home)
    env = dict(os.environ, DELETEDCALLS_USER="analyst", PYTHONPATH=str(REPO), **{CRASH_ENV: step})
    killed = subprocess.run([sys.executable, "-m", "deletedcalls", "--home", str(home), "init"], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if step != "convert-swapped":  # the old file is untouched until the swap
        con = duckdb.connect(str(home / "deletedcalls.duckdb"), read_only=True)
        assert con.execute("SELECT count(*) FROM calls").fetchall() == [(300,)]
        con.close()
    result = Warehouse(home).cli("init")
    assert result.exit_code == 0, result.stderr
    _converted_equal(home, expected)


# ---------------------------------------------------------------- a night killed between its steps


NIGHT_STEPS = ["run-ingested", "run-materialised", "archive-written", "dr-upload", "archive-verified", "purged", "rewrite-copied",
               "tidy-rewritten", "tidy-expired", "publish-written"]  # spool-folded: tests/test_stores.py (a night reads nothing)


def _night_inbox(folder: Path) -> Path:
    """Two CDR files over three months, deletions in two deletedMonths, one of which expires on the night's as-of."""
    folder.mkdir()
    for k, carrier in enumerate(("BT", "VF")):
        # call ids: bt.csv is ingested first (ids 1-60), then vf.csv (61-120); call id c has number(c)
        rows = [good_row(k * 100 + i, target=number(k * 60 + i + 1), carrier=carrier, carrierCallID=f"{carrier}-{i:06d}",
                         startDate=f"2026-0{1 + i % 3}-1{i % 10}") for i in range(60)]
        (folder / f"{carrier.lower()}.csv").write_text(csv_text(rows))
    log = (entry("U-old", [3, 4, 5, 64, 65], "2026-01-20T10:00:00Z") + entry("U-new", [10, 11, 70], "2026-05-20T10:00:00Z")
           + json.dumps({"id": "U-key", "user": "alice", "timestamp": "2026-05-21T10:00:00Z", "action": "delete_calls",
                         "selector": {"carrierCallIds": ["VF-000020", "BT-000030"]}}) + "\n")
    (folder / "log.jsonl").write_text(log)
    return folder


def _night_state(w: Warehouse) -> dict[str, object]:
    return {
        "calls": w.query("SELECT * FROM calls ORDER BY id"),
        "deleted": w.query("SELECT * EXCLUDE (created, updated, runId) FROM deleted_calls ORDER BY id"),
        "files": w.query('SELECT id, fileName, status, "rows", rejected FROM cdr_files ORDER BY id'),
        "archives": w.query('SELECT "partition", "rows", minId, maxId FROM dr_archives ORDER BY ALL'),
        "summary": w.query("SELECT * FROM deleted_calls_summary ORDER BY ALL"),
        "keys": w.query("SELECT * FROM call_keys ORDER BY ALL"),
        "purged": w.query('SELECT "partition", count(*) FROM purged_keys GROUP BY ALL ORDER BY ALL'),  # hashes differ by warehouse
        "analyst": w.json("sql", "SELECT id FROM calls ORDER BY id"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("step", NIGHT_STEPS)
def test_a_night_killed_at_any_step_is_finished_by_the_next_run_and_leaves_no_stray_file(tmp_path, step):
    inbox = _night_inbox(tmp_path / "inbox")
    job = tmp_path / "job.toml"
    job.write_text(f'[job]\nname = "t"\ninbox = "{inbox}"\n\n[retention]\ndays = 30\n\n[inbox]\nmin_age_seconds = 0\n')
    clean = Warehouse(tmp_path / "clean")
    clean.cli("init", ok=True)
    clean.cli("run", str(job), "--as-of", "2026-06-01", ok=True)
    expected = _night_state(clean)
    assert expected["archives"] and expected["purged"] and len(expected["deleted"]) == 5, "the night purges a month"

    w = Warehouse(tmp_path / "killed")
    w.cli("init", ok=True)
    uncompressed(w.home)
    env = dict(os.environ, DELETEDCALLS_USER="analyst", PYTHONPATH=str(REPO), **{CRASH_ENV: step})
    killed = subprocess.run([sys.executable, "-m", "deletedcalls", "--home", str(w.home), "run", str(job), "--as-of", "2026-06-01"],
                            env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    w.cli("run", str(job), "--as-of", "2026-06-01", ok=True)
    assert _night_state(w) == expected
    w.cli("materialise", ok=True)  # one more writer command: files superseded by the rerun go too
    tables = [r[0] for r in w.query("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_catalog = 'lake' AND table_type = 'BASE TABLE'")]
    named = {Path(f) for t in tables for r in w.query(f"SELECT data_file, delete_file FROM ducklake_list_files('lake', '{t}')")  # noqa: S608
             for f in r if f}
    assert set(files_under(w.home.resolve() / "data")) == named, "a file no snapshot names is left under data/"
    everything = [p for p in files_under(w.home) if "dr" not in p.relative_to(w.home).parts]
    for i in (3, 4, 5):  # deleted in January, purged with that month: no byte anywhere outside dr/
        assert holding(everything, number(i)) == [], f"purged {number(i)} is in {holding(everything, number(i))}"
    pages = w.home / "published" / "pages"  # the officers' page store, owner-only like protected.duckdb
    readable = [p for p in files_under(w.home / "published") if p.name != "protected.duckdb" and pages not in p.parents]
    for i in (10, 11):  # deleted in May, kept: in no analyst file
        assert holding(readable, number(i)) == []
    assert holding(readable, number(12)), "control: a live call's number is found"


# ---------------------------------------------------------------- a home given as a relative path


def test_a_home_given_relative_publishes_stores_that_open_from_any_folder(tmp_path: Path):
    """Found in the demo (`--home warehouse`): the lake names its files by absolute path, and publishing compared them
    with the relative home (nothing was published after the night); the analyst view must name absolute paths too."""
    work = tmp_path / "work"
    work.mkdir()
    rows = [good_row(i) for i in range(5)]
    (work / "bt.csv").write_text(csv_text(rows))
    (work / "d.jsonl").write_text(json.dumps({"id": "UAL-1", "user": "alice", "timestamp": "2026-03-05T10:00:00Z",
                                              "action": "delete_calls", "selector": {"callIds": [1]}}) + "\n")
    env = dict(os.environ, DELETEDCALLS_USER="analyst", PYTHONPATH=str(REPO))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deletedcalls", "--home", "wh", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)

    for args in (["init"], ["ingest", "cdr", "bt.csv"], ["ingest", "deletions", "d.jsonl"], ["materialise"]):
        done = cli(*args)
        assert done.returncode == 0 and "could not publish" not in done.stderr, done.stderr
    assert [f["rows"] for f in json.loads(cli("files", "list", "--json").stdout)] == [5]
    elsewhere = duckdb.connect(str(work / "wh" / "published" / "analyst.duckdb"), read_only=True)  # from the test's cwd
    try:
        assert elsewhere.execute("SELECT count(*) FROM calls").fetchall() == [(4,)]
    finally:
        elsewhere.close()


DELETED_CALLS_ROWS = """INSERT INTO deleted_calls BY NAME
    SELECT i AS id, 1000 + i AS callId, 'A' AS callTypeDirectionFlag, 'N' AS callTypeRecordingFlag, DATE '2026-02-01' AS startDate,
           TIME '09:00:00' AS startTime, 5 AS duration, 'VF' AS carrier, 'VF-' || i AS carrierCallID, 'U1' AS userActivityLog,
           'alice' AS deletedBy, TIMESTAMP '2026-03-01' AS deletedAt, '2026-03' AS deletedMonth, TIMESTAMP '2026-03-01' AS created,
           TIMESTAMP '2026-03-01' AS updated, 1 AS runId, TIMESTAMPTZ '2026-02-01 09:00:00+00' AS startedAt
    FROM range($first, $first + $n) AS t(i)"""


def test_deleted_calls_are_written_in_small_row_groups_for_reading_a_page(wh: Warehouse):
    """A page reads whole row groups of its file: deleted_calls' are at most 16,384 rows (lake.READ_BY_PAGE), calls' the default."""
    from deletedcalls.settings import load_settings
    from deletedcalls.store.session import writer

    with writer(load_settings(wh.home)) as con:
        con.execute(DELETED_CALLS_ROWS, {"first": 1, "n": 40_000})
    files = [r[0] for r in wh.query("SELECT data_file FROM ducklake_list_files('lake', 'deleted_calls')")]
    groups = wh.query("SELECT row_group_num_rows FROM parquet_metadata($f) WHERE column_id = 0", {"f": files})
    assert sum(r[0] for r in groups) == 40_000
    assert len(groups) >= 3 and max(r[0] for r in groups) <= 16_384
    options = dict(wh.query("SELECT option_name, value FROM lake.options() WHERE scope_entry = 'main.deleted_calls'"))
    assert options["parquet_row_group_size"] == "16384" and int(options["target_file_size"]) <= 8_000_000


def test_a_conversion_copies_deleted_calls_in_files_of_bounded_size(tmp_path, monkeypatch):
    from deletedcalls.store import convert

    monkeypatch.setattr(convert, "CHUNK_IDS", 8)
    home = tmp_path / "old"
    expected = legacy_home(home)
    assert Warehouse(home).cli("init").exit_code == 0
    _converted_equal(home, expected)
    counts = sorted(r[0] for r in Warehouse(home).query(
        "SELECT record_count FROM __ducklake_metadata_lake.ducklake_data_file AS f "
        "JOIN __ducklake_metadata_lake.ducklake_table AS t USING (table_id) "
        "WHERE t.table_name = 'deleted_calls' AND f.end_snapshot IS NULL AND t.end_snapshot IS NULL"))
    assert counts == [4, 8, 8]  # the 20 deleted calls of the old home: ids 1-8, 9-16, 17-20
