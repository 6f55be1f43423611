"""DR targets failing mid-upload (issue 24): a kill -9 while an object goes to S3, an off-site folder that fills up.

Either way nothing is purged, no plaintext is left in the home or the target,
and the next run equals a clean run. The S3 server is a real one (moto, on
127.0.0.1); the full folder is a small tmpfs mounted for the test (root only:
skipped, saying why, elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, configure_dr, decrypted_rows, keyring_file, number
from test_dr import AS_OF, deleted_count, enforce, target_files, two_targets  # noqa: F401  (fixtures)
from test_hostile_env import fill, free, tmpfs

from deletedcalls.fsutil import CRASH_ENV


def _all_bytes(*roots: Path) -> bytes:
    return b"".join(p.read_bytes() for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


def _enforce_killed_at(home: Path, step: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO), DELETEDCALLS_USER="ops", **{CRASH_ENV: step})
    return subprocess.run([sys.executable, "-m", "deletedcalls", "--home", str(home), "retention", "enforce",
                           "--as-of", AS_OF], env=env, capture_output=True, timeout=120)


@pytest.mark.slow
def test_a_kill_mid_upload_to_s3_purges_nothing_leaves_no_plaintext_and_the_rerun_equals_a_clean_run(deleted, s3, tmp_path):  # noqa: F811
    offsite, bucket = tmp_path / "offsite", s3.bucket()
    # S3 first: the kill comes while its first object is being sent
    configure_dr(deleted.home, targets=[f"s3://{bucket}/dc", f"file://{offsite}"], endpoint=s3.endpoint)
    before = deleted.query("SELECT * EXCLUDE (deletedMonth) FROM deleted_calls ORDER BY id")
    killed = _enforce_killed_at(deleted.home, "dr-upload")
    assert killed.returncode == -9, killed.stderr
    assert deleted_count(deleted) == 12, "rows were purged though no target holds a verified copy"
    assert s3.objects(bucket) == {} and target_files(offsite) == {}, "a partial upload is visible"
    for i in range(1, 13):
        assert number(i).encode() not in _all_bytes(deleted.home / "dr"), "plaintext in the home's dr/"

    again = enforce(deleted)
    assert again.exit_code == 0, again.stderr
    assert deleted_count(deleted) == 2
    assert target_files(offsite) == {k.removeprefix("dc/"): v for k, v in s3.objects(bucket).items()}
    archived = [r for month in ("2026-01", "2026-02")
                for r in decrypted_rows(offsite / f"deletedMonth={month}" / "part-0001.parquet", keyring_file(deleted.home))]
    assert sorted(r["callId"] for r in archived) == list(range(1, 11))
    assert sorted(r["callId"] for r in archived) == sorted(r[1] for r in before if r[1] <= 10)
    assert [(a["id"], a["state"], len(a["targets"])) for a in deleted.json("dr", "list")] == [
        ("2026-01-part-0001", "live", 2), ("2026-02-part-0001", "live", 2)]
    assert deleted.cli("dr", "verify").exit_code == 0
    assert number(1).encode() not in _all_bytes(deleted.home, offsite) + b"".join(s3.objects(bucket).values())


@pytest.fixture
def small_offsite(tmp_path: Path) -> Iterator[Path]:
    yield from tmpfs(tmp_path / "offsite-disk", "1m")


@pytest.mark.slow
def test_an_offsite_folder_that_fills_up_mid_upload_is_exit_7_naming_it_and_the_rerun_finishes(deleted, small_offsite):  # noqa: F811
    target = small_offsite / "dc"
    configure_dr(deleted.home, targets=[f"file://{target}"])
    fill(small_offsite, 2048)  # room for a folder or two, not for an archive
    failed = enforce(deleted)
    assert failed.exit_code == 7, failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    assert f"file://{target}" in line and "nothing of the partition was purged" in line, line
    assert deleted_count(deleted) == 12
    assert [p for p in target.rglob("*") if p.is_file()] == [], "a partial object was left at the target"
    assert number(1).encode() not in _all_bytes(deleted.home / "dr", small_offsite)

    free(small_offsite)
    again = enforce(deleted)
    assert again.exit_code == 0, again.stderr
    assert deleted_count(deleted) == 2
    assert sorted(target_files(target)) == sorted(
        f"deletedMonth={m}/{n}" for m in ("2026-01", "2026-02")
        for n in ("part-0001.parquet", "_KEY_MATERIAL_FOR_part-0001.parquet.json", "_part-0001.manifest.json"))
    assert deleted.cli("dr", "verify").exit_code == 0 and deleted.cli("dr", "drill").exit_code == 0


@pytest.mark.parametrize("damage", [
    lambda d: {**d, "keys": {k: "x" for k in d["keys"]}},  # an entry that is not an entry
    lambda d: {**d, "keys": {k: {**v, "versions": {"1": {"material": "AAAA"}}} for k, v in d["keys"].items()}},  # short key
    lambda d: {**d, "keys": {k: {**v, "current": 7} for k, v in d["keys"].items()}},  # no current version
    lambda d: {**d, "keys": {k: {**v, "state": "maybe"} for k, v in d["keys"].items()}},
], ids=["not-an-entry", "short-key", "no-current-version", "bad-state"])
def test_a_damaged_keyring_is_exit_4_in_one_line_and_nothing_is_written(deleted, tmp_path, damage):  # noqa: F811

    offsite = tmp_path / "offsite"
    configure_dr(deleted.home, targets=[f"file://{offsite}"])
    assert enforce(deleted).exit_code == 0
    damaged = tmp_path / "keys" / "damaged.keyring"
    damaged.parent.mkdir(mode=0o700)
    fd = os.open(damaged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, json.dumps(damage(json.loads(keyring_file(deleted.home).read_text()))).encode())
    os.close(fd)
    into = tmp_path / "r.duckdb"
    failed = deleted.runner.invoke(__import__("deletedcalls.cli", fromlist=["cli"]).cli, [
        "--home", str(tmp_path / "no-home"), "dr", "restore", "2026-01-part-0001", "--into", str(into),
        "--from", f"file://{offsite}", "--keyring", str(damaged)])
    assert failed.exit_code == 4, failed.stderr
    assert failed.stderr.count("\n") == 1 and "not a deletedcalls keyring" in failed.stderr, failed.stderr
    assert not into.exists() and [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


KEY_MATERIAL = "deletedMonth=2026-02/_KEY_MATERIAL_FOR_part-0001.parquet.json"


@pytest.mark.slow
@pytest.mark.parametrize("spoil", [
    lambda p: p.unlink(),
    lambda p: p.write_text("garbage"),
    lambda p: p.write_text('{"footerKey": ' * 50_000 + "1" + "}" * 50_000),  # deeper than any JSON parser goes
], ids=["deleted", "garbage", "nested-deep"])
def test_key_material_spoiled_on_one_target_is_exit_6_naming_the_archive_and_the_other_target_restores(  # noqa: F811
        two_targets, tmp_path, spoil):  # noqa: F811
    w = two_targets
    assert enforce(w).exit_code == 0
    spoil(w.offsite / KEY_MATERIAL)
    for command in (["dr", "verify"], ["dr", "drill"]):
        failed = w.cli(*command, user="cron")
        assert failed.exit_code == 6, failed.stderr
        line = failed.stderr.strip().splitlines()[-1]
        assert "2026-02-part-0001" in line and f"file://{w.offsite}" in line, line
    into = tmp_path / "r.duckdb"
    restored = w.cli("dr", "restore", "2026-02-part-0001", "--into", str(into), "--from", f"s3://{w.bucket}/deletedcalls",
                     user="dpo")
    assert restored.exit_code == 0, restored.stderr


def test_a_nested_manifest_is_exit_6_not_a_crash(two_targets, tmp_path):  # noqa: F811
    w = two_targets
    assert enforce(w).exit_code == 0
    (w.offsite / "deletedMonth=2026-02" / "_part-0001.manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    from deletedcalls.cli import cli

    alone = w.runner.invoke(cli, ["--home", str(tmp_path / "none"), "dr", "drill", "--from", f"file://{w.offsite}",
                                  "--keyring", str(keyring_file(w.home))])
    assert alone.exit_code == 6 and "manifest is not valid JSON" in alone.stderr, alone.stderr
    assert w.cli("dr", "verify").exit_code == 6


def test_a_target_down_does_not_hide_a_damaged_copy_on_another(two_targets):  # noqa: F811
    w = two_targets
    assert enforce(w).exit_code == 0
    configure_dr(w.home, targets=[f"file://{w.offsite}", f"s3://{w.bucket}/deletedcalls"],
                 endpoint="http://127.0.0.1:9")  # the S3 server unreachable from now on
    down = w.cli("dr", "verify")
    assert down.exit_code == 7 and "could not be checked on every target" in down.stderr.splitlines()[-1], down.stderr
    data = w.offsite / "deletedMonth=2026-01" / "part-0001.parquet"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 1
    data.write_bytes(bytes(raw))
    both = w.cli("dr", "verify")
    assert both.exit_code == 6, both.stderr
    line = both.stderr.strip().splitlines()[-1]
    assert "2026-01-part-0001" in line and f"file://{w.offsite}" in line, line


def test_a_new_home_on_a_new_machine_restores_and_drills_the_old_warehouses_archives(two_targets, tmp_path):  # noqa: F811
    """The machine is gone: `init` a new home, then restore the old archives from S3 with the old keyring. The archive
    is not in the new warehouse's records, so the target's manifest is the word; the read is logged in the new home."""
    import duckdb
    from conftest import Warehouse

    old = two_targets
    assert enforce(old).exit_code == 0
    new = Warehouse(tmp_path / "new-home")
    new.cli("init", ok=True)
    configure_dr(new.home, endpoint=old.s3.endpoint)  # the new home knows the S3 endpoint, nothing else of the old one
    s3_uri = f"s3://{old.bucket}/deletedcalls"
    old_keyring = keyring_file(old.home)
    into = tmp_path / "case" / "jan.duckdb"
    into.parent.mkdir()
    restored = new.cli("dr", "restore", "2026-01-part-0001", "--into", str(into), "--from", s3_uri, "--keyring",
                       str(old_keyring), user="dpo")
    assert restored.exit_code == 0, restored.stderr
    con = duckdb.connect(str(into), read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT callId FROM deleted_calls").fetchall()) == [1, 2, 3, 4, 5, 6]
    con.close()
    assert [e for e in new.access_log("user", "command", "rowsReturned") if e[1] == "dr restore"] == [("dpo", "dr restore", 6)]
    drill = new.cli("dr", "drill", "--from", s3_uri, "--keyring", str(old_keyring), "--json", user="cron")
    assert drill.exit_code == 0, drill.stderr
    assert [(d["archive"], d["rows"], d["ok"]) for d in json.loads(drill.stdout)] == [("2026-02-part-0001", 4, True)]
    # without the old keyring the new home's own keyring has no key for it: refused, nothing written
    missing = new.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "case" / "x.duckdb"), "--from",
                      s3_uri, user="dpo")
    assert missing.exit_code in (4, 6) and not (tmp_path / "case" / "x.duckdb").exists(), missing.stderr
    # an analyst may not do it in the new home either
    assert new.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "case" / "y.duckdb"), "--from", s3_uri,
                   "--keyring", str(old_keyring)).exit_code == 4


@pytest.mark.slow
def test_keys_rotate_with_a_target_down_keeps_the_old_version_and_the_next_rotation_finishes(two_targets, tmp_path):  # noqa: F811
    w = two_targets
    assert enforce(w).exit_code == 0
    keyring = keyring_file(w.home)
    s3_uri = f"s3://{w.bucket}/deletedcalls"
    configure_dr(w.home, targets=[f"file://{w.offsite}", s3_uri], endpoint="http://127.0.0.1:9")  # S3 unreachable
    failed = w.cli("dr", "keys", "rotate", user="ops")
    assert failed.exit_code == 7 and s3_uri in failed.stderr.strip().splitlines()[-1], failed.stderr
    assert sorted(json.loads(keyring.read_text())["keys"]["2026-01"]["versions"]) == ["1", "2"], "the old version was dropped"
    assert w.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "a.duckdb"), "--from",
                 f"file://{w.offsite}", user="dpo").exit_code == 0  # the re-wrapped copy opens

    configure_dr(w.home, targets=[f"file://{w.offsite}", s3_uri], endpoint=w.s3.endpoint)  # back
    assert w.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "b.duckdb"), "--from", s3_uri,
                 user="dpo").exit_code == 0  # the copy it could not reach still opens with the kept version
    again = w.cli("dr", "keys", "rotate", "--json", user="ops")
    assert again.exit_code == 0, again.stderr
    assert all(k["oldVersionsDropped"] for k in json.loads(again.stdout)["keys"])
    assert list(json.loads(keyring.read_text())["keys"]["2026-01"]["versions"]) == ["3"]
    assert w.cli("dr", "verify").exit_code == 0 and w.cli("dr", "drill").exit_code == 0


@pytest.mark.slow
def test_a_kill_between_destroying_a_key_and_recording_it_is_finished_by_the_next_run(deleted, tmp_path):  # noqa: F811
    offsite = tmp_path / "offsite"
    configure_dr(deleted.home, targets=[f"file://{offsite}"], retention_days=10)
    assert enforce(deleted).exit_code == 0
    env = dict(os.environ, PYTHONPATH=str(REPO), DELETEDCALLS_USER="ops", **{CRASH_ENV: "key-destroyed"})
    killed = subprocess.run([sys.executable, "-m", "deletedcalls", "--home", str(deleted.home), "retention", "enforce",
                             "--as-of", "2026-07-01"], env=env, capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert json.loads(keyring_file(deleted.home).read_text())["keys"]["2026-01"]["state"] == "destroyed"
    again = deleted.cli("retention", "enforce", "--as-of", "2026-07-01", user="ops")
    assert again.exit_code == 0, again.stderr
    assert deleted.query("SELECT keyId, count(*) FROM dr_key_events WHERE event = 'destroyed' GROUP BY 1 ORDER BY 1") == [
        ("2026-01", 1), ("2026-02", 1)]
    assert [a["state"] for a in deleted.json("dr", "list")] == ["shredded", "shredded"]
    assert target_files(offsite) == {}
    restore = deleted.cli("dr", "restore", "2026-01-part-0001", "--into", str(tmp_path / "r.duckdb"), user="dpo")
    assert restore.exit_code == 6 and "destroyed on" in restore.stderr
