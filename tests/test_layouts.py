"""Layouts as switches and carriers write them (issue 26): the built-in PBX profiles, column kinds, formats
(epoch, H:MM:SS, decimal comma), separators, and what a user profile of a few lines adds. Real warehouses, the
real CLI; the samples in data/layouts/ are written by hand in the shapes of public real files (numbers invented)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO, Warehouse, csv_text, good_row

LAYOUTS = REPO / "data" / "layouts"


def ingest(wh: Warehouse, *args: str) -> tuple[int, list[dict], str]:
    result = wh.cli("ingest", "cdr", *args, "--json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else [], result.stderr


def profile(wh: Warehouse, name: str, text: str) -> None:
    (wh.home / "profiles").mkdir(exist_ok=True)
    (wh.home / "profiles" / f"{name}.toml").write_text(text)


def reasons(wh: Warehouse) -> dict[int, list[str]]:
    return {line: list(r) for line, r in wh.query("SELECT lineNumber, reasons FROM rejected_rows ORDER BY 1")}


@pytest.mark.parametrize(("sample", "chosen", "rows"), [
    ("Master-pbx2-2026-04-02.csv", "asterisk", 10),
    ("Master-basic-2026-04-03.csv", "asterisk-basic", 3),
    ("Master-newcdr-2026-01-27.csv", "asterisk-newcdr", 4),
    ("Master-custom-2026-04-02.csv", "asterisk-custom", 4),
    ("freepbx-cdr-2026-04-04.csv", "freepbx", 4),
    ("cdr_StandAloneCluster_01_202604050900_101.csv", "cucm", 4),
    ("3cx-cdr-2026-04-06.log", "3cx", 4),
])
def test_each_layout_sample_loads_whole_with_its_builtin_profile(wh: Warehouse, sample: str, chosen: str, rows: int) -> None:
    code, results, err = ingest(wh, str(LAYOUTS / sample))
    assert code == 0, err
    assert (results[0]["profile"], results[0]["rows"], results[0]["rejected"]) == (chosen, rows, 0)
    assert results[0]["extraColumns"] == []


def test_pbx_destinations_and_short_extensions_are_kept_as_text(wh: Warehouse) -> None:
    code, _, err = ingest(wh, str(LAYOUTS / "Master-pbx2-2026-04-02.csv"))
    assert code == 0, err
    assert [r[0] for r in wh.query("SELECT external FROM calls ORDER BY lineNumber")] == [
        "t", "s", "1", "voicemail", "*201725", "park+700", "client2", "gonzalo@example.com", "01632960000", "*72"]
    assert wh.query("SELECT target FROM calls WHERE lineNumber = 9") == [("20",)]


def test_a_text_number_column_still_refuses_control_characters(wh: Warehouse, write: Callable[..., Path]) -> None:
    lines = (LAYOUTS / "Master-pbx2-2026-04-02.csv").read_text().splitlines()
    lines[1] = lines[1].replace('"s"', '"s\x01"')
    code, results, _ = ingest(wh, str(write("Master.csv", "\n".join(lines) + "\n")), "--max-reject-ratio", "0.5")
    assert code == 0 and results[0]["rows"] == 9
    assert reasons(wh) == {2: ["dst → external: must be text without control characters (got 's\\x01')"]}


def test_a_canonical_number_keeps_the_phone_rule(wh: Warehouse, write: Callable[..., Path]) -> None:
    code, _, _ = ingest(wh, str(write("c.csv", csv_text([good_row(1, external="s"), good_row(2)]))), "--max-reject-ratio", "0.5")
    assert code == 0
    assert reasons(wh) == {2: ["external: must be + or a digit, then digits, 3-20 characters (got 's')"]}


def test_an_anonymous_caller_is_the_channel_or_device_that_placed_the_call(wh: Warehouse, write: Callable[..., Path]) -> None:
    line = ('"","","2000","from-internal","","Local/2000@from-internal-00000001;2","","Dial","SIP/2000",'
            '"2026-04-03 09:00:00","2026-04-03 09:00:03","2026-04-03 09:01:03",63,60,"ANSWERED","DOCUMENTATION","1775206800.1",""\n')
    code, _, err = ingest(wh, str(write("Master.csv", line)))
    assert code == 0, err
    assert wh.query("SELECT target FROM calls") == [("Local/2000@from-internal-00000001;2",)]
    code, _, err = ingest(wh, str(LAYOUTS / "cdr_StandAloneCluster_01_202604050900_101.csv"))
    assert code == 0, err
    assert wh.query("SELECT target, external FROM calls WHERE carrier = 'cucm' AND lineNumber = 6") == [
        ("GATEWAY-A", "sip:reception@example.com")]


def test_a_map_entry_set_to_false_removes_the_inherited_rule(wh: Warehouse, write: Callable[..., Path]) -> None:
    profile(wh, "pbx", 'extends = "asterisk"\n[map]\nexternal = false\n')
    code, results, err = ingest(wh, "--profile", "pbx", str(LAYOUTS / "Master-pbx2-2026-04-02.csv"))
    assert code == 0, err and results[0]["rows"] == 10
    assert wh.query("SELECT count(*) FROM calls WHERE external IS NULL") == [(10,)]
    assert "external" not in wh.cli("profiles", "show", "pbx", ok=True).stdout.split("[map]")[1]


@pytest.mark.parametrize(("text", "message"), [
    ('extends = "asterisk"\n[map]\nexternal = true\n', "map.external: must be a source column name, a table, or false"),
    ('extends = "asterisk"\n[map]\ntarget = false\n', "map.target: a required column has no rule"),
    ('extends = "fcs"\n[read]\ndelimiter = ";"\nseparator = ";"\n', "read.separator: give separator or delimiter, not both"),
    ('extends = "fcs"\n[read]\nseparator = ";;"\n', "read.separator: must be one character"),
    ('extends = "fcs"\n[map]\nduration = { column = "Duration", format = "%H.%M" }\n', "map.duration.format: a duration is written"),
    ('extends = "fcs"\n[map]\ntarget = { column = "Caller Line Identity", kind = "words" }\n', "map.target.kind: must be phone or text"),
    ('extends = "fcs"\n[map]\nchargeBand = { column = "Chargecode", kind = "text" }\n', "map.chargeBand.kind: only target"),
    ('extends = "fcs"\n[map]\ncostCDR = { column = "Salesprice", decimal = ";" }\n', "map.costCDR.decimal"),
    ('extends = "fcs"\n[map]\nstartDate = { column = "Call Date", format = "epoch" }\n', "map.startTime.format: an epoch instant"),
])
def test_bad_new_profile_settings_are_usage_errors(wh: Warehouse, write: Callable[..., Path], text: str, message: str) -> None:
    profile(wh, "bad", text)
    result = wh.cli("profiles", "list")
    assert result.exit_code == 2 and message in result.stderr, result.stderr


# ---------------------------------------------------------------- formats


EPOCH_PROFILE = '''extends = "canonical"
[read]
separator = ";"
[time]
zone = "Europe/London"
[map]
startDate = { column = "started", format = "FORMAT", part = "date" }
startTime = { column = "started", format = "FORMAT", part = "time" }
'''


@pytest.mark.parametrize(("fmt", "scale"), [("epoch", 1), ("epoch_ms", 1000)])
def test_epoch_instants_are_utc_and_show_the_zones_wall_clock(wh: Warehouse, write: Callable[..., Path], fmt: str, scale: int) -> None:
    profile(wh, "epochs", EPOCH_PROFILE.replace("FORMAT", fmt))
    header = [c for c in good_row() if c not in ("startDate", "startTime")] + ["started"]
    # 2026-10-25 00:30 and 01:30 UTC: both 01:30 on the London wall clock (the autumn hour); 2026-07-01 12:00 UTC
    instants = [1792888200, 1792891800, 1782907200]
    rows = [good_row(i, started=str(t * scale)) for i, t in enumerate(instants)]
    code, results, err = ingest(wh, "--profile", "epochs", str(write("e.csv", csv_text(rows, header).replace(",", ";"))))
    assert code == 0, err
    assert results[0]["ambiguousTimes"] == 0  # an instant is never ambiguous, whatever its wall clock
    got = wh.query("SELECT startDate::VARCHAR, startTime::VARCHAR, epoch(startedAt)::BIGINT FROM calls ORDER BY lineNumber")
    assert got == [("2026-10-25", "01:30:00", 1792888200), ("2026-10-25", "01:30:00", 1792891800),
                   ("2026-07-01", "13:00:00", 1782907200)]


def test_a_bad_epoch_value_is_rejected_naming_the_format(wh: Warehouse, write: Callable[..., Path]) -> None:
    profile(wh, "epochs", EPOCH_PROFILE.replace("FORMAT", "epoch"))
    header = [c for c in good_row() if c not in ("startDate", "startTime")] + ["started"]
    rows = [good_row(1, started="1782907200"), good_row(2, started="2026-07-01 12:00")]
    code, _, _ = ingest(wh, "--profile", "epochs", "--max-reject-ratio", "0.5",
                        str(write("e.csv", csv_text(rows, header).replace(",", ";"))))
    assert code == 0
    assert reasons(wh) == {3: ["started → startDate: not an instant in seconds since 1970-01-01 UTC (got '2026-07-01 12:00')",
                               "started → startTime: not an instant in seconds since 1970-01-01 UTC (got '2026-07-01 12:00')"]}


def test_durations_as_h_mm_ss_and_money_with_a_decimal_comma(wh: Warehouse, write: Callable[..., Path]) -> None:
    profile(wh, "eu", '''extends = "canonical"
[read]
separator = ";"
[map]
duration = { column = "duration", format = "%H:%M:%S" }
answerTime = { column = "answerTime", format = "%M:%S" }
costCDR = { column = "costCDR", unit = "major", decimal = "," }
''')
    rows = [good_row(1, duration="1:02:03", answerTime="00:07", costCDR="0,0123"),
            good_row(2, duration="26:00:00", costCDR="12,5"),
            good_row(3, duration="1:2:3", costCDR="1.234,56"),
            good_row(4, duration="00:00:00", costCDR="0,0000001")]
    text = "\n".join(";".join(r) for r in [list(rows[0]), *([r[c] for c in rows[0]] for r in rows)]) + "\n"
    code, results, _ = ingest(wh, "--profile", "eu", "--max-reject-ratio", "1", str(write("eu.csv", text)))
    assert code == 0 and results[0]["rows"] == 2
    assert wh.query("SELECT duration, answerTime, costCDR FROM calls ORDER BY lineNumber") == [
        (3723, 7, Decimal("1.2300")), (93600, None, Decimal("1250.0000"))]
    assert reasons(wh) == {
        4: ["duration: not a duration H:MM:SS (got '1:2:3')", "costCDR: not an amount of major >= 0 (got '1.234,56')"],
        5: ["costCDR: 0,0000001 major cannot be held exactly at 4 decimal places of pence (not rounded)"]}


def test_3cx_durations_and_costs(wh: Warehouse) -> None:
    code, _, err = ingest(wh, str(LAYOUTS / "3cx-cdr-2026-04-06.log"))
    assert code == 0, err
    assert wh.query("SELECT target, external, duration, costCDR, carrierCallID FROM calls ORDER BY lineNumber") == [
        ("0611360000", "Ext.610", 315, Decimal("0"), "Call 9744/00000171DEE41BB3_2501"),
        ("Ext.315", "Ext.184", 0, Decimal("0"), "Call 9745/00000171DEE8BB1E_2512"),
        ("Ext.114", "0232350000", 307, Decimal("512"), "Call 9748/00000171DEE71559_2510"),
        ("Ext.184", "Ext.999", 3, Decimal("0"), "Call 9750/00000171DEEDD4B0_2522")]


def test_the_cucm_types_line_is_neither_a_record_nor_a_reject(wh: Warehouse) -> None:
    code, results, err = ingest(wh, str(LAYOUTS / "cdr_StandAloneCluster_01_202604050900_101.csv"))
    assert code == 0, err
    assert results[0]["rows"] == 4 and results[0]["rejected"] == 0
    assert [r[0] for r in wh.query("SELECT lineNumber FROM calls ORDER BY 1")] == [3, 4, 5, 6]


# ---------------------------------------------------------------- separators


def test_a_tab_separated_mysql_export_with_nulls_loads_with_the_builtin_freepbx_tsv(wh: Warehouse, write: Callable[..., Path]) -> None:
    text = (LAYOUTS / "freepbx-cdr-2026-04-04.csv").read_text()
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    tsv = "\n".join("\t".join(v if v else "NULL" for v in r) for r in rows) + "\n"
    code, results, err = ingest(wh, str(write("cdr-export.tsv.csv", tsv)))
    assert code == 0, err
    assert (results[0]["profile"], results[0]["rows"]) == ("freepbx-tsv", 4)
    assert wh.query("SELECT count(*) FROM calls WHERE target = 'NULL' OR external = 'NULL'") == [(0,)]


def test_a_semicolon_file_without_a_profile_gets_a_separator_hint(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("bt.csv", csv_text([good_row(1)]).replace(",", ";"))
    code, results, _ = ingest(wh, str(path))
    assert code == 3
    message = results[0]["message"]
    assert "splits into 24 on ';'" in message and "separator = ';'" in message, message
    # the profile to extend is the one whose names the split header holds, not one that only counts fields
    assert "the closest is 'canonical'" in message and "extends = 'canonical'" in message, message


def test_the_old_delimiter_key_still_works(wh: Warehouse, write: Callable[..., Path]) -> None:
    profile(wh, "pipes", 'extends = "canonical"\n[read]\ndelimiter = "|"\n')
    code, results, err = ingest(wh, "--profile", "pipes", str(write("p.csv", csv_text([good_row(1)]).replace(",", "|"))))
    assert code == 0 and results[0]["rows"] == 1, err


# ---------------------------------------------------------------- damage and detection


def test_an_excel_date_is_reported_once_with_the_shape_it_lacks(wh: Warehouse, write: Callable[..., Path]) -> None:
    rows = [good_row(i) for i in range(1, 3)] + [good_row(3, startDate="8/1/2026"), good_row(4, startDate="2026-02-30")]
    code, _, _ = ingest(wh, str(write("x.csv", csv_text(rows))), "--max-reject-ratio", "1")
    assert code == 0
    assert reasons(wh) == {4: ["startDate: must be a date YYYY-MM-DD (got '8/1/2026')"],
                           5: ["startDate: must be a real calendar date (got '2026-02-30')"]}


def test_a_nineteen_field_cdr_csv_is_not_taken_for_cdr_custom(wh: Warehouse, write: Callable[..., Path]) -> None:
    """cdr_csv with only newcdrcolumns also writes 19 fields: its 9th is lastdata, not a time."""
    line = ('"","201","2000","from-internal","""R"" <201>","SIP/201-1","SIP/202-2","Dial","SIP/202,20",'
            '"2026-04-03 09:00:00","2026-04-03 09:00:03","2026-04-03 09:01:03",63,60,"ANSWERED","DOCUMENTATION","","1775206800.1",0\n')
    code, results, _ = ingest(wh, str(write("Master.csv", line)))
    assert code == 3
    assert "'asterisk-custom': its first record's start ('SIP/202,20') is not a time" in results[0]["message"]


