"""Carrier profiles (SPEC 8), through the real CLI on real warehouses."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import tomllib
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO, Warehouse, csv_text, good_row

DATA = REPO / "data"
FCS_COLUMNS: list[str] = tomllib.loads((REPO / "deletedcalls/ingest/builtin_profiles/fcs.toml").read_text())["read"]["columns"]


def fcs_row(i: int = 0, **values: str) -> dict[str, str]:
    row = {c: "" for c in FCS_COLUMNS}
    row.update({
        "Call Type": "V", "Non-Charged Party": "01632960123", "Call Date": "05/03/2026", "Call Time": "10:22:01",
        "Duration": "61", "Description": "Leeds, West Yorkshire", "Chargecode": "LOCAL", "Time Band": "1",
        "Salesprice": "0.012000", "Extension": "201", "DDI": "01134960000", "Carrier": "Gamma",
        "Record ID": f"GAM{i:09d}", "Caller Line Identity": "+441134960001",
    })
    row.update(values)
    return row


def fcs_text(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    """An FCS file as Gamma writes it: every field quoted, CRLF line ends."""
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(header or FCS_COLUMNS)
    for r in rows:
        w.writerow([r[c] for c in FCS_COLUMNS])
    return out.getvalue().encode("utf-8")


def ingest(wh: Warehouse, *args: str) -> tuple[int, list[dict], str]:
    result = wh.cli("ingest", "cdr", *args, "--json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else [], result.stderr


def reasons(wh: Warehouse) -> dict[int, list[str]]:
    return {line: list(r) for line, r in wh.query("SELECT lineNumber, reasons FROM rejected_rows ORDER BY 1")}


# ---------------------------------------------------------------- the built-in profiles


def test_the_fcs_sample_loads_with_pounds_in_pence_and_uk_time_in_utc(wh: Warehouse) -> None:
    code, results, err = ingest(wh, str(DATA / "gamma-fcs-2026-03-29.csv"))
    assert code == 0, err
    assert results[0]["profile"] == "fcs" and results[0]["rows"] == 12 and results[0]["extraColumns"] == []
    assert results[0]["ambiguousTimes"] == 1  # 25/10/2026 01:30, the autumn hour
    rows = wh.query(
        "SELECT target, external, startDate::VARCHAR, startTime::VARCHAR, strftime(startedAt AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S'), "
        "costCDR, costCDRAccessCharge, tariffTime, callTypeRecordingFlag, callTypeDirectionFlag, carrier, locationCarrier "
        "FROM calls ORDER BY lineNumber"
    )
    first = rows[0]
    assert first[:5] == ("01134960001", "01632960123", "2026-03-28", "23:59:58", "2026-03-28 23:59:58")
    assert first[5] == Decimal("1.2000") and first[7] == "weekend" and first[8] == "N" and first[9] == "A"
    # 29/03/2026 02:00:05 is BST: 01:00:05 UTC; the wall clock is kept as reported
    assert rows[3][2:5] == ("2026-03-29", "02:00:05", "2026-03-29 01:00:05")
    assert rows[4][5:7] == (Decimal("55.0000"), Decimal("5.5000"))
    assert rows[3][11] == "Freephone, 0800"  # a quoted comma
    # the autumn hour resolves to the earlier (BST) instant
    assert rows[8][2:5] == ("2026-10-25", "01:30:00", "2026-10-25 00:30:00")
    assert wh.query("SELECT profile FROM cdr_files") == [("fcs",)]


def test_the_asterisk_sample_loads_without_a_header(wh: Warehouse) -> None:
    code, results, err = ingest(wh, str(DATA / "Master-pbx1-2026-03-29.csv"))
    assert code == 0, err
    assert results[0]["profile"] == "asterisk" and results[0]["rows"] == 4
    assert wh.query("SELECT lineNumber, target, external, duration, costCDR, carrier, carrierCallID FROM calls ORDER BY 1")[:2] == [
        (1, "07700900123", "01632960000", 180, Decimal("0"), "asterisk", "1774745950.1 PJSIP/gamma-00000002 2026-03-29 00:59:10"),
        (2, "201", "+441134960000", 0, Decimal("0"), "asterisk", "1774774800.3 PJSIP/gamma-00000004 2026-03-29 09:00:00"),
    ]


def test_the_freeswitch_sample_loads_and_a_bad_caller_name_does_not_matter(wh: Warehouse) -> None:
    # line 2's caller name is Latin-1 ("Jos\xe9"), not UTF-8: an unmapped column
    assert b"Jos\xe9" in (DATA / "Master-fs1-2026-10-25.csv").read_bytes()
    code, results, err = ingest(wh, str(DATA / "Master-fs1-2026-10-25.csv"))
    assert code == 0, err
    assert results[0]["profile"] == "freeswitch" and results[0]["rows"] == 4 and results[0]["rejected"] == 0
    assert wh.scalar("SELECT target FROM calls WHERE lineNumber = 2") == "07700900789"


def test_a_canonical_file_still_loads_as_canonical_with_startedat_in_utc(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("bt.csv", csv_text([good_row(1)]))
    code, results, err = ingest(wh, str(path))
    assert code == 0, err and results[0]["profile"] == "canonical"
    assert wh.query("SELECT strftime(startedAt AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM calls") == [("2026-03-05 10:22:01",)]


def test_the_canonical_zone_comes_from_config(wh: Warehouse, write: Callable[..., Path]) -> None:
    config = wh.home / "config.toml"
    config.write_text(config.read_text().replace("# zone = \"UTC\"", "zone = \"Europe/London\""))
    path = write("bt.csv", csv_text([good_row(1, startDate="2026-07-01", startTime="12:00:00"),
                                     good_row(2, startDate="2026-03-29", startTime="01:30:00")]))
    code, results, err = ingest(wh, str(path), "--max-reject-ratio", "1")
    assert code == 0, err
    assert wh.query("SELECT strftime(startedAt AT TIME ZONE 'UTC', '%H:%M') FROM calls") == [("11:00",)]
    assert reasons(wh) == {3: ["startDate, startTime: 2026-03-29 01:30:00 does not exist in Europe/London (the clocks went forward over it)"]}


# ---------------------------------------------------------------- time zones


def test_the_spring_forward_gap_is_rejected_and_the_autumn_hour_counted(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("gamma.csv", fcs_text([
        fcs_row(1, **{"Call Date": "29/03/2026", "Call Time": "01:30:00"}),
        fcs_row(2, **{"Call Date": "25/10/2026", "Call Time": "01:30:00"}),
        fcs_row(3, **{"Call Date": "25/10/2026", "Call Time": "02:30:00"}),
    ]))
    code, results, err = ingest(wh, str(path), "--max-reject-ratio", "1")
    assert code == 0, err
    assert results[0]["ambiguousTimes"] == 1 and results[0]["rows"] == 2
    assert reasons(wh) == {2: [
        "Call Date, Call Time → startDate, startTime: 2026-03-29 01:30:00 does not exist in Europe/London "
        "(the clocks went forward over it)"
    ]}
    assert wh.query("SELECT startTime::VARCHAR, strftime(startedAt AT TIME ZONE 'UTC', '%H:%M') FROM calls ORDER BY id") == [
        ("01:30:00", "00:30"), ("02:30:00", "02:30")]


@pytest.mark.parametrize(("ambiguous", "utc", "rejected"), [("later", "01:30", 0), ("reject", None, 1)])
def test_a_user_profile_chooses_the_autumn_hour(
    wh: Warehouse, write: Callable[..., Path], ambiguous: str, utc: str | None, rejected: int
) -> None:
    (wh.home / "profiles").mkdir()
    (wh.home / "profiles" / "gamma.toml").write_text(f'extends = "fcs"\n[time]\nambiguous = "{ambiguous}"\n')
    path = write("gamma.csv", fcs_text([fcs_row(1, **{"Call Date": "25/10/2026", "Call Time": "01:30:00"})]))
    code, results, err = ingest(wh, str(path), "--profile", "gamma", "--max-reject-ratio", "1")
    assert code == 0, err
    assert results[0]["rejected"] == rejected and results[0]["ambiguousTimes"] == 1
    got = wh.query("SELECT strftime(startedAt AT TIME ZONE 'UTC', '%H:%M') FROM calls")
    assert got == ([(utc,)] if utc else [])
    if rejected:
        assert "occurs twice in Europe/London" in reasons(wh)[2][0]


# ---------------------------------------------------------------- mapping rules


def test_pounds_become_pence_exactly_and_a_value_too_precise_is_refused(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("gamma.csv", fcs_text([
        fcs_row(1, Salesprice="0.030000"),
        fcs_row(2, Salesprice="12345.678900"),
        fcs_row(3, Salesprice="0.0000001"),
        fcs_row(4, Salesprice="-0.5"),
    ]))
    code, _, err = ingest(wh, str(path), "--max-reject-ratio", "1")
    assert code == 0, err
    assert wh.query("SELECT costCDR::VARCHAR FROM calls ORDER BY id") == [("3.0000",), ("1234567.8900",)]
    assert reasons(wh) == {
        4: ["Salesprice → costCDR: 0.0000001 pounds cannot be held exactly at 4 decimal places of pence (not rounded)"],
        5: ["Salesprice → costCDR: not an amount of pounds >= 0 (got '-0.5')"],
    }


def test_an_unknown_code_is_rejected_naming_the_code_and_the_column(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("gamma.csv", fcs_text([fcs_row(1), fcs_row(2, **{"Time Band": "7"})]))
    code, _, err = ingest(wh, str(path), "--max-reject-ratio", "1")
    assert code == 0, err
    assert reasons(wh) == {3: ["Time Band → tariffTime: unknown code '7' (known: 1, 2, 3)"]}


def test_reasons_name_the_source_and_the_canonical_column(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("gamma.csv", fcs_text([
        fcs_row(1), fcs_row(2, **{"Caller Line Identity": "0113 496", "Call Date": "31/02/2026"}),
    ]))
    code, _, err = ingest(wh, str(path), "--max-reject-ratio", "1")
    assert code == 0, err
    assert reasons(wh) == {3: [
        "Caller Line Identity → target: must be + or a digit, then digits, 3-20 characters (got '0113 496')",
        "Call Date → startDate: not a date in the format %d/%m/%Y (got '31/02/2026')",
    ]}
    raw = wh.scalar("SELECT rawLine FROM rejected_rows")
    assert raw.startswith('"V",') and '"0113 496"' in raw


def test_the_header_alias_recordid_is_record_id(wh: Warehouse, write: Callable[..., Path]) -> None:
    header = ["RecordID" if c == "Record ID" else "Presentation Number" if c == "Caller Line Identity" else c for c in FCS_COLUMNS]
    path = write("gamma.csv", fcs_text([fcs_row(1), fcs_row(2)], header=header))
    code, results, err = ingest(wh, str(path))
    assert code == 0, err
    assert results[0]["profile"] == "fcs" and results[0]["rows"] == 2
    assert wh.query("SELECT carrierCallID, target FROM calls ORDER BY id") == [
        ("GAM000000001", "+441134960001"), ("GAM000000002", "+441134960001")]


def test_undecodable_bytes_reject_only_in_a_mapped_column(wh: Warehouse, write: Callable[..., Path]) -> None:
    rows = [fcs_row(i) for i in range(1, 4)]
    text = fcs_text(rows)
    text = text.replace(b'"GAM000000001","GBP"', b'"GAM000000001","\xff\xfeGBP"')  # Currency: unmapped
    text = text.replace(b'"+441134960001"', b'"+44113496\xff"', 1)  # Caller Line Identity → target: mapped
    text = text.replace(b'"GAM000000002","",', b'"GAM000000002","\xe9",', 1)
    path = write("gamma.csv", text)
    code, results, err = ingest(wh, str(path), "--max-reject-ratio", "1")
    assert code == 0, err
    assert results[0]["rows"] == 2
    assert reasons(wh) == {2: ["Caller Line Identity → target: bytes that are not valid utf-8 text"]}


def test_a_user_profile_extends_a_builtin_and_overrides_rules(wh: Warehouse, write: Callable[..., Path]) -> None:
    (wh.home / "profiles").mkdir()
    (wh.home / "profiles" / "gamma-inbound.toml").write_text(
        'extends = "fcs"\ndescription = "Gamma inbound CDRs"\n'
        '[detect]\nfilename = "*-inbound-*.csv"\n'
        '[map]\ncallTypeDirectionFlag = { value = "B" }\ncarrier = { value = "Gamma" }\n'
        'carrierCallID = { join = ["Record ID", "Extension"], sep = "/" }\n'
    )
    outbound = write("gamma-outbound-1.csv", fcs_text([fcs_row(1)]))
    inbound = write("gamma-inbound-1.csv", fcs_text([fcs_row(1, Carrier="")]))
    code, results, err = ingest(wh, str(outbound), str(inbound))
    assert code == 0, err
    assert [r["profile"] for r in results] == ["fcs", "gamma-inbound"]
    assert wh.query("SELECT callTypeDirectionFlag, carrierCallID, carrier FROM calls ORDER BY id") == [
        ("A", "GAM000000001", "Gamma"), ("B", "GAM000000001/201", "Gamma")]
    shown = wh.cli("profiles", "show", "gamma-inbound", ok=True).stdout
    parsed = tomllib.loads(shown)
    assert parsed["extends"] == "fcs" and parsed["time"]["zone"] == "Europe/London"
    assert parsed["map"]["callTypeDirectionFlag"] == {"value": "B"} and parsed["map"]["target"] == "Caller Line Identity"
    listed = {p["name"]: p for p in wh.json("profiles", "list")}
    assert list(listed)[:11] == ["canonical", "fcs", "asterisk", "asterisk-basic", "asterisk-newcdr", "asterisk-custom",
                                 "freeswitch", "freepbx", "freepbx-tsv", "cucm", "3cx"]
    assert listed["gamma-inbound"]["extends"] == "fcs"


def test_an_asterisk_switch_with_newcdrcolumns(wh: Warehouse, write: Callable[..., Path]) -> None:
    """The worked example of docs/INPUTS.md: extra columns, a local zone, forks told apart by sequence."""
    (wh.home / "profiles").mkdir()
    (wh.home / "profiles" / "stadion.toml").write_text((REPO / "docs" / "examples" / "stadion.toml").read_text())
    line = ('"","{src}","01632960000","from-internal","""A"" <201>","PJSIP/201-1","PJSIP/t-2","Dial","x",'
            '"{start}","{start}","{start}",10,8,"ANSWERED","DOCUMENTATION","1774745950.1","","","1774745950.1",{seq}\n')
    path = write("Master.csv", "".join([
        line.format(src="201", start="2026-03-29 09:00:00", seq=1),
        line.format(src="201", start="2026-03-29 09:00:00", seq=2),
    ]))
    code, results, err = ingest(wh, str(path))
    assert code == 0, err
    assert results[0]["profile"] == "stadion"
    assert wh.query("SELECT carrier, carrierCallID, strftime(startedAt AT TIME ZONE 'UTC', '%H:%M') FROM calls ORDER BY id") == [
        ("Stadion", "1774745950.1/1", "01:00"), ("Stadion", "1774745950.1/2", "01:00")]


