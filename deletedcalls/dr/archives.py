"""DR archives: their names and manifests, and listing, verifying and restoring them (SPEC 4).

An archive is one Parquet file (zstd) of a partition of deleted_calls under
``dr/deletedMonth=YYYY-MM/part-NNNN.parquet``, with its manifest beside it
(``_part-NNNN.manifest.json``) and its record in ``dr_archives``. Retention
writes them (``store/retention.py``); the commands of ``dr`` read them, with
the list of archives from a published store: nothing here needs the writer.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls import logs
from deletedcalls.errors import IntegrityFailure, NotFound, UsageError
from deletedcalls.fsutil import crash_point, file_sha256, fsync_path, private_files
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import literal_path, sql

ARCHIVE_GLOB = "deletedMonth=*/part-*.parquet"


def manifest_path(archive: Path) -> Path:
    """The manifest beside an archive; the leading _ keeps Spark and pyarrow datasets from reading it as data."""
    return archive.with_name(f"_{archive.stem}.manifest.json")


def archive_names(partition: str, part: int) -> tuple[str, str]:
    """(archive id, path relative to the home) of a part of a partition."""
    return f"{partition}-part-{part:04d}", f"dr/deletedMonth={partition}/part-{part:04d}.parquet"


def part_number(name: str) -> int:
    """The part number in an archive id or file name (...part-0002...)."""
    return int(name.rsplit("part-", 1)[1][:4])


def archive_checksum(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, int, int, str]:
    r = con.execute(sql("retention/archive_checksum"), {"path": literal_path(path)}).fetchall()[0]
    return (int(r[0]), int(r[1] or 0), int(r[2] or 0), str(r[3]))


def list_archives(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rel = con.sql('SELECT id, "partition", part, "rows", sizeBytes AS size, sha256, minId, maxId, created, path FROM dr_archives ORDER BY "partition", part')
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


@dataclass
class VerifyResult:
    id: str
    ok: bool
    problems: list[str]


def verify_archives(con: duckdb.DuckDBPyConnection, settings: Settings, ids: list[str] | None = None) -> list[VerifyResult]:
    archives = list_archives(con)
    known = {a["id"]: a for a in archives}
    if ids:
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound(f"no DR archive {missing[0]!r}; `deletedcalls dr list` shows the archive ids")
        archives = [known[i] for i in ids]
    results = []
    for a in archives:
        problems = []
        path = settings.home / a["path"]
        mpath = manifest_path(path)
        if not path.exists():
            problems.append("file missing")
        else:
            sha = file_sha256(path)
            if sha != a["sha256"]:
                problems.append(f"sha256 {sha[:12]}… differs from the recorded {a['sha256'][:12]}…")
            try:
                got = archive_checksum(con, path)
                if got[0] != a["rows"]:
                    problems.append(f"{got[0]} rows, {a['rows']} recorded")
                if (got[1], got[2]) != (a["minId"], a["maxId"]):
                    problems.append("id range differs from the record")
            except duckdb.Error as e:
                problems.append(f"unreadable: {' '.join(str(e).split())[:200]}")
        if not mpath.exists():
            problems.append("manifest missing")
        else:
            try:
                m = json.loads(mpath.read_text())
                if m.get("sha256") != a["sha256"] or m.get("rows") != a["rows"]:
                    problems.append("manifest does not match the record")
            except ValueError:
                problems.append("manifest is not valid JSON")
        results.append(VerifyResult(a["id"], not problems, problems))
    return results


def restore_archive(con: duckdb.DuckDBPyConnection, settings: Settings, archive_id: str, into: Path) -> int:
    """Copy a verified archive into a new, separate DuckDB file (table deleted_calls); returns rows.

    ``con`` is a published store (it lists the archives). The restore is written
    inside a private folder made beside the target (``.NAME.restore``, mode 0700,
    created by us), then renamed to the target: in a shared folder nobody else can
    open, pre-create or plant a WAL for the file while it is written.
    """
    [check] = verify_archives(con, settings, [archive_id])
    if not check.ok:
        raise IntegrityFailure(f"archive {archive_id} does not verify: {'; '.join(check.problems)}; not restored")
    if into.exists() or into.is_symlink():
        raise UsageError(f"{into} already exists; restore into a new file")
    if into.resolve().parent == settings.home.resolve() or settings.home.resolve() in into.resolve().parents:
        raise UsageError("restore into a file outside the warehouse home")
    archive = next(a for a in list_archives(con) if a["id"] == archive_id)
    folder = _private_folder(into.with_name(f".{into.name}.restore"))
    tmp = folder / into.name
    with private_files():
        out = duckdb.connect(str(tmp))
        try:
            out.execute("CREATE TABLE deleted_calls AS SELECT * FROM read_parquet($p, hive_partitioning = true) ORDER BY id", {"p": literal_path(settings.home / archive["path"])})
            out.execute("CREATE TABLE restore_info AS SELECT $a AS archiveId, $s AS sha256, CAST(now() AS TIMESTAMP) AS restoredAt", {"a": archive_id, "s": archive["sha256"]})
            rows = out.execute("SELECT count(*) FROM deleted_calls").fetchall()[0][0]
            crash_point("restore-written")
            out.execute("CHECKPOINT")
        finally:
            out.close()
    fsync_path(tmp)
    os.replace(tmp, into)
    fsync_path(into.parent)
    shutil.rmtree(folder)
    return int(rows)


def _private_folder(path: Path) -> Path:
    """A new folder only we can enter; one left by an interrupted restore of ours is emptied first."""
    import stat

    try:
        os.mkdir(path, 0o700)
        return path
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
        raise UsageError(f"{path} exists and is not a private folder of yours; remove it or restore elsewhere")
    shutil.rmtree(path)
    os.mkdir(path, 0o700)
    return path


def log_verified(results: list[VerifyResult]) -> None:
    """One log line per archive checked: ok, or what is wrong with it."""
    for r in results:
        if r.ok:
            logs.info(f"{r.id}: ok", stage="dr-verify", archive=r.id)
        else:
            logs.warning(f"{r.id}: {'; '.join(r.problems)}", stage="dr-verify", archive=r.id)


def raise_for_failures(results: list[VerifyResult]) -> None:
    """IntegrityFailure (exit 6) when an archive checked does not verify."""
    bad = [r for r in results if not r.ok]
    if bad:
        raise IntegrityFailure(f"{len(bad)} of {len(results)} DR archive(s) do not verify: {bad[0].id}: {'; '.join(bad[0].problems)}")
