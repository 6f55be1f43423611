"""Retention by partition and verified disaster-recovery archives (SPEC 4).

Per expired partition (one ``deletedMonth``), in this order:

1. write its rows to ``dr/deletedMonth=YYYY-MM/.part-NNNN.parquet.tmp`` (zstd), fsync;
2. read the file back and check rows, id range and a content checksum
   against the warehouse rows;
3. write the manifest the same way, rename both into place, fsync the folder;
4. in one transaction: record the archive, delete the rows, record the event;
5. after every partition: rewrite the database file (copy, fsync, atomic
   swap), because DuckDB's DELETE leaves the bytes of deleted rows in the file.

A crash at any point loses nothing. On the next run, temporary files are
removed; an archive renamed into place but not recorded is checked against
the warehouse rows and then recorded and purged (or set aside if it does not
match); a purge whose rewrite did not finish is rewritten again.
"""

from __future__ import annotations

import calendar
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls import logs
from deletedcalls.clock import utc_now
from deletedcalls.errors import IntegrityFailure, NotFound, UsageError
from deletedcalls.fsutil import crash_point, file_sha256, fsync_path, private_files, write_durably
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import current_version, sql
from deletedcalls.store.warehouse import connect, rollback_quietly

ARCHIVE_GLOB = "deletedMonth=*/part-*.parquet"


@dataclass
class PartitionPlan:
    partition: str
    rows: int
    min_id: int
    max_id: int
    expires_after: date
    archive_id: str
    path: str  # relative to the home


@dataclass
class RetentionResult:
    as_of: date
    retention_days: int
    dry_run: bool
    plan: list[PartitionPlan] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    rows_purged: int = 0
    recovered: list[str] = field(default_factory=list)
    erased: bool = False

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["plan"] = [asdict(p) for p in self.plan]
        return d


def manifest_path(archive: Path) -> Path:
    """The manifest beside an archive; the leading _ keeps Spark and pyarrow datasets from reading it as data."""
    return archive.with_name(f"_{archive.stem}.manifest.json")


def partition_expiry(partition: str, days: int) -> date:
    """The last day a partition is kept: its month's last day plus the retention days.

    It expires when this date is before the as-of date (2026-01 with 90 days: 2026-05-01).
    """
    year, month = int(partition[:4]), int(partition[5:7])
    try:
        return date(year, month, calendar.monthrange(year, month)[1]) + timedelta(days=days)
    except OverflowError:  # past year 9999: never expires (deletions dated in the future are refused at ingestion)
        return date.max


def archive_names(partition: str, part: int) -> tuple[str, str]:
    """(archive id, path relative to the home) of a part of a partition."""
    return f"{partition}-part-{part:04d}", f"dr/deletedMonth={partition}/part-{part:04d}.parquet"


def _part_number(name: str) -> int:
    """The part number in an archive id or file name (...part-0002...)."""
    return int(name.rsplit("part-", 1)[1][:4])


