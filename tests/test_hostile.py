"""Hostile files (SPEC 2.3), through the real CLI: the corpus is generated here, never committed as blobs.

Every case ends in a documented exit code (never 1), one bad file never stops
the others, and every record is loaded exactly once or reported.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import Warehouse, csv_text, good_row, run_cli

from deletedcalls.ingest import delivery

TEXT = csv_text([good_row(i) for i in range(5)])


def rows(prefix: str, n: int, start: int = 0) -> list[dict[str, str]]:
    return [good_row(start + i, carrierCallID=f"{prefix}-{start + i:06d}") for i in range(n)]


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job.toml"
    path.write_text('[job]\nname = "hostile"\ninbox = "inbox"\n\n[inbox]\nmin_age_seconds = 0\n')
    (tmp_path / "inbox").mkdir()
    return path


def files_by_name(wh: Warehouse) -> dict[str, dict]:
    return {f["fileName"]: f for f in wh.json("files", "list")}


# -------------------------------------------------------------- files that are not CSV text at all


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner.csv", text)
    return buf.getvalue()


NOT_CSV = {
    "gzip.csv": (gzip.compress(TEXT.encode()), "gzip-compressed"),
    "zip.csv": (_zip(TEXT), "zip archive"),
    "bzip2.csv": (bz2.compress(TEXT.encode()), "bzip2"),
    "xz.csv": (lzma.compress(TEXT.encode()), "xz"),
    "utf16le-bom.csv": (TEXT.encode("utf-16"), "UTF-16"),
    "utf16be-bom.csv": (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "UTF-16"),
    "utf16-nobom.csv": (TEXT.encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
    "utf32.csv": (TEXT.encode("utf-32"), "UTF-32"),
    "classic-mac.csv": (TEXT.replace("\n", "\r").encode(), "CR only"),
    "nul-header.csv": (b"\x00" * 4096 + TEXT.encode(), "NUL bytes"),
    "excel-xls.csv": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "Excel"),
}


def test_a_run_rejects_each_file_that_is_not_csv_text_with_one_reason_and_loads_the_others(wh, job):
    inbox = job.parent / "inbox"
    for name, (content, _) in NOT_CSV.items():
        (inbox / f"a-{name}").write_bytes(content)
    os.mkfifo(inbox / "b-fifo.csv")
    (inbox / "c-dangling.csv").symlink_to(inbox / "nowhere")
    (inbox / "d-device.csv").symlink_to("/dev/zero")
    (inbox / "e-folder.csv").mkdir()  # a folder is not an inbox file
    (inbox / "z-good.csv").write_text(csv_text(rows("Z", 3)))

    result = wh.cli("run", str(job))

    assert result.exit_code == 3, result.stderr
    assert "rejected input" in result.stderr.strip().splitlines()[-1]
    files = files_by_name(wh)
    assert files["z-good.csv"]["status"] == "loaded" and files["z-good.csv"]["rows"] == 3
    for name, (_, why) in NOT_CSV.items():
        f = files[f"a-{name}"]
        assert f["status"] == "rejected" and why in f["reason"], (name, f["reason"])
        assert f["sha256"] == hashlib.sha256((inbox / f"a-{name}").read_bytes()).hexdigest()
    assert "FIFO" in files["b-fifo.csv"]["reason"]
    assert "cannot be opened" in files["c-dangling.csv"]["reason"]
    assert "device" in files["d-device.csv"]["reason"]
    assert "e-folder.csv" not in files
    assert wh.scalar("SELECT count(*) FROM calls") == 3
    run = wh.json("runs", "list")[-1]
    assert run["outcome"] == "rejected" and run["exitCode"] == 3 and "a-bzip2.csv" in run["message"]
    # the next night: the same inbox is known (the special files are reported again: they have no content to know)
    again = wh.cli("run", str(job), "--json")
    assert again.exit_code == 3
    stages = json.loads(again.stdout)["stages"]["ingest-cdr"]
    assert stages["loaded"] == 0 and stages["unchanged"] == len(NOT_CSV) + 1 and stages["rejected"] == 3


def test_ingest_cdr_of_a_fifo_does_not_block_and_is_a_rejected_file(wh, tmp_path):
    fifo = tmp_path / "upload.csv"
    os.mkfifo(fifo)
    proc = run_cli(wh.home, "ingest", "cdr", str(fifo))
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("ingest cdr blocked on a FIFO")
    assert proc.returncode == 3, err
    assert "FIFO" in err.decode().strip().splitlines()[-1]


# -------------------------------------------------------------- spreadsheets, encodings, NULs, huge fields


def test_an_excel_resave_with_bom_and_crlf_loads_and_a_cp1252_one_rejects_its_non_utf8_records(wh, write):
    bom_crlf = write("excel-utf8.csv", "\ufeff" + csv_text(rows("X", 4), eol="\r\n"))
    header = list(good_row(0)) + ["note"]
    cp1252 = [{**r, "locationCarrier": "Café", "note": "£1"} for r in rows("W", 4)]
    cp1252_file = write("excel-cp1252.csv", csv_text(cp1252[:1], header).encode("cp1252") + csv_text(rows("V", 3), header).split("\n", 1)[1].encode())

    result = wh.cli("ingest", "cdr", str(bom_crlf), str(cp1252_file), "--max-reject-ratio", "0.5", "--json")

    assert result.exit_code == 0, result.stderr
    first, second = json.loads(result.stdout)
    assert (first["status"], first["rows"]) == ("loaded", 4)
    assert (second["status"], second["rows"], second["rejected"]) == ("loaded", 3, 1)
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [(2, ["not valid UTF-8 text"])]
    assert wh.scalar("SELECT count(*) FROM calls WHERE target LIKE '%\r%' OR carrierCallID LIKE '%\r%'") == 0


def test_a_record_with_a_nul_byte_is_rejected_and_its_neighbours_load(wh, write):
    text = csv_text(rows("N", 3)).replace("N-000001", "N-0\x0000001")
    result = wh.cli("ingest", "cdr", str(write("nul.csv", text)), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [(3, ["holds a NUL byte: binary data, not text"])]
    assert wh.scalar("SELECT count(*) FROM calls") == 2


def test_a_huge_field_is_a_rejected_record_not_a_crash(wh, write):
    huge = rows("H", 3)
    huge[1]["target"] = "0" * 30_000_000  # 30 MB in one field
    result = wh.cli("ingest", "cdr", str(write("huge.csv", csv_text(huge))), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 2
    assert wh.scalar("SELECT lineNumber FROM rejected_rows") == 3


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n\n", b"target\n", b"\x00"], ids=["empty", "bom", "blank", "header-only", "nul"])
def test_files_with_no_usable_header_are_rejected_files(wh, write, content):
    result = wh.cli("ingest", "cdr", str(write("x.csv", content)))
    assert result.exit_code == 3, result.stderr
    assert wh.scalar("SELECT status FROM cdr_files") == "rejected"


@pytest.mark.slow
def test_truncation_at_every_byte_of_the_last_record_loads_or_reports_every_record(wh, tmp_path):
    folder = tmp_path / "cut"
    folder.mkdir()
    paths = []
    for_text = {}
    whole = csv_text(rows("T", 3))
    last = len(whole) - len(whole.rstrip("\n").rsplit("\n", 1)[1]) - 1  # where the last record starts
    for cut in range(last, len(whole) + 1):
        # each file its own carrierCallIDs, so that no record is a duplicate of another file's
        text = whole[:cut].replace("T-", f"T{cut}-")
        path = folder / f"cut-{cut:04d}.csv"
        path.write_text(text)
        paths.append(path)
        for_text[path.name] = text

    result = wh.cli("ingest", "cdr", *map(str, paths), "--max-reject-ratio", "0.5", "--json")

    assert result.exit_code in (0, 3), result.stderr
    for r in json.loads(result.stdout):
        text = for_text[r["fileName"]]
        records = len([line for line in text.split("\n")[1:] if line])
        assert r["status"] in ("loaded", "rejected"), r
        assert r["rows"] + r["rejected"] == (records if r["status"] == "loaded" else r["rejected"] or records), r
        if r["status"] == "loaded":
            loaded = wh.scalar("SELECT count(*) FROM calls WHERE CDRFileID = $f", {"f": r["id"]})
            kept = wh.scalar("SELECT count(*) FROM rejected_rows WHERE CDRFileID = $f", {"f": r["id"]})
            assert (loaded, kept) == (r["rows"], r["rejected"])
            assert loaded + kept == records
        assert r["sha256"] == hashlib.sha256(text.encode()).hexdigest()


# -------------------------------------------------------------- a file that grows while it is read


def _append_during_read(monkeypatch: pytest.MonkeyPatch, path: Path, extra: bytes) -> None:
    """Append to `path` right after the first read of it returns: an upload still in progress."""
    real_read = delivery.Delivery.read
    done = {"appended": False}

    def read(self: delivery.Delivery, n: int = -1) -> bytes:
        data = real_read(self, n)
        if self.path == path and data and not done["appended"]:
            done["appended"] = True
            with open(path, "ab") as f:
                f.write(extra)
        return data

    monkeypatch.setattr(delivery.Delivery, "read", read)


def test_a_cdr_file_that_grows_while_it_is_read_loads_nothing_and_the_next_run_loads_it_whole(wh, write, monkeypatch):
    path = write("growing.csv", csv_text(rows("G", 50)))
    rest = csv_text(rows("G", 50, start=50)).split("\n", 1)[1].encode()
    _append_during_read(monkeypatch, path, rest)

    first = wh.cli("ingest", "cdr", str(path))

    assert first.exit_code == 3, first.stderr
    assert "changed while it was read" in first.stderr
    assert wh.scalar("SELECT count(*) FROM cdr_files") == 0 and wh.scalar("SELECT count(*) FROM calls") == 0
    monkeypatch.undo()
    again = wh.cli("ingest", "cdr", str(path), "--json")
    assert again.exit_code == 0, again.stderr
    [r] = json.loads(again.stdout)
    assert r["rows"] == 100 and r["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_maybe_known_file_that_grows_between_hash_and_load_is_not_recorded(wh, write, monkeypatch):
    path = write("same-name.csv", csv_text(rows("S", 5)))
    wh.cli("ingest", "cdr", str(path), "--max-reject-ratio", "0", ok=True)
    rejected = write("r.csv", csv_text(rows("R", 3)) + "bad,row\n")
    assert wh.cli("ingest", "cdr", str(rejected)).exit_code == 3
    # same name as a rejected file: hashed first, then loaded; it grows in between
    rejected.write_text(csv_text(rows("R", 3)))
    _append_during_read(monkeypatch, rejected, csv_text(rows("R", 1, start=3)).split("\n", 1)[1].encode())
    result = wh.cli("ingest", "cdr", str(rejected))
    assert result.exit_code == 3 and "changed while it was read" in result.stderr
    assert wh.scalar("SELECT count(*) FROM cdr_files WHERE fileName = 'r.csv'") == 1


def test_run_leaves_files_younger_than_min_age_for_the_next_run(wh, job):
    job.write_text(job.read_text().replace("min_age_seconds = 0", "min_age_seconds = 600"))
    inbox = job.parent / "inbox"
    young = inbox / "young.csv"
    young.write_text(csv_text(rows("Y", 2)))
    first = wh.cli("run", str(job), "--json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["leftForNextRun"] == ["young.csv"]
    assert wh.scalar("SELECT count(*) FROM cdr_files") == 0
    old = time.time() - 3600
    os.utime(young, (old, old))
    wh.cli("run", str(job), ok=True)
    assert wh.scalar("SELECT count(*) FROM calls") == 2


# -------------------------------------------------------------- rejected files may come again


def test_a_file_rejected_over_its_limit_loads_again_under_a_higher_limit_and_a_fixed_one_under_its_name(wh, write):
    text = csv_text(rows("L", 9) + [good_row(99, duration="-1", carrierCallID="L-bad")])
    path = write("limit.csv", text)
    assert wh.cli("ingest", "cdr", str(path)).exit_code == 3
    same = wh.cli("ingest", "cdr", str(path))  # the same limit: nothing new to try
    assert same.exit_code == 0 and "already ingested" in same.stderr
    higher = wh.cli("ingest", "cdr", str(path), "--max-reject-ratio", "0.2", "--json")
    assert higher.exit_code == 0, higher.stderr
    assert json.loads(higher.stdout)[0]["rows"] == 9
    assert [f["status"] for f in wh.json("files", "list")] == ["rejected", "loaded"]

    fixed = write("fixed.csv", csv_text(rows("F", 2)) + "not,a,record\n")
    assert wh.cli("ingest", "cdr", str(fixed)).exit_code == 3
    fixed.write_text(csv_text(rows("F", 2)))
    assert wh.cli("ingest", "cdr", str(fixed)).exit_code == 0
    # a longer copy of it loads only its new record (issue 26: a growing file); other content under its name is refused
    fixed.write_text(csv_text(rows("F", 3)))
    longer = wh.cli("ingest", "cdr", str(fixed), "--json")
    assert longer.exit_code == 0 and json.loads(longer.stdout)[0]["rows"] == 1, longer.stderr
    fixed.write_text(csv_text(rows("G", 3)))
    assert wh.cli("ingest", "cdr", str(fixed)).exit_code == 3


# -------------------------------------------------------------- deletion logs


def entry(i: int, **overrides: object) -> dict[str, object]:
    e: dict[str, object] = {"id": f"UAL-{i}", "user": "alice", "timestamp": "2026-03-05T10:22:01Z",
                            "action": "delete_calls", "selector": {"carrierCallIds": [f"BT-{i:012d}"]}}
    e.update(overrides)
    return e


def jsonl(entries: list[dict[str, object]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in entries)


LOG = jsonl([entry(1), entry(2)])
BAD_LOGS = {
    "utf16.jsonl": (LOG.encode("utf-16"), "UTF-16"),
    "gzip.jsonl": (gzip.compress(LOG.encode()), "gzip"),
    "array.jsonl": (json.dumps([entry(1), entry(2)]).encode(), "JSON array"),
    "pretty-array.jsonl": (json.dumps([entry(1), entry(2)], indent=2).encode(), "JSON array"),
    "all-bad.jsonl": (b'{"id": 1}\nnot json\n[1, 2]\n', "none of its 3 line(s) is a valid entry"),
}


@pytest.mark.parametrize("name", list(BAD_LOGS))
def test_a_deletion_log_that_applies_nothing_is_a_rejected_file(wh, write, name):
    content, why = BAD_LOGS[name]
    result = wh.cli("ingest", "deletions", str(write(name, content)), str(write("good.jsonl", jsonl([entry(7)]))))
    assert result.exit_code == 3, result.stderr
    assert why in result.stderr.strip().splitlines()[-1]
    assert wh.query("SELECT fileName, status FROM deletion_files ORDER BY id") == [(name, "rejected"), ("good.jsonl", "ingested")]
    assert wh.query("SELECT id FROM user_activity_log") == [("UAL-7",)]


def test_an_overflowing_or_future_timestamp_is_a_rejected_line_and_the_other_lines_apply(wh, write):
    log = write("d.jsonl", jsonl([
        entry(1, timestamp="9999-12-31T23:59:59-01:00"),
        entry(2, timestamp="2099-01-01T00:00:00Z"),
        entry(3),
    ]))
    result = wh.cli("ingest", "deletions", str(log))
    assert result.exit_code == 0, result.stderr
    reasons = dict(wh.query("SELECT lineNumber, reasons FROM rejected_rows ORDER BY 1"))
    assert "ISO 8601" in reasons[1][0]
    assert "more than one day after ingestion" in reasons[2][0]
    assert wh.query("SELECT id FROM user_activity_log") == [("UAL-3",)]


def test_call_ids_not_yet_assigned_are_rejected_and_never_delete_a_later_call(wh, write):
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows("A", 2)))), ok=True)  # call ids 1, 2
    log = write("d.jsonl", jsonl([entry(1, selector={"callIds": [2]}), entry(2, selector={"callIds": [2, 3]})]))
    assert wh.cli("ingest", "deletions", str(log)).exit_code == 0
    [(line, reasons)] = wh.query("SELECT lineNumber, reasons FROM rejected_rows")
    assert line == 2 and "callIds 3 not assigned yet" in reasons[0]
    wh.cli("ingest", "cdr", str(write("b.csv", csv_text(rows("B", 2)))), ok=True)  # call ids 3, 4
    wh.cli("materialise", ok=True)
    assert wh.query("SELECT callId FROM deleted_calls") == [(2,)]
    assert wh.scalar("SELECT count(*) FROM calls WHERE id = 3") == 1


def test_a_run_goes_on_past_a_bad_deletion_log(wh, job):
    inbox = job.parent / "inbox"
    (inbox / "a.jsonl").write_bytes(gzip.compress(LOG.encode()))
    (inbox / "b.jsonl").write_text(jsonl([entry(5, timestamp="9999-12-31T23:59:59-01:00"), entry(6)]))
    result = wh.cli("run", str(job))
    assert result.exit_code == 3, result.stderr
    assert wh.query("SELECT id FROM user_activity_log") == [("UAL-6",)]


# -------------------------------------------------------------- options, homes and init


@pytest.mark.parametrize("args", [
    ("retention", "enforce", "--retention-days", "1000000000"),
    ("retention", "enforce", "--as-of", "9999-12-31"),
    ("retention", "enforce", "--as-of", "0001-01-01", "--dry-run"),
    ("deleted-calls", "list", "--offset", str(2**70)),
    ("deleted-calls", "list", "--offset", str(2**62)),
    ("deleted-calls", "list", "--id-after", str(2**64)),
    ("deleted-calls", "list", "--cdr-file", str(2**64)),
    ("deleted-calls", "list", "--created-since", "9999-12-31T23:59:59-01:00"),
    ("deleted-calls", "get", str(2**64)),
    ("deleted-calls", "list", "--cursor", "eyJ2IjoxLCJvZmZzZXQiOjE4NDQ2NzQ0MDczNzA5NTUxNjE2fQ"),  # offset 2**64
    ("deleted-calls", "list", "--cursor", "eyJ2IjoxLCJpZF9hZnRlciI6IngifQ"),  # id_after "x"
    ("deleted-calls", "list", "--cursor", "WzEsMl0"),  # [1,2]
    ("deleted-calls", "list", "--cursor", "eyJ2IjoxLCJsaW1pdCI6MWUzMDB9"),  # limit 1e300
    ("deleted-calls", "list", "--cursor", "!!!!"),
], ids=lambda a: " ".join(a)[:60])
def test_out_of_range_options_are_usage_errors(wh, args):
    result = wh.cli(*args, user="dpo")
    assert result.exit_code == 2, result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) >= 1 and "Traceback" not in result.stderr


def test_an_empty_home_is_a_usage_error_and_touches_nothing(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from deletedcalls.cli import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "theirs.txt").write_text("x")
    os.chmod(tmp_path / "theirs.txt", 0o644)
    result = CliRunner().invoke(cli, ["--home", "", "init"])
    assert result.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.txt"]
    assert os.stat(tmp_path / "theirs.txt").st_mode & 0o777 == 0o644


def test_init_refuses_a_foreign_non_empty_directory_and_changes_no_permission(tmp_path):
    from click.testing import CliRunner

    from deletedcalls.cli import cli

    foreign = tmp_path / "projects"
    foreign.mkdir(mode=0o755)
    os.chmod(foreign, 0o755)
    (foreign / "notes.txt").write_text("mine")
    os.chmod(foreign / "notes.txt", 0o664)
    result = CliRunner().invoke(cli, ["--home", str(foreign), "init"])
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert (os.stat(foreign).st_mode & 0o777, os.stat(foreign / "notes.txt").st_mode & 0o777) == (0o755, 0o664)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["--home", str(empty), "init"]).exit_code == 0
    assert os.stat(empty / "deletedcalls.duckdb").st_mode & 0o777 == 0o600


def test_a_home_that_is_a_file_or_a_config_that_cannot_be_read_is_exit_7_naming_the_path(tmp_path, wh):
    from click.testing import CliRunner

    from deletedcalls.cli import cli

    not_a_dir = tmp_path / "home-file"
    not_a_dir.write_text("")
    for args in (["init"], ["files", "list"], ["ingest", "cdr", str(not_a_dir)]):
        result = CliRunner().invoke(cli, ["--home", str(not_a_dir), *args])
        assert result.exit_code == 7, (args, result.stderr)
        assert str(not_a_dir) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    (wh.home / "config.toml").unlink()
    (wh.home / "config.toml").mkdir()
    result = wh.cli("files", "list")
    assert result.exit_code == 7 and str(wh.home / "config.toml") in result.stderr
    (wh.home / "config.toml").rmdir()
    (wh.home / "config.toml").write_bytes(b"[retention]\ndays = 9\xff\n")
    assert wh.cli("files", "list").exit_code == 2


def test_job_files_and_sql_files_that_are_not_text_are_usage_errors_and_a_fifo_log_is_rejected(wh, tmp_path):
    binary = tmp_path / "q.sql"
    binary.write_bytes(b"\xff\xfe\x00SELECT")
    result = wh.cli("sql", "--file", str(binary))
    assert result.exit_code == 2 and "not UTF-8" in result.stderr
    job = tmp_path / "job.toml"
    job.write_bytes(b'[job]\nname = "x\xff"\n')
    assert wh.cli("run", str(job)).exit_code == 2
    job.unlink()
    os.mkfifo(job)
    proc = run_cli(wh.home, "run", str(job))
    assert proc.wait(timeout=60) == 2, "a FIFO job file must not block"
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    proc = run_cli(wh.home, "ingest", "deletions", str(fifo))
    assert proc.wait(timeout=60) == 3


def test_help_lists_exit_7():
    from click.testing import CliRunner

    from deletedcalls.cli import cli
    from deletedcalls.errors import EnvironmentFailure, ExitCode, exit_code_for

    assert "7 environment failure" in CliRunner().invoke(cli, ["--help"]).stdout
    assert exit_code_for(EnvironmentFailure("x")) == ExitCode.ENVIRONMENT_FAILURE == 7


def test_deletion_lines_that_json_allows_but_no_store_can_hold_are_rejected_lines(wh, write):
    base = '{"id": "%s", "user": "u", "timestamp": "2026-01-01T00:00:00Z", "action": "delete_calls", "selector": %s%s}'
    lines = [
        base % ("A1", '{"cdrFile": "x.csv", "lines": [' + str(10**30) + "]}", ""),
        base % ("A2", '{"callIds": [' + str(10**30) + "]}", ""),
        "[" * 100_000,
        base % ("A4", '{"carrierCallIds": ["X"]}', ', "reason": "\\ud800"'),
        base % ("A5", '{"carrierCallIds": ["ok"]}', ""),
    ]
    result = wh.cli("ingest", "deletions", str(write("weird.jsonl", "\n".join(lines) + "\n")))
    assert result.exit_code == 0, result.stderr
    assert [n for n, in wh.query("SELECT lineNumber FROM rejected_rows ORDER BY 1")] == [1, 2, 3, 4]
    assert wh.query("SELECT id FROM user_activity_log") == [("A5",)]


def test_file_names_that_are_not_utf8_are_stored_with_escapes(wh, job):
    inbox = os.fsencode(job.parent / "inbox")
    with open(inbox + b"/caf\xe9.csv", "wb") as f:
        f.write(csv_text(rows("E", 2)).encode())
    with open(inbox + b"/l\xe9g.jsonl", "wb") as f:
        f.write(jsonl([entry(1, selector={"carrierCallIds": ["E-000000"]})]).encode())
    result = wh.cli("run", str(job))
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT fileName, status FROM cdr_files") == [("caf\\xe9.csv", "loaded")]
    assert wh.query("SELECT fileName FROM deletion_files") == [("l\\xe9g.jsonl",)]
    assert wh.scalar("SELECT count(*) FROM calls") == 1  # the other was deleted (and, dated March, archived)


def test_a_log_whose_first_line_is_an_array_but_whose_other_lines_are_entries_applies_them(wh, write):
    result = wh.cli("ingest", "deletions", str(write("d.jsonl", "[1, 2]\n" + jsonl([entry(1)]))))
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT id FROM user_activity_log") == [("UAL-1",)]
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [(1, ["not a JSON object"])]


# ============================================================== issue 27: what 493 hostile cases still broke
# Each test below failed on main before the fix it names (exit 1, a stopped batch, a file not recorded).


def _encrypted_zip(text: str) -> bytes:
    """A zip whose member is marked encrypted (traditional PKWARE encryption, as `zip -e` writes)."""
    data = bytearray(_zip(text))
    data[data.find(b"PK\x03\x04") + 6] |= 1  # general purpose flag bit 0: encrypted
    data[data.find(b"PK\x01\x02") + 8] |= 1
    return bytes(data)


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    zipfile.ZipFile(buf, "w").close()
    return buf.getvalue()


BROKEN_ZIPS = {
    "encrypted.zip": (_encrypted_zip(TEXT), "encrypted"),
    "zero-bytes.zip": (b"", "cannot be read as zip"),
    "no-members.zip": (_empty_zip(), "holds 0"),
}
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("name", list(BROKEN_ZIPS))
def test_a_zip_that_cannot_be_opened_is_a_rejected_file_and_the_next_file_loads(wh, write, name):
    content, why = BROKEN_ZIPS[name]
    result = wh.cli("ingest", "cdr", str(write(name, content)), str(write("good.csv", csv_text(rows("G", 2)))))
    assert result.exit_code == 3, result.stderr
    files = files_by_name(wh)
    assert files[name]["status"] == "rejected" and why in files[name]["reason"], files[name]
    assert files[name]["sha256"] == hashlib.sha256(content).hexdigest()
    assert files["good.csv"]["status"] == "loaded" and files["good.csv"]["rows"] == 2
    assert not list(wh.home.glob(".delivery-*"))


def _event_line(call_id: str) -> str:
    return json.dumps({"event": "call.ended", "call": {"callId": call_id, "created": "2026-03-01T10:00:00Z",
                                                       "joined": "2026-03-01T10:00:05Z", "ended": "2026-03-01T10:01:05Z",
                                                       "recordingEnabled": False}}) + "\n"


DEEP_ULTRAVOX = {
    "deep-page.json": DEEP,
    "deep-results.json": '{"results": [' + DEEP + "]}",
    "deep-first-line.jsonl": DEEP + "\n" + _event_line("uv-2"),
    "deep-later-line.jsonl": _event_line("uv-3") + '{"event": "call.ended", "call": ' + DEEP + "}\n",
}


@pytest.mark.parametrize("name", list(DEEP_ULTRAVOX))
def test_json_nested_100000_deep_is_a_rejected_ultravox_file_not_a_crash(wh, write, name):
    good = write("good.jsonl", _event_line("uv-1"))
    result = wh.cli("ingest", "ultravox", str(write(name, DEEP_ULTRAVOX[name])), str(good), "--json")
    assert result.exit_code == 3, result.stderr
    out = {r["fileName"]: r for r in json.loads(result.stdout)}
    reasons = [r for rs, in wh.query("SELECT reasons FROM rejected_rows") for r in rs]
    assert out[name]["status"] == "rejected", out[name]
    assert "nested too deeply" in out[name]["message"] or reasons == ["not valid JSON: nested too deeply"], (out[name], reasons)
    assert out["good.jsonl"]["status"] == "loaded"
    assert wh.query("SELECT fileName, status FROM ultravox_files ORDER BY id") == [(name, "rejected"), ("good.jsonl", "loaded")]
    assert wh.query("SELECT carrierCallID FROM calls") == [("uv-1",)]


def test_a_run_records_every_file_that_used_to_stop_it_and_does_the_rest_of_the_night(wh, job):
    inbox = job.parent / "inbox"
    for name, (content, _) in BROKEN_ZIPS.items():
        (inbox / f"a-{name}").write_bytes(content)
    for name, text in DEEP_ULTRAVOX.items():
        (inbox / f"b-{name}").write_text(text)
    (inbox / "c-deep-deletions.jsonl").write_text(DEEP + "\n")
    (inbox / "z-good.csv").write_text(csv_text(rows("Z", 3)))
    (inbox / "z-deletions.jsonl").write_text(jsonl([entry(1, selector={"carrierCallIds": ["Z-000000"]})]))

    result = wh.cli("run", str(job), "--as-of", "2026-03-10", "--json")

    assert result.exit_code == 3, result.stderr
    summary = json.loads(result.stdout)
    assert len(summary["rejectedFiles"]) == len(BROKEN_ZIPS) + len(DEEP_ULTRAVOX) + 1, summary["rejectedFiles"]
    assert wh.query("SELECT fileName, status FROM cdr_files WHERE status = 'rejected' ORDER BY 1") == [
        (f"a-{n}", "rejected") for n in sorted(BROKEN_ZIPS)]
    assert sorted(wh.query("SELECT fileName FROM ultravox_files WHERE status = 'rejected'")) == [
        (f"b-{n}",) for n in sorted(DEEP_ULTRAVOX)]
    assert wh.query("SELECT fileName, status FROM deletion_files ORDER BY 1") == [
        ("c-deep-deletions.jsonl", "rejected"), ("z-deletions.jsonl", "ingested")]
    # the files after them loaded, the deletion applied, and the stores were published
    assert wh.query("SELECT carrierCallID FROM deleted_calls") == [("Z-000000",)]
    assert {f["fileName"]: f["status"] for f in wh.json("files", "list")}["z-good.csv"] == "loaded"
    assert wh.json("sql", "SELECT count(*) AS n FROM calls")[0]["n"] == 2
    # the next night skips them all: nothing to reject again
    again = wh.cli("run", str(job), "--as-of", "2026-03-10")
    assert again.exit_code == 0, again.stderr


# -------------------------------------------------------------- a compressed delivery bigger than the disk


def test_a_compressed_delivery_that_would_not_fit_the_free_space_is_a_rejected_file(wh, write, monkeypatch):
    text = csv_text(rows("B", 30_000))  # about 3 MB, compressed to a few hundred kB
    bomb = write("bomb.csv.gz", gzip.compress(text.encode()))
    zipped = write("bomb.zip", _zip(text))
    good = write("good.csv", csv_text(rows("G", 2)))
    monkeypatch.setenv("DELETEDCALLS_TEST_FREE_BYTES", str(2 << 20))  # the home's disk has 2 MiB free

    result = wh.cli("ingest", "cdr", str(bomb), str(zipped), str(good))

    assert result.exit_code == 3, result.stderr
    files = files_by_name(wh)
    for name in ("bomb.csv.gz", "bomb.zip"):
        assert files[name]["status"] == "rejected", files[name]
        assert "free space" in files[name]["reason"] and str(wh.home) in files[name]["reason"], files[name]["reason"]
    assert files["good.csv"]["status"] == "loaded"
    assert not list(wh.home.glob(".delivery-*"))
    monkeypatch.delenv("DELETEDCALLS_TEST_FREE_BYTES")
    again = wh.cli("ingest", "cdr", str(bomb))  # recorded: a later night does not try it again
    assert again.exit_code == 0 and "already ingested" in again.stderr


def test_the_free_space_test_variable_must_be_a_number(wh, write, monkeypatch):
    monkeypatch.setenv("DELETEDCALLS_TEST_FREE_BYTES", "lots")
    result = wh.cli("ingest", "cdr", str(write("x.csv.gz", gzip.compress(TEXT.encode()))))
    assert result.exit_code == 2 and "DELETEDCALLS_TEST_FREE_BYTES" in result.stderr


# -------------------------------------------------------------- a header and no records


def test_a_header_only_csv_is_a_rejected_file_and_the_real_file_of_that_name_loads_later(wh, write):
    path = write("bt-2026-03-05.csv", csv_text([]))
    first = wh.cli("ingest", "cdr", str(path))
    assert first.exit_code == 3, first.stderr
    assert "no records" in first.stderr.strip().splitlines()[-1]
    assert wh.query("SELECT status, \"rows\" FROM cdr_files") == [("rejected", 0)]
    path.write_text(csv_text(rows("R", 4)))
    second = wh.cli("ingest", "cdr", str(path))
    assert second.exit_code == 0, second.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 4


def test_a_header_only_file_of_a_profile_is_rejected_too(wh, write):
    header = open(Path(__file__).parent.parent / "data" / "gamma-fcs-2026-03-29.csv", "rb").readline()
    result = wh.cli("ingest", "cdr", str(write("gamma-empty.csv", header)))
    assert result.exit_code == 3, result.stderr
    assert wh.query("SELECT status, profile FROM cdr_files") == [("rejected", "fcs")]


# -------------------------------------------------------------- paths that cannot be opened, in ingest


def test_ingest_rejects_each_path_it_cannot_open_and_loads_the_others(wh, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dangling.csv").symlink_to(bad / "nowhere.csv")
    (bad / "loop.csv").symlink_to(bad / "loop.csv")
    missing = bad / "no-such-folder" / "x.csv"
    too_long = bad / ("n" * 5000 + ".csv")
    good = tmp_path / "good.csv"
    good.write_text(csv_text(rows("G", 2)))
    paths = [bad / "dangling.csv", bad / "loop.csv", missing, too_long, good]

    result = wh.cli("ingest", "cdr", *map(str, paths), "--json")

    assert result.exit_code == 3, result.stderr
    out = json.loads(result.stdout)
    assert [r["status"] for r in out] == ["rejected"] * 4 + ["loaded"]
    assert all("cannot be opened" in r["message"] for r in out[:4]), out
    assert wh.scalar("SELECT count(*) FROM calls") == 2
    for command in ("deletions", "ultravox"):
        other = wh.cli("ingest", command, str(bad / "dangling.csv"), str(missing))
        assert other.exit_code == 3, (command, other.stderr)


def _as_a_user_bound_by_modes(home: Path, *args: str) -> tuple[int, str]:
    """Run the real CLI so that file modes bind it: as it is for a user, and for root (CI runs as root) without the
    capabilities that let root open a file of mode 000 or search a folder it may not (setpriv, util-linux)."""
    wrapper: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux): root opens files of mode 000")
        caps = "-dac_override,-dac_read_search"
        wrapper = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]
    env = dict(os.environ, DELETEDCALLS_USER="analyst", PYTHONPATH=str(Path(__file__).parent.parent))
    command = [*wrapper, sys.executable, "-m", "deletedcalls", "--home", str(home), *args]
    done = subprocess.run(command, env=env, capture_output=True, timeout=300)
    return done.returncode, done.stderr.decode()


def test_ingest_rejects_an_unreadable_file_and_a_file_in_an_unsearchable_folder(wh, tmp_path):
    locked = tmp_path / "locked.csv"
    locked.write_text(TEXT)
    locked.chmod(0)
    folder = tmp_path / "shut"
    folder.mkdir()
    (folder / "x.csv").write_text(TEXT)
    folder.chmod(0)
    good = tmp_path / "good.csv"
    good.write_text(csv_text(rows("G", 2)))
    try:
        code, stderr = _as_a_user_bound_by_modes(wh.home, "ingest", "cdr", str(locked), str(folder / "x.csv"), str(good))
        logs = [_as_a_user_bound_by_modes(wh.home, "ingest", kind, str(locked), str(folder / "x.jsonl"))
                for kind in ("deletions", "ultravox")]
    finally:
        folder.chmod(0o700)
    assert code == 3, stderr
    assert "locked.csv" in stderr and "Permission denied" in stderr, stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 2
    assert wh.query("SELECT fileName, status FROM cdr_files ORDER BY id") == [
        ("locked.csv", "rejected"), ("x.csv", "rejected"), ("good.csv", "loaded")]
    assert [c for c, _ in logs] == [3, 3], logs


# -------------------------------------------------------------- wrong JSON types in a deletion log


@pytest.mark.parametrize(("field", "value"), [
    ("user", ["a", "b"]), ("id", 1.5), ("id", 17), ("timestamp", 1772705000), ("action", ["delete_calls"]),
    ("reason", {"why": "x"}), ("user", True),
], ids=lambda v: json.dumps(v))
def test_a_deletion_entry_with_a_field_of_the_wrong_json_type_is_a_rejected_line(wh, write, field, value):
    log = write("d.jsonl", jsonl([entry(1, **{field: value}), entry(2)]))
    result = wh.cli("ingest", "deletions", str(log))
    assert result.exit_code == 0, result.stderr
    [(line, reasons)] = wh.query("SELECT lineNumber, reasons FROM rejected_rows")
    assert line == 1 and any(r.startswith(f"{field}: must be a") for r in reasons), reasons
    assert wh.query('SELECT id, "user" FROM user_activity_log') == [("UAL-2", "alice")]


# -------------------------------------------------------------- ultravox is not a carrier of CDR files


def test_a_cdr_record_with_carrier_ultravox_is_rejected_and_a_tombstone_deletes_the_real_call(wh, write, tmp_path):
    from deletedcalls.ingest.synthetic_ultravox import call_object, tombstone, write_page

    call = call_object(1)
    forged = [good_row(0, carrier="ultravox", carrierCallID=call["callId"]), good_row(1, carrier="ULTRAVOX", carrierCallID="x")]
    forged += rows("F", 2)
    result = wh.cli("ingest", "cdr", str(write("forged.csv", csv_text(forged))), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    reasons = dict(wh.query("SELECT lineNumber, reasons FROM rejected_rows ORDER BY 1"))
    assert sorted(reasons) == [2, 3] and all("reserved" in r[0] for r in reasons.values()), reasons
    wh.cli("ingest", "ultravox", str(write_page(tmp_path / "calls.json", [call])), ok=True)
    deleted_at = datetime(2026, 3, 10, tzinfo=UTC)
    wh.cli("ingest", "ultravox", str(write_page(tmp_path / "tombs.json", [tombstone(call, deleted_at)])), ok=True)
    assert wh.scalar("SELECT count(*) FROM calls WHERE carrierCallID = $c", {"c": call["callId"]}) == 0
    assert wh.scalar("SELECT count(*) FROM deleted_calls WHERE carrierCallID = $c", {"c": call["callId"]}) == 1


# -------------------------------------------------------------- dates before 1900 and numbers too large


@pytest.mark.parametrize(("day", "ok"), [("0000-01-01", False), ("0999-12-31", False), ("1899-12-31", False),
                                          ("1900-01-01", True), ("2999-12-31", True), ("3000-01-01", False)])
def test_a_start_date_outside_1900_to_2999_is_rejected(wh, write, day, ok):
    result = wh.cli("ingest", "cdr", str(write("d.csv", csv_text([good_row(0, startDate=day)] + rows("D", 3)))),
                    "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == (4 if ok else 3)
    if not ok:
        [reasons] = [r for r, in wh.query("SELECT reasons FROM rejected_rows")]
        assert reasons == [f"startDate: must be a date from 1900-01-01 to 2999-12-31 (got '{day}')"]


def test_a_duration_or_cost_too_large_says_too_large(wh, write):
    big = [good_row(0, duration="9223372036854775807"), good_row(1, costCDR="123456789012345678.5"),
           good_row(2, duration="-1")] + rows("D", 3)
    result = wh.cli("ingest", "cdr", str(write("big.csv", csv_text(big))), "--max-reject-ratio", "0.6")
    assert result.exit_code == 0, result.stderr
    reasons = dict(wh.query("SELECT lineNumber, reasons FROM rejected_rows ORDER BY 1"))
    assert reasons[2] == ["duration: too large: at most 15 digits (got '9223372036854775807')"]
    assert reasons[3] == ["costCDR: too large: at most 14 digits before the point (got '123456789012345678.5')"]
    assert reasons[4] == ["duration: must be whole seconds >= 0 (got '-1')"]


# -------------------------------------------------------------- profiles, config and job files nested or wrong


DEEP_TOML = {
    "arrays": "description = 'deep'\nx = " + "[" * 5000 + "]" * 5000 + "\n",
    "inline-tables": "description = 'deep'\nx = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
    "dotted-keys": "description = 'deep'\n" + ".".join(["map"] + ["k"] * 5000) + " = 1\n",
}


@pytest.mark.parametrize("kind", list(DEEP_TOML))
def test_a_profile_nested_5000_levels_deep_is_a_usage_error(wh, write, kind):
    (wh.home / "profiles").mkdir()
    (wh.home / "profiles" / "deep.toml").write_text(DEEP_TOML[kind])
    for args in (("profiles", "list"), ("ingest", "cdr", str(write("x.csv", TEXT)))):
        result = wh.cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert "deep.toml" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_profiles_that_extend_each_other_5000_deep_are_a_usage_error(wh):
    folder = wh.home / "profiles"
    folder.mkdir()
    (folder / "p0.toml").write_text('extends = "canonical"\n')
    for i in range(1, 5000):
        (folder / f"p{i}.toml").write_text(f'extends = "p{i - 1}"\n')
    result = wh.cli("profiles", "show", "p4999")
    assert result.exit_code == 2, result.stderr
    assert "extends a chain of more than 16" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["config.toml", "job"])
def test_a_config_or_job_file_nested_too_deep_is_a_usage_error(wh, job, where):
    target = wh.home / "config.toml" if where == "config.toml" else job
    target.write_text(target.read_text() + "\n[deep]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    result = wh.cli("run", str(job))
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("section", "setting", "job_overrides"), [
    ("ingest", "max_reject_ratio = 2", "[ingest]\nmax_reject_ratio = 0.5\n"),
    ("retention", "days = -5", "[retention]\ndays = 30\n"),
    ("permissions", 'data_protection = ["dpo", 5]', ""),
    ("permissions", 'data_protection = [""]', ""),
    ("inbox", "min_age_seconds = -1", ""),
], ids=lambda v: v.split("\n")[0])
def test_every_command_checks_the_whole_config_even_keys_a_job_file_overrides(wh, job, section, setting, job_overrides):
    config = wh.home / "config.toml"
    text = config.read_text()
    key = setting.split(" =")[0]
    if f"\n{key} =" in text:
        text = re.sub(rf"\n{key} = [^\n]*", "\n" + setting.replace("\\", "\\\\"), text)
    else:
        text += f"\n[{section}]\n{setting}\n"
    config.write_text(text)
    job.write_text(job.read_text() + job_overrides)
    for args in (("run", str(job)), ("files", "list"), ("ingest", "cdr", "--max-reject-ratio", "0.5", str(job))):
        result = wh.cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert str(config) in result.stderr and key in result.stderr, result.stderr


# -------------------------------------------------------------- two user profiles that tie


def test_two_user_profiles_that_tie_exactly_are_named_in_a_warning(wh, write):
    (wh.home / "profiles").mkdir()
    for name in ("alpha", "beta"):
        (wh.home / "profiles" / f"{name}.toml").write_text(f'extends = "canonical"\ndescription = "{name}"\n')
    result = wh.cli("ingest", "cdr", str(write("x.csv", TEXT)))
    assert result.exit_code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "tie" in line]
    assert len(warning) == 1 and "alpha" in warning[0] and "beta" in warning[0], result.stderr


# -------------------------------------------------------------- a damaged database or published store


def _damage(path: Path, how: str) -> None:
    if how == "random-bytes":
        path.write_bytes(os.urandom(300_000))
    elif how == "zero-bytes":
        path.write_bytes(b"")
    else:  # truncated to its first blocks
        os.truncate(path, 12_288)


DAMAGE = ["random-bytes", "zero-bytes", "truncated"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_warehouse_database_is_exit_6_naming_it_and_the_way_out(wh, write, job, how):
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows("A", 3)))), ok=True)
    _damage(wh.home / "deletedcalls.duckdb", how)
    (job.parent / "inbox" / "b.csv").write_text(csv_text(rows("B", 2)))
    for args in (("ingest", "cdr", str(write("b.csv", csv_text(rows("B", 2))))), ("materialise",), ("run", str(job)),
                 ("retention", "enforce", "--as-of", "2026-12-01"), ("init",)):
        result = wh.cli(*args)
        assert result.exit_code == 6, (args, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert str(wh.home / "deletedcalls.duckdb") in line and "backup" in line and "init" in line, line
    # readers go on answering from the last published state
    assert [f["fileName"] for f in wh.json("files", "list")] == ["a.csv"]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("extend", [False, True], ids=["fresh", "extended"])
def test_a_damaged_published_store_is_exit_6_for_readers_and_the_next_writer_publishes_it_again(wh, write, how, extend):
    if extend:  # a store the next publish would extend rather than write fresh
        config = wh.home / "config.toml"
        config.write_text(config.read_text().replace("extend_min_rows = 200000", "extend_min_rows = 0"))
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows("A", 3)))), ok=True)
    for store in ("analyst", "protected"):
        _damage(wh.home / "published" / f"{store}.duckdb", how)
    for args, user in ((("files", "list"), "analyst"), (("sql", "SELECT 1"), "analyst"), (("runs", "list"), "analyst"),
                       (("deleted-calls", "list"), "dpo"), (("sql", "SELECT 1"), "dpo")):
        result = wh.cli(*args, user=user)
        assert result.exit_code == 6, (args, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert "published" in line and "writer" in line, line
    wh.cli("ingest", "cdr", str(write("b.csv", csv_text(rows("B", 2)))), ok=True)
    assert [f["fileName"] for f in wh.json("files", "list")] == ["a.csv", "b.csv"]
    assert wh.json("deleted-calls", "list", user="dpo")["total"] == 0


# -------------------------------------------------------------- homes whose names hold glob characters


@pytest.mark.parametrize("name", ["st*r", "br[ack", "w[h]x", "q{b,c}"])
def test_a_home_whose_name_holds_glob_characters_works_and_reads_only_its_own_files(tmp_path, job, name):
    inbox = job.parent / "inbox"
    (inbox / "a.csv").write_text(csv_text(rows("A", 5)))
    (inbox / "d.jsonl").write_text(jsonl([entry(1, selector={"cdrFile": "a.csv"})]))
    # a sibling warehouse whose path the name matches as a glob (w[h]x matches whx, st*r matches stXr), with an
    # archive of the same partition and name but other rows: reading it instead of the home's own fails the check
    sibling = Warehouse(tmp_path / name.replace("[h]", "h").replace("*", "X").replace("[", "").replace("{b,c}", "b"))
    sibling.cli("init", ok=True)
    sibling.cli("run", str(job), "--as-of", "2026-03-10", ok=True)
    more = _written(tmp_path / "more.jsonl", jsonl([entry(2, selector={"cdrFile": "s.csv"})]))
    sibling.cli("ingest", "cdr", str(_written(tmp_path / "s.csv", csv_text(rows("S", 7)))), ok=True)
    sibling.cli("ingest", "deletions", str(more), ok=True)
    sibling.cli("materialise", ok=True)
    sibling.cli("retention", "enforce", "--as-of", "2026-08-01", ok=True)

    home = Warehouse(tmp_path / name)
    home.cli("init", ok=True)
    home.cli("run", str(job), "--as-of", "2026-03-10", ok=True)
    result = home.cli("retention", "enforce", "--as-of", "2026-08-01", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows_purged"] == 5
    verified = home.cli("dr", "verify", "--json")
    assert verified.exit_code == 0, verified.stderr
    assert home.json("sql", "SELECT count(*) AS n FROM calls")[0]["n"] == 0
    [archive] = home.json("dr", "list")
    restored = tmp_path / "restored.duckdb"
    home.cli("dr", "restore", archive["id"], "--into", str(restored), user="dpo", ok=True)
    with duckdb.connect(str(restored), read_only=True) as con:
        assert con.sql("SELECT count(*), min(deletedMonth) FROM deleted_calls").fetchall() == [(5, "2026-03")]


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_home_with_a_question_mark_is_a_usage_error_before_anything_is_made(tmp_path):
    home = Warehouse(tmp_path / "what?home")
    result = home.cli("init")
    assert result.exit_code == 2, result.stderr
    assert "?" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not home.home.exists()


def test_a_check_that_cannot_run_rejects_the_file_rather_than_passing_its_rows(wh, write, monkeypatch):
    import polars as pl

    from deletedcalls.ingest import schemas

    real = schemas.cdr_schema()
    broken = schemas.pandera_polars().Check(lambda data: data.lazyframe.select(pl.col(data.key).is_between("0", "9")),
                                            name="a check with a bug")
    monkeypatch.setattr(schemas, "cdr_schema", lambda *_, **__: real.update_column("duration", checks=[broken]))
    result = wh.cli("ingest", "cdr", str(write("a.csv", TEXT)))
    assert result.exit_code == 3, result.stderr
    [(status, reason)] = wh.query("SELECT status, reason FROM cdr_files")
    assert status == "rejected" and "could not run" in reason and "bug" in reason, reason
    assert wh.scalar("SELECT count(*) FROM calls") == 0
