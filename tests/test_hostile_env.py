"""The environment failing (SPEC 2.3, exit 7): a full disk during ingest, materialise, archive and rewrite.

The warehouse lives on a small tmpfs mounted for the test (root only; the test
skips, saying why, where mounting is impossible). Before each stage a filler
file leaves the stage too little room; the stage must exit 7 with one line
naming a path, keep nothing half-done, and, once the filler is gone, the same
command must finish the work: the end state equals that of a clean run on a
roomy disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Warehouse, decrypted_rows, keyring_file

from deletedcalls.ingest.synthetic import write_cdr

ROWS = 30_000


def _mount(path: Path, size: str, *extra: str) -> str | None:
    """Mount a tmpfs at path; None on success, else why not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if not shutil.which("mount") or not shutil.which("umount"):
        return "no mount/umount command on this machine"
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", "mode=0700", *extra]), "tmpfs", str(path)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}"


def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A fixture's body: a tmpfs of `size` mounted at path for the test (skipped, saying why, where none can be
    mounted), lazily unmounted after it."""
    why = _mount(path, size)
    if why:
        pytest.skip(why)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    yield from tmpfs(tmp_path / "fs", "64m")  # the warehouse, its published stores and the officers' page store


def fill(fs: Path, leave: int) -> None:
    """Fill fs up to `leave` free bytes."""
    st = os.statvfs(fs)
    room = st.f_bavail * st.f_frsize - leave
    with open(fs / "filler", "wb") as f:
        while room > 0:
            room -= f.write(b"\0" * min(room, 1 << 20))


def free(fs: Path) -> None:
    (fs / "filler").unlink()


def state(w: Warehouse) -> dict[str, object]:
    return {
        "calls": w.query("SELECT * FROM calls ORDER BY id"),
        "deleted": w.query("SELECT * EXCLUDE (created, updated, runId) FROM deleted_calls ORDER BY id"),
        "files": w.query('SELECT id, fileName, sha256, status, "rows", rejected FROM cdr_files ORDER BY id'),
        "logs": w.query("SELECT id, fileName, sha256, status, entries FROM deletion_files ORDER BY id"),
        "entries": w.query('SELECT id, "user", "timestamp", selector, appliedAt IS NULL FROM user_activity_log ORDER BY id'),
        "archives": w.query('SELECT id, "partition", "rows", minId, maxId FROM dr_archives ORDER BY id'),
        # the archives' rows (decrypted with the warehouse's keyring), without the times of the run that wrote them
        "archived": sorted(([v for k, v in r.items() if k not in ("created", "updated", "runId")]
                            for f in sorted((w.home / "dr").glob("deletedMonth=*/part-*.parquet"))
                            for r in decrypted_rows(f, keyring_file(w.home))), key=lambda r: r[0]),
        "dr": sorted(str(p.relative_to(w.home)) for p in (w.home / "dr").rglob("*") if p.is_file()),
        "purged": w.query("SELECT count(*) FROM retention_events WHERE erasedAt IS NULL"),
    }


STAGES = [
    # (name, command, what the failure names)
    ("ingest", ["ingest", "cdr", "{inbox}/big.csv"], "/home/data/main/calls/"),  # the lake's month file
    ("deletions", ["ingest", "deletions", "{inbox}/deletions.jsonl"], "deletedcalls.duckdb"),
    ("materialise", ["materialise"], "/home/"),  # a deleted_calls file, a rewritten calls file or the catalog
    ("archive", ["retention", "enforce", "--as-of", "2026-06-01", "--retention-days", "30"], "dr/"),
    ("rewrite", ["retention", "enforce", "--as-of", "2026-06-01", "--retention-days", "30"], ".rewrite"),  # the same command again
]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inbox")
    write_cdr(folder / "big.csv", ROWS)
    entry = {"id": "UAL-1", "user": "alice", "timestamp": "2026-01-15T10:00:00Z", "action": "delete_calls",
             "selector": {"cdrFile": "big.csv"}}
    (folder / "deletions.jsonl").write_text(json.dumps(entry) + "\n")
    return folder


def test_a_full_disk_at_each_stage_is_exit_7_and_the_rerun_equals_a_clean_run(small_fs, tmp_path, inbox):
    clean = Warehouse(tmp_path / "clean")
    clean.cli("init", ok=True)
    for _, command, _ in STAGES[:4]:
        clean.cli(*[a.format(inbox=inbox) for a in command], ok=True)
    archive = next((clean.home / "dr").rglob("*.parquet")).stat().st_size
    database = (clean.home / "deletedcalls.duckdb").stat().st_size

    w = Warehouse(small_fs / "home")
    w.cli("init", ok=True)
    # room for small commits, not for the stage's own writes; the rewrite gets room for the archive and the purge's
    # commit (its purged_keys rows in the WAL, about 40 bytes each), not for a copy of the database
    leave = {"ingest": 1 << 20, "deletions": 0, "materialise": 256 << 10, "archive": archive // 3,
             "rewrite": archive + 1024 * 1024 + ROWS * 48}
    assert database > leave["rewrite"] + archive, "the data must be larger than the room left"
    for name, command, names in STAGES:
        fill(small_fs, leave[name])
        failed = w.cli(*[a.format(inbox=inbox) for a in command])
        free(small_fs)
        assert failed.exit_code == 7, (name, failed.stderr)
        line = [x for x in failed.stderr.strip().splitlines() if x.startswith("error")]
        assert len(line) == 1 and str(small_fs) in line[0] and "No space left" in line[0], (name, failed.stderr)
        assert "Traceback" not in failed.stderr and line[0] == failed.stderr.strip().splitlines()[-1]
        if name != "deletions":  # 0 bytes left: whichever write comes first fails
            assert names in line[0], (name, line[0])
        if name == "archive":  # the same command again, with room for the archive but not for the rewrite: next stage
            continue
        again = w.cli(*[a.format(inbox=inbox) for a in command])
        assert again.exit_code == 0, (name, again.stderr)
    assert w.scalar("SELECT count(*) FROM deleted_calls") == 0  # archived and purged
    assert state(w) == state(clean)
    assert not list(w.home.glob(".*rewrite*")) and not list((w.home / "dr").rglob("*.tmp"))


def test_a_read_only_home_is_exit_7_naming_it_and_works_once_writable(tmp_path, inbox):
    mnt = tmp_path / "ro"
    why = _mount(mnt, "64m")  # the lake: a catalog of ~7 MB and its published copy
    if why:
        pytest.skip(why)
    try:
        w = Warehouse(mnt / "home")
        w.cli("init", ok=True)
        small = tmp_path / "small.csv"
        small.write_text("".join((inbox / "big.csv").read_text().splitlines(keepends=True)[:11]))
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        result = w.cli("ingest", "cdr", str(small))
        assert result.exit_code == 7, result.stderr
        assert "Read-only file system" in result.stderr and str(mnt) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        assert w.cli("ingest", "cdr", str(small)).exit_code == 0
        assert w.scalar("SELECT count(*) FROM calls") == 10
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("leave", [0, 64 << 10, 512 << 10], ids=["nothing", "64k", "512k"])
def test_init_on_a_full_disk_is_exit_7_and_leaves_nothing_that_stops_the_next_init(small_fs, leave):
    w = Warehouse(small_fs / "home")
    fill(small_fs, leave)
    failed = w.cli("init")
    free(small_fs)
    if failed.exit_code == 0:
        pytest.skip(f"init fitted in {leave} bytes")
    assert failed.exit_code == 7, failed.stderr
    assert str(small_fs) in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    w.cli("init", ok=True)
    assert w.json("files", "list") == []


# -------------------------------------------------------------- issue 27: a gzip bomb on a small disk, and what exit 7 says


def _bomb(path: Path, text_bytes: int) -> Path:
    """A gzip of a CDR file that inflates to about `text_bytes` (one row repeated: a ratio of about 1000:1)."""
    import gzip

    header = b"target,callTypeDirectionFlag,callTypeRecordingFlag,startDate,startTime,duration,costCDR,carrier,carrierCallID\n"
    rows = b"07700900000,A,N,2026-03-05,10:22:01,61,1.2345,BT,BT-1\n" * 20_000
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(text_bytes // len(rows) + 1):
            f.write(rows)
    return path


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    yield from tmpfs(tmp_path / "tiny", "32m")  # a new lake home takes 13 MB (its catalog and the protected copy: 5.4 MB each)


def test_a_gzip_bomb_on_a_32_mb_disk_is_a_rejected_file_and_the_night_goes_on(tiny_fs, tmp_path):
    (tmp_path / "inbox").mkdir()
    bomb = _bomb(tmp_path / "inbox" / "bomb.csv.gz", 300 << 20)
    assert bomb.stat().st_size < 1 << 20  # 300 MB of text in under 1 MB, for a home on a 32 MB disk
    good = tmp_path / "inbox" / "good.csv"
    good.write_text("".join((Path(__file__).parent.parent / "data" / "bt-2026-01-05.csv").read_text().splitlines(keepends=True)[:6]))
    job = tmp_path / "job.toml"
    job.write_text('[job]\nname = "bomb"\ninbox = "inbox"\n\n[inbox]\nmin_age_seconds = 0\n')
    w = Warehouse(tiny_fs / "home")
    w.cli("init", ok=True)

    result = w.cli("run", str(job), "--as-of", "2026-01-10")

    assert result.exit_code == 3, result.stderr
    files = {f["fileName"]: f for f in w.json("files", "list")}
    assert files["bomb.csv.gz"]["status"] == "rejected" and "free space" in files["bomb.csv.gz"]["reason"]
    assert files["good.csv"]["status"] == "loaded" and files["good.csv"]["rows"] == 5
    assert not list(w.home.glob(".delivery-*"))
    again = w.cli("run", str(job), "--as-of", "2026-01-10")  # the next night skips it
    assert again.exit_code == 0, again.stderr


def test_an_exit_7_names_the_path_also_when_the_home_comes_from_the_environment(tiny_fs, tmp_path, monkeypatch):
    home = tiny_fs / "home"
    Warehouse(home).cli("init", ok=True)
    bomb = _bomb(tmp_path / "bomb.csv.gz", 64 << 20)
    monkeypatch.setenv("DELETEDCALLS_HOME", str(home))
    monkeypatch.setenv("DELETEDCALLS_TEST_FREE_BYTES", str(1 << 40))  # the check is told there is room: the disk fills
    from click.testing import CliRunner

    from deletedcalls.cli import cli

    result = CliRunner().invoke(cli, ["ingest", "cdr", str(bomb)])
    assert result.exit_code == 7, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(home) in line and "No space left" in line, line
    assert not list(home.glob(".delivery-*"))


@pytest.mark.parametrize("command", ["ingest", "run"])
def test_an_exit_7_after_a_committed_file_says_what_was_committed_and_the_rerun_does_the_rest(small_fs, tmp_path, inbox, command):
    folder = tmp_path / "night"
    folder.mkdir()
    small = folder / "a-small.csv"
    small.write_text("".join((inbox / "big.csv").read_text().splitlines(keepends=True)[:11]))
    shutil.copy(inbox / "big.csv", folder / "b-big.csv")
    job = tmp_path / "job.toml"
    job.write_text('[job]\nname = "full"\ninbox = "night"\n\n[inbox]\nmin_age_seconds = 0\n')
    args = ["ingest", "cdr", str(small), str(folder / "b-big.csv")] if command == "ingest" else ["run", str(job), "--as-of", "2026-01-20"]
    w = Warehouse(small_fs / "home")
    w.cli("init", ok=True)
    fill(small_fs, 1 << 20)
    failed = w.cli(*args)
    free(small_fs)
    assert failed.exit_code == 7, failed.stderr
    [line] = [x for x in failed.stderr.strip().splitlines() if x.startswith("error")]
    assert "a-small.csv (loaded)" in line and "Committed before the failure" in line and "does the rest" in line, line
    assert "nothing half-done was kept." not in line
    assert w.query("SELECT fileName FROM cdr_files") == [("a-small.csv",)]
    again = w.cli(*args)
    assert again.exit_code == 0, again.stderr
    assert w.query("SELECT fileName, status FROM cdr_files ORDER BY id") == [("a-small.csv", "loaded"), ("b-big.csv", "loaded")]