def expired_partitions(con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> list[tuple[str, int, int, int, date]]:
    """(partition, rows, min id, max id, expiry) of every expired partition."""
    return [
        (partition, rows, min_id, max_id, partition_expiry(partition, days))
        for partition, rows, min_id, max_id in con.execute(sql("retention/partitions")).fetchall()
        if partition_expiry(partition, days) < as_of
    ]


def _next_part(con: duckdb.DuckDBPyConnection, dr: Path, partition: str) -> int:
    recorded = con.execute('SELECT coalesce(max(part), 0) FROM dr_archives WHERE "partition" = $p', {"p": partition}).fetchall()[0][0]
    on_disk = [_part_number(p.name) for p in (dr / f"deletedMonth={partition}").glob("part-*.parquet")]
    return max([recorded, *on_disk]) + 1


def plan_retention(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date, days: int) -> list[PartitionPlan]:
    plans = []
    for partition, rows, min_id, max_id, expires in expired_partitions(con, as_of, days):
        archive_id, rel = archive_names(partition, _next_part(con, settings.dr_dir, partition))
        plans.append(PartitionPlan(partition, rows, min_id, max_id, expires, archive_id, rel))
    return plans


def enforce_retention(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int, *, as_of: date, days: int
) -> tuple[RetentionResult, duckdb.DuckDBPyConnection]:
    """Archive, verify and purge every expired partition; returns the result and the (new) connection.

    The connection is replaced when the database file is rewritten. (A dry run is
    ``plan_retention`` alone, on a read-only connection.)
    """
    result = RetentionResult(as_of=as_of, retention_days=days, dry_run=False)
    result.recovered = recover(con, settings, run_id, as_of, days)
    result.plan = plan_retention(con, settings, as_of, days)
    for plan in result.plan:
        archive_partition(con, settings, plan, run_id, as_of, days)
        result.archived.append(plan.archive_id)
        result.rows_purged += plan.rows
        logs.info(f"archived and purged partition {plan.partition}", stage="retention", partition=plan.partition,
                  archive=plan.archive_id, rows=plan.rows)
    if _erasure_pending(con):
        con = rewrite_database(con, settings)
        result.erased = True
    return result, con


def archive_partition(
    con: duckdb.DuckDBPyConnection, settings: Settings, plan: PartitionPlan, run_id: int, as_of: date, days: int
) -> None:
    home = settings.home
    final = home / plan.path
    folder = final.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / f".{final.name}.tmp"
    tmp.unlink(missing_ok=True)
    with private_files():
        con.execute(sql("retention/copy_partition"), {"partition": plan.partition, "max_id": plan.max_id, "path": str(tmp)})
    fsync_path(tmp)
    crash_point("archive-written")
    expected = _partition_checksum(con, plan.partition, plan.max_id)
    got = _archive_checksum(con, tmp)
    if got != expected:
        tmp.unlink(missing_ok=True)
        raise IntegrityFailure(f"partition={plan.partition}: the archive read back does not match the warehouse rows ({got} != {expected}); nothing was purged")
    manifest = _manifest(con, settings, plan, tmp, expected, as_of, days)
    manifest_tmp = _stage_manifest(final, manifest)
    os.replace(tmp, final)
    os.replace(manifest_tmp, manifest_path(final))
    fsync_path(folder)
    fsync_path(folder.parent)
    crash_point("archive-renamed")
    _record_and_purge(con, plan, manifest, run_id, as_of, days)
    crash_point("purged")


def _stage_manifest(archive: Path, manifest: dict[str, Any]) -> Path:
    """Write an archive's manifest durably under a temporary name; the caller renames it into place."""
    tmp = archive.with_name(f".{manifest_path(archive).name}.tmp")
    write_durably(tmp, json.dumps(manifest, indent=2, sort_keys=True).encode())
    return tmp


def _partition_checksum(con: duckdb.DuckDBPyConnection, partition: str, max_id: int) -> tuple[int, int, int, str]:
    r = con.execute(sql("retention/partition_checksum"), {"partition": partition, "max_id": max_id}).fetchall()[0]
    return (int(r[0]), int(r[1] or 0), int(r[2] or 0), str(r[3]))


def _archive_checksum(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, int, int, str]:
    r = con.execute(sql("retention/archive_checksum"), {"path": str(path)}).fetchall()[0]
    return (int(r[0]), int(r[1] or 0), int(r[2] or 0), str(r[3]))


def _manifest(
    con: duckdb.DuckDBPyConnection, settings: Settings, plan: PartitionPlan, path: Path,
    check: tuple[int, int, int, str], as_of: date, days: int,
) -> dict[str, Any]:
    warehouse_id = con.execute("SELECT warehouseId FROM warehouse_info").fetchall()[0][0]
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'deleted_calls' AND column_name <> 'deletedMonth' ORDER BY ordinal_position"
    ).fetchall()
    return {
        "archiveId": plan.archive_id,
        "partition": plan.partition,
        "file": Path(plan.path).name,
        "rows": check[0],
        "minId": check[1],
        "maxId": check[2],
        "contentChecksum": check[3],
        "sha256": file_sha256(path),
        "sizeBytes": path.stat().st_size,
        "schemaVersion": current_version(con),
        "schema": [{"name": n, "type": t} for n, t in columns],
        "policy": {"retentionDays": days, "asOf": as_of.isoformat(), "expiresAfter": plan.expires_after.isoformat()},
        "created": utc_now().isoformat(timespec="seconds") + "Z",
        "warehouse": {"id": warehouse_id, "home": str(settings.home.resolve())},
        "format": "parquet/zstd",
        "partitionColumn": "deletedMonth (from the folder name, Hive style; not stored in the file)",
    }


def _record_and_purge(
    con: duckdb.DuckDBPyConnection, plan: PartitionPlan, manifest: dict[str, Any], run_id: int, as_of: date, days: int
) -> None:
    now = utc_now()
    con.execute("BEGIN")
    try:
        con.execute(
            "INSERT INTO dr_archives VALUES ($id, $p, $part, $path, $rows, $size, $sha, $min, $max, $ck, $t, $run)",
            {"id": plan.archive_id, "p": plan.partition, "part": _part_number(plan.archive_id), "path": plan.path,
             "rows": manifest["rows"], "size": manifest["sizeBytes"], "sha": manifest["sha256"], "min": manifest["minId"],
             "max": manifest["maxId"], "ck": manifest["contentChecksum"], "t": now, "run": run_id},
        )
        # a rejected duplicate's raw line is a copy of its call: it goes with the call's deleted row
        con.execute(sql("retention/erase_duplicate_lines"), {"partition": plan.partition, "max_id": plan.max_id})
        # what it purges must never come back as a new call (a re-sent CDR, a re-delivered Ultravox page)
        con.execute(sql("retention/purged_keys"), {"partition": plan.partition, "max_id": plan.max_id, "now": now})
        deleted = con.execute(sql("retention/purge_partition"), {"partition": plan.partition, "max_id": plan.max_id}).fetchall()
        if deleted and deleted[0][0] != manifest["rows"]:
            raise IntegrityFailure(f"partition={plan.partition}: purge would delete {deleted[0][0]} rows, the archive holds {manifest['rows']}")
        con.execute(
            "INSERT INTO retention_events VALUES ($a, $p, $rows, $asof, $days, $t, NULL, $run)",
            {"a": plan.archive_id, "p": plan.partition, "rows": manifest["rows"], "asof": as_of, "days": days, "t": now, "run": run_id},
        )
        from deletedcalls.store.audits import check_invariants

        check_invariants(con)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise


