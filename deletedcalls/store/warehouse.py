"""The writer's store: connecting, the lock, schema migrations, the home's own entries, and the helpers
every writing stage uses (``insert_from``, ``next_ids``, ``rollback_quietly``).

The warehouse is a DuckLake whose catalog is ``deletedcalls.duckdb`` and whose
data files are under ``data/`` (``catalog.py``; the lake's maintenance:
``lake.py``). One writer at a time: every command that changes the warehouse
holds an OS lock (``flock`` on ``.lock`` in the home) for its whole run. Only
writer commands attach the catalog; readers open the published stores
(``published.py``), so nobody else ever holds this file. The session a writer
command runs in (lock, recover, check, fold the spool, publish) is
``session.py``, above this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from deletedcalls.catalog import writer_lock
from deletedcalls.clock import utc_now
from deletedcalls.environment import WRITER_WAY_OUT, damaged_database, is_damaged
from deletedcalls.errors import UsageError, WarehouseBusy
from deletedcalls.settings import CONFIG_NAME, Settings
from deletedcalls.sqlfiles import current_version, pending, schema_version_required, sql, sql_dir
from deletedcalls.store.convert import NEW_CATALOG, NEW_DATA, finish_or_refuse, layout_settled
from deletedcalls.store.lake import SPILL, configure, open_connection

LOCK_NAME = ".lock"


def is_lock_error(e: Exception) -> bool:
    return "lock" in str(e).lower() and ("could not set" in str(e).lower() or "conflicting" in str(e).lower())


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """Attach the warehouse's lake; a lock held elsewhere is ``WarehouseBusy``."""
    if not exists(settings):
        raise UsageError(
            f"no warehouse at {settings.home}: run `deletedcalls --home {settings.home} init` first"
        )
    if not settings.shared and not layout_settled(settings) and not finish_or_refuse(settings):
        raise UsageError(
            f"warehouse {settings.home} has the layout of an older deletedcalls (one DuckDB file): "
            f"run `deletedcalls --home {settings.home} init` to convert it"
        )
    try:
        con = open_connection(settings)
    except duckdb.Error as e:
        if isinstance(e, duckdb.IOException) and is_lock_error(e):
            raise WarehouseBusy(
                f"warehouse {settings.home} is busy: another process has it open; try again later"
            ) from e
        raise undamaged(settings, e) from e
    try:
        current_version(con)  # reads the catalog: a file damaged past its header fails here, not mid-command
    except duckdb.Error as e:
        con.close()
        raise undamaged(settings, e) from e
    return con


def exists(settings: Settings) -> bool:
    """Whether the home is a warehouse: its catalog file, or (shared) a [lake] catalog that init wrote into its config."""
    return settings.shared or settings.database.exists()


def create_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The temporary macros every writer connection has (``sql/macros/``): one definition each."""
    for path in sorted((sql_dir() / "macros").glob("*.sql")):
        con.execute(sql(f"macros/{path.stem}"))


def undamaged(settings: Settings, error: Exception) -> Exception:
    """The error to raise for a DuckDB error met on the warehouse database: exit 6 naming the file and the
    way out when it says the file is damaged (random bytes, 0 bytes, cut short, a bad checksum), else itself.

    The one place a damaged warehouse is told (``connect``, ``session.writing`` and ``init`` use it).
    """
    if is_damaged(error):
        return damaged_database(settings.database, error, WRITER_WAY_OUT)
    return error


@contextlib.contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Hold the warehouse's OS lock (and a shared warehouse's lock in its catalog), or fail at once with ``WarehouseBusy``."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(settings.home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise WarehouseBusy(
                f"warehouse {settings.home} is busy: another deletedcalls process is running; try again later"
            ) from e
        with writer_lock(settings):  # a shared warehouse: the one writer across machines (catalog.py)
            yield
    finally:
        os.close(fd)


@dataclass
class Session:
    """A writer's connection; a stage that rewrites the database file replaces ``con``."""

    con: duckdb.DuckDBPyConnection
    run_id: int | None = None