def test_an_excel_resaved_freeswitch_file_loads_with_a_short_profile(wh: Warehouse, write: Callable[..., Path]) -> None:
    """Dates re-saved by a spreadsheet (2020/2/10 22:41) and quotes dropped: four lines of profile."""
    text = ("Outbound Call,1002,&,default,2020/2/10 22:41,2020/2/10 22:41,2020/2/10 22:41,11,9,NORMAL_CLEARING,"
            "d80e22e0-4c15-11ea-97a0-9dd79410affb,,1002,PCMU,PCMU\n"
            ",0,1002,default,2020/2/10 22:41,,2020/2/10 22:41,2,0,NO_USER_RESPONSE,f1542038-4c15-11ea-97ca-9dd79410affb,,,,\n")
    profile(wh, "fs-excel", 'extends = "freeswitch"\n[map]\n'
            'startDate = { column = "start_stamp", format = "%Y/%m/%d %H:%M", part = "date" }\n'
            'startTime = { column = "start_stamp", format = "%Y/%m/%d %H:%M", part = "time" }\n')
    code, results, err = ingest(wh, str(write("Master.csv", text)))
    assert code == 0, err
    assert (results[0]["profile"], results[0]["rows"]) == ("fs-excel", 2)
    assert wh.query("SELECT target, external, startDate::VARCHAR, startTime::VARCHAR FROM calls ORDER BY 1") == [
        ("0", "1002", "2020-02-10", "22:41:00"), ("1002", "&", "2020-02-10", "22:41:00")]


