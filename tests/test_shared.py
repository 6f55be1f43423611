"""A warehouse on a shared catalog and object storage (issue 30, docs/SCALE.md): two homes, standing for two
machines, made with the same ``init --catalog postgresql://… --data s3://…`` are one warehouse.

Real servers, started here: a throwaway PostgreSQL cluster of Debian's packages (initdb in a temporary
folder, a free port of 127.0.0.1, run as the ``postgres`` user since PostgreSQL refuses root) and the S3 API
server the DR tests start (moto, conftest). Marked ``postgres``: ``make test`` leaves them to ``make
test-postgres``, which CI runs after installing ``postgresql`` (.ci/run); without initdb they are skipped
with the reason. The checks that need no server (a password in the URL, a catalog nobody answers) are not marked.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import (
    REPO,
    S3Server,
    Warehouse,
    csv_text,
    entry,
    free_port,
    good_row,
    number,
    run_cli,
    uncompressed,
)
from postgres_cluster import INITDB, NO_SERVER, PostgresServer, server_fixture

from deletedcalls.catalog import attach, connection, writer_lake, writer_lock
from deletedcalls.fsutil import CRASH_ENV
from deletedcalls.settings import load_settings


def postgres(test):  # noqa: ANN001, ANN201 -- a test function, marked
    """Marked ``postgres`` and skipped with the reason where Debian's server is not installed."""
    return pytest.mark.postgres(pytest.mark.skipif(not INITDB, reason=NO_SERVER)(test))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway cluster for this test process, stopped even when the run is killed (tests/postgres_cluster.py)."""
    yield from server_fixture()


@pytest.fixture
def lake(postgres_server: PostgresServer, s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A new catalog database and bucket prefix; the S3 server's endpoint for the AWS chain."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    bucket = s3.bucket()
    return {"catalog": postgres_server.database(), "data": f"s3://{bucket}/warehouse", "bucket": bucket}


def two_homes(tmp_path: Path, catalog: str, data: str) -> tuple[Warehouse, Warehouse]:
    a, b = Warehouse(tmp_path / "machine-a"), Warehouse(tmp_path / "machine-b")
    for w in (a, b):
        w.cli("init", "--catalog", catalog, "--data", data, ok=True)
    return a, b


def calls_csv(tmp_path: Path, name: str, first: int, n: int) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(csv_text([good_row(i, target=f"+4479{(i * 7919 + 104729) % 10**8:08d}") for i in range(first, first + n)]))
    return path


def twenty_calls_three_deleted(home: Warehouse, tmp_path: Path) -> Path:
    """20 calls ingested on ``home``, calls 1-3 deleted by one entry and materialised; returns the deletion log."""
    home.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt.csv", 0, 20)), ok=True)
    log = tmp_path / "in" / "d.jsonl"
    log.write_text(entry("UAL-1", [1, 2, 3], "2026-03-06T10:00:00Z"))
    home.cli("ingest", "deletions", str(log), ok=True)
    home.cli("materialise", ok=True)
    return log


@postgres
@pytest.mark.parametrize("where", ["s3", "mount"])
def test_two_homes_made_with_the_same_catalog_and_data_are_one_warehouse(where, lake, s3, tmp_path):
    data = lake["data"] if where == "s3" else (tmp_path / "shared-mount").as_uri()
    a, b = two_homes(tmp_path, lake["catalog"], data)
    a.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt.csv", 0, 30)), ok=True)

    # what A ingested, B lists: no copy, the same catalog
    rows = b.json("sql", "SELECT fileName, \"rows\" FROM cdr_files", user="dpo")
    assert rows == [{"fileName": "bt.csv", "rows": 30}]
    assert a.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 30}]  # the analyst store of the writer's home
    b.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt2.csv", 100, 5)), ok=True)
    assert a.json("sql", "SELECT count(*) AS n FROM calls", user="dpo") == [{"n": 35}]
    # analysts on A, which has not written since, read the store B's command published in the analysts' prefix
    assert a.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 35}]

    # the data files are where --data says, never in a home; the homes record where, and no secret
    for w in (a, b):
        assert not (w.home / "data").exists() and not (w.home / "deletedcalls.duckdb").exists()
        text = (w.home / "config.toml").read_text()
        assert f'catalog = "{lake["catalog"]}"' in text and f'data = "{data}"' in text
        assert oct((w.home / "config.toml").stat().st_mode & 0o777) == "0o600"
    if where == "s3":
        keys = list(s3.objects(lake["bucket"]))
        assert keys and all(k.startswith(("warehouse/", "warehouse-analyst/calls/")) or k == "warehouse-analyst/analyst.duckdb"
                            for k in keys)
        assert any(k.startswith("warehouse/main/calls/") and k.endswith(".parquet") for k in keys)
        assert any(k.startswith("warehouse-analyst/calls/") for k in keys)  # the analysts' copies, beside the lake
    else:
        assert list((tmp_path / "shared-mount" / "main" / "calls").rglob("*.parquet"))
        assert list((tmp_path / "shared-mount-analyst" / "calls").glob("*.parquet"))


@postgres
def test_a_second_writer_on_another_home_exits_5_at_once_and_readers_do_not_wait(lake, tmp_path):
    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    a.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt.csv", 0, 10)), ok=True)
    # A writer holds the catalog's writer lock (its own PostgreSQL session, as a writer command does)
    with writer_lock(load_settings(a.home)):
        started = time.monotonic()
        second = b.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt2.csv", 100, 5)))
        assert second.exit_code == 5, second.stderr
        assert "busy" in second.stderr and "another machine" in second.stderr
        assert time.monotonic() - started < 10, "a second writer fails at once, it does not wait"
        reader = b.cli("sql", "SELECT count(*) AS n FROM cdr_files", "--json", user="dpo")
        assert reader.exit_code == 0, reader.stderr  # readers never take the lock
    # released with its session: the next writer goes ahead
    b.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt2.csv", 100, 5)), ok=True)
    assert a.json("sql", "SELECT count(*) AS n FROM cdr_files", user="dpo") == [{"n": 2}]


@postgres
@pytest.mark.slow
def test_a_killed_writer_leaves_the_lock_to_the_other_home_and_its_rerun_equals_a_clean_run(lake, postgres_server, tmp_path):
    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    big = calls_csv(tmp_path, "bt.csv", 0, 10_000)
    proc = run_cli(a.home, "ingest", "cdr", str(big))
    # mid-run, deterministically: once the writer holds the catalog's writer lock, it is stopped (SIGSTOP) until the kill
    import psycopg

    with psycopg.connect(lake["catalog"], autocommit=True) as watch:
        deadline = time.monotonic() + 60
        while not watch.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0]:
            assert proc.poll() is None and time.monotonic() < deadline, "the writer never held the lock"
            time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)
    assert proc.poll() is None, "the writer finished before the kill: the test would prove nothing"
    # while A's writer runs: a second writer on B exits 5 at once, an officer's read on B answers
    second = b.cli("ingest", "cdr", str(calls_csv(tmp_path, "other.csv", 10_000, 5)))
    reader = b.cli("sql", "SELECT count(*) AS n FROM cdr_files", "--json", user="dpo")
    running = proc.poll() is None
    proc.kill()
    proc.wait()
    assert running, "the writer finished before the second writer and the reader ran: slow the test's machine less"
    assert second.exit_code == 5 and "busy" in second.stderr, second.stderr
    assert reader.exit_code == 0, reader.stderr
    rerun = b.cli("ingest", "cdr", str(big))  # the other machine: the lock died with the killed session
    assert rerun.exit_code == 0, rerun.stderr
    # a clean run of the same file on a fresh shared warehouse
    clean = Warehouse(tmp_path / "clean")
    clean.cli("init", "--catalog", postgres_server.database(), "--data", lake["data"] + "-clean", ok=True)
    clean.cli("ingest", "cdr", str(big), ok=True)
    q = 'SELECT carrierCallID, target, startedAt, costCDR FROM calls ORDER BY carrierCallID'
    assert b.json("sql", q, user="dpo") == clean.json("sql", q, user="dpo")
    assert b.json("sql", "SELECT fileName, status, \"rows\" FROM cdr_files WHERE status = 'loaded'", user="dpo") == \
        [{"fileName": "bt.csv", "status": "loaded", "rows": 10_000}]


AFTER_RUN = {
    "calls": "SELECT * FROM calls ORDER BY id",
    "deleted_calls": "SELECT * EXCLUDE (created, updated, runId) FROM deleted_calls ORDER BY id",
    "cdr_files": "SELECT * EXCLUDE (ingestedAt, runId) FROM cdr_files WHERE status = 'loaded' ORDER BY fileName",
    "deletion_items": "SELECT * EXCLUDE (resolvedAt, resolvedRunId) FROM deletion_items ORDER BY ALL",
}


@postgres
@pytest.mark.slow
@pytest.mark.parametrize("step", ["run-ingested", "run-materialised", "tidy-rewritten", "publish-written"])
def test_a_run_killed_at_a_step_then_rerun_from_the_other_home_equals_a_clean_run(step, lake, postgres_server, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "bt.csv").write_text(csv_text([good_row(i, target=number(i + 1)) for i in range(40)]))
    (inbox / "deletions.jsonl").write_text(entry("UAL-1", [1, 2, 3], "2026-03-06T10:00:00Z"))
    job = tmp_path / "job.toml"
    job.write_text(f'[job]\nname = "night"\ninbox = "{inbox}"\n\n[inbox]\nmin_age_seconds = 0\n')
    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    os.environ[CRASH_ENV] = step
    try:
        killed = run_cli(a.home, "run", str(job), "--as-of", "2026-04-01")  # SIGKILLs itself at the step
    finally:
        del os.environ[CRASH_ENV]  # never in this process: the rerun and the clean run run in it
    killed.communicate(timeout=300)
    assert killed.returncode == -9, f"the writer was not killed at {step}"
    b.cli("run", str(job), "--as-of", "2026-04-01", ok=True)  # the lock died with the killed session
    clean = Warehouse(tmp_path / "clean")
    clean.cli("init", "--catalog", postgres_server.database(), "--data", lake["data"] + "-clean", ok=True)
    clean.cli("run", str(job), "--as-of", "2026-04-01", ok=True)
    for name, q in AFTER_RUN.items():
        assert b.json("sql", q, user="dpo") == clean.json("sql", q, user="dpo"), name
    assert a.json("sql", "SELECT count(*) AS n FROM deleted_calls", user="dpo") == [{"n": 3}]


@postgres
def test_serve_on_the_other_home_answers_from_the_shared_catalog_and_follows_its_snapshots(lake, tmp_path):
    from test_server import LIST, Server

    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    log = twenty_calls_three_deleted(a, tmp_path)
    token = a.cli("tokens", "create", "--user", "dpo", user="dpo", ok=True).stdout.strip()  # made on A, used on B
    server = Server(b.home)
    try:
        first = server.get(LIST, token, limit=100)
        assert first.status_code == 200, first.text
        assert sorted(r["target"] for r in first.json()["results"]) == sorted(number(i) for i in range(3))  # call id i+1
        log.write_text(entry("UAL-2", [4, 5], "2026-03-07T10:00:00Z"))
        a.cli("ingest", "deletions", str(log), ok=True)
        a.cli("materialise", ok=True)  # a new snapshot: served without a restart
        assert len(server.get(LIST, token, limit=100).json()["results"]) == 5
        assert server.get(LIST, "not-a-token").status_code == 401
    finally:
        err = server.stop()
    assert "Traceback" not in err, err


@postgres
def test_a_purge_removes_the_purged_months_bytes_from_the_bucket(lake, s3, tmp_path):
    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    settings = load_settings(a.home)
    con = connection(settings)  # no writer is running: plain Parquet, so that the bucket's bytes can be scanned
    try:
        attach(con, writer_lake(settings), "lake")
        con.execute("CALL lake.set_option('parquet_compression', 'uncompressed')")
    finally:
        con.close()
    rows = [good_row(i, target=number(i + 1), external=number(i + 1001)) for i in range(20)]  # call id i+1
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bt.csv").write_text(csv_text(rows))
    (tmp_path / "in" / "d.jsonl").write_text(entry("UAL-1", [1, 2, 3, 4, 5, 6], "2026-01-15T10:00:00Z")
                                             + entry("UAL-2", [7, 8], "2026-06-01T00:00:00Z"))
    a.cli("ingest", "cdr", str(tmp_path / "in" / "bt.csv"), ok=True)
    b.cli("ingest", "deletions", str(tmp_path / "in" / "d.jsonl"), ok=True)
    a.cli("materialise", ok=True)
    listed = b.cli("deleted-calls", "list", "--format", "json", user="dpo", ok=True)  # an officer on the other machine
    assert sorted(r["target"] for r in json.loads(listed.stdout)["results"]) == sorted(number(i) for i in range(1, 9))
    before = b"".join(s3.objects(lake["bucket"]).values())
    assert number(1).encode() in before, "control: the number is in the bucket before the purge"
    b.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)  # January's deletions expire, from the other home
    after = b"".join(s3.objects(lake["bucket"]).values())
    for i in range(1, 7):
        assert number(i).encode() not in after, f"purged number {number(i)} still in the bucket"
        assert number(i + 1000).encode() not in after
    for i in (7, 8, 15):  # control: deleted in June (kept), or live
        assert number(i).encode() in after, f"kept number {number(i)} not found: the scan is blind"
    assert a.json("sql", "SELECT count(*) AS n FROM retention_events WHERE erasedAt IS NULL", user="dpo") == [{"n": 0}]


@postgres
def test_a_purge_never_makes_readers_wait_and_exits_5_when_a_reader_holds_the_catalog(lake, postgres_server, tmp_path):
    """Issue 30, finding 9: the catalog's VACUUM FULL after a purge queued every new reader behind its lock request
    for 20 s and then exited 1 on a closed connection. Now it waits a moment per try: a reader started meanwhile
    answers at once, the command exits 5 with one line, the purge is kept and the next run erases."""
    import psycopg

    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    rows = [good_row(i, target=number(i + 1)) for i in range(20)]  # call id i+1
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bt.csv").write_text(csv_text(rows))
    (tmp_path / "in" / "d.jsonl").write_text(entry("UAL-1", [1, 2, 3], "2026-01-15T10:00:00Z"))
    a.cli("ingest", "cdr", str(tmp_path / "in" / "bt.csv"), ok=True)
    a.cli("ingest", "deletions", str(tmp_path / "in" / "d.jsonl"), ok=True)
    a.cli("materialise", ok=True)
    url = lake["catalog"]
    holder = psycopg.connect(url)  # a reader in a long transaction: it holds ducklake_snapshot until it ends
    try:
        holder.execute("SELECT count(*) FROM ducklake_snapshot").fetchall()
        proc = run_cli(b.home, "retention", "enforce", "--as-of", "2026-06-01", text=True)
        waits = []
        with psycopg.connect(url, autocommit=True) as watch:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                queued = watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                                       "'ducklake_snapshot'::regclass").fetchone()
                if queued and queued[0]:  # the VACUUM asks for the table: a new reader now
                    started = time.monotonic()
                    with psycopg.connect(url, autocommit=True) as reader:
                        reader.execute("SELECT count(*) FROM ducklake_snapshot").fetchall()
                    waits.append(time.monotonic() - started)
                time.sleep(0.2)
        out, err = proc.communicate(timeout=120)
    finally:
        holder.close()
    assert waits, "the VACUUM never asked for the held table: the test proved nothing"
    assert max(waits) < 3, f"a reader waited {max(waits):.1f} s behind the catalog's VACUUM"
    assert proc.returncode == 5, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # the others: the purge's progress
    assert len(errors) == 1 and "ducklake_snapshot" in errors[0] and "next retention run" in errors[0], err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert a.json("sql", "SELECT count(*) AS n FROM deleted_calls", user="dpo") == [{"n": 0}]  # purged all the same
    assert a.json("sql", "SELECT count(*) AS n FROM retention_events WHERE erasedAt IS NULL", user="dpo") != [{"n": 0}]
    b.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)  # no reader now: the erasure completes
    assert a.json("sql", "SELECT count(*) AS n FROM retention_events WHERE erasedAt IS NULL", user="dpo") == [{"n": 0}]


@postgres
def test_a_bucket_that_does_not_exist_or_no_credentials_is_exit_7_naming_the_location(lake, postgres_server, tmp_path,
                                                                                     monkeypatch):
    """Issue 30, finding 8: these were exit 1 "unexpected error" (NoSuchBucket, Secret Validation Failure)."""
    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    a.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt.csv", 0, 20)), ok=True)

    def refused(w: Warehouse, *args: str, where: str, user: str = "analyst") -> None:
        result = w.cli(*args, user=user)
        assert result.exit_code == 7, (args, result.exit_code, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and where in result.stderr, result.stderr
        assert "unexpected" not in result.stderr and "Traceback" not in result.stderr, result.stderr

    missing = "s3://no-such-bucket-30/warehouse"
    fresh = Warehouse(tmp_path / "fresh")
    refused(fresh, "init", "--catalog", postgres_server.database(), "--data", missing, where=missing)
    config = b.home / "config.toml"
    config.write_text(config.read_text().replace(lake["data"], missing))  # B's data now names a bucket nobody made
    refused(b, "ingest", "cdr", str(calls_csv(tmp_path, "bt2.csv", 100, 5)), where=missing)
    refused(b, "sql", "SELECT count(*) FROM calls", where=missing)
    with monkeypatch.context() as m:  # no credentials anywhere in the AWS chain
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            m.delenv(name, raising=False)
        m.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        m.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        m.setenv("AWS_EC2_METADATA_DISABLED", "true")
        refused(a, "ingest", "cdr", str(calls_csv(tmp_path, "bt2.csv", 100, 5)), where=lake["data"])
        refused(a, "sql", "SELECT count(*) FROM calls", where=lake["data"])
        refused(a, "sql", "SELECT count(*) FROM calls", where=lake["data"], user="dpo")
    assert a.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 20}]  # control: with them, it answers


# what an officer reads of each table after the demo's night: every column but the instants a command stamps
NIGHT_TABLES = {
    "calls": "SELECT * FROM calls ORDER BY carrier, carrierCallID",
    "deleted_calls": "SELECT * EXCLUDE (created, updated) FROM deleted_calls ORDER BY carrier, carrierCallID",
    "cdr_files": "SELECT * EXCLUDE (ingestedAt) FROM cdr_files ORDER BY id",
    "rejected_rows": "SELECT * FROM rejected_rows ORDER BY ALL",
    "pending_deletions": "SELECT * EXCLUDE (pendingSince) FROM pending_deletions ORDER BY ALL",
    "ultravox_calls": "SELECT * EXCLUDE (updated) FROM ultravox_calls ORDER BY id",
}


@postgres
def test_the_demo_night_on_a_shared_warehouse_gives_the_tables_of_a_home_of_its_own(lake, tmp_path):
    """The nightly job over the demo's inbox (its files, profiles, rejects, deletions, materialise, retention)
    on the shared layout, against the same night in a home of its own: the same rows in every table."""
    own = Warehouse(tmp_path / "own")
    own.cli("init", ok=True)
    shared, other = two_homes(tmp_path, lake["catalog"], lake["data"])
    night = ["run", str(REPO / "jobs" / "nightly.toml"), "--inbox", str(REPO / "data"), "--as-of", "2026-05-15",
             "--min-age-seconds", "0"]
    for w in (own, shared):
        assert w.cli(*night).exit_code == 3  # ee-2026-03-01.csv is over its reject limit, as in make demo
    for name, q in NIGHT_TABLES.items():
        mine, theirs = own.json("sql", q, user="dpo"), other.json("sql", q, user="dpo")
        assert theirs == mine, name
        assert mine or name in ("pending_deletions",), f"control: {name} is empty in both"


@postgres
def test_an_analyst_on_a_shared_home_reaches_neither_the_catalog_database_nor_protected_files(lake, tmp_path):
    a, _ = two_homes(tmp_path, lake["catalog"], lake["data"])
    twenty_calls_three_deleted(a, tmp_path)
    assert a.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 17}]  # control: the analyst store answers
    attempts = [
        f"SELECT * FROM postgres_scan('{lake['catalog']}', 'public', 'ducklake_table_column_stats')",
        f"SELECT * FROM postgres_query('{lake['catalog']}', 'SELECT * FROM ducklake_data_file')",
        f"SELECT * FROM read_parquet('{lake['data']}/main/deleted_calls/**/*.parquet')",
        f"SELECT * FROM read_parquet('{lake['data']}/main/call_keys/*.parquet')",
    ]
    for q in attempts:
        result = a.cli("sql", q, "--json")
        assert result.exit_code in (2, 4), (q, result.stdout)
        assert number(0) not in result.stdout + result.stderr and "ducklake" not in result.stdout


@postgres
@pytest.mark.parametrize("where", ["s3", "mount"])
def test_an_analyst_reads_no_lake_file_through_the_analysts_prefix_however_the_path_is_spelled(where, lake, s3, tmp_path):
    """Issue 30, finding 1: DuckDB's allowed_directories is a string-prefix check and the S3 client resolves
    ``..``, so ``s3://b/wh-analyst/../wh/…`` reached the lake's files. The analysts' connection now opens exactly
    the files its calls view names: every other spelling is refused (exit 4, logged), built at run time too."""
    data = lake["data"] if where == "s3" else (tmp_path / "shared-mount").as_uri()
    a, b = two_homes(tmp_path, lake["catalog"], data)
    twenty_calls_three_deleted(a, tmp_path)
    assert b.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 17}]  # control: the view's files open
    base = "warehouse" if where == "s3" else "shared-mount"  # the data prefix's last name
    if where == "s3":
        keys, root = list(s3.objects(lake["bucket"])), f"s3://{lake['bucket']}/"
    else:
        keys, root = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()], f"{tmp_path}/"
    deleted = next(k for k in keys if k.startswith(f"{base}/main/deleted_calls/") and k.endswith(".parquet"))
    analysts = next(k for k in keys if k.startswith(f"{base}-analyst/calls/"))
    lake_file = deleted  # a file of the lake holding the deleted calls
    prefix = f"{root}{base}-analyst/"
    control = b.cli("sql", f"SELECT count(*) AS n FROM read_parquet('{root}{deleted}')", "--json", user="dpo")
    assert control.exit_code == 0 and json.loads(control.stdout) == [{"n": 3}], control.stderr  # an officer's read
    attempts = [
        f"read_parquet('{prefix}../{lake_file}')",
        f"read_parquet('{prefix}calls/../../{lake_file}')",
        f"read_parquet('{root}{analysts}/../../../{lake_file}')",
        f"read_parquet('{prefix}' || '..' || '/{lake_file}')",  # built at run time: no '/../' in the text
        f"read_parquet(concat('{prefix}', chr(46), chr(46), '/{lake_file}'))",
        f"read_parquet('{prefix}%2e%2e/{lake_file}')",
        f"read_parquet('{prefix}%2E%2E%2F{lake_file}')",
        f"read_parquet('{prefix}calls//../../{lake_file}')",
        f"read_parquet('{prefix.replace('-analyst/', '-analyst//')}../{lake_file}')",
        f"read_parquet('{prefix}./../{lake_file}')",
        f"read_parquet('{prefix}calls/*.parquet')",  # no folder, not even the analysts' own
        f"read_blob('{prefix}../{lake_file}')",
    ]
    for source in attempts:
        q = f"SELECT * FROM {source}"
        result = b.cli("sql", q, "--json")
        assert result.exit_code == 4, (q, result.exit_code, result.stdout[:300], result.stderr)
        assert result.stdout == "" and number(1) not in result.stderr, q
    refused = [e for e in b.access_log("command", "allowed", "reason") if e[0] == "sql" and not e[1]]
    assert refused == [("sql", False, "reads files")] * len(attempts), refused
    assert b.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 17}]  # and the view still reads its files


# ---------------------------------------------------------------- without a server


def test_a_password_in_the_catalog_url_is_refused_and_nothing_is_written(tmp_path):
    w = Warehouse(tmp_path / "h")
    result = w.cli("init", "--catalog", "postgresql://u:secret@127.0.0.1:5432/db", "--data", "s3://b/p")
    assert result.exit_code == 2
    assert "password" in result.stderr and "secret" not in result.stderr
    assert not (w.home / "config.toml").exists()


@pytest.mark.parametrize("args", [["--catalog", "postgresql://u@127.0.0.1/db"], ["--data", "s3://b/p"],
                                  ["--catalog", "mysql://u@h/db", "--data", "s3://b/p"],
                                  ["--catalog", "postgresql://u@h/db", "--data", "/relative/or/plain"],
                                  ["--catalog", "postgresql://u@h/db", "--data", "s3://bucket-without-prefix/"]])
def test_catalog_and_data_go_together_and_are_urls(tmp_path, args):
    result = Warehouse(tmp_path / "h").cli("init", *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1


def test_a_catalog_nobody_answers_is_exit_7_naming_it(tmp_path):
    pytest.importorskip("duckdb_extension_postgres_scanner")
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/db"
    result = Warehouse(tmp_path / "h").cli("init", "--catalog", url, "--data", (tmp_path / "m").as_uri())
    assert result.exit_code == 7, result.stderr
    assert url in result.stderr and "Traceback" not in result.stderr


def test_a_home_of_its_own_is_not_moved_to_a_shared_catalog_by_init(wh, tmp_path):
    result = wh.cli("init", "--catalog", "postgresql://u@127.0.0.1/db", "--data", (tmp_path / "m").as_uri())
    assert result.exit_code == 2 and "does not move" in result.stderr


# ---------------------------------------------------------------- the analysts' boundary on the shared layout


@postgres
@pytest.mark.parametrize("where", ["s3", "mount"])
def test_the_analyst_prefix_holds_no_byte_of_a_deleted_call_even_before_materialise(where, lake, s3, tmp_path):
    data = lake["data"] if where == "s3" else (tmp_path / "shared-mount").as_uri()
    a, b = two_homes(tmp_path, lake["catalog"], data)
    uncompressed(a.home)

    def prefix(name: str) -> bytes:  # every byte under the lake's data prefix or the analysts' one
        if where == "s3":
            return b"".join(v for k, v in s3.objects(lake["bucket"]).items() if k.startswith(f"{name}/"))
        return b"".join(p.read_bytes() for p in (tmp_path / f"shared-mount{name.removeprefix('warehouse')}").rglob("*")
                        if p.is_file())

    rows = [good_row(i, target=number(i + 1), external=number(i + 1001)) for i in range(20)]  # call id i+1
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bt.csv").write_text(csv_text(rows))
    a.cli("ingest", "cdr", str(tmp_path / "in" / "bt.csv"), ok=True)
    assert number(1).encode() in prefix("warehouse-analyst"), "control: the analysts' copy holds the live call"
    (tmp_path / "in" / "d.jsonl").write_text(entry("UAL-1", [1, 2, 3], "2026-03-06T10:00:00Z"))
    b.cli("ingest", "deletions", str(tmp_path / "in" / "d.jsonl"), ok=True)  # the other machine: pending, not moved

    assert number(1).encode() in prefix("warehouse"), "control: before materialise the lake's calls file holds it"
    for stage in ("deletion ingested", "materialised"):
        analysts = prefix("warehouse-analyst")
        for i in range(1, 4):
            assert number(i).encode() not in analysts, f"{stage}: deleted call {i} in the analysts' prefix"
            assert number(i + 1000).encode() not in analysts
        for i in (4, 20):
            assert number(i).encode() in analysts, f"{stage}: live call {i} not found: the scan is blind"
        assert b.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 17}]  # B's analysts: its own publish
        a.cli("materialise", ok=True)
    # an analyst's sql reaches the analysts' prefix only, not the lake's calls files
    refused = b.cli("sql", f"SELECT * FROM read_parquet('{lake_prefix(data)}main/calls/**/*.parquet')", "--json")
    assert refused.exit_code in (2, 4) and number(1) not in refused.stdout, refused.stdout


def lake_prefix(data: str) -> str:
    return data.removeprefix("file://").rstrip("/") + "/"


@postgres
def test_an_analysts_postgresql_role_reads_no_table_of_the_catalog(lake, postgres_server, tmp_path):
    """Analysts need no PostgreSQL role (their catalog is the analyst store, their data the analysts' prefix); one
    given to them for something else, with PostgreSQL's default privileges, reads nothing of the catalog: not
    deleted_calls' files, not their statistics, not an inlined row."""
    a, _ = two_homes(tmp_path, lake["catalog"], lake["data"])
    twenty_calls_three_deleted(a, tmp_path)
    db = lake["catalog"].rsplit("/", 1)[1]
    assert postgres_server.psql(db, f"CREATE ROLE analyst_{db} LOGIN").returncode == 0
    tables = postgres_server.psql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").stdout.split()
    assert "ducklake_table_column_stats" in tables and "ducklake_data_file" in tables, tables
    stats = "SELECT count(*) FROM ducklake_file_column_stats"
    assert int(postgres_server.psql(db, stats).stdout) > 0, "control: the writer's role reads the statistics"
    for table in tables:
        denied = postgres_server.psql(db, f"SELECT * FROM {table} LIMIT 1", user=f"analyst_{db}")
        assert denied.returncode != 0 and "permission denied" in denied.stderr, (table, denied.stdout)
    # and DuckLake itself, attached with that role, opens nothing
    con = connection(load_settings(a.home))
    try:
        with pytest.raises(duckdb.Error, match="permission denied"):
            con.execute(f"ATTACH 'ducklake:postgres:{lake['catalog'].replace('deletedcalls@', f'analyst_{db}@')}' "
                        f"AS lake (DATA_PATH '{lake['data']}/', READ_ONLY)")
            con.execute("SELECT count(*) FROM lake.deleted_calls").fetchall()
    finally:
        con.close()


@postgres
def test_a_purge_leaves_no_purged_byte_in_the_catalog_databases_files(lake, postgres_server, tmp_path):
    """The purged month's file statistics (min/max phone numbers) are gone from PostgreSQL's table files, not only
    from its visible rows: the catalog is VACUUM FULLed after the purge (plain VACUUM leaves the dead rows' bytes)."""
    a, b = two_homes(tmp_path, lake["catalog"], lake["data"])
    uncompressed(a.home)
    rows = [good_row(i, target=number(i + 1), external=number(i + 1001)) for i in range(20)]  # call id i+1
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bt.csv").write_text(csv_text(rows))
    (tmp_path / "in" / "d.jsonl").write_text(entry("UAL-1", [1, 2, 3, 4, 5, 6], "2026-01-15T10:00:00Z")
                                             + entry("UAL-2", [7, 8], "2026-06-01T00:00:00Z"))
    a.cli("ingest", "cdr", str(tmp_path / "in" / "bt.csv"), ok=True)
    a.cli("ingest", "deletions", str(tmp_path / "in" / "d.jsonl"), ok=True)
    a.cli("materialise", ok=True)
    db = lake["catalog"].rsplit("/", 1)[1]
    oid = postgres_server.psql(db, f"SELECT oid FROM pg_database WHERE datname = '{db}'").stdout.strip()
    purged = [number(i).encode() for i in range(1, 7)] + [number(i + 1000).encode() for i in range(1, 7)]

    def in_table_files() -> list[bytes]:  # every file of this catalog database, written out first
        assert postgres_server.psql(db, "CHECKPOINT").returncode == 0
        files = [p.read_bytes() for p in (postgres_server.data / "base" / oid).iterdir() if p.is_file()]
        return [n for n in purged if any(n in f for f in files)]

    # the planner's statistics (autovacuum's ANALYZE), as a catalog made before they were turned off has them
    old = "SELECT DISTINCT tablename, attname FROM pg_stats WHERE tablename LIKE 'ducklake%' AND attname LIKE '%value'"
    columns = [line.split("|") for line in postgres_server.psql(db, old).stdout.split()]
    assert ["ducklake_file_column_stats", "min_value"] not in columns, "the writer turned them off on every value column"
    for table in ("ducklake_file_column_stats", "ducklake_table_column_stats"):
        for column in ("min_value", "max_value"):
            assert postgres_server.psql(db, f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS -1").returncode == 0
    assert postgres_server.psql(db, "ANALYZE").returncode == 0
    stats = "SELECT string_agg(histogram_bounds::text || coalesce(most_common_vals::text, ''), ' ') FROM pg_stats " \
            "WHERE tablename = 'ducklake_file_column_stats' AND attname = 'min_value'"
    assert number(1) in postgres_server.psql(db, stats).stdout, "control: ANALYZE copied a purged number"
    assert in_table_files(), "control: the deleted calls' statistics are in the catalog's files before the purge"
    b.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)  # January's deletions expire
    assert in_table_files() == []
    assert postgres_server.psql(db, stats).stdout.strip() == "", "the planner's statistics of the purged are gone"
    assert postgres_server.psql(db, "ANALYZE").returncode == 0  # and an ANALYZE now copies no value back
    assert all(number(i) not in postgres_server.psql(db, "SELECT * FROM pg_stats WHERE tablename LIKE 'ducklake%'").stdout
               for i in range(7, 21)), "kept numbers in the planner's statistics: they are not turned off"
    kept = "SELECT count(*) FROM ducklake_data_file"
    assert int(postgres_server.psql(db, kept).stdout) > 0, "control: the catalog still lists the kept files"
    assert a.json("sql", "SELECT count(*) AS n FROM deleted_calls", user="dpo") == [{"n": 2}]
