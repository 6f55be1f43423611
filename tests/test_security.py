"""Issue 25: what an outside security review found (SPEC 5-7), each reproducer a test."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, Warehouse, csv_text, good_row, run_cli, uncompressed
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
    uncompressed(wh.home)  # plain Parquet in the lake, so that the byte scan can see values
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


def codes() -> set[str]:
    """The codes sql/macros/reason_code.sql may give (docs/TABLES.md lists them)."""
    text = (REPO / "sql" / "macros" / "reason_code.sql").read_text()
    return {part.split("'")[0] for part in text.split("THEN '")[1:]} | {"other"}


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
    assert rule in codes() and set(columns) <= set(CDR_COLUMNS), (reason, code)


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


# ---------------------------------------------------------------- 6. the acting user


def test_the_acting_user_is_the_processs_uid_never_logname_or_user(wh: Warehouse):
    import pwd

    from deletedcalls.cli import cli

    me = pwd.getpwuid(os.getuid()).pw_name
    assert me != DPO
    result = wh.runner.invoke(cli, ["--home", str(wh.home), "deleted-calls", "list", "--json"],
                              env={"DELETEDCALLS_USER": None, "LOGNAME": DPO, "USER": DPO, "USERNAME": DPO})
    assert result.exit_code == 4 and result.stdout == "", result.stdout
    assert wh.access_log("user", "command", "allowed")[-1] == (me, "deleted-calls list", False)


# ---------------------------------------------------------------- 2. officer SQL: logged first, no file reads


@pytest.fixture
def deleted(wh: Warehouse, write) -> Warehouse:
    """8 calls with distinctive numbers, 5 deleted (January 2026) and purged into dr/ by the fixture's retention run."""
    rows = [good_row(i, target=number(i)) for i in range(8)]
    wh.cli("ingest", "cdr", str(write("bt.csv", csv_text(rows))), ok=True)
    entry = {"id": "U1", "user": "alice", "timestamp": "2026-01-05T10:00:00Z", "action": "delete_calls",
             "selector": {"callIds": [1, 2, 3]}}
    later = {"id": "U2", "user": "alice", "timestamp": "2026-11-05T10:00:00Z", "action": "delete_calls",
             "selector": {"callIds": [4, 5]}}
    wh.cli("ingest", "deletions", str(write("d.jsonl", json.dumps(entry) + "\n" + json.dumps(later) + "\n")), ok=True)
    wh.cli("materialise", ok=True)
    wh.cli("retention", "enforce", "--as-of", "2026-12-01", ok=True)  # January to dr/, November stays
    return wh


def sql_entries(w: Warehouse) -> list[tuple]:
    return [e for e in w.access_log("user", "command", "allowed", "reason", "rowsReturned", "filters") if e[1] == "sql"]


def test_an_officer_query_that_fails_with_values_in_its_error_was_logged_before_it_ran(deleted: Warehouse):
    query = "SELECT error(string_agg(target, ';')) FROM deleted_calls"
    result = deleted.cli("sql", query, user=DPO)
    assert result.exit_code == 2 and number(4) in result.stderr  # the officer's own read, shown to the officer
    log = sql_entries(deleted)
    assert [e[:5] for e in log] == [(DPO, "sql", True, "started", None), (DPO, "sql", True, "failed: InvalidInputException", None)]
    assert json.loads(log[0][5]) == {"query": query} and json.loads(log[1][5])["query"] == query
    assert number(4) not in json.dumps(log), "the access log keeps the kind of a failure, never its message"


def test_an_officer_query_is_not_run_when_it_cannot_be_logged_first(deleted: Warehouse):
    spool = deleted.home / "spool"
    for p in spool.iterdir() if spool.exists() else []:
        p.unlink()
    if spool.exists():
        spool.rmdir()
    spool.write_text("")  # the spool cannot be made: nothing can be logged
    result = deleted.cli("sql", "SELECT error(string_agg(target, ';')) FROM deleted_calls", user=DPO)
    assert result.exit_code == 4 and "spool" in result.stderr
    assert number(4) not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("query", [
    "SELECT count(*) FROM read_parquet('{home}/dr/*/*.parquet')",
    "SELECT * FROM read_blob('{home}/config.toml')",
    "SELECT * FROM read_blob('{home}/deletedcalls.duckdb')",
    "SELECT * FROM read_text('{home}/spool/*')",
    "SELECT * FROM glob('{home}/*')",
])
def test_officer_sql_reads_no_file_and_each_attempt_is_logged(deleted: Warehouse, query: str):
    query = query.format(home=deleted.home)
    result = deleted.cli("sql", query, "--json", user=DPO)
    assert result.exit_code == 4 and result.stdout == "", (query, result.stdout[:300])
    assert len(result.stderr.strip().splitlines()) == 1
    log = sql_entries(deleted)
    assert [e[3] for e in log] == ["started", "refused: reads files"]


