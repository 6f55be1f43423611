"""The writer's DR upkeep: ``dr migrate`` (plain archives encrypted to the targets) and ``dr keys rotate``.

Both run under the writer's lock (a recorded session), so that they never
race retention for the keyring or the archive records.

``migrate_plain_archives``, per plain archive (``dr_archives.keyId`` NULL): take the
partition's key; ``dr.migrate.migrate_archive`` stages it encrypted, copies it to
every target and verifies it there against the recorded checksum; in one
transaction record the key, the new SHA-256 and the copies; only then remove the
plaintext. Killed at any step, the next run finishes it (the staged copy is
reused, verified copies are not rewritten).

``rotate_keys``, per live key: add a key version; re-wrap the data keys of every
copy of its archives (their key material files; the archives are not
rewritten) and check each opens with the new version; only when all did, drop
the old versions from the keyring and record the rotation. A target down: the old
version is kept (the copies it could not reach still need it), exit 7; the next
rotation re-wraps them all.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import duckdb

from deletedcalls import logs
from deletedcalls.clock import today_utc
from deletedcalls.dr.archive import Part, remove_staged
from deletedcalls.dr.archives import Checksum, key_material_rel, read_batches
from deletedcalls.dr.migrate import migrate_archive, remove_plaintext
from deletedcalls.errors import DeletedCallsError
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import current_version, sql
from deletedcalls.store.dr_records import (
    copies_of_key,
    destroyed_keys,
    lock_until,
    open_dr,
    partition_key,
    record_copies,
    record_key_event,
    warehouse_id,
)
from deletedcalls.store.warehouse import rollback_quietly


@dataclass
class MigrateResult:
    migrated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # plaintext files removed from the home
    targets: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def migrate_plain_archives(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int) -> MigrateResult:
    dr = open_dr(con, settings)
    result = MigrateResult(targets=[t.uri for t in dr.targets])
    rel = con.sql(sql("dr/plain_archives"))
    plain = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    for archive in plain:
        key_id = partition_key(con, dr, archive["partition"], settings.user, run_id)
        purged = con.execute(sql("dr/archive_purged_as_of"), {"a": archive["id"]}).fetchall()[0][0]
        purged = purged or today_utc()
        part = Part(
            archive_id=archive["id"], partition=archive["partition"], rel=archive["path"], key_id=key_id,
            expected=Checksum(archive["rows"], archive["minId"], archive["maxId"], archive["contentChecksum"]),
            manifest_fields=_migrated_fields(con, settings, archive, purged),
            lock_mode=settings.dr_lock_mode, lock_until=lock_until(purged, settings.dr_retention_days),
        )
        written = migrate_archive(settings.home, archive, part, dr.targets, dr.crypto, dr.staging)
        con.execute("BEGIN")
        try:
            con.execute(sql("dr/record_migrated"),
                        {"k": key_id, "s": written.sha256, "z": written.size, "m": written.manifest_sha256, "a": archive["id"]})
            record_copies(con, archive["id"], written, settings.dr_lock_mode, run_id)
            con.execute("COMMIT")
        except BaseException:
            rollback_quietly(con)
            raise
        result.removed += remove_plaintext(settings.home, archive["path"], dr.targets)
        remove_staged(dr.staging, archive["path"])
        result.migrated.append(archive["id"])
        logs.info(f"migrated plain archive {archive['id']}: encrypted to {len(dr.targets)} target(s) and verified there; "
                  "its plaintext is removed", stage="dr-migrate", archive=archive["id"])
    remove_staged(dr.staging)
    return result


def _migrated_fields(con: duckdb.DuckDBPyConnection, settings: Settings, archive: dict[str, Any], purged: date) -> dict[str, Any]:
    """The manifest fields of a migrated archive: from its old manifest where it has them (schema, policy)."""
    old: dict[str, Any] = {}
    try:
        old = json.loads((settings.dr_dir / f"deletedMonth={archive['partition']}" /
                          f"_part-{archive['part']:04d}.manifest.json").read_text())
    except (OSError, ValueError, RecursionError):
        pass
    policy = dict(old.get("policy") or {})
    from datetime import timedelta

    return {
        "part": archive["part"],
        "schemaVersion": old.get("schemaVersion", current_version(con)),
        "schema": old.get("schema", []),
        "policy": {**policy, "drRetentionDays": settings.dr_retention_days,
                   "drExpiresAfter": (purged + timedelta(days=settings.dr_retention_days)).isoformat()},
        "warehouse": {"id": warehouse_id(con)},
        "migrated": {"from": "plain archive written before SPEC 11", "originalSha256": archive["sha256"],
                     "purgedAsOf": purged.isoformat()},
        "partitionColumn": "deletedMonth (from the folder name, Hive style; not stored in the file)",
    }


@dataclass
class RotateResult:
    keys: list[dict[str, Any]] = field(default_factory=list)  # keyId, version, rewrapped

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rotate_keys(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int) -> RotateResult:
    dr = open_dr(con, settings)
    result = RotateResult()
    gone = destroyed_keys(con)
    failure: DeletedCallsError | None = None
    for info in dr.keys.keys():
        if info.state != "live" or info.key_id in gone:
            continue
        version = dr.keys.rotate(info.key_id)
        rewrapped, failed = 0, False
        for c in copies_of_key(con, info.key_id):
            target = dr.target(c["target"])
            try:
                with target.failing(f"re-wrapping the data keys of {c['path']}"):
                    dr.crypto.rewrap(target.path(c["path"]), target.fs)
                if c["lockMode"] and c["lockUntil"]:
                    target.lock_object(key_material_rel(c["path"]), c["lockMode"], c["lockUntil"])
                read_batches(target, c["path"], dr.crypto)  # opens with the new version, or fails here
                rewrapped += 1
            except DeletedCallsError as e:
                logs.warning(f"{c['archiveId']} on {c['target']}: not re-wrapped ({e.one_line()}); the key's old "
                             "version is kept for it", stage="dr-keys")
                failed = True
                failure = failure or e
        if not failed:
            dr.keys.drop_old_versions(info.key_id)
        record_key_event(con, info.key_id, info.partition, "rotated", settings.user, run_id,
                         f"version {version}; {rewrapped} archive copies re-wrapped" + ("; old versions kept" if failed else ""))
        result.keys.append({"keyId": info.key_id, "version": version, "rewrapped": rewrapped, "oldVersionsDropped": not failed})
    if failure is not None:
        raise failure
    return result