# ---------------------------------------------------------------- found by loading exports as switches write them


def test_a_ring_group_in_master_csv_loads_every_leg(wh: Warehouse) -> None:
    # Asterisk 12+ writes one record per phone rung (Dial(SIP/1001&SIP/1002)), and one more for a voicemail after a
    # Dial, all with the caller's uniqueid: the built-in key was the uniqueid alone, so the file was rejected whole
    code, results, err = ingest(wh, str(LAYOUTS / "Master-ringgroup-2026-12-01.csv"))
    assert code == 0, err
    assert (results[0]["profile"], results[0]["rows"], results[0]["rejected"]) == ("asterisk", 9, 0)
    assert wh.query("SELECT carrierCallID FROM calls WHERE carrierCallID LIKE '1764588420.13 %' ORDER BY lineNumber") == [
        ("1764588420.13 SIP/1001-0000000e 2026-12-01 11:27:00",), ("1764588420.13 SIP/1002-0000000f 2026-12-01 11:27:00",),
        ("1764588420.13 2026-12-01 11:29:05",)]
    # the same records again (a copy of the file under another name) are still duplicates
    lines = (LAYOUTS / "Master-ringgroup-2026-12-01.csv").read_text().splitlines(keepends=True)
    copy = wh.home.parent / "Master-copy.csv"
    copy.write_text(lines[0] + lines[6])
    code, results, _ = ingest(wh, str(copy), "--max-reject-ratio", "1")
    assert code == 0 and results[0]["rows"] == 0 and results[0]["rejected"] == 2