def test_an_officer_query_is_logged_before_and_with_its_rows(deleted: Warehouse):
    rows = deleted.json("sql", "SELECT target FROM deleted_calls ORDER BY id", user=DPO)
    assert [r["target"] for r in rows] == [number(3), number(4)]
    log = sql_entries(deleted)
    assert [e[2:5] for e in log] == [(True, "started", None), (True, "ok", 2)]
    started_id = [e for e in deleted.access_log("reason", "entryId") if e[0] == "started"][0][1]
    assert json.loads(log[1][5])["started"] == started_id


# ---------------------------------------------------------------- 8. limits of every sql query


def set_config(w: Warehouse, text: str) -> None:
    config = w.home / "config.toml"
    config.write_text(config.read_text() + text)


@pytest.mark.parametrize("user", ["analyst", DPO])
def test_a_query_over_its_time_limit_is_stopped_exit_2_and_logged(deleted: Warehouse, user: str):
    config = deleted.home / "config.toml"
    config.write_text(config.read_text().replace("timeout_seconds = 300", "timeout_seconds = 1"))
    proc = run_cli(deleted.home, "sql", "SELECT sum(hash(i)) FROM range(1000000000000) AS t(i)", user=user)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the query was not stopped")
    assert proc.returncode == 2 and out == b"", err
    assert len(err.strip().splitlines()) == 1 and b"timeout_seconds" in err
    reasons = [e[3] for e in sql_entries(deleted) if e[0] == user]
    assert reasons[-1].startswith("stopped: over 1 s"), reasons


def test_query_limits_apply_to_every_sql_query_and_cannot_be_raised(deleted: Warehouse):
    config = deleted.home / "config.toml"
    config.write_text(config.read_text().replace('memory_limit = "2GB"', 'memory_limit = "300MiB"').replace("threads = 2", "threads = 1"))
    q = ("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t, "
         "current_setting('enable_external_access') AS e, current_setting('lock_configuration') AS l")
    for user in ("analyst", DPO):
        assert deleted.json("sql", q, user=user) == [{"m": "300.0 MiB", "t": 1, "e": False, "l": True}]
    for attempt in ("SET memory_limit = '100GB'", "SET threads = 64", "PRAGMA threads = 64", "RESET memory_limit",
                    "SELECT 1; SET threads = 64", "CALL pragma_threads(64)"):
        for user in ("analyst", DPO):
            assert deleted.cli("sql", attempt, user=user).exit_code == 2, (attempt, user)
    from deletedcalls.read.analyst import bounded
    from deletedcalls.settings import load_settings

    con = duckdb.connect(str(deleted.home / "published" / "analyst.duckdb"), read_only=True)
    try:
        with bounded(con, load_settings(deleted.home).limits, str(deleted.home / "published" / "data") + "/"):
            for statement in ("SET memory_limit = '100GB'", "SET threads = 64", "SET enable_external_access = true",
                              "SET lock_configuration = false", "RESET threads"):
                with pytest.raises(duckdb.Error, match="configuration"):
                    con.execute(statement)
    finally:
        con.close()


@pytest.mark.parametrize("setting", ['memory_limit = "lots"', "threads = 0", "timeout_seconds = 0",
                                     'max_temp_directory_size = "10 parsecs"'])
def test_a_bad_query_limit_is_a_usage_error_naming_it(deleted: Warehouse, setting: str):
    config = deleted.home / "config.toml"
    key = setting.split(" = ")[0]
    text = "\n".join(setting if line.startswith(key + " =") else line for line in config.read_text().splitlines())
    config.write_text(text + "\n")
    result = deleted.cli("sql", "SELECT 1")
    assert result.exit_code == 2 and f"analyst.{key}" in result.stderr