# ---------------------------------------------------------------- deliveries


def test_gz_and_zip_deliveries_are_read_as_the_file_inside(wh: Warehouse, write: Callable[..., Path]) -> None:
    text = fcs_text([fcs_row(1), fcs_row(2, Salesprice="x")])
    gz = write("gamma-1.csv.gz", gzip.compress(text))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("gamma-2.csv", fcs_text([fcs_row(3), fcs_row(4)]))
    zipped = write("gamma-2.zip", buf.getvalue())
    code, results, err = ingest(wh, str(gz), str(zipped), "--max-reject-ratio", "1")
    assert code == 0, err
    assert [(r["fileName"], r["rows"], r["profile"]) for r in results] == [("gamma-1.csv.gz", 1, "fcs"), ("gamma-2.zip", 2, "fcs")]
    assert wh.query("SELECT fileName, sha256 FROM cdr_files ORDER BY id") == [
        ("gamma-1.csv.gz", hashlib.sha256(gz.read_bytes()).hexdigest()),
        ("gamma-2.zip", hashlib.sha256(zipped.read_bytes()).hexdigest()),
    ]
    assert reasons(wh) == {3: ["Salesprice → costCDR: not an amount of pounds >= 0 (got 'x')"]}
    # the same delivery again is a no-op
    code, results, _ = ingest(wh, str(gz))
    assert code == 0 and results[0]["status"] == "unchanged"
    assert not [p for p in wh.home.iterdir() if p.name.startswith(".delivery-")]


