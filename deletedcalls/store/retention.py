"""Retention by partition: archive to verified DR archives on every target, purge, erase, shred (SPEC 4, 11).

Per expired partition (one ``deletedMonth``), in this order:

1. take the partition's key-encryption key from the keyring (made on first use);
2. hand ``dr/`` the partition's rows (a SELECT streamed as Arrow record batches)
   and the warehouse's checksum of them (rows, id range, content checksum):
   ``dr.archive.write_archive`` stages one encrypted archive, copies it to every
   target (``[dr] targets``), reads it back from each, decrypts it and compares
   it with that checksum, and writes the manifest beside it;
3. in one transaction: record the archive and its copies, delete the rows,
   record the event;
4. after every partition: erase (``erase``): the lake's files holding purged
   rows are rewritten or dropped and removed at once, the catalog's table-wide
   statistics forgotten and the catalog file rewritten (a DuckDB file keeps
   freed blocks with their old bytes);
5. keys whose partition's DR expiry (``[dr] retention_days`` after its latest
   purge) has passed are destroyed (crypto-shredding), recorded with who and
   when, and their archives' objects deleted where the target allows.

A target that is down, full or refuses (or a copy that does not verify):
nothing of that partition is purged, the run stops with exit 7 (6) naming the
target after erasing what it did purge, and the next run finishes the work
(an object already on a target and verified is not written again). A crash at
any point loses nothing and leaves no plaintext anywhere: the archive is
encrypted before its first byte is written; a purge whose erasure did not
finish is erased again; a key destroyed but not yet recorded is recorded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb

from deletedcalls import logs
from deletedcalls.clock import partition_expiry, utc_now
from deletedcalls.dr.archive import Part, Written, remove_staged, write_archive
from deletedcalls.dr.archives import Checksum, archive_names, object_rels, part_number
from deletedcalls.dr.context import DrContext
from deletedcalls.dr.targets import TargetFailure
from deletedcalls.environment import listed, note_committed
from deletedcalls.errors import DeletedCallsError, IntegrityFailure, WarehouseBusy
from deletedcalls.fsutil import crash_point
from deletedcalls.published import reading
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import current_version, sql
from deletedcalls.store.dr_records import (
    lock_until,
    open_dr,
    partition_key,
    record_copies,
    record_key_event,
)
from deletedcalls.store.lake import close_lake, forget_column_statistics, rewrite_catalog, tidy
from deletedcalls.store.warehouse import rollback_quietly


@dataclass
class PartitionPlan:
    partition: str
    rows: int
    min_id: int
    max_id: int
    expires_after: date
    archive_id: str
    path: str  # the object's path under each target's root


@dataclass
class RetentionResult:
    as_of: date
    retention_days: int
    dry_run: bool
    plan: list[PartitionPlan] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    rows_purged: int = 0
    targets: list[str] = field(default_factory=list)
    shredded: list[str] = field(default_factory=list)  # keys destroyed at DR expiry (dry run: would be)
    erased: bool = False
    # the shared catalog's VACUUM waited for readers through every try: purged, erased by the next retention run
    postponed: WarehouseBusy | None = field(default=None, repr=False, compare=False)

    def run_counts(self) -> dict[str, Any]:
        """What ``retention enforce`` records in its run's counts."""
        return dict(partitions=len(self.plan), archived=len(self.archived), rows_purged=self.rows_purged,
                    shredded=len(self.shredded), erased=self.erased)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["plan"] = [asdict(p) for p in self.plan]
        return d


def dr_expiry(last_purge: date, dr_days: int) -> date:
    """The last day a purged partition's archives stay readable: its latest purge plus [dr] retention_days."""
    try:
        return last_purge + timedelta(days=dr_days)
    except OverflowError:
        return date.max


