"""The command line as a whole: init, help, exit codes, read-only sql, busy warehouse."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import click
import duckdb
import pytest
from click.testing import CliRunner
from conftest import REPO, csv_text, good_row, lake_connection, run_cli

from deletedcalls.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=" ".join)
def test_every_command_has_help(path):
    cmd = cli
    for part in path:
        cmd = cmd.commands[part]  # type: ignore[attr-defined]
    assert cmd.help, f"{' '.join(path)} has no help text"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0


def test_help_lists_the_exit_codes():
    result = CliRunner().invoke(cli, ["--help"])
    assert "4 permission denied" in result.stdout and "5 warehouse busy" in result.stdout


def test_init_makes_an_owner_only_home_with_commented_config(wh):
    mode = stat.S_IMODE(os.stat(wh.home).st_mode)
    assert mode == 0o700
    assert stat.S_IMODE(os.stat(wh.home / "config.toml").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(wh.home / "deletedcalls.duckdb").st_mode) == 0o600
    config = (wh.home / "config.toml").read_text()
    assert "# " in config and "days = 90" in config and "max_reject_ratio = 0.01" in config


def test_init_again_does_nothing_and_keeps_data(wh, write):
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text([good_row(0)]))), ok=True)
    again = wh.cli("init")
    assert again.exit_code == 0 and "up to date" in again.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 1


def test_init_upgrades_a_warehouse_made_by_an_older_version(tmp_path):
    from deletedcalls.sqlfiles import migrations, sql_dir

    home = tmp_path / "old"
    home.mkdir()
    # a warehouse of the first version (one DuckDB file: the layout before the lake, sql/legacy/)
    con = duckdb.connect(str(home / "deletedcalls.duckdb"))
    first = sorted((sql_dir() / "legacy").glob("*.sql"))[0]
    con.execute(first.read_text())
    con.execute("INSERT INTO schema_migrations VALUES (1, $n, now()::TIMESTAMP)", {"n": first.name})
    con.close()
    runner = CliRunner()
    latest = migrations()[-1][0]
    stale = runner.invoke(cli, ["--home", str(home), "files", "list"])
    assert stale.exit_code == 2 and "init" in stale.stderr
    result = runner.invoke(cli, ["--home", str(home), "init"])
    assert result.exit_code == 0, result.stderr
    con = lake_connection(home)
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0] == latest
    con.close()


def test_a_migration_numbered_below_the_warehouses_version_is_still_applied(tmp_path):
    """Branches reserve migration numbers, so one may be merged after a higher one ran (versions have gaps): an old
    home that lacks one is brought to the last legacy version in number order, then converted to the lake."""
    from deletedcalls.sqlfiles import migrations, sql_dir
    from deletedcalls.store.warehouse import create_macros

    home = tmp_path / "gap"
    home.mkdir()
    con = duckdb.connect(str(home / "deletedcalls.duckdb"))
    create_macros(con)
    legacy = sorted((sql_dir() / "legacy").glob("[0-9][0-9][0-9]_*.sql"))
    for path in legacy:
        if path.name[:3] != "009":  # 009_tokens arrives late: nothing after it depends on it
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES ($v, $n, now()::TIMESTAMP)", {"v": int(path.name[:3]), "n": path.name})
    con.close()
    runner = CliRunner()
    stale = runner.invoke(cli, ["--home", str(home), "materialise"])
    assert stale.exit_code == 2 and "init" in stale.stderr, stale.stderr
    result = runner.invoke(cli, ["--home", str(home), "init"])
    assert result.exit_code == 0, result.stderr
    con = lake_connection(home)
    assert [v for (v,) in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()] == [
        int(p.name[:3]) for p in legacy] + [v for v, _ in migrations()]
    assert con.execute("SELECT count(*) FROM api_tokens").fetchall() == [(0,)]
    con.close()
    assert runner.invoke(cli, ["--home", str(home), "files", "list"]).exit_code == 0


def test_a_command_without_a_warehouse_says_to_run_init(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "none"), "files", "list"])
    assert result.exit_code == 2
    assert "init" in result.stderr and "Traceback" not in result.output


def test_an_unknown_config_key_names_the_file_and_the_nearest_key(wh):
    cfg = wh.home / "config.toml"
    cfg.write_text(cfg.read_text().replace("days = 90", "dayz = 90"))
    result = wh.cli("files", "list")
    assert result.exit_code == 2
    assert "config.toml" in result.stderr and "retention.days" in result.stderr


def test_sql_is_read_only_and_cannot_reach_files(wh, write, tmp_path):
    path = write("a.csv", csv_text([good_row(0)]))
    wh.cli("ingest", "cdr", str(path), ok=True)
    rows = wh.json("sql", "SELECT target, costCDR, startDate FROM calls")
    assert rows == [{"target": "07700900000", "costCDR": "1.2345", "startDate": "2026-03-05"}]
    for query, code in (
        ("DELETE FROM calls", 2),
        ("INSERT INTO calls SELECT * FROM calls", 2),
        ("DROP TABLE calls", 2),
        ("SELECT 1; DELETE FROM calls", 2),
        (f"SELECT * FROM read_csv('{path}')", 4),
        (f"COPY calls TO '{tmp_path / 'leak.csv'}'", 2),
        (f"ATTACH '{tmp_path / 'x.duckdb'}' AS x", 2),
        ("SET enable_external_access = true", 2),
    ):
        result = wh.cli("sql", query)
        assert result.exit_code == code, query
        assert result.stdout == "", query
        assert len(result.stderr.strip().splitlines()) == 1, query
    assert not (tmp_path / "leak.csv").exists()
    assert wh.scalar("SELECT count(*) FROM calls") == 1


def test_a_query_error_leaves_stdout_empty(wh):
    result = wh.cli("sql", "SELECT nope FROM calls", "--json")
    assert result.exit_code == 2 and result.stdout == ""


def test_logs_can_be_json_lines(wh, write):
    path = write("a.csv", csv_text([good_row(0)]))
    result = CliRunner().invoke(cli, ["--home", str(wh.home), "--log-format", "json", "ingest", "cdr", str(path)])
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert lines and all("message" in line and "time" in line for line in lines)
    assert lines[-1]["rows"] == 1


def test_a_second_process_gets_busy_at_once_and_changes_nothing(wh, write):
    path = write("a.csv", csv_text([good_row(0)]))
    # another program (an analyst's DuckDB shell, say) holds the database file open
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(wh.home / 'deletedcalls.duckdb')!r}); print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"ready"
        start = time.time()
        proc = run_cli(wh.home, "ingest", "cdr", str(path))
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 5, err
        assert time.time() - start < 10
        assert b"busy" in err and b"Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        # readers open the published stores, never the writer's file: they still answer
        reader = run_cli(wh.home, "files", "list")
        _, err = reader.communicate(timeout=30)
        assert reader.returncode == 0, err
    finally:
        holder.kill()
        holder.wait()
    assert wh.scalar("SELECT count(*) FROM calls") == 0


def test_the_os_lock_makes_a_second_deletedcalls_busy(wh):
    import fcntl

    fd = os.open(wh.home / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = wh.cli("init")
        assert result.exit_code == 5
    finally:
        os.close(fd)


def test_the_package_finds_its_sql_files_when_run_as_a_module(wh):
    out = subprocess.run(
        [sys.executable, "-c", "from deletedcalls.sqlfiles import sql_dir, migrations; print(sql_dir(), len(migrations()))"],
        capture_output=True, text=True, cwd=REPO, check=True,
    )
    assert "sql" in out.stdout


def test_the_real_command_writes_all_its_output_before_it_exits(wh, monkeypatch):
    # the command leaves through os._exit (no interpreter teardown): what is still
    # buffered must reach the pipe (the CSV listing is written without a flush),
    # and the exit codes must be kept. Buffered as under cron, not as in this shell.
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    big = run_cli(wh.home, "sql", "SELECT range AS n, repeat('x', 50) AS pad FROM range(200000)", "--json")
    out, err = big.communicate(timeout=60)
    assert big.returncode == 0, err
    assert [r["n"] for r in json.loads(out)] == list(range(200_000))
    listing = run_cli(wh.home, "deleted-calls", "list", "--format", "csv", user="dpo")
    out, err = listing.communicate(timeout=60)
    assert listing.returncode == 0, err
    assert out.decode().splitlines()[0].startswith("id,CDRFileID,lineNumber,")
    usage = run_cli(wh.home, "sql")
    _, err = usage.communicate(timeout=60)
    assert usage.returncode == 2 and err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("sql", "SELECT 1 AS one"), ("deleted-calls", "list", "--format", "csv")], ids=["echo", "buffered"])
def test_output_that_cannot_be_written_is_an_error_not_a_silent_loss(wh, args, monkeypatch):
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    with open("/dev/full", "wb") as full:
        done = run_cli(wh.home, *args, user="dpo", stdout=full)
        _, err = done.communicate(timeout=60)
    assert done.returncode == 7  # the environment failed (SPEC 6): no space for the output
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0]


def test_a_nightly_run_does_not_import_pandas_or_hypothesis(wh):
    # pyarrow's array-from-Python-lists imports pandas (0.18 s of every command that
    # kept a rejected row or a deletion entry); pandera's polars backend needs neither
    # duckdb 1.5 (the lake's version) imports pandas itself, when installed, the first time it binds a Python
    # parameter (docs/DECISIONS.md: a cost of 1.5.5; pandas is no dependency of the package). That import is told
    # apart by where it happens: the innermost line of ours is a DuckDB execute; pyarrow's or ours would not be.
    script = (
        "import builtins, sys, traceback\n"
        "seen = []\n"
        "real = builtins.__import__\n"
        "def spy(name, *a, **k):\n"
        "    if name.split('.')[0] == 'pandas' and 'pandas' not in sys.modules and not seen:\n"
        "        ours = [f for f in traceback.extract_stack() if '/deletedcalls/' in f.filename]\n"
        "        seen.append(ours[-1].line if ours else '?')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = spy\n"
        "from deletedcalls.cli import cli\n"
        "import duckdb\n"
        "try:\n"
        "    cli(obj={})\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code)\n"
        "by_duckdb = duckdb.__version__.startswith('1.') and bool(seen) and 'execute(' in seen[0]\n"
        "print(sorted(m for m in ('pandas', 'hypothesis') if m in sys.modules and not (m == 'pandas' and by_duckdb)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--home", str(wh.home), "run", str(REPO / "jobs" / "nightly.toml"),
         "--inbox", str(REPO / "data"), "--as-of", "2026-05-15", "--min-age-seconds", "0"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, DELETEDCALLS_USER="ops"),
    )
    assert done.stdout.splitlines()[-2:] == ["exit 3", "[]"], done.stderr  # exit 3: one sample file is over its reject limit
    rejected = wh.cli("sql", "SELECT count(*) AS n FROM rejected_rows", "--json")
    assert json.loads(rejected.output)[0]["n"] > 0


def test_errors_still_reach_stderr_after_another_library_configured_logging(tmp_path):
    # import-linter's CLI (run in-process by test_architecture) calls dictConfig, which disables existing loggers:
    # every later CLI error in that process was silent
    import logging.config

    runner = CliRunner()
    runner.invoke(cli, ["--home", str(tmp_path / "none"), "files", "list"])  # the logger exists now
    logging.config.dictConfig({"version": 1})
    result = runner.invoke(cli, ["--home", str(tmp_path / "none"), "files", "list"])
    assert result.exit_code == 2 and "init" in result.stderr
