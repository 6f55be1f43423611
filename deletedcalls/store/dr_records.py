"""The warehouse's side of DR archives: which key a partition uses, and the records of copies and key events.

Used by retention (archive, purge, shred) and by the DR upkeep commands
(``dr migrate``, ``dr keys rotate``). The keyring (``dr/keys.py``) holds the
keys; the warehouse holds what happened to them (``dr_key_events``: who, when),
never a key's bytes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from deletedcalls import logs
from deletedcalls.clock import today_utc, utc_now
from deletedcalls.dr.context import DrContext, dr_context
from deletedcalls.dr.keys import KeyUnavailable
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import sql

if TYPE_CHECKING:
    from deletedcalls.dr.archive import Written


def warehouse_id(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT warehouseId FROM warehouse_info").fetchall()[0][0])


def open_dr(con: duckdb.DuckDBPyConnection, settings: Settings) -> DrContext:
    """The targets and keyring of this warehouse. The keyring may be created only while no archive is encrypted:
    once keys exist, a missing keyring is refused (exit 4), never silently replaced by an empty one."""
    made = con.execute(sql("dr/keys_made")).fetchall()[0][0]
    return dr_context(settings, warehouse_id(con), may_create_keyring=not made)


def destroyed_keys(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute(sql("dr/destroyed_keys")).fetchall()}


def partition_key(con: duckdb.DuckDBPyConnection, dr: DrContext, partition: str, user: str, run_id: int | None) -> str:
    """The live key of a partition, made (and recorded) when it has none.

    A key the warehouse recorded for the partition must be in the keyring: a
    keyring without it is the wrong keyring (exit 6), never a reason to make a new key.
    """
    recorded = [r[0] for r in con.execute(sql("dr/partition_keys"), {"p": partition}).fetchall()]
    gone = destroyed_keys(con)
    for key_id in recorded:
        if key_id in gone:
            continue
        info = dr.keys.key(key_id)
        if info is None:
            raise KeyUnavailable(f"keyring {dr.keyring} has no key {key_id}, which the warehouse recorded for partition "
                                 f"{partition}; is it this warehouse's keyring? nothing was purged")
        if info.state == "destroyed":  # destroyed by a run killed before it recorded so
            record_key_event(con, key_id, partition, "destroyed", info.destroyed_by or user, run_id,
                             "recorded after an interrupted run", at=datetime.fromisoformat(info.destroyed_at or utc_now().isoformat()))
            continue
        return key_id
    n = len(recorded) + 1
    key_id = partition if n == 1 else f"{partition}.{n}"
    if dr.keys.key(key_id) is None:
        dr.keys.create(key_id, partition)
    record_key_event(con, key_id, partition, "created", user, run_id, None)
    logs.info(f"made key {key_id} for partition {partition} in the keyring", stage="dr-keys", keyring=str(dr.keyring))
    return key_id


def record_key_event(con: duckdb.DuckDBPyConnection, key_id: str, partition: str, event: str, user: str,
                     run_id: int | None, detail: str | None, at: datetime | None = None) -> None:
    con.execute(sql("dr/key_event"), {"k": key_id, "p": partition, "e": event, "t": at or utc_now(), "u": user,
                                      "d": detail, "r": run_id})


def record_copies(con: duckdb.DuckDBPyConnection, archive_id: str, written: Written, lock_mode: str, run_id: int) -> None:
    """The verified copies of an archive (inside the caller's transaction)."""
    for c in written.copies:
        con.execute(sql("dr/record_copy"), {"a": archive_id, "t": c.target.uri, "v": c.verified_at,
                                             "m": lock_mode if c.lock_until else None, "u": c.lock_until, "r": run_id})


def lock_until(purged_as_of: date, dr_days: int) -> datetime:
    """An object's Object Lock retention date: through the end of its partition's DR expiry day (never in the past)."""
    expiry = purged_as_of + timedelta(days=dr_days)
    day = max(expiry, today_utc()) + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=UTC).replace(tzinfo=None)


def copies_of_key(con: duckdb.DuckDBPyConnection, key_id: str) -> list[dict[str, Any]]:
    rel = con.sql(sql("dr/copies_of_key"), params={"k": key_id})
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