# ---------------------------------------------------------------- 4. access entries whole or not at all


def _file_size_limit(limit: int):  # noqa: ANN202 - a preexec_fn
    def set_limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes past it fail, EFBIG

    return set_limit


def test_a_read_whose_entry_cannot_be_written_whole_returns_nothing_and_leaves_no_torn_entry(deleted: Warehouse):
    """A nearly full disk, for real: the kernel writes the first 100 bytes of the entry (a short write), then
    refuses the rest. Before: the short write was ignored, the rows returned, the entry torn and skipped by the fold."""
    proc = run_cli(deleted.home, "deleted-calls", "list", "--json", user=DPO, preexec_fn=_file_size_limit(100))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4 and out == b"", (proc.returncode, out[:200])
    assert b"spool" in err and len(err.strip().splitlines()) == 1
    assert number(4).encode() not in out + err
    spooled = b"".join(p.read_bytes() for p in (deleted.home / "spool").glob("access-*.jsonl"))
    assert spooled == b"", "the part written was cut back: no torn entry"
    deleted.cli("materialise", ok=True)  # folds the spool
    assert [e for e in deleted.access_log("command", "reason") if e[0] == "deleted-calls list"] == []


def test_a_torn_spool_line_is_folded_as_an_entry_saying_so_and_the_next_entry_stays_whole(deleted: Warehouse):
    """A reader killed in the middle of its write (kill -9) leaves the start of its entry without a newline."""
    from deletedcalls.read.access import record_access
    from deletedcalls.settings import load_settings

    spool = deleted.home / "spool"
    spool.mkdir(exist_ok=True, mode=0o700)
    whole = {"entryId": "e-1", "user": "mallory", "at": "2026-12-01T10:00:00+00:00", "command": "deleted-calls get",
             "client": "cli", "tokenId": None, "allowed": True, "rowsReturned": 1, "reason": None, "filters": "{}"}
    torn = b'{"entryId": "e-2", "user": "mallory", "at": "2026-12-01T10:00:01+00:00", "command": "deleted-calls li'
    mine = spool / f"access-{os.getpid()}.jsonl"  # the pid of a killed reader, reused by this process
    fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (json.dumps(whole) + "\n").encode() + torn)
    os.close(fd)
    settings = load_settings(deleted.home)
    record_access(settings, "deleted-calls get", {"id": 4}, 1, allowed=True)  # appended after the torn line

    def logged() -> list[tuple]:
        return [e for e in deleted.access_log("user", "command", "allowed", "rowsReturned", "reason") if e[0] != DPO or e[1] != "sql"]

    seen = logged()
    assert ("mallory", "deleted-calls get", True, 1, None) in seen
    torn_entries = [e for e in seen if (e[4] or "").startswith("torn:")]
    assert [e[:4] for e in torn_entries] == [("mallory", "(unreadable)", False, None)] and "e-2" in torn_entries[0][4]
    assert any(e[1] == "deleted-calls get" and e[0] == settings.user for e in seen), "the entry after the torn line is whole"
    folded = deleted.cli("materialise", ok=True)
    assert "torn" in folded.stderr
    deleted.cli("materialise", ok=True)  # a second fold adds nothing
    rows = deleted.query("SELECT count(*) FILTER (WHERE reason LIKE 'torn:%'), count(*) FILTER (WHERE entryId = 'e-1') FROM access_log")
    assert rows == [(1, 1)]


# ---------------------------------------------------------------- 10. text logs cannot be forged


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_file_name_holding_a_newline_cannot_forge_a_log_line(wh: Warehouse, tmp_path, log_format: str):
    forged = "error: retention enforce: 0 partitions purged"
    good = tmp_path / f"bt\n{forged}\x1b[2K.csv"
    good.write_text(csv_text([good_row(i) for i in range(3)]))
    bad = tmp_path / f"ee\r\n{forged}\u2028.csv"
    bad.write_text("not,a,cdr\n1,2\n")
    results = [wh.runner.invoke(__import__("deletedcalls.cli", fromlist=["cli"]).cli,
                                ["--home", str(wh.home), "--log-format", log_format, "ingest", "cdr", str(path)],
                                env={"DELETEDCALLS_USER": "ops"}) for path in (good, bad)]
    assert [r.exit_code for r in results] == [0, 3], [r.stderr for r in results]
    for r in results:
        lines = r.stderr.splitlines()
        assert lines and not any(line.startswith(forged) or line.startswith("\x1b") for line in lines), lines
        assert not any(c in r.stderr.replace("\n", "") for c in "\r\x1b\u2028"), r.stderr
        if log_format == "json":
            assert all(json.loads(line) for line in lines)
        else:
            assert "\\n" + forged in r.stderr or "\\r\\n" + forged in r.stderr, r.stderr


