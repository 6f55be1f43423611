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
import subprocess
import time
import zipfile
from pathlib import Path

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
