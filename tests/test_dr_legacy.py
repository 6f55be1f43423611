"""`dr migrate` on archives written before SPEC 11 (issue 24): plain Parquet files under the home's dr/.

The legacy home is made by the code that wrote such archives: this repository
at the commit before SPEC 11 (schema version 10), taken out of git and run in
a subprocess. A clone without that commit (or without git) skips the test,
saying why. That code ran on duckdb 2.0, whose database files duckdb 1.5.5 (the lake's) cannot open: it runs
with duckdb 2.0.1 installed beside it (pip --target), and the home is exported by that duckdb
(`store/export_v2.py`) before this code converts it, as an operator upgrades. Then this code upgrades the home (`init`), lists the plain
archives as such, and `dr migrate` encrypts them to a folder and an S3 bucket
(a real moto server), verifies them there and removes the plaintext.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REPO, Warehouse, csv_text, entry, good_row, keyring_file, number

# main before SPEC 11: retention wrote plain archives to dr/ (schema version 10)
LEGACY_COMMIT = "94582a5b7dd22e8db5aea866e3b7e34db2b9842f"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def legacy_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("git"):
        pytest.skip("git is not installed: the legacy code is taken from this repository's history")
    found = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{LEGACY_COMMIT}^{{commit}}"], capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {LEGACY_COMMIT[:7]} (before SPEC 11) is not in this clone's history")
    out = tmp_path_factory.mktemp("legacy-code")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", LEGACY_COMMIT, "deletedcalls", "sql"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")
    return out


@pytest.fixture(scope="module")
def duckdb2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """duckdb 2.0.1 (what the legacy code ran on) in a folder of its own, put first on the legacy code's path."""
    out = tmp_path_factory.mktemp("duckdb2")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(out), "duckdb==2.0.1"],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"duckdb 2.0.1 could not be installed for the legacy code: {done.stderr.strip()[-200:]}")
    return out


def legacy(code: Path, home: Path, *args: str, duckdb2: Path, script: str | None = None) -> None:
    env = dict(os.environ, PYTHONPATH=f"{duckdb2}:{code}", DELETEDCALLS_USER="ops")
    command = [sys.executable, script, str(home)] if script else [sys.executable, "-m", "deletedcalls", "--home", str(home), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=code)
    assert done.returncode == 0, done.stderr


def test_dr_migrate_encrypts_plain_archives_to_every_target_verifies_them_and_removes_the_plaintext(
        legacy_code, duckdb2, tmp_path, s3):
    home = tmp_path / "warehouse"
    (tmp_path / "in").mkdir()
    rows = [good_row(i, target=number(i + 1), external=number(i + 1001)) for i in range(20)]
    (tmp_path / "in" / "bt.csv").write_text(csv_text(rows))
    (tmp_path / "in" / "d.jsonl").write_text(entry("UAL-1", [1, 2, 3, 4, 5, 6], "2026-01-15T10:00:00Z")
                                             + entry("UAL-2", [7, 8, 9, 10], "2026-02-28T23:59:59Z"))
    legacy(legacy_code, home, "init", duckdb2=duckdb2)
    legacy(legacy_code, home, "ingest", "cdr", str(tmp_path / "in" / "bt.csv"), duckdb2=duckdb2)
    legacy(legacy_code, home, "ingest", "deletions", str(tmp_path / "in" / "d.jsonl"), duckdb2=duckdb2)
    legacy(legacy_code, home, "materialise", duckdb2=duckdb2)
    legacy(legacy_code, home, "retention", "enforce", "--as-of", "2026-06-01", duckdb2=duckdb2)
    plain = sorted((home / "dr").glob("deletedMonth=*/part-*.parquet"))
    assert len(plain) == 2 and pq.read_table(plain[0]).num_rows == 6, "control: the legacy code wrote plain archives"

    w = Warehouse(home)
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    refused = w.cli("init")  # a duckdb 2 file: this duckdb cannot open it, and says how to export it
    assert refused.exit_code == 2 and "export_v2.py" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before, "a refused init changed the home"
    from deletedcalls.store import export_v2

    legacy(legacy_code, home, duckdb2=duckdb2, script=export_v2.__file__)  # the operator's step, with the old duckdb
    assert w.cli("init", ok=True).exit_code == 0  # imported, schema 10 -> 13, converted to the lake
    assert not (home / ".export-v2").exists() and not (home / ".deletedcalls.duckdb.imported").exists()
    listed = w.cli("dr", "list", "--json")
    assert listed.exit_code == 0 and "dr migrate" in listed.stderr, listed.stderr
    assert [(a["id"], a["encrypted"]) for a in json.loads(listed.stdout)] == [
        ("2026-01-part-0001", False), ("2026-02-part-0001", False)]
    assert w.cli("dr", "verify").exit_code == 0  # a plain archive verifies against its record before migration

    offsite, bucket = tmp_path / "offsite", s3.bucket()
    with open(home / "config.toml", "a") as f:  # the legacy config.toml has no [dr] section
        f.write(f'\n[dr]\ntargets = ["file://{offsite}", "s3://{bucket}/dc"]\n\n[dr.s3]\nendpoint = "{s3.endpoint}"\n'
                'region = "us-east-1"\n')
    migrated = w.cli("dr", "migrate", "--json", user="ops")
    assert migrated.exit_code == 0, migrated.stderr
    result = json.loads(migrated.stdout)
    assert result["migrated"] == ["2026-01-part-0001", "2026-02-part-0001"] and len(result["removed"]) == 4

    # no plaintext is left in the home; what the targets hold is encrypted, and holds no number
    assert not (home / "dr").exists() or [p for p in (home / "dr").rglob("*") if p.is_file()] == []
    objects = {**{str(p): p.read_bytes() for p in offsite.rglob("*") if p.is_file()}, **s3.objects(bucket)}
    assert len(objects) == 12  # 2 archives x (data, key material, manifest) x 2 targets
    blob = b"".join(objects.values()) + b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    for i in range(1, 11):
        assert number(i).encode() not in blob and f"BT-{i - 1:012d}".encode() not in blob
    with pytest.raises(Exception, match="(?i)encrypt|decrypt|key"):
        pq.read_table(offsite / "deletedMonth=2026-01" / "part-0001.parquet")

    archives = w.json("dr", "list")
    assert [(a["encrypted"], sorted(t["uri"] for t in a["targets"])) for a in archives] == [
        (True, sorted([f"file://{offsite}", f"s3://{bucket}/dc"]))] * 2
    assert w.cli("dr", "verify").exit_code == 0 and w.cli("dr", "drill").exit_code == 0
    into = tmp_path / "restored.duckdb"
    restored = w.cli("dr", "restore", "2026-02-part-0001", "--into", str(into), "--from", f"s3://{bucket}/dc", user="dpo")
    assert restored.exit_code == 0, restored.stderr
    import duckdb

    con = duckdb.connect(str(into), read_only=True)
    assert con.execute("SELECT callId, target FROM deleted_calls ORDER BY callId").fetchall() == [
        (i, number(i)) for i in (7, 8, 9, 10)]
    con.close()
    assert keyring_file(home).is_file()

    again = w.cli("dr", "migrate", "--json", user="ops")  # nothing left to migrate
    assert again.exit_code == 0 and json.loads(again.stdout)["migrated"] == []
