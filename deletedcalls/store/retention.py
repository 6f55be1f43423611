"""Retention by partition: archive to verified disaster-recovery archives, purge, erase (SPEC 4; the archives: ``dr/``).

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

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls import logs
from deletedcalls.clock import partition_expiry, utc_now
from deletedcalls.dr.archives import (
    ARCHIVE_GLOB,
    archive_checksum,
    archive_names,
    manifest_path,
    part_number,
)
from deletedcalls.environment import listed, note_committed
from deletedcalls.errors import IntegrityFailure
from deletedcalls.fsutil import crash_point, file_sha256, fsync_path, private_files, write_durably
from deletedcalls.published import reading
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import current_version, quoted, sql
from deletedcalls.store.warehouse import connect, rollback_quietly


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

    def run_counts(self) -> dict[str, Any]:
        """What ``retention enforce`` records in its run's counts."""
        return dict(partitions=len(self.plan), archived=len(self.archived), rows_purged=self.rows_purged,
                    recovered=len(self.recovered), erased=self.erased)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["plan"] = [asdict(p) for p in self.plan]
        return d


def expired_partitions(con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> list[tuple[str, int, int, int, date]]:
    """(partition, rows, min id, max id, expiry) of every expired partition."""
    return [
        (partition, rows, min_id, max_id, partition_expiry(partition, days))
        for partition, rows, min_id, max_id in con.execute(sql("retention/partitions")).fetchall()
        if partition_expiry(partition, days) < as_of
    ]


def _next_part(con: duckdb.DuckDBPyConnection, dr: Path, partition: str) -> int:
    recorded = con.execute('SELECT coalesce(max(part), 0) FROM dr_archives WHERE "partition" = $p', {"p": partition}).fetchall()[0][0]
    on_disk = [part_number(p.name) for p in (dr / f"deletedMonth={partition}").glob("part-*.parquet")]
    return max([recorded, *on_disk]) + 1


def dry_run_result(settings: Settings, as_of: date) -> RetentionResult:
    """``retention enforce --dry-run``: the plan, from the published protected store; nothing is changed."""
    with reading(settings, "protected") as con:
        return RetentionResult(as_of=as_of, retention_days=settings.retention_days, dry_run=True,
                               plan=plan_retention(con, settings, as_of, settings.retention_days))


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
    try:
        for plan in result.plan:
            archive_partition(con, settings, plan, run_id, as_of, days)
            result.archived.append(plan.archive_id)
            result.rows_purged += plan.rows
            logs.info(f"archived and purged partition {plan.partition}", stage="retention", partition=plan.partition,
                      archive=plan.archive_id, rows=plan.rows)
        if _erasure_pending(con):
            con = rewrite_database(con, settings)
            result.erased = True
    except BaseException as e:
        if result.archived:
            note_committed(e, f"archive(s) {listed(result.archived)} written to dr/ and purged from the warehouse")
        raise
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
    got = archive_checksum(con, tmp)
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
            {"id": plan.archive_id, "p": plan.partition, "part": part_number(plan.archive_id), "path": plan.path,
             "rows": manifest["rows"], "size": manifest["sizeBytes"], "sha": manifest["sha256"], "min": manifest["minId"],
             "max": manifest["maxId"], "ck": manifest["contentChecksum"], "t": now, "run": run_id},
        )
        # a rejected record that may be a copy of a purged call (a duplicate, its key, or a key not read) loses its line
        con.execute(sql("retention/erase_rejected_lines"), {"partition": plan.partition, "max_id": plan.max_id})
        con.execute(sql("retention/summary_purged"), {"partition": plan.partition})
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
        archive_id, _ = archive_names(partition, part_number(path.name))
        try:
            got = archive_checksum(con, path)
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
        m.execute(f"ATTACH {quoted(db)} AS old (READ_ONLY)")
        with private_files():
            m.execute(f"ATTACH {quoted(tmp)} AS new")
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
