"""The writer's session: what every writer command does around its work, and init.

``writing`` (and ``recorded_session``, which adds the run record) is the one
way a command changes the warehouse, in this order:

1. take the OS lock (``flock`` on ``.lock`` in the home): one writer at a time;
2. finish what a killed writer left: a catalog rewrite's temporary copy
   (``lake``), a publish's temporary files (``publish``), a load's
   decompression folders;
3. attach the warehouse's lake, check that its schema is the one this code
   needs, and remove the data files a killed writer left (``lake.remove_orphans``);
4. the command's work (``recorded_session``: inside a run record whose outcome
   follows what happens);
5. on the way out, also after an expected failure: fold the access spool into
   access_log (``fold``), tidy the lake (``lake.tidy``: data files without
   deleted rows, old snapshots and files gone) and publish both stores
   (``publish``), so readers see what the command did.

``init_warehouse`` creates or upgrades the home under the same lock and
publishes the same way. This module sits above the storage modules it uses;
none of them imports it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls import logs
from deletedcalls.clock import utc_now
from deletedcalls.environment import environment_failure
from deletedcalls.errors import DeletedCallsError, ExitCode, UsageError, WarehouseBusy
from deletedcalls.fsutil import private_files
from deletedcalls.settings import CONFIG_NAME, DEFAULT_CONFIG, Settings
from deletedcalls.sqlfiles import current_version, schema_version_required
from deletedcalls.store.convert import convert, finish_or_refuse, is_lake, layout_settled
from deletedcalls.store.fold import fold_spool, remove_folded
from deletedcalls.store.lake import (
    close_lake,
    finish_interrupted_rewrite,
    open_connection,
    remove_orphans,
    tidy,
)
from deletedcalls.store.prefixes import check_catalog, check_homes, check_new, check_own, claim
from deletedcalls.store.publish import publish, remove_stale_temps
from deletedcalls.store.runs import finish_run, mark_interrupted, start_run
from deletedcalls.store.warehouse import (
    CONFIG_TMP,
    Session,
    apply_migrations,
    check_schema,
    connect,
    exclusive,
    is_lock_error,
    refuse_foreign_home,
    remove_stale_deliveries,
    rollback_quietly,
    undamaged,
)


@contextlib.contextmanager
def writing(settings: Settings) -> Iterator[Session]:
    """The OS lock plus a read-write connection whose schema is current.

    On the way out (also when the command failed in an expected way, which may
    still have recorded rejected rows or a run) the access spool is folded and
    the stores are published, so readers see what this command did.
    """
    with exclusive(settings):
        finish_interrupted_rewrite(settings)
        remove_stale_temps(settings)  # a killed publish's file may hold rows purged since
        remove_stale_deliveries(settings)  # so may a killed load's decompressed text
        started = utc_now()
        session = Session(connect(settings))
        try:
            check_schema(session.con, settings)
            if settings.shared:
                check_own(session.con, settings)  # never clean a prefix another warehouse marked (store/prefixes.py)
            remove_orphans(session.con)  # a killed writer's uncommitted files (nobody else writes: we hold the lock)
            try:
                yield session
            except DeletedCallsError as failure:
                rollback_quietly(session.con)
                try:
                    publish_state(session.con, settings, session.run_id, started)
                except Exception as e:  # the command's own failure is what to report (a full disk fails both)
                    logs.warning(f"could not publish after the failure: {' '.join(str(e).split())[:200]}", stage="publish")
                    raise failure from e
                raise
            publish_state(session.con, settings, session.run_id, started)
        except duckdb.Error as e:  # a block of the database found damaged mid-command: exit 6, not a bug
            damage = undamaged(settings, e)
            if damage is e:
                raise
            raise damage from e
        finally:
            close_lake(session.con)


def publish_state(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int | None, started: datetime) -> None:
    """Fold the access spool into access_log, tidy the lake, then publish both stores (the caller holds the lock).

    ``started``: when the command began; files superseded before it are removed now, the
    ones it superseded by the next command (readers may hold the previous catalog copy).
    """
    folded, taken = fold_spool(con, settings)
    tidied = tidy(con, started)
    done = publish(con, settings, run_id)
    remove_folded(settings, taken)
    logs.debug(f"tidied the lake and published the analyst and protected stores in {done.seconds:.2f}s", stage="publish",
               run=run_id, folded=folded, seconds=round(done.seconds, 3), files=done.files, **tidied)


@contextlib.contextmanager
def writer(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The OS lock plus a read-write connection whose schema is current."""
    with writing(settings) as session:
        yield session.con