def test_a_freepbx_export_without_sequence_keeps_its_ring_group_rows(wh: Warehouse) -> None:
    code, results, err = ingest(wh, str(LAYOUTS / "freepbx-nosequence-cdr-2026-12-03.csv"))
    assert code == 0, err
    assert (results[0]["profile"], results[0]["rows"], results[0]["rejected"]) == ("freepbx", 4, 0)
    assert wh.query("SELECT target, external FROM calls ORDER BY lineNumber")[2:] == [("SIP/trunk-00000004", "s"), ("201", "*98")]


def test_mysql_batch_output_loads_with_the_builtin_freepbx_tsv(wh: Warehouse) -> None:
    # mysql -B: tabs, nothing quoted (a caller name keeps its own quotes: "Sara" <101>), NULL for absent
    assert '\t"Sara" <101>\t' in (LAYOUTS / "freepbx-mysql-2026-12-02.tsv").read_text()
    code, results, err = ingest(wh, str(LAYOUTS / "freepbx-mysql-2026-12-02.tsv"))
    assert code == 0, err
    assert (results[0]["profile"], results[0]["rows"], results[0]["rejected"]) == ("freepbx-tsv", 3, 0)
    assert wh.query("SELECT count(*) FROM calls WHERE carrierCallID LIKE '%NULL%'") == [(0,)]


