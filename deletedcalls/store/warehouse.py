"""The warehouse home: the writer's DuckDB file, schema migrations, the SQL files and the lock.

One writer at a time: every command that changes the warehouse holds an OS
lock (``flock`` on ``.lock`` in the home) for its whole run. Only writer
commands open ``deletedcalls.duckdb``; readers open the published stores
(``stores.py``), so nobody else ever holds this file. A writer folds the
access spool and publishes both stores before it exits (``writing``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb

from deletedcalls.errors import DeletedCallsError, UsageError, WarehouseBusy
from deletedcalls.fsutil import private_files
from deletedcalls.settings import CONFIG_NAME, DEFAULT_CONFIG, Settings

LOCK_NAME = ".lock"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def utc_now() -> datetime:
    """The current time, UTC, as a naive timestamp (every stored time is UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def sql_dir() -> Path:
    """Where the SQL files are: inside the installed package, else the source tree."""
    package = Path(__file__).parent.parent
    packaged = package / "sql"
    if packaged.is_dir():
        return packaged
    source = package.parent / "sql"
    if source.is_dir():
        return source
    raise RuntimeError("the deletedcalls SQL files are missing from this installation")


@cache
def sql(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return (sql_dir() / f"{name}.sql").read_text(encoding="utf-8")


def migrations() -> list[tuple[int, str]]:
    """Schema migrations in order: (version, file name)."""
    found = []
    for path in sorted((sql_dir() / "schema").glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), path.name))
    return found


def schema_version_required() -> int:
    return migrations()[-1][0]


def _is_lock_error(e: Exception) -> bool:
    return "lock" in str(e).lower() and ("could not set" in str(e).lower() or "conflicting" in str(e).lower())


def connect(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse database; a lock held elsewhere is ``WarehouseBusy``."""
    if not settings.database.exists():
        raise UsageError(
            f"no warehouse at {settings.home}: run `deletedcalls --home {settings.home} init` first"
        )
    try:
        with private_files():
            con = duckdb.connect(str(settings.database), read_only=read_only)
    except duckdb.IOException as e:
        if _is_lock_error(e):
            raise WarehouseBusy(
                f"warehouse {settings.home} is busy: another process has it open; try again later"
            ) from e
        raise
    con.execute("SET preserve_insertion_order = true")
    con.execute(sql("macros/purged_key"))
    return con


@contextlib.contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Hold the warehouse's OS lock, or fail at once with ``WarehouseBusy``."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(settings.home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise WarehouseBusy(
                f"warehouse {settings.home} is busy: another deletedcalls process is running; try again later"
            ) from e
        yield
    finally:
        os.close(fd)


@dataclass
class Session:
    """A writer's connection; a stage that rewrites the database file replaces ``con``."""

    con: duckdb.DuckDBPyConnection
    run_id: int | None = None


@contextlib.contextmanager
def writing(settings: Settings) -> Iterator[Session]:
    """The OS lock plus a read-write connection whose schema is current.

    On the way out (also when the command failed in an expected way, which may
    still have recorded rejected rows or a run) the access spool is folded and
    the stores are published, so readers see what this command did.
    """
    with exclusive(settings):
        from deletedcalls.store.publish import remove_stale_temps
        from deletedcalls.store.retention import finish_interrupted_rewrite

        finish_interrupted_rewrite(settings)
        remove_stale_temps(settings)  # a killed publish's file may hold rows purged since
        remove_stale_deliveries(settings)  # so may a killed load's decompressed text
        session = Session(connect(settings))
        try:
            check_schema(session.con, settings)
            try:
                yield session
            except DeletedCallsError:
                rollback_quietly(session.con)
                publish_state(session.con, settings, session.run_id)
                raise
            publish_state(session.con, settings, session.run_id)
        finally:
            session.con.close()


def remove_stale_deliveries(settings: Settings) -> None:
    """Decompression folders a killed load left in the home (the caller holds the lock: no load is running)."""
    import shutil

    if settings.home.is_dir():
        for stale in settings.home.iterdir():
            if stale.name.startswith(HOME_TEMP_PREFIXES) and stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)


def publish_state(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int | None) -> None:
    """Fold the access spool into access_log, then publish both stores (the caller holds the lock)."""
    from deletedcalls import logs
    from deletedcalls.spool import fold_spool, remove_folded
    from deletedcalls.store.publish import publish

    folded, taken = fold_spool(con, settings)
    done = publish(con, settings, run_id)
    remove_folded(settings, taken)
    how = "extended" if done.incremental else "wrote fresh"
    logs.debug(f"published the analyst and protected stores in {done.seconds:.2f}s ({how})", stage="publish",
               run=run_id, folded=folded, seconds=round(done.seconds, 3), incremental=done.incremental)