@dataclass(frozen=True)
class InitResult:
    home: Path
    created: bool
    from_version: int
    to_version: int


def init_warehouse(settings: Settings, *, catalog: str | None = None, data: str | None = None) -> InitResult:
    """Create the warehouse home, or upgrade its schema; idempotent.

    ``catalog`` and ``data`` (``init --catalog URL --data URI``): a home of a shared warehouse, recorded in
    its config.toml's [lake]; a second home made with the same two is the same warehouse (``catalog.py``).
    """
    home = settings.home
    refuse_foreign_home(home)
    settings = shared_settings(settings, catalog, data)
    created = not settings.database.exists()
    if settings.shared:
        return _init_shared(settings, home, lake_config(settings))
    with private_files():  # everything init creates is owner-only from the start; nothing it did not create is chmod-ed
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings.dr_dir.mkdir(exist_ok=True, mode=0o700)
        return _init_inside(settings, home, created)


def _init_inside(settings: Settings, home: Path, created: bool, text: str = DEFAULT_CONFIG) -> InitResult:
    """Write the config and create or upgrade the database; a failure keeps nothing half-made (SPEC 2.3)."""
    write_config(home, text)
    with exclusive(settings):
        fresh = not settings.database.exists()  # decided under the lock: only a database this call made is removed
        # init looks inside the file (a home can hold an old-layout file beside a data/ folder); other commands trust the layout
        if not fresh and _old_layout(settings) and not finish_or_refuse(settings):
            convert(settings)  # a home of the old layout: converted, verified, swapped in (store/convert.py)
        started = utc_now()
        try:
            con = open_connection(settings)
        except duckdb.Error as e:
            if isinstance(e, duckdb.IOException) and is_lock_error(e):
                raise WarehouseBusy(f"warehouse {home} is busy: another process has it open") from e
            _remove_new_database(settings, fresh)
            raise undamaged(settings, e) from e
        try:
            before, after = _migrate_and_publish(con, settings, started)
        except duckdb.Error as e:
            _remove_new_database(settings, fresh)
            damage = undamaged(settings, e)
            if damage is e:
                raise
            raise damage from e
        except BaseException:
            _remove_new_database(settings, fresh)
            raise
    return InitResult(home=home, created=created, from_version=before, to_version=after)


def write_config(home: Path, text: str) -> None:
    """config.toml, when the home has none: written whole under a temporary name (a full disk leaves no half config)."""
    config = home / CONFIG_NAME
    if not config.exists():
        tmp = home / CONFIG_TMP
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, config)
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, OSError) and e.filename is None:  # a failed write names no file: name it (exit 7 says where)
                e.filename = str(config)
            raise


def shared_settings(settings: Settings, catalog: str | None, data: str | None) -> Settings:
    """The settings of the warehouse init makes: --catalog and --data checked, and agreeing with the home's config."""
    if catalog is None and data is None:
        return settings
    from dataclasses import replace

    from deletedcalls.settings import check_lake

    check_lake("init", {"catalog": catalog or "", "data": data or ""})
    if settings.shared and (settings.lake_catalog, settings.lake_data) != (catalog, data):
        raise UsageError(f"{settings.config_path} has [lake] catalog {settings.lake_catalog!r} and data {settings.lake_data!r}: "
                         "init does not move a warehouse; name those, or a new home")
    if not settings.shared and (settings.database.exists() or settings.config_path.exists()):
        raise UsageError(f"warehouse {settings.home} keeps its tables in its home; init does not move them to a shared "
                         "catalog (docs/SCALE.md): name a new home")
    return replace(settings, lake_catalog=catalog or "", lake_data=data or "")


def lake_config(settings: Settings) -> str:
    """The default config.toml with the shared warehouse's [lake] catalog and data (no secret: see check_lake)."""
    import json

    text = DEFAULT_CONFIG.replace('\ncatalog = ""\ndata = ""\n',
                                  f"\ncatalog = {json.dumps(settings.lake_catalog)}\ndata = {json.dumps(settings.lake_data)}\n", 1)
    if text == DEFAULT_CONFIG:
        raise RuntimeError("the default config has no [lake] catalog and data lines")
    return text