def test_a_zip_of_two_files_is_a_rejected_file(wh: Warehouse, write: Callable[..., Path]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.csv", fcs_text([fcs_row(1)]))
        z.writestr("b.csv", fcs_text([fcs_row(2)]))
    code, results, err = ingest(wh, str(write("two.zip", buf.getvalue())))
    assert code == 3
    assert "must hold exactly one file; this one holds 2" in err.strip().splitlines()[-1]


# ---------------------------------------------------------------- choosing a profile


def test_a_file_no_profile_matches_is_rejected_naming_the_closest(wh: Warehouse, write: Callable[..., Path]) -> None:
    header = [c for c in FCS_COLUMNS if c != "Salesprice"]
    text = ",".join(f'"{c}"' for c in header) + "\r\n" + ",".join('"1"' for _ in header) + "\r\n"
    result = wh.cli("ingest", "cdr", str(write("mystery.csv", text)))
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2  # the file's outcome, then the command's one-line error
    assert "no profile matches; the closest is 'fcs': the header lacks 'Salesprice'" in lines[-1]
    assert wh.query("SELECT status, profile FROM cdr_files") == [("rejected", None)]


def test_a_job_pins_a_profile_by_file_name(wh: Warehouse, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "pbx-calls.csv").write_bytes((DATA / "Master-fs1-2026-10-25.csv").read_bytes())
    job = tmp_path / "job.toml"
    job.write_text(f'[job]\ninbox = "{inbox}"\n\n[[cdr]]\nglob = "pbx-*.csv"\nprofile = "freeswitch"\n')
    result = wh.cli("run", str(job), "--as-of", "2026-11-01", "--min-age-seconds", "0")
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT fileName, profile, \"rows\" FROM cdr_files") == [("pbx-calls.csv", "freeswitch", 4)]