# ---------------------------------------------------------------- 5. the officer wrapper (sudo)


OFFICER_ENV = {"SUDO_USER": "carol", "DELETEDCALLS_USER": "dpo", "PYTHONPATH": "/tmp/evil", "LD_PRELOAD": "/tmp/evil.so",
               "DELETEDCALLS_HOME": "/tmp/other", "PATH": "/tmp/evil:/usr/bin", "SHELL": "/bin/sh"}


@pytest.mark.parametrize("args", [
    [], ["init"], ["ingest", "cdr", "x.csv"], ["materialise"], ["retention", "enforce"], ["run", "jobs/nightly.toml"],
    ["tokens", "create", "--user", "carol"], ["tokens", "list"], ["serve"], ["dr", "restore", "1", "--into", "/tmp/x"],
    ["dr", "verify"], ["profiles", "check", "x.toml"], ["deleted-calls"], ["deleted-calls", "purge"],
    ["--home", "/tmp/evil", "deleted-calls", "list"], ["--home=/tmp/evil", "sql", "SELECT 1"], ["--debug", "sql", "SELECT 1"],
    ["--log-format"], ["sql", "--file", "/srv/deletedcalls/config.toml"], ["sql", "--file=/etc/shadow"], ["sql", "--json", "--file"],
    ["/bin/sh", "-c", "id"], ["-c", "id"], ["env", "DELETEDCALLS_USER=alice", "deletedcalls", "sql", "SELECT 1"],
])
def test_the_officer_wrapper_refuses_all_but_read_commands(args: list[str]):
    from deletedcalls.cli.officer import Refused, plan

    with pytest.raises(Refused):
        plan(args, OFFICER_ENV, "/srv/deletedcalls")


@pytest.mark.parametrize("env", [{}, {"DELETEDCALLS_USER": "dpo"}, {"SUDO_USER": ""}, {"SUDO_USER": "root"},
                                 {"SUDO_USER": "carol\nalice"}, {"SUDO_USER": "../dpo"}])
def test_the_officer_wrapper_needs_sudos_user(env: dict[str, str]):
    from deletedcalls.cli.officer import Refused, plan

    with pytest.raises(Refused):
        plan(["deleted-calls", "list"], env, "/srv/deletedcalls")


@pytest.mark.parametrize(("args", "tail"), [
    (["deleted-calls", "list", "--json"], ["deleted-calls", "list", "--json"]),
    (["--quiet", "--log-format", "json", "deleted-calls", "get", "7"], ["--quiet", "--log-format", "json", "deleted-calls", "get", "7"]),
    (["sql", "--file", "-"], ["sql", "--file", "-"]),
    (["sql", "--json", "--", "--file /etc/shadow"], ["sql", "--json", "--", "--file /etc/shadow"]),  # the query's text
    (["dr", "list"], ["dr", "list"]), (["--help"], ["--help"]), (["deleted-calls", "--help"], ["deleted-calls", "--help"]),
])
def test_the_officer_wrapper_runs_reads_with_the_home_and_user_fixed_and_no_environment(args, tail):
    from deletedcalls.cli.officer import plan

    p = plan(args, OFFICER_ENV, "/srv/deletedcalls", python="/opt/deletedcalls/bin/python")
    assert p.argv == ["/opt/deletedcalls/bin/python", "-I", "-m", "deletedcalls", "--home", "/srv/deletedcalls", *tail]
    assert p.env == {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/srv/deletedcalls",
                     "DELETEDCALLS_HOME": "/srv/deletedcalls", "DELETEDCALLS_USER": "carol"}