def expired_partitions(con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> list[tuple[str, int, int, int, date]]:
    """(partition, rows, min id, max id, expiry) of every expired partition."""
    return [
        (partition, rows, min_id, max_id, partition_expiry(partition, days))
        for partition, rows, min_id, max_id in con.execute(sql("retention/partitions")).fetchall()
        if partition_expiry(partition, days) < as_of
    ]


def _next_part(con: duckdb.DuckDBPyConnection, partition: str) -> int:
    """The recorded parts plus one: a part written by a killed run but not recorded is written again (or, when the
    targets hold it already and it verifies, left as it is)."""
    return int(con.execute('SELECT coalesce(max(part), 0) FROM dr_archives WHERE "partition" = $p', {"p": partition}).fetchall()[0][0]) + 1


def dry_run_result(settings: Settings, as_of: date) -> RetentionResult:
    """``retention enforce --dry-run``: the plan, from the published protected store; nothing is changed."""
    with reading(settings, "protected") as con:
        return RetentionResult(as_of=as_of, retention_days=settings.retention_days, dry_run=True,
                               plan=plan_retention(con, settings, as_of, settings.retention_days),
                               shredded=[k for k, _ in keys_to_shred(con, settings, as_of)])


def plan_retention(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date, days: int) -> list[PartitionPlan]:
    plans = []
    for partition, rows, min_id, max_id, expires in expired_partitions(con, as_of, days):
        archive_id, rel = archive_names(partition, _next_part(con, partition))
        plans.append(PartitionPlan(partition, rows, min_id, max_id, expires, archive_id, rel))
    return plans


def enforce_retention(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int, *, as_of: date, days: int
) -> tuple[RetentionResult, duckdb.DuckDBPyConnection]:
    """Archive, verify and purge every expired partition, then shred expired keys; returns the result and the
    (new) connection. The connection is replaced when the database file is rewritten. (A dry run is
    ``plan_retention`` alone, on a read-only connection.)
    """
    result = RetentionResult(as_of=as_of, retention_days=days, dry_run=False)
    result.plan = plan_retention(con, settings, as_of, days)
    dr = open_dr(con, settings)
    result.targets = [t.uri for t in dr.targets]
    failure: DeletedCallsError | None = None
    try:
        try:
            for target in dr.targets:
                for tmp in target.remove_temporaries():
                    logs.warning(f"removed a partial file left by an interrupted run: {target.uri}/{tmp}", stage="retention")
            for plan in result.plan:
                archive_partition(con, settings, dr, plan, run_id, as_of, days)
                result.archived.append(plan.archive_id)
                result.rows_purged += plan.rows
                logs.info(f"archived and purged partition {plan.partition}", stage="retention", partition=plan.partition,
                          archive=plan.archive_id, rows=plan.rows, targets=len(dr.targets))
            remove_staged(dr.staging)
            result.shredded = shred_expired(con, settings, dr, run_id, as_of)
        except DeletedCallsError as e:  # what was purged before is still erased below; then the failure is reported
            failure = e
        if _erasure_pending(con):
            con, result.postponed = erase(con, settings)
            result.erased = result.postponed is None
        if failure is not None:
            raise failure
    except BaseException as e:
        if result.archived:
            note_committed(e, f"archive(s) {listed(result.archived)} written to every DR target, verified there and "
                              "purged from the warehouse")
        raise
    return result, con


def archive_partition(
    con: duckdb.DuckDBPyConnection, settings: Settings, dr: DrContext, plan: PartitionPlan, run_id: int, as_of: date,
    days: int,
) -> None:
    expected = _partition_checksum(con, plan.partition, plan.max_id)
    key_id = partition_key(con, dr, plan.partition, settings.user, run_id)
    part = Part(
        archive_id=plan.archive_id, partition=plan.partition, rel=plan.path, key_id=key_id, expected=expected,
        manifest_fields=_manifest_fields(con, plan, as_of, days, settings.dr_retention_days),
        lock_mode=settings.dr_lock_mode, lock_until=lock_until(as_of, settings.dr_retention_days),
    )

    def rows() -> Any:
        return _rows(con, plan.partition, plan.max_id)

    try:
        written = write_archive(part, None, dr.targets, dr.crypto, dr.staging, rows_factory=rows)
    except TargetFailure as e:
        raise TargetFailure(e.uri, f"{e.what} (partition {plan.partition})", f"{e.reason}; nothing of the partition was "
                            "purged: run the same command again once the target is back") from e
    _record_and_purge(con, plan, part, written, run_id, as_of, days, settings.dr_lock_mode)
    remove_staged(dr.staging, plan.path)
    crash_point("purged")


def _rows(con: duckdb.DuckDBPyConnection, partition: str, max_id: int) -> Any:
    """The partition's rows as archived, streamed from the warehouse as Arrow record batches."""
    from deletedcalls.dr.archives import ROW_GROUP_ROWS

    rel = con.sql(sql("retention/copy_partition"), params={"partition": partition, "max_id": max_id})
    reader = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader  # duckdb 2.0 / 1.5
    return reader(ROW_GROUP_ROWS)


def _partition_checksum(con: duckdb.DuckDBPyConnection, partition: str, max_id: int) -> Checksum:
    r = con.execute(sql("retention/partition_checksum"), {"partition": partition, "max_id": max_id}).fetchall()[0]
    return Checksum(int(r[0]), int(r[1] or 0), int(r[2] or 0), str(r[3]))


def _manifest_fields(
    con: duckdb.DuckDBPyConnection, plan: PartitionPlan, as_of: date, days: int, dr_days: int,
) -> dict[str, Any]:
    from deletedcalls.store.dr_records import warehouse_id

    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'deleted_calls' AND column_name <> 'deletedMonth' ORDER BY ordinal_position"
    ).fetchall()
    return {
        "part": part_number(plan.archive_id),
        "schemaVersion": current_version(con),
        "schema": [{"name": n, "type": t} for n, t in columns],
        "policy": {"retentionDays": days, "asOf": as_of.isoformat(), "expiresAfter": plan.expires_after.isoformat(),
                   "drRetentionDays": dr_days, "drExpiresAfter": dr_expiry(as_of, dr_days).isoformat()},
        "warehouse": {"id": warehouse_id(con)},
        "partitionColumn": "deletedMonth (from the folder name, Hive style; not stored in the file)",
    }


