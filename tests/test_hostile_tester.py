"""What an outside tester's own hostile corpus found (issue 27's last pass), each finding a test.

The corpus is generated here, never committed as blobs. Each test failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import csv_text, good_row

REPO = Path(__file__).parent.parent


def rows(prefix: str, n: int) -> list[dict[str, str]]:
    return [good_row(i, carrierCallID=f"{prefix}-{i:06d}") for i in range(n)]


def entry(i: int, **overrides: object) -> str:
    e: dict[str, object] = {"id": f"UAL-{i}", "user": "alice", "timestamp": "2026-03-05T10:22:01Z",
                            "action": "delete_calls", "selector": {"carrierCallIds": [f"G-{i:06d}"]}}
    e.update(overrides)
    return json.dumps(e)


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job.toml"
    path.write_text('[job]\nname = "tester"\ninbox = "inbox"\n\n[inbox]\nmin_age_seconds = 0\n')
    (tmp_path / "inbox").mkdir()
    return path


# -------------------------------------------------------------- a quote never closed, with the header's field count


def test_a_last_record_cut_inside_a_quote_with_all_its_fields_is_rejected_and_the_file_loads(wh, write):
    # the lone quote opens a field that runs to the end of the file; counted by quote pairs, the commas
    # after it make as many fields as the header names, which polars then failed to parse: the whole
    # file was rejected as "an unexpected error"
    cut = ",".join(good_row(999, carrierCallID="G-cut", extension='"oops').values())
    text = csv_text(rows("G", 300)) + cut  # no line end: the file ends inside the quote
    result = wh.cli("ingest", "cdr", str(write("cut.csv", text)), "--json")
    assert result.exit_code == 0, result.stderr
    [out] = json.loads(result.stdout)
    assert (out["status"], out["rows"], out["rejected"]) == ("loaded", 300, 1), out
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [
        (302, ["a quoted field is never closed (runs to the end of the file)"])]


def test_a_profile_file_whose_last_record_opens_a_quote_it_never_closes_loads_the_others(wh, write):
    lines = (REPO / "data" / "Master-pbx1-2026-03-29.csv").read_text().splitlines()
    assert lines[0].endswith(',""')
    cut = lines[0][: -len('""')] + '"'  # the last field opens a quote: still 18 fields by quote pairs
    # with its line end: a Master.csv's last line without one is a record the switch is still writing, and waits
    # for the next run (issue 26; tests/test_extents.py)
    text = "\n".join(lines) + "\n" + cut.replace("1774745950.1", "1774745950.9") + "\n"
    result = wh.cli("ingest", "cdr", str(write("Master-cut.csv", text)), "--max-reject-ratio", "0.5", "--json")
    assert result.exit_code == 0, result.stderr
    [out] = json.loads(result.stdout)
    assert (out["status"], out["rows"], out["rejected"]) == ("loaded", len(lines), 1), out
    assert wh.query("SELECT reasons FROM rejected_rows") == [
        (["a quoted field is never closed (runs to the end of the file)"],)]


# -------------------------------------------------------------- a CR alone in the header line


def test_a_header_line_with_a_lone_cr_is_a_rejected_file_with_its_reason_and_the_next_file_loads(wh, write):
    text = csv_text(rows("M", 20)).replace("\n", "\r", 3)  # header and three records run together by lone CRs
    result = wh.cli("ingest", "cdr", str(write("mixed.csv", text)), str(write("good.csv", csv_text(rows("G", 2)))),
                    "--json")
    assert result.exit_code == 3, result.stderr
    out = {r["fileName"]: r for r in json.loads(result.stdout)}
    assert out["mixed.csv"]["status"] == "rejected"
    assert "mixes line ends" in out["mixed.csv"]["message"] and "unexpected" not in out["mixed.csv"]["message"]
    assert out["good.csv"]["status"] == "loaded"


# -------------------------------------------------------------- text no name or path may hold


def test_a_job_file_value_or_config_value_with_a_nul_character_is_a_usage_error(wh, job):
    job.write_text('[job]\nname = "t"\ninbox = "in\\u0000box"\n')
    result = wh.cli("run", str(job))
    assert result.exit_code == 2, result.stderr
    assert "job.inbox holds a NUL character" in result.stderr and "Traceback" not in result.stderr

    (wh.home / "config.toml").write_text('[access]\nanalyst_group = "a\\u0000b"\n')
    result = wh.cli("files", "list")
    assert result.exit_code == 2, result.stderr
    assert "access.analyst_group holds a NUL character" in result.stderr


def test_a_config_job_file_and_profile_saved_with_a_byte_order_mark_are_read(wh, job, write):
    bom = "\ufeff"
    config = wh.home / "config.toml"
    config.write_text(bom + config.read_text() + "\n")
    (wh.home / "profiles").mkdir()
    (wh.home / "profiles" / "mine.toml").write_text(bom + 'extends = "canonical"\ndescription = "with a BOM"\n')
    job.write_text(bom + job.read_text())
    (job.parent / "inbox" / "a.csv").write_text(csv_text(rows("G", 3)))

    result = wh.cli("run", str(job), "--json")
    assert result.exit_code == 0, result.stderr
    assert wh.scalar("SELECT count(*) FROM calls") == 3
    assert wh.cli("profiles", "show", "mine").exit_code == 0


# -------------------------------------------------------------- a JSON number too long for Python


LONG = "9" * 5000  # Python converts at most 4300 digits to an int


def test_an_ultravox_file_with_a_number_too_long_is_rejected_with_that_reason_not_as_a_bug(wh, write):
    page = write("page.json", '{"results": [], "total": ' + LONG + "}")
    result = wh.cli("ingest", "ultravox", str(page), "--json")
    assert result.exit_code == 3, result.stderr
    [out] = json.loads(result.stdout)
    assert out["status"] == "rejected"
    assert "a number too long to read" in out["message"] and "bug" not in out["message"], out


def test_a_deletion_line_with_a_number_too_long_is_a_rejected_line_and_the_others_apply(wh, write):
    wh.cli("ingest", "cdr", str(write("g.csv", csv_text(rows("G", 3)))), ok=True)
    log = write("d.jsonl", "\n".join([
        entry(1).replace('["G-000001"]', "[" + LONG + "]"),  # Python's json reads it into an int, and fails
        entry(2),
    ]) + "\n")
    result = wh.cli("ingest", "deletions", str(log))
    assert result.exit_code == 0, result.stderr
    [(line, reasons)] = wh.query("SELECT lineNumber, reasons FROM rejected_rows")
    assert line == 1 and reasons[0].startswith("not valid JSON: a number too long to read"), reasons
    assert wh.query("SELECT id FROM user_activity_log") == [("UAL-2",)]


# -------------------------------------------------------------- blanks and NULs where the audit trail needs a name


@pytest.mark.parametrize(("field", "value", "why"), [
    ("user", " ", "user: must be a non-empty string, not only spaces"),
    ("id", "\t", "id: must be a non-empty string, not only spaces"),
    ("user", "ali\u0000ce", "user: must not hold a NUL character"),
    ("reason", "because\u0000", "reason: must not hold a NUL character"),
], ids=["user-spaces", "id-tab", "user-nul", "reason-nul"])
def test_a_deletion_entry_naming_nobody_or_holding_a_nul_is_a_rejected_line(wh, write, field, value, why):
    log = write("d.jsonl", entry(1, **{field: value}) + "\n" + entry(2) + "\n")
    result = wh.cli("ingest", "deletions", str(log))
    assert result.exit_code == 0, result.stderr
    [(line, reasons)] = wh.query("SELECT lineNumber, reasons FROM rejected_rows")
    assert line == 1 and any(r.startswith(why) for r in reasons), reasons
    assert wh.query('SELECT id, "user" FROM user_activity_log') == [("UAL-2", "alice")]


@pytest.mark.parametrize("column", ["carrier", "carrierCallID"])
def test_a_cdr_record_whose_key_is_only_spaces_is_rejected(wh, write, column):
    text = csv_text([*rows("G", 2), good_row(7, **{column: "  "})])
    result = wh.cli("ingest", "cdr", str(write("k.csv", text)), "--max-reject-ratio", "0.5")
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT lineNumber, reasons FROM rejected_rows") == [(4, [f"{column}: must not be only spaces (got '  ')"])]
    assert wh.scalar("SELECT count(*) FROM calls") == 2


# -------------------------------------------------------------- a host process that configures logging


def test_an_error_line_still_reaches_stderr_after_the_host_process_configured_logging(wh, job):
    # logging.config.dictConfig disables every logger that exists (Airflow does it; so does import-linter,
    # which made later tests in the same process see an empty stderr)
    import logging
    import logging.config

    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    before = {lg: lg.disabled for lg in loggers}
    try:
        logging.config.dictConfig({"version": 1})
        assert logging.getLogger("deletedcalls").disabled
        job.write_text('[job]\nname = "t"\ninbox = 5\n')
        result = wh.cli("run", str(job))
    finally:
        for lg, disabled in before.items():
            lg.disabled = disabled
    assert result.exit_code == 2
    assert "job.inbox has the wrong type" in result.stderr, result.stderr
