"""The published stores: where they are, and opening one read-only (SPEC 7).

Readers (``read/``, ``http/``, the read-only commands) open only these two
files, never the writer's ``deletedcalls.duckdb`` nor its lock; the writer
writes them (``store/publish.py``). This module is all that the two sides
share of them, with the access spool (``spool.py``).

- ``published/analyst.duckdb``: the tables analysts may query (no deleted
  call, access-log or deletion entry), a plain DuckDB file; its ``calls`` is a
  view over the calls files linked into ``published/data/``;
- ``published/protected.duckdb``: a copy of the lake's catalog, everything, for
  officers through the tool; attached read-only over the lake's data files
  (``catalog.py``), with the ducklake extension.
- ``published/pages/``: the officers' page store (owner-only), each deleted month's
  deleted calls as a DuckDB file sorted by id, named by ``manifest.json``. A
  reader of the protected store sees ``deleted_calls`` through them (``attach_pages``):
  a page of 100 reads a few DuckDB blocks (~2 ms) instead of 35 Parquet column
  chunks through the catalog (~8-10 ms). Not on a shared warehouse, whose readers
  attach the catalog itself.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import duckdb

from deletedcalls.catalog import (
    ANALYST_STORE,
    analyst_data,
    attach,
    connection,
    published_lake,
    storage_failure,
    unreachable,
)
from deletedcalls.environment import damaged_database, is_damaged
from deletedcalls.errors import EnvironmentFailure, IntegrityFailure, UsageError
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import current_version, quoted, schema_version_required

Store = Literal["analyst", "protected"]
# The officers' page store: a folder of published/, its manifest naming the current file of each deleted month.
PAGES = "pages"
MANIFEST = "manifest.json"
STORES: tuple[Store, ...] = ("analyst", "protected")


def store_path(settings: Settings, store: Store) -> Path:
    return settings.published_dir / f"{store}.duckdb"


@contextlib.contextmanager
def reading(settings: Settings, store: Store) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a published store; it never touches the writer's database or lock."""
    con = open_store(settings, store)
    try:
        yield con
    except duckdb.Error as e:  # a block found damaged while it is read
        if is_damaged(e):
            raise damaged_store(settings, store, e) from e
        raise
    finally:
        con.close()


def open_store(settings: Settings, store: Store) -> duckdb.DuckDBPyConnection:
    path = store_path(settings, store)
    if not path.exists() and not (settings.shared and store == "protected"):
        if not (settings.shared or settings.database.exists()):
            raise UsageError(f"no warehouse at {settings.home}: run `deletedcalls --home {settings.home} init` first")
        raise UsageError(
            f"nothing is published in {settings.home} yet: run `deletedcalls --home {settings.home} init` (as the warehouse's owner)"
        )
    try:
        con = _open(settings, store, path)
    except duckdb.Error as e:  # the protected store is attached as a lake: a damaged one fails in ATTACH
        from deletedcalls.errors import PermissionDenied

        if "permission denied" in str(e).lower():
            raise PermissionDenied(f"{path} cannot be opened by this user: {store} store access is not granted") from e
        if is_damaged(e):
            raise damaged_store(settings, store, e) from e
        raise
    try:
        have, need = current_version(con), schema_version_required()
    except duckdb.Error as e:
        con.close()
        if is_damaged(e):
            raise damaged_store(settings, store, e) from e
        raise
    if have != need:
        con.close()
        raise UsageError(
            f"the published {store} store of {settings.home} has schema version {have}, this deletedcalls needs {need}: "
            f"run `deletedcalls --home {settings.home} init` to upgrade and publish"
        )
    return con


def _open(settings: Settings, store: Store, path: Path) -> duckdb.DuckDBPyConnection:
    if store == "analyst" and not settings.shared:
        return duckdb.connect(str(path), read_only=True)
    con = connection(settings, catalog=store == "protected")  # analysts: no postgres extension (catalog.connection)
    try:
        if store == "analyst":  # the last writer's store, in the analysts' prefix (s3:// needs httpfs and the secret)
            where = analyst_data(settings) + ANALYST_STORE
            try:
                con.execute(f"ATTACH {quoted(where)} AS analyst (READ_ONLY)")
            except duckdb.Error as e:  # init published it there: a bucket, a prefix or credentials that do not serve
                if not where.startswith("s3://") or is_damaged(e):
                    raise
                raise storage_failure(e, settings.home) or EnvironmentFailure(
                    f"cannot open the analysts' store {where} of {settings.home}: not there (a bucket or prefix that "
                    "does not exist?); fix the location and run the same command again") from e
            con.execute("USE analyst")
            return con
        try:
            attach(con, published_lake(settings), "protected", read_only=True)
        except duckdb.Error as e:
            if settings.shared and not isinstance(e, duckdb.CatalogException):
                raise unreachable(settings, e) from e
            raise
        con.execute("USE protected")
        if not settings.shared:
            attach_pages(con, settings.published_dir)
    except BaseException:
        con.close()
        raise
    return con


def damaged_store(settings: Settings, store: Store, error: Exception) -> IntegrityFailure:
    """Exit 6 for a damaged published store: the writer's database is whole, and the next writer command
    publishes the store again. The one place a damaged store is told (``open_store``, ``reading``)."""
    return damaged_database(
        store_path(settings, store), error,
        "the warehouse itself is not harmed: the next writer command publishes the store again "
        f"(for example `deletedcalls --home {settings.home} materialise`, as the warehouse's owner)",
    )


def published_state(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """When the store a reader holds was published, and by which run."""
    rows = con.execute('SELECT publishedAt, runId, schemaVersion FROM published_info').fetchall()
    at, run, version = rows[0]
    return {"publishedAt": at, "runId": run, "schemaVersion": version}


def attach_pages(con: duckdb.DuckDBPyConnection, published_dir: Path, *, tries: int = 3) -> str | None:
    """Let ``deleted_calls`` on this connection be the page store's months, attached read-only: a temp view that
    shadows the lake's table of the protected store, as ``access_log``'s does (``read.analyst``). Returns the
    view's statement, which each cursor of the connection runs too (temp objects are a connection's own), or None
    when nothing is paged (no manifest: a store published before pages existed, or no deleted call; the lake's
    table is read).

    A publish replaces the manifest before it removes the files it no longer names; a reader that read the
    previous manifest and finds a file gone reads the manifest again.
    """
    manifest = published_dir / PAGES / MANIFEST
    for attempt in range(tries):
        try:
            months = json.loads(manifest.read_text())["months"]
        except FileNotFoundError:
            return None
        if not months:
            return None
        aliases = []
        try:
            for k, (_, name) in enumerate(sorted(months.items())):
                alias = f"page_{k}"
                con.execute(f"ATTACH {quoted(str(published_dir / PAGES / name))} AS {alias} (READ_ONLY)")
                aliases.append(alias)
        except duckdb.Error as e:  # a file the manifest names is gone (replaced since it was read) or damaged
            for alias in aliases:
                con.execute(f"DETACH {alias}")
            if attempt == tries - 1:
                raise damaged_database(
                    manifest, e, "the lake itself is not harmed: the next writer command publishes the page store "
                    f"again (for example `deletedcalls --home {published_dir.parent} materialise`, as the warehouse's owner)",
                ) from e
            continue
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {a}.deleted_calls" for a in aliases)  # noqa: S608 -- our aliases
        view = f"CREATE OR REPLACE TEMP VIEW deleted_calls AS {union}"
        con.execute(view)
        return view
    return None