@contextlib.contextmanager
def writer(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The OS lock plus a read-write connection whose schema is current."""
    with writing(settings) as session:
        yield session.con


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if not exists or exists[0][0] == 0:
        return 0
    rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(rows[0][0]) if rows else 0


def check_schema(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    have, need = current_version(con), schema_version_required()
    if have < need:
        raise UsageError(
            f"warehouse {settings.home} has schema version {have}, this deletedcalls needs {need}: "
            f"run `deletedcalls --home {settings.home} init` to upgrade it"
        )
    if have > need:
        raise UsageError(
            f"warehouse {settings.home} has schema version {have}, made by a newer deletedcalls "
            f"(this one knows {need}); upgrade deletedcalls"
        )


@dataclass(frozen=True)
class InitResult:
    home: Path
    created: bool
    from_version: int
    to_version: int


def init_warehouse(settings: Settings) -> InitResult:
    """Create the warehouse home, or upgrade its schema; idempotent."""
    home = settings.home
    created = not settings.database.exists()
    refuse_foreign_home(home)
    with private_files():  # everything init creates is owner-only from the start; nothing it did not create is chmod-ed
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings.dr_dir.mkdir(exist_ok=True, mode=0o700)
        return _init_inside(settings, home, created)


def _init_inside(settings: Settings, home: Path, created: bool) -> InitResult:
    """Write the config and create or upgrade the database; a failure keeps nothing half-made (SPEC 2.3)."""
    config = home / CONFIG_NAME
    if not config.exists():  # written whole under a temporary name: a full disk leaves no half config
        tmp = home / CONFIG_TMP
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(DEFAULT_CONFIG)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, config)
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, OSError) and e.filename is None:  # a failed write names no file: name it (exit 7 says where)
                e.filename = str(config)
            raise
    with exclusive(settings):
        fresh = not settings.database.exists()  # decided under the lock: only a database this call made is removed
        try:
            with private_files():
                con = duckdb.connect(str(settings.database))
        except duckdb.IOException as e:
            if _is_lock_error(e):
                raise WarehouseBusy(f"warehouse {home} is busy: another process has it open") from e
            _remove_new_database(settings, fresh)
            raise
        try:
            try:
                before = current_version(con)
                if before > schema_version_required():
                    check_schema(con, settings)
                apply_migrations(con)
                after = current_version(con)
                publish_state(con, settings, None)
            finally:
                con.close()
        except BaseException:
            _remove_new_database(settings, fresh)
            raise
    return InitResult(home=home, created=created, from_version=before, to_version=after)


def _remove_new_database(settings: Settings, fresh: bool) -> None:
    """After a failed init that created the database: remove it, so that the next init starts clean."""
    if fresh:
        for path in (settings.database, settings.database.with_name(settings.database.name + ".wal")):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


# what a warehouse home may hold before init makes or upgrades it (a half-finished init, say)
CONFIG_TMP = f".{CONFIG_NAME}.tmp"
HOME_ENTRIES = frozenset({CONFIG_NAME, CONFIG_TMP, LOCK_NAME, "dr", "deletedcalls.duckdb", "deletedcalls.duckdb.wal", "published", "spool",
                          "profiles", ".deletedcalls.duckdb.rewrite", ".deletedcalls.duckdb.rewrite.wal"})
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
    """Apply every migration newer than the warehouse, each in its own transaction, then the views."""
    have = current_version(con)
    for version, name in migrations():
        if version <= have:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql(f"schema/{name[:-4]}"))
            con.execute(
                "INSERT INTO schema_migrations VALUES ($v, $n, $t)",
                {"v": version, "n": name, "t": utc_now()},
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    con.execute("BEGIN")
    for path in sorted((sql_dir() / "views").glob("*.sql")):
        con.execute(sql(f"views/{path.stem}"))
    con.execute("COMMIT")
    con.execute("CHECKPOINT")


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK after a failure; a connection with no open transaction is fine."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def insert_from(con: duckdb.DuckDBPyConnection, name: str, data: object, query: str, params: dict | None = None) -> None:
    """Run `query` (an INSERT … FROM name) with `data` (a polars frame or Arrow stream) visible as `name`.

    The name is unregistered afterwards, also when the query fails.
    """
    con.register(name, data)
    try:
        con.execute(query, params)
    finally:
        con.unregister(name)


def next_ids(con: duckdb.DuckDBPyConnection, counter: str, count: int) -> int:
    """Reserve ``count`` ids of a counter inside the caller's transaction; returns the first."""
    rows = con.execute(
        "UPDATE counters SET value = value + $n WHERE name = $c RETURNING value", {"n": count, "c": counter}
    ).fetchall()
    if not rows:
        raise RuntimeError(f"counter {counter!r} is missing")
    return int(rows[0][0]) - count + 1
