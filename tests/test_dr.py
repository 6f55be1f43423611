"""DR archives that survive the machine (SPEC 11): targets, encryption, verify on every target, shredding, restore
anywhere, drills, keys, migration. A real S3 API server (moto) on 127.0.0.1 speaks HTTP exactly as AWS."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import Warehouse, configure_dr, decrypted_rows, entry, keyring_file, number

AS_OF = "2026-06-01"


@pytest.fixture
def two_targets(deleted, s3, tmp_path):
    """A folder "off-site" and an S3 bucket."""
    offsite = tmp_path / "offsite"
    bucket = s3.bucket()
    configure_dr(deleted.home, targets=[f"file://{offsite}", f"s3://{bucket}/deletedcalls"], endpoint=s3.endpoint)
    deleted.offsite, deleted.bucket, deleted.s3 = offsite, bucket, s3
    return deleted


def enforce(w: Warehouse, *extra: str, user: str = "ops"):
    return w.cli("retention", "enforce", "--as-of", AS_OF, *extra, user=user)


def deleted_count(w: Warehouse) -> int:
    return int(w.scalar("SELECT count(*) FROM deleted_calls"))


def target_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


# ---------------------------------------------------------------- archive, verify, list


def test_an_archive_goes_encrypted_to_a_folder_and_to_s3_and_is_verified_on_each(two_targets):
    w = two_targets
    result = enforce(w, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["archived"] == ["2026-01-part-0001", "2026-02-part-0001"]
    assert deleted_count(w) == 2
    folder = target_files(w.offsite)
    bucket = {k.removeprefix("deletedcalls/"): v for k, v in w.s3.objects(w.bucket).items()}
    names = {"deletedMonth=2026-01/part-0001.parquet", "deletedMonth=2026-01/_part-0001.manifest.json",
             "deletedMonth=2026-01/_KEY_MATERIAL_FOR_part-0001.parquet.json"}
    assert names <= set(folder) and names <= set(bucket)
    assert folder == bucket, "every target holds the same bytes"
    assert not (w.home / "dr").exists() or not list((w.home / "dr").rglob("*.parquet")), "nothing in the home's dr/"
    manifest = json.loads(folder["deletedMonth=2026-01/_part-0001.manifest.json"])
    assert manifest["sha256"] == hashlib.sha256(folder["deletedMonth=2026-01/part-0001.parquet"]).hexdigest()
    listed = w.json("dr", "list")
    assert [(a["id"], a["state"], [(t["uri"], t["verified"]) for t in a["targets"]]) for a in listed] == [
        (i, "live", [(f"file://{w.offsite}", True), (f"s3://{w.bucket}/deletedcalls", True)])
        for i in ("2026-01-part-0001", "2026-02-part-0001")]
    # an S3 endpoint on 127.0.0.1 and a folder on a local disk are honestly not off the machine
    assert all(not t["offMachine"] for a in listed for t in a["targets"])
    text = w.cli("dr", "list")
    assert "not off the machine" in text.stderr
    verified = w.cli("dr", "verify", "--json")
    assert verified.exit_code == 0, verified.stderr
    assert all(r["ok"] and len(r["targets"]) == 2 for r in json.loads(verified.stdout))


def test_no_byte_of_a_deleted_calls_number_or_carrier_call_id_is_in_any_archive_object_or_manifest(two_targets):
    w = two_targets
    assert enforce(w).exit_code == 0
    blobs = {**{f"folder:{k}": v for k, v in target_files(w.offsite).items()},
             **{f"s3:{k}": v for k, v in w.s3.objects(w.bucket).items()},
             **{f"home:{k}": v for k, v in target_files(w.home / "dr").items()}}
    secrets = [number(i).encode() for i in range(1, 11)] + [number(i + 1000).encode() for i in range(1, 11)]
    secrets += [f"BT-{i:012d}".encode() for i in range(10)]
    for name, data in blobs.items():
        for s in secrets:
            assert s not in data, f"{s!r} found in {name}"
    # the scan is not blind: decrypting the object gives the numbers, and the same rows in a plain Parquet show them
    rows = decrypted_rows(w.offsite / "deletedMonth=2026-01" / "part-0001.parquet", keyring_file(w.home))
    assert {r["target"] for r in rows} == {number(i) for i in range(1, 7)}
    import pyarrow as pa
    import pyarrow.parquet as pq

    control = w.home.parent / "control.parquet"
    pq.write_table(pa.Table.from_pylist(rows), control, compression="none")
    assert number(1).encode() in control.read_bytes() and b"BT-000000000000" in control.read_bytes()


def test_the_keyring_is_made_0600_outside_the_home_and_holds_keys_not_numbers(deleted, tmp_path):
    assert enforce(deleted).exit_code == 0
    keyring = keyring_file(deleted.home)
    assert keyring.is_file() and tmp_path / "xdg-config" in keyring.parents
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert stat.S_IMODE(keyring.parent.stat().st_mode) == 0o700
    data = json.loads(keyring.read_text())
    assert sorted(data["keys"]) == ["2026-01", "2026-02"]
    keys = deleted.json("dr", "keys", "list")
    assert [(k["keyId"], k["state"], k["archives"]) for k in keys] == [("2026-01", "live", 1), ("2026-02", "live", 1)]
    material = data["keys"]["2026-01"]["versions"]["1"]["material"]
    out = deleted.cli("dr", "keys", "list", "--json").stdout + deleted.cli("dr", "keys", "list").stdout
    assert material not in out and material[:12] not in out, "key bytes shown"
    events = deleted.query('SELECT keyId, event, "user" FROM dr_key_events ORDER BY keyId')
    assert events == [("2026-01", "created", "ops"), ("2026-02", "created", "ops")]


# ---------------------------------------------------------------- the keyring refused: nothing purged


def _group_readable(home: Path, keyring: Path) -> None:
    keyring.chmod(0o640)


def _symlink(home: Path, keyring: Path) -> None:
    real = keyring.with_name("real.keyring")
    keyring.rename(real)
    keyring.symlink_to(real)


def _someone_elses(home: Path, keyring: Path) -> None:
    os.chown(keyring, 65534, 65534)


def _a_folder(home: Path, keyring: Path) -> None:
    keyring.unlink()
    keyring.mkdir(mode=0o700)


def _missing(home: Path, keyring: Path) -> None:
    keyring.unlink()


@pytest.mark.parametrize("spoil", [_group_readable, _symlink, _someone_elses, _a_folder, _missing],
                         ids=["group-readable", "symlink", "someone-elses", "a-folder", "missing"])
def test_a_keyring_that_cannot_be_trusted_is_exit_4_and_nothing_is_purged(deleted, write, spoil):
    if spoil is _someone_elses and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    assert enforce(deleted).exit_code == 0  # January and February archived: the keyring exists
    deleted.cli("ingest", "deletions", str(write("late.jsonl", entry("UAL-9", [15, 16], "2026-01-20T00:00:00Z"))), ok=True)
    deleted.cli("materialise", ok=True)
    keyring = keyring_file(deleted.home)
    spoil(deleted.home, keyring)
    before = target_files(deleted.home / "dr")
    failed = enforce(deleted)
    assert failed.exit_code == 4, failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    assert str(keyring) in line and "Traceback" not in failed.stderr
    assert deleted_count(deleted) == 4, "nothing purged"
    assert target_files(deleted.home / "dr") == before, "nothing written"
    assert deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(deleted.home.parent / "r.duckdb"),
                       user="dpo").exit_code == 4
    assert not (deleted.home.parent / "r.duckdb").exists()


def test_a_keyring_inside_the_home_is_refused_with_exit_4(deleted):
    configure_dr(deleted.home, keyring=deleted.home / "dr.keyring")
    failed = enforce(deleted)
    assert failed.exit_code == 4 and "inside the warehouse home" in failed.stderr, failed.stderr
    assert not (deleted.home / "dr.keyring").exists() and deleted_count(deleted) == 12


def test_a_keyring_lacking_the_partitions_key_is_exit_6_and_nothing_is_purged(deleted, write, tmp_path):
    assert enforce(deleted).exit_code == 0
    keyring = keyring_file(deleted.home)
    data = json.loads(keyring.read_text())
    del data["keys"]["2026-01"]
    other = tmp_path / "other.keyring"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps(data).encode())
    os.close(fd)
    configure_dr(deleted.home, keyring=other)
    deleted.cli("ingest", "deletions", str(write("late.jsonl", entry("UAL-9", [15, 16], "2026-01-20T00:00:00Z"))), ok=True)
    deleted.cli("materialise", ok=True)
    failed = enforce(deleted)
    assert failed.exit_code == 6 and "no key 2026-01" in failed.stderr, failed.stderr
    assert deleted_count(deleted) == 4
    assert json.loads(other.read_text())["keys"].keys() == {"2026-02"}, "no new key made in its place"
    restore = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "r.duckdb"), user="dpo")
    assert restore.exit_code == 6 and "2026-01" in restore.stderr and not (tmp_path / "r.duckdb").exists()


# ---------------------------------------------------------------- targets failing: nothing purged, rerun finishes


def test_a_target_that_is_down_is_exit_7_naming_it_and_the_next_run_finishes_the_work(deleted, s3, tmp_path):
    from conftest import free_port

    offsite = tmp_path / "offsite"
    bucket = s3.bucket()
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    configure_dr(deleted.home, targets=[f"file://{offsite}", f"s3://{bucket}/p"], endpoint=down)
    failed = enforce(deleted)
    assert failed.exit_code == 7, failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    assert f"s3://{bucket}/p" in line and "nothing of the partition was purged" in line
    assert deleted_count(deleted) == 12
    first = {k: os.stat(offsite / k).st_ino for k in target_files(offsite)}
    assert "deletedMonth=2026-01/_part-0001.manifest.json" in first, "the folder target was done"
    configure_dr(deleted.home, targets=[f"file://{offsite}", f"s3://{bucket}/p"], endpoint=s3.endpoint)
    again = enforce(deleted)
    assert again.exit_code == 0, again.stderr
    assert "already on file://" in again.stderr, "the verified copy was not rewritten"
    assert {k: os.stat(offsite / k).st_ino for k in first} == first
    assert deleted_count(deleted) == 2
    assert target_files(offsite) == {k.removeprefix("p/"): v for k, v in s3.objects(bucket).items()}
    assert deleted.cli("dr", "verify").exit_code == 0


def test_a_missing_bucket_is_exit_7_naming_the_target_and_nothing_is_purged(deleted, s3):
    configure_dr(deleted.home, targets=["s3://no-such-bucket-here/x"], endpoint=s3.endpoint)
    failed = enforce(deleted)
    assert failed.exit_code == 7 and "s3://no-such-bucket-here/x" in failed.stderr.strip().splitlines()[-1], failed.stderr
    assert deleted_count(deleted) == 12


def test_wrong_credentials_are_exit_7_naming_the_target_and_nothing_is_purged(deleted, tmp_path, monkeypatch):
    """A second S3 server that checks signatures (moto with IAM auth on): unknown keys are refused."""
    from conftest import start_s3_server

    proc, server = start_s3_server(INITIAL_NO_AUTH_ACTION_COUNT="1")
    try:
        server.client().create_bucket(Bucket="authbucket")  # the one request allowed without credentials
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        configure_dr(deleted.home, targets=["s3://authbucket/x"], endpoint=server.endpoint)
        failed = enforce(deleted)
        assert failed.exit_code == 7, failed.stderr
        line = failed.stderr.strip().splitlines()[-1]
        assert "s3://authbucket/x" in line and ("ACCESS_DENIED" in line or "InvalidAccessKeyId" in line), line
        assert deleted_count(deleted) == 12
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- tampering: verify and drill name the archive


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_byte_changed_at_a_target_fails_verify_and_drill_with_exit_6_naming_the_archive(two_targets):
    w = two_targets
    assert enforce(w).exit_code == 0
    assert w.cli("dr", "drill").exit_code == 0
    _flip_a_byte(w.offsite / "deletedMonth=2026-02" / "part-0001.parquet")
    verify = w.cli("dr", "verify")
    assert verify.exit_code == 6 and "2026-02-part-0001" in verify.stderr.strip().splitlines()[-1], verify.stderr
    assert f"file://{w.offsite}" in verify.stderr
    drill = w.cli("dr", "drill", "--json")
    assert drill.exit_code == 6, drill.stderr
    assert "2026-02-part-0001" in drill.stderr.strip().splitlines()[-1]
    lines = json.loads(drill.stdout)
    assert [(d["target"].split(":")[0], d["ok"]) for d in lines] == [("file", False), ("s3", True)]


def test_an_edited_manifest_fails_verify_and_drill_with_exit_6_naming_the_archive(two_targets):
    w = two_targets
    assert enforce(w).exit_code == 0
    key = "deletedcalls/deletedMonth=2026-02/_part-0001.manifest.json"
    client = w.s3.client()
    manifest = json.loads(client.get_object(Bucket=w.bucket, Key=key)["Body"].read())
    manifest["rows"] = 3
    client.put_object(Bucket=w.bucket, Key=key, Body=json.dumps(manifest).encode())
    verify = w.cli("dr", "verify")
    assert verify.exit_code == 6 and "2026-02-part-0001" in verify.stderr.strip().splitlines()[-1], verify.stderr
    drill = w.cli("dr", "drill")
    assert drill.exit_code == 6 and "2026-02-part-0001" in drill.stderr.strip().splitlines()[-1], drill.stderr


# ---------------------------------------------------------------- restore anywhere


def test_restore_on_a_machine_without_the_warehouse_from_s3_with_the_keyring_alone(two_targets, tmp_path, monkeypatch):
    w = two_targets
    assert enforce(w).exit_code == 0
    keyring = tmp_path / "carried.keyring"
    fd = os.open(keyring, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, keyring_file(w.home).read_bytes())
    os.close(fd)
    monkeypatch.setenv("AWS_ENDPOINT_URL", w.s3.endpoint)
    into = tmp_path / "new-machine" / "r.duckdb"
    into.parent.mkdir()
    nowhere = tmp_path / "no-warehouse-here"
    result = w.runner.invoke(__import__("deletedcalls.cli", fromlist=["cli"]).cli,
                             ["--home", str(nowhere), "dr", "restore", "2026-01-part-0001", "--into", str(into),
                              "--from", f"s3://{w.bucket}/deletedcalls", "--keyring", str(keyring)],
                             env={"DELETEDCALLS_USER": "investigator"})
    assert result.exit_code == 0, result.stderr
    con = duckdb.connect(str(into), read_only=True)
    assert con.execute("SELECT count(*), min(target), min(deletedMonth) FROM deleted_calls").fetchall() == [
        (6, min(number(i) for i in range(1, 7)), "2026-01")]
    log = con.execute('SELECT archiveId, source, restoredBy, "rows" FROM restore_log').fetchall()
    con.close()
    assert log == [("2026-01-part-0001", f"s3://{w.bucket}/deletedcalls/deletedMonth=2026-01/part-0001.parquet", "investigator", 6)]
    assert stat.S_IMODE(into.stat().st_mode) == 0o600
    assert not nowhere.exists(), "no home was made"
    no_keyring = w.runner.invoke(__import__("deletedcalls.cli", fromlist=["cli"]).cli,
                                 ["--home", str(nowhere), "dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "x.duckdb"),
                                  "--from", f"s3://{w.bucket}/deletedcalls"])
    assert no_keyring.exit_code == 2 and "--keyring" in no_keyring.stderr


def test_restore_with_the_warehouse_logs_first_then_writes_from_any_target(two_targets, tmp_path):
    w = two_targets
    assert enforce(w).exit_code == 0
    into = tmp_path / "r.duckdb"
    ok = w.cli("dr", "restore", "2026-02-part-0001", "--into", str(into), "--from", f"s3://{w.bucket}/deletedcalls", user="dpo")
    assert ok.exit_code == 0, ok.stderr
    con = duckdb.connect(str(into), read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT callId FROM deleted_calls").fetchall()) == [7, 8, 9, 10]
    assert con.execute("SELECT restoredBy FROM restore_log").fetchall() == [("dpo",)]
    con.close()
    entries = [e for e in w.access_log("user", "command", "allowed", "rowsReturned") if e[1] == "dr restore"]
    assert entries == [("dpo", "dr restore", True, 4)]


def test_a_restore_that_cannot_be_logged_writes_nothing(deleted, tmp_path):
    """Issue 25 item 3: the read is logged before a row is written; a restore that cannot log leaves no file."""
    assert enforce(deleted).exit_code == 0
    spool = deleted.home / "spool"
    import shutil

    shutil.rmtree(spool, ignore_errors=True)
    fd = os.open(spool, os.O_WRONLY | os.O_CREAT, 0o600)  # a file where the spool folder should be: appends fail
    os.close(fd)
    into = tmp_path / "r.duckdb"
    failed = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(into), user="dpo")
    assert failed.exit_code == 4, failed.stderr
    assert not into.exists() and not list(tmp_path.glob(".r.duckdb*")), "rows were written though the read was not logged"


def test_restore_into_a_missing_folder_is_exit_2_and_leaves_nothing(deleted, tmp_path):
    assert enforce(deleted).exit_code == 0
    into = tmp_path / "no-such-folder" / "r.duckdb"
    failed = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(into), user="dpo")
    assert failed.exit_code == 2 and "does not exist" in failed.stderr, failed.stderr
    assert not (tmp_path / "no-such-folder").exists()
    assert [e for e in deleted.access_log("command", "allowed") if e[0] == "dr restore"] == []


def test_glob_characters_in_a_target_and_the_into_path_are_characters(deleted, tmp_path):
    """Issue 27 item 6 for dr restore --into: ?, *, [ are characters of a path, never a pattern (no DuckDB glob is
    handed a path: archives are read by pyarrow, the new file is opened by name). (A home with them: `init`, issue 27.)"""
    target = tmp_path / "off?site*[1]"
    decoy = tmp_path / "offXsiteY1"  # what the pattern would also match
    decoy.mkdir()
    configure_dr(deleted.home, targets=[f"file://{target}"])
    assert enforce(deleted).exit_code == 0
    assert (target / "deletedMonth=2026-01" / "part-0001.parquet").is_file() and list(decoy.iterdir()) == []
    out = tmp_path / "cases?" / "out[1]*"  # a ? in the folder too: DuckDB cannot write a database below it
    out.mkdir(parents=True)
    into = out / "r?.duckdb"
    ok = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(into), user="dpo")
    assert ok.exit_code == 0, ok.stderr
    con = duckdb.connect(str(into), read_only=True)
    assert con.execute("SELECT count(*) FROM deleted_calls").fetchall() == [(6,)]
    con.close()
    assert sorted(p.name for p in out.iterdir()) == ["r?.duckdb"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "the restore left its work"
    assert deleted.cli("dr", "verify").exit_code == 0 and deleted.cli("dr", "drill").exit_code == 0


# ---------------------------------------------------------------- DR expiry: crypto-shredding


def test_at_dr_expiry_the_key_is_destroyed_the_objects_deleted_and_reading_says_when(two_targets, tmp_path):
    w = two_targets
    configure_dr(w.home, targets=[f"file://{w.offsite}", f"s3://{w.bucket}/deletedcalls"], endpoint=w.s3.endpoint,
                 retention_days=30)
    assert enforce(w).exit_code == 0  # purged as of 2026-06-01: DR expiry 2026-07-01
    keyring = keyring_file(w.home)
    kept = w.cli("retention", "enforce", "--as-of", "2026-07-01", "--json", user="ops")
    assert kept.exit_code == 0 and json.loads(kept.stdout)["shredded"] == []
    plan = w.cli("retention", "enforce", "--as-of", "2026-07-02", "--dry-run", "--json")
    assert json.loads(plan.stdout)["shredded"] == ["2026-01", "2026-02"]
    shred = w.cli("retention", "enforce", "--as-of", "2026-07-02", "--json", user="ops")
    assert shred.exit_code == 0, shred.stderr
    assert json.loads(shred.stdout)["shredded"] == ["2026-01", "2026-02"]
    data = json.loads(keyring.read_text())
    assert data["keys"]["2026-01"]["state"] == "destroyed" and data["keys"]["2026-01"]["versions"] == {}
    assert data["keys"]["2026-01"]["destroyedBy"] == "ops"
    assert w.query("SELECT keyId, \"user\" FROM dr_key_events WHERE event = 'destroyed' ORDER BY 1") == [
        ("2026-01", "ops"), ("2026-02", "ops")]
    assert target_files(w.offsite) == {}
    assert {k: v for k, v in w.s3.objects(w.bucket).items() if v} == {}, "an object of a shredded archive is left"
    listed = w.json("dr", "list")
    assert [(a["id"], a["state"]) for a in listed] == [("2026-01-part-0001", "shredded"), ("2026-02-part-0001", "shredded")]
    assert listed[0]["shreddedAt"][:10] == date.today().isoformat() or listed[0]["shreddedAt"]
    table = w.cli("dr", "list").stdout
    assert "shredded (" in table
    failed = w.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "r.duckdb"), user="dpo")
    assert failed.exit_code == 6, failed.stderr
    line = failed.stderr.strip().splitlines()
    assert len(line) == 1 and "shredded" in line[0] and "destroyed on 20" in line[0]
    assert not (tmp_path / "r.duckdb").exists()
    assert w.cli("dr", "verify").exit_code == 0  # shredded archives are not failures: they are gone on purpose


def test_a_copy_kept_elsewhere_is_unreadable_once_its_key_is_destroyed(deleted, tmp_path):
    configure_dr(deleted.home, retention_days=10)
    assert enforce(deleted).exit_code == 0
    copy = tmp_path / "backup"
    import shutil

    shutil.copytree(deleted.home / "dr", copy)  # a backup of the target, made before the shred
    assert decrypted_rows(copy / "deletedMonth=2026-01" / "part-0001.parquet", keyring_file(deleted.home))
    assert deleted.cli("retention", "enforce", "--as-of", "2026-07-01", user="ops").exit_code == 0
    from deletedcalls.dr.keys import KeyUnavailable

    with pytest.raises(KeyUnavailable, match="destroyed on"):
        decrypted_rows(copy / "deletedMonth=2026-01" / "part-0001.parquet", keyring_file(deleted.home))


# ---------------------------------------------------------------- Object Lock


def test_object_lock_retention_is_set_to_the_partitions_dr_expiry_and_read_back(deleted, s3):
    bucket = s3.bucket(lock=True)
    configure_dr(deleted.home, targets=[f"s3://{bucket}/locked"], endpoint=s3.endpoint, lock_mode="GOVERNANCE",
                 retention_days=3650)
    assert enforce(deleted).exit_code == 0
    client = s3.client()
    until = date(2026, 6, 1) + timedelta(days=3650 + 1)
    keys = sorted(s3.objects(bucket))
    assert len(keys) == 6
    for key in keys:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE", key
        assert head["ObjectLockRetainUntilDate"].date() == until, key
    listed = deleted.json("dr", "list")
    assert {(t["lockMode"], t["lockUntil"][:10]) for a in listed for t in a["targets"]} == {("GOVERNANCE", until.isoformat())}


def test_a_bucket_without_object_lock_gets_no_retention_and_the_archive_still_verifies(deleted, s3):
    bucket = s3.bucket()
    configure_dr(deleted.home, targets=[f"s3://{bucket}"], endpoint=s3.endpoint, lock_mode="COMPLIANCE")
    assert enforce(deleted).exit_code == 0
    head = s3.client().head_object(Bucket=bucket, Key="deletedMonth=2026-01/part-0001.parquet")
    assert "ObjectLockMode" not in head
    assert all(t["lockMode"] is None for a in deleted.json("dr", "list") for t in a["targets"])


# ---------------------------------------------------------------- keys rotate, drill, migrate, config


def test_keys_rotate_rewraps_on_every_target_without_rewriting_an_archive(two_targets, tmp_path):
    w = two_targets
    assert enforce(w).exit_code == 0
    keyring = keyring_file(w.home)
    old = json.loads(keyring.read_text())["keys"]["2026-01"]["versions"]["1"]["material"]
    before = target_files(w.offsite)
    rotated = w.cli("dr", "keys", "rotate", "--json", user="ops")
    assert rotated.exit_code == 0, rotated.stderr
    assert [(k["keyId"], k["version"], k["rewrapped"]) for k in json.loads(rotated.stdout)["keys"]] == [
        ("2026-01", 2, 2), ("2026-02", 2, 2)]
    after = target_files(w.offsite)
    parquet = [k for k in before if k.endswith(".parquet")]
    assert all(after[k] == before[k] for k in parquet), "an archive was rewritten"
    material = [k for k in before if "_KEY_MATERIAL_" in k]
    assert all(after[k] != before[k] for k in material), "the data keys were not re-wrapped"
    entry_ = json.loads(keyring.read_text())["keys"]["2026-01"]
    assert list(entry_["versions"]) == ["2"] and old not in keyring.read_text()
    assert w.cli("dr", "verify").exit_code == 0
    assert w.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "r.duckdb"), "--from",
                 f"s3://{w.bucket}/deletedcalls", user="dpo").exit_code == 0


def test_a_drill_restores_the_newest_archive_of_each_target_and_cleans_up(two_targets, tmp_path, monkeypatch):
    w = two_targets
    assert enforce(w).exit_code == 0
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    drill = w.cli("dr", "drill", "--json", user="cron")
    assert drill.exit_code == 0, drill.stderr
    lines = json.loads(drill.stdout)
    assert [(d["archive"], d["rows"], d["ok"]) for d in lines] == [("2026-02-part-0001", 4, True)] * 2
    assert list((tmp_path / "tmp").iterdir()) == [], "the drill left its temporary file"
    assert [e for e in w.access_log("user", "command", "rowsReturned") if e[1] == "dr drill"] == [("cron", "dr drill", 4)] * 2
    alone = w.runner.invoke(__import__("deletedcalls.cli", fromlist=["cli"]).cli,
                            ["--home", str(tmp_path / "none"), "dr", "drill", "--from", f"file://{w.offsite}",
                             "--keyring", str(keyring_file(w.home))])
    assert alone.exit_code == 0 and "passed" in alone.stderr, alone.stderr


def test_a_job_file_cannot_change_the_dr_targets(wh, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text('[job]\nname = "x"\ninbox = "."\n\n[dr]\ntargets = ["file:///tmp/elsewhere"]\n')
    result = wh.cli("run", str(job))
    assert result.exit_code == 2 and "[dr] cannot be set in a job file" in result.stderr


@pytest.mark.parametrize("bad", ['targets = ["ftp://x/y"]', 'lock_mode = "STRICT"', "targets = []", "retention_days = 0"])
def test_a_bad_dr_setting_is_a_usage_error(wh, bad):
    config = wh.home / "config.toml"
    text = config.read_text()
    key = bad.split(" = ")[0]
    text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ="))
    config.write_text(text.replace("[dr]\n", f"[dr]\n{bad}\n", 1))
    result = wh.cli("dr", "list")
    assert result.exit_code == 2 and "dr." in result.stderr, result.stderr


@pytest.mark.parametrize("source", ["deletedcalls-dr-drill.service", "crontab.example"])
def test_the_shipped_drill_job_runs_the_drill(two_targets, source):
    """jobs/: the systemd unit's ExecStart and the crontab's drill line are a command this CLI runs."""
    import shlex

    from conftest import REPO

    text = (REPO / "jobs" / source).read_text()
    line = next(ln for ln in text.splitlines() if " dr drill" in ln and not ln.startswith("#"))
    words = shlex.split(line.split(">>")[0])
    args = words[words.index(next(w for w in words if w.endswith("/deletedcalls"))) + 1:]
    if "--home" in args:  # the crontab names the home; the unit sets DELETEDCALLS_HOME
        del args[args.index("--home"):args.index("--home") + 2]
    w = two_targets
    assert enforce(w).exit_code == 0
    drill = w.cli(*args, user="cron")
    assert drill.exit_code == 0, drill.stderr
    assert [d["ok"] for d in json.loads(drill.stdout)] == [True, True]


def test_the_review_report_shows_the_archives_per_dr_target_and_which_are_off_the_machine(two_targets, tmp_path):
    """Issue 29's report reads the DR inventory as `dr list` does: one row per target, live archives only."""
    from test_report import page_of, report

    w = two_targets
    assert enforce(w).exit_code == 0
    done, out = report(w, tmp_path, "--as-of", AS_OF)
    assert done.exit_code == 0, done.stderr
    page = page_of(out)
    rows = {r[0]: r for r in page.rows("DR archives per target")}
    assert sorted(rows) == sorted([f"file://{w.offsite}", f"s3://{w.bucket}/deletedcalls"])
    assert all(r[1:4] == ["2", "2", "10"] and "not off-site" in r[7] for r in rows.values())  # both on 127.0.0.1/local
    assert "on 2 targets, 2 of them on this machine: not off-site" in page.captions["retention"]