def _migrate_and_publish(con: duckdb.DuckDBPyConnection, settings: Settings, started: datetime) -> tuple[int, int]:
    """init's work on an open lake (closed on the way out): refuse a newer schema, migrate, publish; the
    schema versions before and after."""
    try:
        before = current_version(con)
        if before > schema_version_required():
            check_schema(con, settings)
        apply_migrations(con)
        after = current_version(con)
        if settings.shared:
            claim(con, settings)  # the data prefix is this warehouse's, before anything there is tidied
        publish_state(con, settings, None, started)
    finally:
        close_lake(con)
    return before, after


def _init_shared(settings: Settings, home: Path, text: str) -> InitResult:
    """A home of a shared warehouse: its prefixes checked (``prefixes``), its config, then the catalog created or
    upgraded under the writer lock, the data prefix marked as its own, and published.

    The checks come before anything is written; a failure after them (a catalog that stops answering, a prefix
    claimed meanwhile) removes the config and whatever else this call made in the home, so the same command
    completes once the cause is fixed (issue 30, finding 7)."""
    check_homes(settings)
    if not check_catalog(settings):  # a new warehouse (exit 7 here when nobody answers: nothing written yet)
        check_new(settings)
    made = _made_here(home)
    try:
        with private_files():  # everything init creates is owner-only from the start
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            settings.dr_dir.mkdir(exist_ok=True, mode=0o700)
            write_config(home, text)
            with exclusive(settings):
                started = utc_now()
                before, after = _migrate_and_publish(open_connection(settings), settings, started)
    except BaseException:
        _remove_made(home, made)
        raise
    return InitResult(home=home, created=before == 0, from_version=before, to_version=after)


def _made_here(home: Path) -> frozenset[str] | None:
    """What the home held before init (None: there was no home): init removes only what it added."""
    return frozenset(p.name for p in home.iterdir()) if home.is_dir() else None


def _remove_made(home: Path, before: frozenset[str] | None) -> None:
    """After a failed shared init: remove the entries of the home this call made, and the home if it made it.
    A home that held a config before (a second init of a working home) is left as it was."""
    import shutil

    if before is not None and CONFIG_NAME in before:
        return
    with contextlib.suppress(OSError):
        for entry in home.iterdir():
            if before is None or entry.name not in before:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        if before is None:
            home.rmdir()


def _old_layout(settings: Settings) -> bool:
    """Whether the home's database is a warehouse of the single-file layout (init converts it); a damaged one is exit 6."""
    try:
        return not layout_settled(settings) or not is_lake(settings.database)
    except duckdb.Error as e:
        raise undamaged(settings, e) from e


def _remove_new_database(settings: Settings, fresh: bool) -> None:
    """After a failed init that created the database: remove it, so that the next init starts clean."""
    if fresh:
        import shutil

        for path in (settings.database, settings.database.with_name(settings.database.name + ".wal")):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        shutil.rmtree(settings.data_dir, ignore_errors=True)


@contextlib.contextmanager
def recorded_run(settings: Settings, command: str) -> Iterator[tuple[Any, int, dict[str, Any]]]:
    """A writer connection plus a run record whose outcome follows what happens inside."""
    with recorded_session(settings, command) as (session, run_id, counts):
        yield session.con, run_id, counts


@contextlib.contextmanager
def recorded_session(settings: Settings, command: str) -> Iterator[tuple[Any, int, dict[str, Any]]]:
    """As recorded_run, but yields the Session, whose connection a stage may replace."""
    with writing(settings) as session:
        mark_interrupted(session.con)
        run_id = start_run(session.con, command, settings.user)
        session.run_id = run_id
        counts: dict[str, Any] = {}
        try:
            yield session, run_id, counts
        except DeletedCallsError as e:
            outcome = "rejected" if e.exit_code == ExitCode.INPUT_REJECTED else "failed"
            with contextlib.suppress(Exception):
                session.con.execute("ROLLBACK")
            finish_run(session.con, run_id, outcome, int(e.exit_code), counts, e.one_line())
            raise
        except BaseException as e:
            with contextlib.suppress(Exception):
                session.con.execute("ROLLBACK")
            failure = environment_failure(e, settings.home) if isinstance(e, Exception) else None
            code, text = (failure.exit_code, failure.one_line()) if failure else (ExitCode.UNEXPECTED, f"{type(e).__name__}: {e}")
            with contextlib.suppress(Exception):
                finish_run(session.con, run_id, "failed", int(code), counts, text)
            raise
        finish_run(session.con, run_id, "ok", 0, counts)