def test_profiles_check_counts_a_key_repeated_in_the_file_as_the_ingest_will(wh: Warehouse, write: Callable[..., Path]) -> None:
    line = (LAYOUTS / "Master-ringgroup-2026-12-01.csv").read_text().splitlines(keepends=True)[0]
    path = write("Master.csv", line + line)
    result = wh.cli("profiles", "check", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["records"], report["accepted"], report["rejected"]) == (2, 1, 1)
    assert report["rejects"][0]["line"] == 2 and "appears earlier in this file (line 1)" in report["rejects"][0]["reasons"][0]
    code, results, _ = ingest(wh, str(path), "--max-reject-ratio", "0.5")
    assert code == 0 and (results[0]["rows"], results[0]["rejected"]) == (1, 1)


def test_a_hint_naming_a_section_is_printed_as_written(wh: Warehouse, write: Callable[..., Path]) -> None:
    # rich read "[read]" in the hint as markup and printed "a profile with  separator"
    path = write("semi.csv", "calldate;src;dst;billsec;uniqueid\n2026-01-01 10:00:00;101;102;5;1.1\n")
    result = wh.cli("profiles", "check", str(path))
    assert result.exit_code == 3
    assert "the closest is 'freepbx'" in result.stderr and "[read] separator = ';'" in result.stderr, result.stderr


def test_a_european_carrier_export_loads_with_the_documented_example_profile(wh: Warehouse) -> None:
    # Excel's save: BOM, CRLF, ';', a decimal comma, DD.MM.YYYY, H:MM:SS, a number as dialled with spaces
    profile(wh, "telekom-evn", (REPO / "docs" / "examples" / "telekom-evn.toml").read_text())
    code, results, err = ingest(wh, str(LAYOUTS / "telekom-evn-2026-11-02.csv"))
    assert code == 0, err
    assert (results[0]["profile"], results[0]["rows"], results[0]["rejected"], results[0]["ambiguousTimes"]) == (
        "telekom-evn", 4, 0, 1)
    assert wh.query("SELECT external, duration, costCDR, strftime(startedAt AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') "
                    "FROM calls ORDER BY lineNumber")[2:] == [
        ("0044 20 7946 0000", 3725, Decimal("248.0000"), "2026-11-02 10:30"),
        ("0301234599", 60, Decimal("0.0000"), "2026-10-25 00:30")]  # the autumn hour: the earlier (CEST) instant