def remove_stale_deliveries(settings: Settings) -> None:
    """Decompression folders a killed load left in the home (the caller holds the lock: no load is running)."""
    import shutil

    if settings.home.is_dir():
        for stale in settings.home.iterdir():
            if stale.name.startswith(HOME_TEMP_PREFIXES) and stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def check_schema(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    have, need = current_version(con), schema_version_required()
    missing = [v for v, _ in pending(con) if v < have] if have <= need else []
    if have < need or missing:
        lacking = f" without migration {', '.join(f'{v:03d}' for v in missing)}" if missing else ""
        raise UsageError(
            f"warehouse {settings.home} has schema version {have}{lacking}, this deletedcalls needs {need}: "
            f"run `deletedcalls --home {settings.home} init` to upgrade it"
        )
    if have > need:
        raise UsageError(
            f"warehouse {settings.home} has schema version {have}, made by a newer deletedcalls "
            f"(this one knows {need}); upgrade deletedcalls"
        )


# what a warehouse home may hold before init makes or upgrades it (a half-finished init, say)
CONFIG_TMP = f".{CONFIG_NAME}.tmp"
HOME_ENTRIES = frozenset({CONFIG_NAME, CONFIG_TMP, LOCK_NAME, "dr", "deletedcalls.duckdb", "deletedcalls.duckdb.wal", "published", "spool",
                          "profiles", ".deletedcalls.duckdb.rewrite", ".deletedcalls.duckdb.rewrite.wal", "data", SPILL,
                          NEW_CATALOG, NEW_CATALOG + ".wal", NEW_DATA})
# temporary folders of ours that a killed command may leave (decompressed deliveries)
HOME_TEMP_PREFIXES = (".delivery-",)


def refuse_foreign_home(home: Path) -> None:
    """A usage error unless home is new, empty, or already a warehouse (SPEC 2.3): init must not take over other files."""
    if not home.exists():
        return
    if not home.is_dir():
        raise UsageError(f"--home {home} is not a directory; name a new or empty directory")
    if (home / "deletedcalls.duckdb").exists():
        return
    foreign = sorted(p.name for p in home.iterdir() if p.name not in HOME_ENTRIES and not p.name.startswith(HOME_TEMP_PREFIXES))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise UsageError(
            f"--home {home} is not empty and is not a warehouse (it holds {foreign[0]!r}{more}); "
            "init changes nothing there: name a new or empty directory"
        )


def apply_migrations(con: duckdb.DuckDBPyConnection) -> None:
    """Apply every migration the warehouse has not recorded, in number order, each in its own transaction, then the views."""
    create_macros(con)  # a migration may use them (init connects without connect())
    for version, name in pending(con):
        con.execute("BEGIN")
        try:
            con.execute(sql(f"schema/{name[:-4]}"))
            con.execute(
                "INSERT INTO schema_migrations VALUES ($v, $n, $t)",
                {"v": version, "n": name, "t": utc_now()},
            )
            con.execute("COMMIT")
        except Exception:
            rollback_quietly(con)  # a failed COMMIT (a full disk) leaves no transaction to roll back
            raise
    con.execute("BEGIN")
    for path in sorted((sql_dir() / "views").glob("*.sql")):
        con.execute(sql(f"views/{path.stem}"))
    con.execute("COMMIT")
    configure(con)


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK after a failure; a connection with no open transaction is fine."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def insert_from(con: duckdb.DuckDBPyConnection, name: str, data: object, query: str, params: dict | None = None) -> None:
    """Run `query` (an INSERT … FROM name) with `data` (a polars frame or Arrow stream) visible as `name`.

    The name is unregistered afterwards; when the query fails, its error is what propagates (an
    unregister inside the aborted transaction fails too, and would hide it).
    """
    con.register(name, data)
    try:
        con.execute(query, params)
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)
        raise
    con.unregister(name)


def next_ids(con: duckdb.DuckDBPyConnection, counter: str, count: int) -> int:
    """Reserve ``count`` ids of a counter inside the caller's transaction; returns the first."""
    con.execute("UPDATE counters SET value = value + $n WHERE name = $c", {"n": count, "c": counter})
    rows = con.execute("SELECT value FROM counters WHERE name = $c", {"c": counter}).fetchall()  # DuckLake: no RETURNING
    if not rows:
        raise RuntimeError(f"counter {counter!r} is missing")
    return int(rows[0][0]) - count + 1