def recover(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int, as_of: date, days: int) -> list[str]:
    """Finish what a killed run left: drop temp files, record+purge verified unrecorded archives."""
    dr = settings.dr_dir
    if not dr.is_dir():
        return []
    for tmp in dr.glob("deletedMonth=*/.*.tmp"):
        logs.warning(f"removing a partial file left by an interrupted run: {tmp.relative_to(settings.home)}", stage="retention")
        tmp.unlink()
    recorded = {r[0] for r in con.execute("SELECT path FROM dr_archives").fetchall()}
    recovered = []
    for path in sorted(dr.glob(ARCHIVE_GLOB)):
        rel = str(path.relative_to(settings.home))
        if rel in recorded:
            continue
        partition = path.parent.name.split("=", 1)[1]
        archive_id, _ = archive_names(partition, _part_number(path.name))
        try:
            got = _archive_checksum(con, path)
        except duckdb.Error:
            got = None
        expected = _partition_checksum(con, partition, got[2]) if got else None
        if got is None or got != expected or got[0] == 0:
            quarantine = dr / ".quarantine"
            quarantine.mkdir(exist_ok=True, mode=0o700)
            for f in (path, manifest_path(path)):
                if f.exists():
                    shutil.move(str(f), quarantine / f"{partition}-{f.name}")
            logs.warning(f"set aside an unrecorded archive that does not match the warehouse: {rel}", stage="retention")
            continue
        plan = PartitionPlan(partition, got[0], got[1], got[2], date.min, archive_id, rel)
        mpath = manifest_path(path)
        manifest = None
        if mpath.exists():
            try:
                manifest = json.loads(mpath.read_text())
            except ValueError:
                manifest = None
        if not manifest or manifest.get("sha256") != file_sha256(path):
            plan.expires_after = partition_expiry(partition, days)
            manifest = _manifest(con, settings, plan, path, got, as_of, days)
            os.replace(_stage_manifest(path, manifest), mpath)
            fsync_path(path.parent)
        _record_and_purge(con, plan, manifest, run_id, as_of, days)
        recovered.append(archive_id)
        logs.info(f"completed an archive left by an interrupted run: {archive_id}", stage="retention", rows=got[0])
    return recovered


def _erasure_pending(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM retention_events WHERE erasedAt IS NULL").fetchall()[0][0])


def rewrite_database(con: duckdb.DuckDBPyConnection, settings: Settings) -> duckdb.DuckDBPyConnection:
    """Rewrite the database file so that no byte of a purged row remains; returns a new connection.

    Copy every table into a new file (COPY FROM DATABASE writes only live rows),
    mark the erasure done in the copy, fsync, then swap it in atomically.
    The caller holds the warehouse lock.
    """
    db = settings.database
    tmp = db.with_name(f".{db.name}.rewrite")
    for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
        stale.unlink(missing_ok=True)
    con.execute("CHECKPOINT")
    con.close()
    wal = db.with_name(db.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise IntegrityFailure(f"{wal} still holds changes after CHECKPOINT; not rewriting (run again)")
    m = duckdb.connect()
    try:
        m.execute("ATTACH $old AS old (READ_ONLY)", {"old": str(db)})
        with private_files():
            m.execute("ATTACH $new AS new", {"new": str(tmp)})
        m.execute("COPY FROM DATABASE old TO new")
        m.execute("UPDATE new.retention_events SET erasedAt = $t WHERE erasedAt IS NULL", {"t": utc_now()})
        m.execute("CHECKPOINT new")
        m.execute("DETACH new")
        m.execute("DETACH old")
    finally:
        m.close()
    fsync_path(tmp)
    crash_point("rewrite-copied")
    os.replace(tmp, db)
    wal.unlink(missing_ok=True)
    fsync_path(db.parent)
    return connect(settings)


def finish_interrupted_rewrite(settings: Settings) -> None:
    """A killed rewrite leaves only a stray temporary copy: remove it (the purge is redone from retention_events)."""
    db = settings.database
    for stale in (db.with_name(f".{db.name}.rewrite"), db.with_name(f".{db.name}.rewrite.wal")):
        stale.unlink(missing_ok=True)


# ---------------------------------------------------------------- DR commands


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
                got = _archive_checksum(con, path)
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
            out.execute("CREATE TABLE deleted_calls AS SELECT * FROM read_parquet($p, hive_partitioning = true) ORDER BY id", {"p": str(settings.home / archive["path"])})
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
