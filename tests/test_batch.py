"""The scheduled batch run (SPEC 6): one command from a job file, safe to re-run, safe against a second process."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import REPO, Warehouse, run_cli

from deletedcalls.ingest.synthetic import write_cdr, write_deletions


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job.toml"
    path.write_text('[job]\nname = "test"\ninbox = "inbox"\n\n[retention]\ndays = 30\n\n[inbox]\nmin_age_seconds = 0\n')
    (tmp_path / "inbox").mkdir()
    return path


def state(w: Warehouse) -> dict[str, object]:
    """Everything a run decides, without times and run ids."""
    return {
        "calls": w.query("SELECT * FROM calls ORDER BY id"),
        "deleted": w.query("SELECT * EXCLUDE (created, updated, runId) FROM deleted_calls ORDER BY id"),
        "files": w.query('SELECT id, fileName, sha256, status, "rows", rejected FROM cdr_files ORDER BY id'),
        "rejected": w.query("SELECT source, fileName, lineNumber, reasons FROM rejected_rows ORDER BY ALL"),
        "entries": w.query('SELECT id, "user", "timestamp", selector FROM user_activity_log ORDER BY id'),
        "pending": w.query("SELECT userActivityLog, kind, callId FROM pending_deletions ORDER BY ALL"),
        "archives": w.query('SELECT id, "partition", "rows", minId, maxId FROM dr_archives ORDER BY id'),
        "summary": w.query("SELECT * FROM deleted_calls_summary ORDER BY ALL"),
    }


def test_the_sample_inbox_runs_then_a_rerun_is_a_noop(wh, tmp_path):
    inbox = tmp_path / "data"
    shutil.copytree(REPO / "data", inbox)
    first = wh.cli("run", str(REPO / "jobs" / "nightly.toml"), "--inbox", str(inbox), "--as-of", "2026-05-15", "--min-age-seconds", "0")
    assert first.exit_code == 3, first.stderr
    assert "ee-2026-03-01.csv" in first.stderr.strip().splitlines()[-1]
    assert first.stdout == ""
    before = state(wh)
    # 6 carrier calls and 3 Ultravox calls; January (2 carrier calls, 1 Ultravox tombstone) was archived
    assert len(before["deleted"]) == 9 and len(before["archives"]) == 1 and before["archives"][0][2] == 3
    again = wh.cli("run", str(REPO / "jobs" / "nightly.toml"), "--inbox", str(inbox), "--as-of", "2026-05-15", "--min-age-seconds", "0", "--json")
    assert again.exit_code == 0, again.stderr
    summary = json.loads(again.stdout)
    # the canonical, FCS, Asterisk and FreeSWITCH samples, and ee-… (rejected) are known
    assert summary["stages"]["ingest-cdr"]["unchanged"] == 6 and summary["stages"]["materialise"]["deleted"] == 0
    assert state(wh) == before
    runs = wh.json("runs", "list")
    assert [(r["command"], r["outcome"], r["exitCode"]) for r in runs] == [("run nightly", "rejected", 3), ("run nightly", "ok", 0)]
    assert json.loads(runs[0]["counts"])["ingest-cdr"]["loaded"] == 5


def test_json_logs_are_one_object_a_line_with_stage_and_counts(wh, job, write):
    shutil.copy(REPO / "data" / "bt-2026-01-05.csv", job.parent / "inbox")
    from click.testing import CliRunner

    from deletedcalls.cli import cli

    result = CliRunner().invoke(cli, ["--home", str(wh.home), "--log-format", "json", "run", str(job)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert {line["stage"] for line in lines} >= {"run", "ingest-cdr", "ingest-deletions", "materialise", "retention"}
    cdr = next(line for line in lines if line["stage"] == "ingest-cdr" and "loaded" in line)
    assert cdr["loaded"] == 1 and "seconds" in cdr


def test_job_file_mistakes_are_usage_errors(wh, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[job]\ninbox = "x"\n[retention]\ndayz = 3\n')
    result = wh.cli("run", str(bad))
    assert result.exit_code == 2 and "retention.days" in result.stderr
    noinbox = tmp_path / "noinbox.toml"
    noinbox.write_text('[job]\nname = "x"\n')
    assert wh.cli("run", str(noinbox)).exit_code == 2


def _big_inbox(job: Path) -> None:
    inbox = job.parent / "inbox"
    write_cdr(inbox / "a.csv", 60_000, seed=1, carrier="BT")
    write_cdr(inbox / "b.csv", 60_000, seed=2, carrier="VF")
    entries = [{"id": f"UAL-{k}", "user": "u", "timestamp": f"2026-0{1 + k % 3}-10T00:00:00Z", "action": "delete_calls",
                "selector": {"callIds": list(range(k * 500 + 1, k * 500 + 501))}} for k in range(200)]
    entries.append({"id": "UAL-late", "user": "u", "timestamp": "2026-03-01T00:00:00Z", "action": "delete_calls",
                    "selector": {"cdrFile": "b.csv", "lines": list(range(2, 5000))}})
    write_deletions(inbox / "log.jsonl", entries)


def test_a_second_run_while_one_holds_the_warehouse_exits_5_at_once(wh, job):
    _big_inbox(job)
    first = run_cli(wh.home, "run", str(job), "--as-of", "2026-06-01")
    # its first log line names the run it recorded, with the warehouse held; stopped
    # there, it holds it for as long as the test needs, on a machine of any speed
    assert first.stderr is not None
    assert b"run=1" in first.stderr.readline()
    first.send_signal(signal.SIGSTOP)
    try:
        start = time.time()
        second = run_cli(wh.home, "run", str(job), "--as-of", "2026-06-01")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 5, err
        assert time.time() - start < 5
        assert len(err.strip().splitlines()) == 1 and b"busy" in err
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert wh.json("runs", "list")[-1]["outcome"] == "ok"


@pytest.mark.slow
def test_kill_9_at_any_moment_then_rerun_ends_as_one_clean_run(tmp_path, job):
    _big_inbox(job)
    clean = Warehouse(tmp_path / "clean")
    clean.cli("init", ok=True)
    started = time.monotonic()
    whole = run_cli(clean.home, "run", str(job), "--as-of", "2026-04-15")
    _, err = whole.communicate(timeout=300)
    took = time.monotonic() - started
    assert whole.returncode == 0, err
    expected = state(clean)
    assert expected["archives"] and expected["deleted"] and expected["pending"] == []

    w = Warehouse(tmp_path / "killed")
    w.cli("init", ok=True)
    kills = 0
    # kills spread over the length of a whole run on this machine, start-up included
    for delay in (took * f for f in (0.2, 0.35, 0.5, 0.65, 0.8, 0.9)):
        proc = run_cli(w.home, "run", str(job), "--as-of", "2026-04-15")
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    # on a loaded machine the resumed runs, having less left to do, may end before their kill: a few more,
    # killed early, so that at least three kills land whatever the machine's speed
    for _ in range(4):
        if kills >= 3:
            break
        proc = run_cli(w.home, "run", str(job), "--as-of", "2026-04-15")
        time.sleep(took * 0.1)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3, "no kill landed mid-run"
    final = run_cli(w.home, "run", str(job), "--as-of", "2026-04-15")
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err
    assert state(w) == expected
    assert "interrupted" in {r["outcome"] for r in w.json("runs", "list")}
    assert w.cli("dr", "verify").exit_code == 0


def test_a_run_takes_rotated_and_pinned_cdr_names_besides_csv(wh, job, tmp_path):
    # logrotate's Master.csv.1 (and .gz), and a CUCM file without a suffix pinned by the job, were left in the inbox
    import gzip
    import shutil

    layouts = REPO / "data" / "layouts"
    inbox = tmp_path / "inbox"
    ring = (layouts / "Master-ringgroup-2026-12-01.csv").read_bytes().splitlines(keepends=True)
    (inbox / "Master.csv.1").write_bytes(b"".join(ring[:4]))
    (inbox / "Master.csv.2.gz").write_bytes(gzip.compress((layouts / "Master-pbx2-2026-04-02.csv").read_bytes()))
    (inbox / "Master.csv").write_bytes(b"".join(ring[4:6]))  # what the switch wrote since the rotation
    shutil.copy(layouts / "cdr_StandAloneCluster_01_202604050900_101.csv", inbox / "cdr_StandAloneCluster_01_202612041525_102")
    (inbox / "notes.txt").write_text("not a CDR file\n")
    job.write_text(job.read_text() + '\n[[cdr]]\nglob = "cdr_*_*"\nprofile = "cucm"\n')
    result = wh.cli("run", str(job), "--as-of", "2026-12-05")
    assert result.exit_code == 0, result.stderr
    files = wh.query('SELECT fileName, profile, "rows", firstLine, lastLine FROM cdr_files ORDER BY id')
    assert sorted(files) == sorted([
        ("Master.csv", "asterisk", 2, 1, 2), ("Master.csv.1", "asterisk", 4, 1, 4), ("Master.csv.2.gz", "asterisk", 10, 1, 10),
        ("cdr_StandAloneCluster_01_202612041525_102", "cucm", 4, 1, 6)])
