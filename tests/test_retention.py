"""Retention by partition and DR archives (SPEC 4) through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import (
    REPO,
    csv_text,
    decrypted_rows,
    entry,
    good_row,
    keyring_file,
    number,
)

from deletedcalls.fsutil import CRASH_ENV


def test_a_partition_expires_the_day_after_its_last_day_plus_retention(deleted):
    # January: 2026-01-31 + 90 days = 2026-05-01; expired when that is before the as-of date
    plan = json.loads(deleted.cli("retention", "enforce", "--as-of", "2026-05-01", "--dry-run", "--json").stdout)
    assert plan["plan"] == []
    plan = json.loads(deleted.cli("retention", "enforce", "--as-of", "2026-05-02", "--dry-run", "--json").stdout)
    assert [(p["partition"], p["rows"], p["expires_after"]) for p in plan["plan"]] == [("2026-01", 6, "2026-05-01")]
    plan = json.loads(deleted.cli("retention", "enforce", "--as-of", "2026-05-02", "--retention-days", "0", "--dry-run", "--json").stdout)
    assert [p["partition"] for p in plan["plan"]] == ["2026-01", "2026-02"]


def test_a_dry_run_changes_nothing(deleted):
    before = sorted(str(p) for p in deleted.home.rglob("*"))
    runs = deleted.scalar("SELECT count(*) FROM runs")
    result = deleted.cli("retention", "enforce", "--as-of", "2027-01-01", "--dry-run")
    assert result.exit_code == 0
    assert "2026-01" in result.stdout and "part-0001.parquet" in result.stdout
    assert sorted(str(p) for p in deleted.home.rglob("*")) == before
    assert deleted.scalar("SELECT count(*) FROM deleted_calls") == 12
    assert deleted.scalar("SELECT count(*) FROM runs") == runs


def test_expired_partitions_are_archived_verified_and_purged(deleted):
    result = deleted.cli("retention", "enforce", "--as-of", "2026-06-01", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["archived"] == ["2026-01-part-0001", "2026-02-part-0001"] and out["rows_purged"] == 10
    assert deleted.scalar("SELECT count(*) FROM deleted_calls") == 2
    assert deleted.scalar("SELECT count(*) FROM calls") == 8
    # archived + warehouse rows = all deleted rows
    assert deleted.scalar("SELECT sum(\"rows\") FROM dr_archives") + 2 == 12
    # the archive holds every field, encrypted: read with the keyring, not without (SPEC 11)
    dr = deleted.home / "dr"
    keyring = keyring_file(deleted.home)
    rows = decrypted_rows(dr / "deletedMonth=2026-01" / "part-0001.parquet", keyring)
    assert sorted(r["id"] for r in rows) == [1, 2, 3, 4, 5, 6]
    assert min(r["target"] for r in rows) == min(number(i) for i in range(1, 7))
    assert str(rows[0]["costCDR"]) == "1.2345"  # money stays exact: DECIMAL(18,4)
    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect().execute("SELECT * FROM read_parquet($p)", {"p": str(dr / "deletedMonth=2026-01" / "part-0001.parquet")})
    manifest = json.loads((dr / "deletedMonth=2026-01" / "_part-0001.manifest.json").read_text())
    assert manifest["rows"] == 6 and manifest["minId"] == 1 and manifest["maxId"] == 6
    assert manifest["policy"] == {"retentionDays": 90, "asOf": "2026-06-01", "expiresAfter": "2026-05-01",
                                  "drRetentionDays": 2555, "drExpiresAfter": "2033-05-30"}  # 2026-06-01 + 2555 days
    assert manifest["encryption"]["keyId"] == "2026-01" and manifest["encryption"]["algorithm"] == "AES_GCM_V1"
    assert {"sha256", "schemaVersion", "created", "warehouse", "schema"} <= set(manifest)
    listed = deleted.json("dr", "list")
    assert [(a["id"], a["partition"], a["rows"], a["state"]) for a in listed] == [
        ("2026-01-part-0001", "2026-01", 6, "live"), ("2026-02-part-0001", "2026-02", 4, "live")]
    assert all({"size", "sha256", "created", "targets"} <= set(a) for a in listed)
    assert [(t["uri"], t["verified"], t["offMachine"]) for t in listed[0]["targets"]] == [(f"file://{dr}", True, False)]


def test_archives_are_parquet_that_pyarrow_reads_with_the_keyring_and_nothing_reads_without(deleted):
    import pyarrow.parquet as pq

    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)
    path = deleted.home / "dr" / "deletedMonth=2026-01" / "part-0001.parquet"
    assert path.read_bytes()[-4:] == b"PARE", "the footer is encrypted (a plain footer ends in PAR1)"
    rows = decrypted_rows(path, keyring_file(deleted.home), ["target", "costCDR"])
    assert len(rows) == 6 and all(isinstance(r["target"], str) for r in rows)
    with pytest.raises(OSError):
        pq.ParquetFile(path)  # no key, no footer
    import polars as pl

    with pytest.raises(Exception, match="(?i)encrypt|parquet"):
        pl.read_parquet(path)


def _files_bytes(home: Path) -> bytes:
    data = b""
    for p in home.rglob("*"):
        if p.is_file() and "dr" not in p.relative_to(home).parts:
            data += p.read_bytes()
    return data


def _all_bytes(home: Path) -> bytes:
    """Every file of the home, dr/ (archives, manifests, key material, staging) included."""
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def test_purged_rows_are_physically_gone_from_the_warehouse_files(deleted):
    before = _files_bytes(deleted.home)
    assert number(1).encode() in before, "control: the number is in the file before the purge"
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)
    after = _files_bytes(deleted.home)
    for i in range(1, 11):  # purged: deleted in Jan and Feb
        assert number(i).encode() not in after, f"purged number {number(i)} still readable"
        assert number(i + 1000).encode() not in after
    for i in (11, 12, 15):  # control: still in the warehouse (deleted in June, or live)
        assert number(i).encode() in after, f"kept number {number(i)} not found: the scan is blind"
    assert deleted.scalar("SELECT count(*) FROM retention_events WHERE erasedAt IS NULL") == 0


def test_a_purged_call_sent_again_is_rejected_not_brought_back_and_its_line_not_kept(deleted, write):
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)  # calls 1-10 purged
    # a carrier re-sends part of the month: two purged calls (one of them twice), a live one and a new one
    again = [good_row(i, target=number(i + 1), external=number(i + 1001)) for i in (0, 4, 4, 14)]
    again.append(good_row(40, target=number(41)))
    result = deleted.cli("ingest", "cdr", str(write("bt-resent.csv", csv_text(again))), "--max-reject-ratio", "1")
    assert result.exit_code == 0, result.stderr
    live = {r["carrierCallID"] for r in deleted.json("sql", "SELECT carrierCallID FROM calls", user="dpo")}
    assert "BT-000000000000" not in live and "BT-000000000004" not in live, "a purged call came back"
    assert "BT-000000000040" in live
    rejected = deleted.json("sql", "SELECT lineNumber, reasons, rawLine FROM rejected_rows WHERE fileName = 'bt-resent.csv' "
                                   "ORDER BY lineNumber", user="dpo")
    assert [r["lineNumber"] for r in rejected] == [2, 3, 4, 5]
    assert all("purged" in r["reasons"][0] and r["rawLine"] == "" for r in rejected[:3]), rejected
    assert "already in calls" in rejected[3]["reasons"][0]
    after = _files_bytes(deleted.home)
    assert number(1).encode() not in after and number(5).encode() not in after, "a purged call's line was kept"
    assert number(41).encode() in after, "control: the new call is found"
    # the warehouse keeps a hash of each purged key (128 bits of a SHA-256, as bytes), not the key
    keys = deleted.query("SELECT keyHash, partition FROM purged_keys ORDER BY partition")
    assert len(keys) == 10 and {k[1] for k in keys} == {"2026-01", "2026-02"}
    assert all(isinstance(k[0], bytes) and len(k[0]) == 16 for k in keys)  # 16 bytes (a lake table keeps no UHUGEINT whole)


def test_a_deletion_request_naming_a_purged_call_is_resolved_not_left_pending(deleted, write):
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)  # calls 1-10 purged
    again = json.dumps({"id": "UAL-again", "user": "bob", "timestamp": "2026-07-01T00:00:00Z", "action": "delete_calls",
                        "selector": {"carrier": "BT", "carrierCallIds": ["BT-000000000000", "BT-000000000019"]}}) + "\n"
    deleted.cli("ingest", "deletions", str(write("again.jsonl", again)), ok=True)
    deleted.cli("materialise", ok=True)
    pending = deleted.json("sql", "SELECT carrierCallID FROM pending_deletions", user="dpo")
    assert pending == [], "a request naming a call deleted and purged long ago stays pending"
    assert deleted.scalar("SELECT callsDeleted FROM deletion_items WHERE userActivityLog = 'UAL-again' ORDER BY item") == 0
    assert deleted.scalar("SELECT count(*) FROM deleted_calls WHERE carrierCallID = 'BT-000000000019'") == 1  # control


def test_a_malformed_copy_of_a_deleted_call_is_withheld_then_erased_and_of_a_purged_one_not_kept(deleted, write):
    """Found by an outside tester: a re-sent deleted call with one bad field kept its whole line, readable by analysts."""
    # call id 2 (deleted in January) re-sent before the purge, its duration mangled
    bad = good_row(1, target=number(2), external=number(1002), duration="6l")
    assert deleted.cli("ingest", "cdr", str(write("resent-1.csv", csv_text([bad, good_row(50)]))),
                       "--max-reject-ratio", "1").exit_code == 0
    analyst = deleted.json("sql", "SELECT rawLine, reasons FROM rejected_rows WHERE fileName = 'resent-1.csv'")
    assert analyst[0]["rawLine"] is None and "duration" in analyst[0]["reasons"][0]
    assert number(2).encode() not in (deleted.home / "published" / "analyst.duckdb").read_bytes()
    officer = deleted.json("sql", "SELECT rawLine, duplicateOf FROM rejected_rows WHERE fileName = 'resent-1.csv'", user="dpo")
    assert number(2) in officer[0]["rawLine"] and officer[0]["duplicateOf"] == 2
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)  # calls 1-10 purged, the copy's line with them
    # call id 3, purged, re-sent with a bad date
    bad = good_row(2, target=number(3), external=number(1003), startDate="2026-02-30")
    assert deleted.cli("ingest", "cdr", str(write("resent-2.csv", csv_text([bad, good_row(51)]))),
                       "--max-reject-ratio", "1").exit_code == 0
    officer = deleted.json("sql", "SELECT fileName, rawLine, reasons FROM rejected_rows WHERE fileName LIKE 'resent-%' "
                                  "ORDER BY fileName", user="dpo")
    assert [r["rawLine"] for r in officer] == ["", ""]
    assert "purged" in officer[1]["reasons"][-1]
    after = _files_bytes(deleted.home)
    for i in (2, 3, 1002, 1003):
        assert number(i).encode() not in after, f"a copy of purged call's number {number(i)} was kept"
    assert number(15).encode() in after, "control: a live call's number is found"


def test_rows_arriving_later_in_an_archived_month_become_a_further_part(deleted, write):
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)
    deleted.cli("ingest", "deletions", str(write("late.jsonl", entry("UAL-9", [15, 16], "2026-01-20T00:00:00Z"))), ok=True)
    deleted.cli("materialise", ok=True)
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)
    listed = deleted.json("dr", "list")
    assert [(a["id"], a["rows"]) for a in listed] == [("2026-01-part-0001", 6), ("2026-01-part-0002", 2), ("2026-02-part-0001", 4)]
    assert deleted.cli("dr", "verify").exit_code == 0


def test_dr_verify_finds_a_damaged_archive_with_exit_6(deleted):
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)
    assert deleted.cli("dr", "verify", "2026-01-part-0001").exit_code == 0
    path = deleted.home / "dr" / "deletedMonth=2026-02" / "part-0001.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = deleted.cli("dr", "verify")
    assert result.exit_code == 6
    assert "2026-02-part-0001" in result.stderr and "sha256" in result.stderr
    assert deleted.cli("dr", "verify", "2026-01-part-0001").exit_code == 0
    assert deleted.cli("dr", "verify", "nope").exit_code == 2
    path.unlink()
    assert deleted.cli("dr", "verify", "2026-02-part-0001").exit_code == 6


def test_restore_needs_data_protection_and_makes_a_separate_file(deleted, tmp_path):
    deleted.cli("retention", "enforce", "--as-of", "2026-06-01", ok=True)
    target = tmp_path / "investigation.duckdb"
    refused = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(target), user="analyst")
    assert refused.exit_code == 4 and not target.exists()
    assert refused.stdout == ""
    ok = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(target), user="dpo")
    assert ok.exit_code == 0, ok.stderr
    con = duckdb.connect(str(target), read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT callId FROM deleted_calls").fetchall()) == [1, 2, 3, 4, 5, 6]
    con.close()
    assert deleted.access_log("user", "command", "allowed") == [("analyst", "dr restore", False), ("dpo", "dr restore", True)]
    again = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(target), user="dpo")
    assert again.exit_code == 2


def _run(home: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO), DELETEDCALLS_USER="ops")
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run([sys.executable, "-m", "deletedcalls", "--home", str(home), *args], env=env, capture_output=True, timeout=120)


@pytest.mark.parametrize("step", ["archive-written", "dr-upload", "archive-verified", "purged", "rewrite-copied"])
def test_a_kill_at_any_step_then_a_rerun_loses_nothing_and_archives_nothing_twice(deleted, step):
    all_deleted = deleted.query("SELECT * EXCLUDE (created, updated, runId, deletedMonth), deletedMonth FROM deleted_calls ORDER BY id")
    killed = _run(deleted.home, "retention", "enforce", "--as-of", "2026-06-01", crash=step)
    assert killed.returncode == -9, killed.stderr
    rerun = _run(deleted.home, "retention", "enforce", "--as-of", "2026-06-01")
    assert rerun.returncode == 0, rerun.stderr
    dr = deleted.home / "dr"
    assert not list(dr.rglob("*.tmp")) and not (dr / ".staging").exists()
    archives = deleted.json("dr", "list")
    assert [a["id"] for a in archives] == ["2026-01-part-0001", "2026-02-part-0001"]
    assert sorted(p.name for p in dr.rglob("*.parquet")) == ["part-0001.parquet", "part-0001.parquet"]
    assert deleted.cli("dr", "verify").exit_code == 0
    keyring = keyring_file(deleted.home)
    archived = [tuple(v for k, v in r.items() if k not in ("created", "updated", "runId")) + (month,)
                for month in ("2026-01", "2026-02")
                for r in decrypted_rows(dr / f"deletedMonth={month}" / "part-0001.parquet", keyring)]
    kept = deleted.query("SELECT * EXCLUDE (created, updated, runId, deletedMonth), deletedMonth FROM deleted_calls ORDER BY id")
    assert sorted(archived + kept, key=lambda r: r[0]) == sorted(all_deleted, key=lambda r: r[0])
    for i in range(1, 11):  # no plaintext anywhere in the home, dr/ and its staging included
        assert number(i).encode() not in _all_bytes(deleted.home)
    assert not list(deleted.home.glob(".*.rewrite*"))