def _record_and_purge(
    con: duckdb.DuckDBPyConnection, plan: PartitionPlan, part: Part, written: Written, run_id: int, as_of: date,
    days: int, lock_mode: str,
) -> None:
    now = utc_now()
    rows = part.expected.rows
    con.execute("BEGIN")
    try:
        con.execute(sql("retention/record_archive"), {
            "id": plan.archive_id, "p": plan.partition, "part": part_number(plan.archive_id), "path": plan.path,
            "rows": rows, "size": written.size, "sha": written.sha256, "min": part.expected.min_id,
            "max": part.expected.max_id, "ck": part.expected.checksum, "t": now, "run": run_id, "key": part.key_id,
            "msha": written.manifest_sha256})
        record_copies(con, plan.archive_id, written, lock_mode, run_id)
        # a rejected record that may be a copy of a purged call (a duplicate, its key, or a key not read) loses its line
        con.execute(sql("retention/erase_rejected_lines"), {"partition": plan.partition, "max_id": plan.max_id})
        con.execute(sql("retention/summary_purged"), {"partition": plan.partition})
        # what it purges must never come back as a new call (a re-sent CDR, a re-delivered Ultravox page)
        con.execute(sql("retention/purged_keys"), {"partition": plan.partition, "max_id": plan.max_id, "now": now})
        deleted = con.execute(sql("retention/purge_partition"), {"partition": plan.partition, "max_id": plan.max_id}).fetchall()
        if deleted and deleted[0][0] != rows:
            raise IntegrityFailure(f"partition={plan.partition}: purge would delete {deleted[0][0]} rows, the archive holds {rows}")
        con.execute(
            "INSERT INTO retention_events VALUES ($a, $p, $rows, $asof, $days, $t, NULL, $run)",
            {"a": plan.archive_id, "p": plan.partition, "rows": rows, "asof": as_of, "days": days, "t": now, "run": run_id},
        )
        from deletedcalls.store.audits import check_invariants

        check_invariants(con)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise


# ---------------------------------------------------------------- DR expiry: crypto-shredding


def keys_to_shred(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date) -> list[tuple[str, str]]:
    """(key id, partition) of the live keys whose partition's DR expiry is before the as-of date."""
    return [(key_id, partition) for key_id, partition, last in con.execute(sql("retention/keys_to_shred")).fetchall()
            if dr_expiry(last, settings.dr_retention_days) < as_of]


def shred_expired(con: duckdb.DuckDBPyConnection, settings: Settings, dr: DrContext, run_id: int, as_of: date) -> list[str]:
    """Destroy the keys of partitions past their DR expiry (recorded), then delete their archives' objects where the
    targets allow; an object that cannot be deleted now is tried again by the next run (it is unreadable already)."""
    shredded = []
    for key_id, partition in keys_to_shred(con, settings, as_of):
        when = dr.keys.destroy(key_id, settings.user)
        crash_point("key-destroyed")
        record_key_event(con, key_id, partition, "destroyed", settings.user, run_id,
                         f"DR expiry: {settings.dr_retention_days} days after the partition's purge", at=when)
        shredded.append(key_id)
        logs.info(f"shredded partition {partition}: its key {key_id} is destroyed", stage="dr-shred", key=key_id)
    for archive_id, uri, path in con.execute(sql("retention/copies_to_delete")).fetchall():
        target = dr.target(uri)
        try:
            for rel in object_rels(path):
                target.delete(rel)
        except DeletedCallsError as e:
            logs.warning(f"{archive_id}: could not delete its objects on {uri} ({e.one_line()}); they are unreadable "
                         "(the key is destroyed) and the next run tries again", stage="dr-shred")
            continue
        con.execute(sql("retention/copy_deleted"),
                    {"t": utc_now(), "a": archive_id, "u": uri})
    return shredded


def _erasure_pending(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM retention_events WHERE erasedAt IS NULL").fetchall()[0][0])


def erase(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[duckdb.DuckDBPyConnection, WarehouseBusy | None]:
    """Make purged rows physically gone from every file of the lake; returns the (new) connection.

    The purge's DELETEs leave delete files and the old data files: they are rewritten
    and every superseded file is removed at once (``lake.tidy`` with ``erase``: readers
    of the previous catalog copy get an error and reopen). Then the catalog forgets its
    table-wide column statistics (all-time min/max) and is rewritten without its freed
    blocks; the events are marked erased after the swap, so a run killed before it
    erases again. The caller holds the warehouse lock. A shared catalog whose VACUUM readers held off
    (``rewrite_catalog``) leaves its events unerased and the ``WarehouseBusy`` to report with the new connection.
    """
    tidy(con, utc_now(), erase=True)
    forget_column_statistics(con)
    con, postponed = rewrite_catalog(con, settings)
    if postponed is not None:
        return con, postponed
    try:
        con.execute("UPDATE retention_events SET erasedAt = $t WHERE erasedAt IS NULL", {"t": utc_now()})
    except BaseException:
        close_lake(con)  # the caller's session holds the connection rewrite_catalog closed, not this one
        raise
    return con, None