TOKENS = ["deleted-calls", "list", "get", "sql", "--file", "-", "/etc/shadow", "--file=x", "--home", "--home=/x", "--debug",
          "--quiet", "--log-format", "json", "--", "ingest", "init", "dr", "restore", "list", "--help", "-c", "SELECT 1"]


@given(st.lists(st.sampled_from(TOKENS), max_size=8))
@settings(max_examples=400, deadline=None)
def test_whatever_the_arguments_the_wrapper_runs_one_read_command_on_its_own_home_as_sudos_user(args):
    from deletedcalls.cli.officer import ALLOWED, GLOBAL_OPTIONS, Refused, plan

    try:
        p = plan(args, OFFICER_ENV, "/srv/deletedcalls", python="py")
    except Refused:
        return
    assert p.env["DELETEDCALLS_USER"] == "carol" and "PYTHONPATH" not in p.env and p.argv[:6] == ["py", "-I", "-m", "deletedcalls", "--home", "/srv/deletedcalls"]
    rest = p.argv[6:]
    while rest and rest[0] in GLOBAL_OPTIONS:
        rest = rest[1 + (GLOBAL_OPTIONS[rest[0]] is True):]
    assert rest[0] == "--help" and len(rest) == 1 or rest[0] in ALLOWED, p.argv
    if rest[0] == "sql":
        before = rest[: rest.index("--")] if "--" in rest else rest
        assert not any(a.startswith("--file=") and a != "--file=-" for a in before)
        assert all(before[i + 1] == "-" for i, a in enumerate(before) if a == "--file"), p.argv


def test_the_officer_wrapper_end_to_end_reads_as_sudos_user_whatever_the_environment_says(deleted: Warehouse):
    from deletedcalls.cli.officer import plan

    def run(args: list[str], sudo_user: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        p = plan(args, dict(OFFICER_ENV, SUDO_USER=sudo_user), str(deleted.home))  # python -I: the installed package
        return subprocess.run(p.argv, env=p.env, input=stdin, capture_output=True, timeout=120)

    refused = run(["deleted-calls", "list", "--json"], "carol")  # carol is no officer: DELETEDCALLS_USER=dpo is ignored
    assert refused.returncode == 4 and refused.stdout == b""
    answered = run(["sql", "--json", "--file", "-"], DPO, b"SELECT target FROM deleted_calls ORDER BY id")
    assert answered.returncode == 0, answered.stderr
    assert [r["target"] for r in json.loads(answered.stdout)] == [number(3), number(4)]
    log = [e for e in deleted.access_log("user", "command", "allowed") if e[0] in ("carol", DPO)]
    assert ("carol", "deleted-calls list", False) in log and (DPO, "sql", True) in log


def test_the_installed_wrapper_refuses_before_it_runs_anything(tmp_path):
    import shutil
    import sys

    wrapper = shutil.which("deletedcalls-officer", path=str(Path(sys.executable).parent))
    assert wrapper, "deletedcalls-officer is installed beside deletedcalls (pyproject [project.scripts])"
    for args, env in ((["init"], {"SUDO_USER": "carol"}), (["deleted-calls", "list"], {})):
        r = subprocess.run([wrapper, *args], env=dict(env, PATH="/usr/bin:/bin"), capture_output=True, timeout=60, cwd=tmp_path)
        assert r.returncode == 4 and r.stdout == b"" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_reason_code_is_documented_in_tables_md():
    tables = (REPO / "docs" / "TABLES.md").read_text()
    assert sorted(c for c in codes() if f"`{c}`" not in tables) == []


def test_a_file_rejected_by_an_unexpected_error_keeps_the_errors_kind_not_its_message():
    """A parser's message quotes the record it failed on; the reason reaches cdr_files and runs in the analyst store."""
    from deletedcalls.ingest.rejects import unexpected_reason

    error = ValueError(f'could not parse `"oops,{number(7)},BT-X-1,73.9187` as dtype i64 at line 302')
    reason = unexpected_reason(error, "load")
    assert "ValueError" in reason and "bug" in reason
    assert not any(v in reason for v in (number(7), "BT-X-1", "73.9187", "oops"))
    broken = RuntimeError(f"the check 'a check with a bug' of duration could not run: TypeError('{number(7)}')")
    reason = unexpected_reason(broken, "load")
    assert "the check 'a check with a bug' of duration could not run" in reason and number(7) not in reason