def test_profiles_check_shows_the_mapping_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "nowhere"
    w = Warehouse(home)
    result = w.cli("profiles", "check", str(DATA / "gamma-fcs-2026-03-29.csv"), "--rows", "2", "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["profile"] == "fcs" and got["records"] == 12 and len(got["rows"]) == 2
    assert got["rows"][0]["costCDR"] == "1.2000" and got["rows"][0]["startDate"] == "2026-03-28"
    assert not home.exists()


@pytest.mark.parametrize(("text", "message"), [
    ('extends = "fcs"\n[read]\ndelimeter = ";"\n', "read.delimeter: unknown key; did you mean 'delimiter'?"),
    ('extends = "fcs"\n[map]\ncostCRD = "Salesprice"\n', "map.costCRD: not a canonical column; did you mean 'costCDR'?"),
    ('extends = "fcs"\n[map]\ncostCDR = { column = "Salesprise", unit = "pounds" }\n',
     "map.costCDR: no source column 'Salesprise' in [read] columns; did you mean 'Salesprice'?"),
    ('extends = "fcs"\n[map]\nstartDate = { column = "Call Date", format = "%d/%m/%Q" }\n',
     "map.startDate.format: bad format '%d/%m/%Q': unknown directive %Q"),
    ('extends = "fsc"\n', "extends: no profile 'fsc'; did you mean 'fcs'?"),
])
def test_a_bad_profile_file_is_a_usage_error_naming_file_key_and_nearest(
    wh: Warehouse, write: Callable[..., Path], text: str, message: str
) -> None:
    (wh.home / "profiles").mkdir()
    bad = wh.home / "profiles" / "mine.toml"
    bad.write_text(text)
    result = wh.cli("ingest", "cdr", str(write("bt.csv", csv_text([good_row(1)]))))
    assert result.exit_code == 2
    assert f"{bad}: {message}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert wh.scalar("SELECT count(*) FROM cdr_files") == 0


def test_a_deleted_call_keeps_its_instant(wh: Warehouse, write: Callable[..., Path]) -> None:
    code, _, err = ingest(wh, str(DATA / "gamma-fcs-2026-03-29.csv"))
    assert code == 0, err
    log = write("del.jsonl", json.dumps({
        "id": "UAL-9", "user": "alice", "timestamp": "2026-04-01T10:00:00Z", "action": "delete_calls",
        "selector": {"carrierCallIds": ["GAM002026032803"], "carrier": "Gamma"}}) + "\n")
    wh.cli("ingest", "deletions", str(log), ok=True)
    wh.cli("materialise", ok=True)
    assert wh.query("SELECT startTime::VARCHAR, strftime(startedAt AT TIME ZONE 'UTC', '%H:%M:%S') FROM deleted_calls") == [
        ("02:00:05", "01:00:05")]


def test_an_older_warehouse_gains_startedat_and_profile(tmp_path: Path, write: Callable[..., Path]) -> None:
    import duckdb

    from deletedcalls.sqlfiles import sql_dir

    home = tmp_path / "old"
    w = Warehouse(home)
    w.cli("init", ok=True)
    # rebuild it as version 4 (before profiles; one DuckDB file, the layout before the lake), with one call in it
    (home / "deletedcalls.duckdb").unlink()
    con = duckdb.connect(str(home / "deletedcalls.duckdb"))
    for path in sorted((sql_dir() / "legacy").glob("*.sql")):
        version = int(path.name[:3])
        if version <= 4:
            con.execute(path.read_text())
            con.execute("INSERT INTO schema_migrations VALUES ($v, $n, now()::TIMESTAMP)", {"v": version, "n": path.name})
    con.execute("INSERT INTO cdr_files VALUES (1, 'old.csv', 'x', 'BT', 'loaded', 1, 0, 1, [], NULL, now()::TIMESTAMP, 0)")
    con.execute("INSERT INTO calls (id, CDRFileID, lineNumber, target, callTypeDirectionFlag, callTypeRecordingFlag, startDate, "
                "startTime, duration, costCDR, carrier, carrierCallID) VALUES "
                "(1, 1, 2, '0123', 'A', 'N', DATE '2026-03-05', TIME '10:22:01', 1, 1, 'BT', 'BT-1')")
    con.close()
    w.cli("init", ok=True)
    assert w.query("SELECT strftime(startedAt AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM calls") == [("2026-03-05 10:22:01",)]
    assert w.query("SELECT profile FROM cdr_files") == [("canonical",)]


def test_a_duplicate_in_a_mapped_file_keeps_its_raw_text(wh: Warehouse, write: Callable[..., Path]) -> None:
    path = write("gamma.csv", fcs_text([fcs_row(1), fcs_row(2), fcs_row(1, Salesprice="0.5")]))
    code, results, err = ingest(wh, str(path), "--max-reject-ratio", "1")
    assert code == 0, err
    assert results[0]["rows"] == 2
    [(line, why, raw)] = wh.query("SELECT lineNumber, reasons, rawLine FROM rejected_rows")
    assert line == 4 and why == ["duplicate: (carrier, carrierCallID) appears earlier in this file"]
    assert raw.startswith('"V",') and '"0.5"' in raw


def test_an_empty_file_is_rejected_as_empty(wh: Warehouse, write: Callable[..., Path]) -> None:
    result = wh.cli("ingest", "cdr", str(write("empty.csv", "")))
    assert result.exit_code == 3
    assert "the file is empty" in result.stderr.strip().splitlines()[-1]


def test_a_cp1252_profile_reads_its_text_and_rejects_bytes_cp1252_lacks(wh: Warehouse, write: Callable[..., Path]) -> None:
    (wh.home / "profiles").mkdir()
    (wh.home / "profiles" / "gamma-win.toml").write_text('extends = "fcs"\n[read]\nencoding = "cp1252"\n')
    text = fcs_text([fcs_row(1, Description="Café – Leeds"), fcs_row(2, Description="x")]).decode()
    data = text.encode("cp1252").replace(b'"x"', b'"\x81"')  # 0x81 is undefined in cp1252
    path = write("gamma.csv", data)
    code, _, err = ingest(wh, str(path), "--profile", "gamma-win", "--max-reject-ratio", "1")
    assert code == 0, err
    assert wh.query("SELECT locationCarrier FROM calls") == [("Café – Leeds",)]
    assert reasons(wh) == {3: ["Description → locationCarrier: bytes that are not valid cp1252 text"]}


@pytest.mark.parametrize("name", ["canonical", "fcs", "asterisk", "asterisk-basic", "asterisk-newcdr", "asterisk-custom",
                                  "freeswitch", "freepbx", "freepbx-tsv", "cucm", "3cx", "unit-separated"])
def test_profiles_show_prints_a_profile_that_loads_back_the_same(wh: Warehouse, name: str) -> None:
    from deletedcalls.ingest.profiles import Catalog

    (wh.home / "profiles").mkdir()
    # a separator that is a control character (ASCII's unit separator) must be written escaped to be TOML
    (wh.home / "profiles" / "unit-separated.toml").write_text('extends = "canonical"\n[read]\nseparator = "\\u001f"\n')
    shown = wh.cli("profiles", "show", name, ok=True).stdout
    (wh.home / "profiles" / f"copy-{name}.toml").write_text(shown)
    catalog = Catalog(wh.home)
    original, copy = catalog.get(name), catalog.get(f"copy-{name}")
    for attr in ("header", "columns", "delimiter", "quote", "encoding", "skip_lines", "aliases", "detect_header",
                 "detect_filename", "detect_rotated", "grows", "null_values", "skip_records", "zone", "ambiguous", "rules",
                 "description"):
        assert getattr(copy, attr) == getattr(original, attr), attr


def test_profiles_check_exits_3_when_no_profile_matches(wh: Warehouse, write: Callable[..., Path]) -> None:
    result = wh.cli("profiles", "check", str(write("odd.csv", "a,b\n1,2\n")))
    assert result.exit_code == 3
    assert "no profile matches; the closest is" in result.stderr.strip().splitlines()[-1]
    assert wh.scalar("SELECT count(*) FROM cdr_files") == 0


def test_run_picks_up_compressed_deliveries(wh: Warehouse, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "gamma-1.csv.gz").write_bytes(gzip.compress((DATA / "gamma-fcs-2026-03-29.csv").read_bytes()))
    job = tmp_path / "job.toml"
    job.write_text(f'[job]\ninbox = "{inbox}"\n')
    result = wh.cli("run", str(job), "--as-of", "2026-11-01", "--min-age-seconds", "0")
    assert result.exit_code == 0, result.stderr
    assert wh.query("SELECT fileName, profile, \"rows\" FROM cdr_files") == [("gamma-1.csv.gz", "fcs", 12)]


def test_a_named_profile_whose_required_column_is_missing_rejects_the_file(wh: Warehouse, write: Callable[..., Path]) -> None:
    header = [c for c in FCS_COLUMNS if c != "Salesprice"]
    text = ",".join(f'"{c}"' for c in header) + "\r\n" + ",".join('"1"' for _ in header) + "\r\n"
    result = wh.cli("ingest", "cdr", "--profile", "fcs", str(write("short.csv", text)))
    assert result.exit_code == 3
    assert "the header lacks 'Salesprice' (for costCDR) (profile fcs)" in result.stderr.strip().splitlines()[-1]
    assert wh.query("SELECT status, profile FROM cdr_files") == [("rejected", "fcs")]
