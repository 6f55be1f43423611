"""The writer's lake: opening it, its table options, and the maintenance every writer command ends with (issue 28).

Where the catalog and the data files are is ``catalog.py``; this module is what
the writer does with them. What each maintenance step is for:

- ``remove_orphans`` (at the start of every writer command, under the lock): a
  writer killed mid-transaction leaves Parquet files that no snapshot names;
  nothing else is writing, so every file the catalog does not know is one.
- ``tidy`` (at the end of every writer command, before publishing):
  1. ``ducklake_rewrite_data_files(delete_threshold => 0)``: a DELETE or UPDATE
     in DuckLake writes a delete file and leaves the row's bytes in its data
     file; each data file with deletes is rewritten without them, so the live
     calls files hold only live calls (what lets analysts read them directly);
  2. ``ducklake_expire_snapshots``: only the current snapshot is kept (the
     product's history is its own tables: runs, retention events, DR archives);
  3. versions of inlined rows (small tables kept inside the catalog) that no
     kept snapshot sees are deleted (``drop_ended_inlined_rows``);
  4. ``ducklake_cleanup_old_files``: files superseded by an earlier command are
     deleted, those superseded by this one only by the next command, because
     the published catalog copy that readers hold until this command publishes
     may still name them; after a purge every superseded file goes at once
     (erasure wins; a reader on the old copy gets an error and retries);
  5. compaction of a table whose month folders hold many small files.
- ``erase`` (after a purge): table-level column statistics (all-time min/max
  per column, phone numbers among them) are forgotten, and the catalog file is
  rewritten, because a DuckDB file keeps freed blocks with their old bytes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls.catalog import (
    attach,
    connection,
    metadata,
    unreachable,
    vacuum_catalog,
    writer_lake,
)
from deletedcalls.errors import WarehouseBusy
from deletedcalls.fsutil import crash_point, fsync_path, private_files
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import quoted, sql, sql_dir

ALIAS = "lake"
# Tables whose rows are always Parquet files (never inlined into the catalog): analysts read the calls files
# themselves, a purge drops deleted_calls files, and the key index is scanned as files.
NOT_INLINED = ("calls", "deleted_calls", "call_keys")
# Inserts of up to this many rows into other tables stay inside the catalog (bookkeeping changes every command;
# as files, each UPDATE would leave a delete file and a new file behind).
INLINE_ROWS = 1000
# A table is compacted when one of its month folders holds more files than this (a night adds one file per
# loaded CDR file to the current month): reading many small files costs more than rewriting them once.
MAX_FILES_PER_FOLDER = 64
# deleted_calls is read a page at a time (keyset pages of up to 1,000 by id, one call by id): a page decodes whole
# row groups of every column of the data files whose id range it falls in, and a query pays for every row group of
# every file it opens. Measured on 10M deleted calls (docs/DECISIONS.md, "Readers on the lake"): row groups of 16,384
# rows in files of at most ~8 MB (about 500,000 rows) read a page in ~4-6 ms of data, against ~25 ms from one file of
# DuckLake's defaults (122,880-row groups, 512 MB files). Compaction (``tidy``) and conversion keep files that size.
READ_BY_PAGE = {"deleted_calls": {"parquet_row_group_size": "16384", "target_file_size": "'8MB'"}}
SPILL = ".spill"


def open_lake(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A connection with the writer's lake attached as ``lake`` and in use (the caller holds the lock)."""
    spill = settings.home / SPILL
    con = connection(settings)
    try:
        with private_files():
            spill.mkdir(exist_ok=True, mode=0o700)
            if not settings.shared:
                settings.data_dir.mkdir(exist_ok=True, mode=0o700)
            try:
                attach(con, writer_lake(settings), ALIAS)
            except duckdb.Error as e:
                if settings.shared and not isinstance(e, duckdb.CatalogException):
                    raise unreachable(settings, e) from e
                raise
        con.execute(f"SET temp_directory = {quoted(spill)}")  # never the working directory: spilled rows are personal data
        con.execute(f"USE {ALIAS}")
    except BaseException:
        close_lake(con)  # see close_lake
        raise
    return con


def close_lake(con: duckdb.DuckDBPyConnection) -> None:
    """Detach the lake, then close the connection.

    A DuckDB instance lives while any object of it does (a relation, a registered
    Arrow stream); after a failure, a kept traceback (a host process, a test runner)
    holds such objects, and with them the catalog file attached: the next command in
    the same process could not attach it ("already attached"). Detaching first lets
    the file go whatever else lives.
    """
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")
    with contextlib.suppress(duckdb.Error):
        con.execute("USE memory")
        con.execute(f"DETACH {ALIAS}")
    con.close()


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """The lake's options (idempotent): zstd Parquet, what is inlined into the catalog and what never is, and the
    smaller row groups and files of the tables read a page at a time (``READ_BY_PAGE``)."""
    con.execute(f"CALL {ALIAS}.set_option('parquet_compression', 'zstd')")
    # per table: the lake-wide data_inlining_row_limit crashes duckdb 1.5.5 once the lake holds a view (segfault)
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = $c AND table_type = 'BASE TABLE'", {"c": ALIAS}
    ).fetchall()]
    never = set(NOT_INLINED) | _nested_on_postgres(con)
    for table in sorted(tables):
        rows = 0 if table in never else INLINE_ROWS
        con.execute(f"CALL {ALIAS}.set_option('data_inlining_row_limit', {rows}, table_name => {quoted(table)})")
        for option, value in READ_BY_PAGE.get(table, {}).items():
            con.execute(f"CALL {ALIAS}.set_option({quoted(option)}, {value}, table_name => {quoted(table)})")


def _nested_on_postgres(con: duckdb.DuckDBPyConnection) -> set[str]:
    """On a PostgreSQL catalog, the tables with a STRUCT or MAP column: duckdb 1.5.5 aborts the process reading
    such rows inlined there (``ultravox_calls.ultravox``: "Attempted to access index 0 within vector of size
    0"), so they are always files. A DuckDB-file catalog inlines them fine."""
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = $a", {"a": ALIAS}).fetchall()
    if not path or not str(path[0][0]).startswith("postgres:"):
        return set()
    rows = con.execute(
        "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_catalog = $c "
        "AND (data_type LIKE 'STRUCT%' OR data_type LIKE 'MAP%' OR data_type LIKE '%MAP(%')", {"c": ALIAS}
    ).fetchall()
    return {r[0] for r in rows}


def remove_orphans(con: duckdb.DuckDBPyConnection) -> int:
    """Files under data/ that no snapshot names: what a killed writer left (the caller holds the lock)."""
    return len(con.execute(f"CALL ducklake_delete_orphaned_files({quoted(ALIAS)}, cleanup_all => true)").fetchall())


def tidy(con: duckdb.DuckDBPyConnection, started: datetime, *, erase: bool = False) -> dict[str, int]:
    """The maintenance after a writer command's work (see the module's docstring); returns what it did."""
    done = {"rewritten": 0, "removed": 0, "compacted": 0, "versions": 0}
    rewritten = con.execute(f"CALL ducklake_rewrite_data_files({quoted(ALIAS)}, delete_threshold => 0)").fetchall()
    done["rewritten"] = sum(int(r[2]) for r in rewritten) if rewritten and len(rewritten[0]) > 2 else len(rewritten)
    crash_point("tidy-rewritten")
    for table in _crowded_tables(con):
        con.execute(f"CALL ducklake_merge_adjacent_files({quoted(ALIAS)}, {quoted(table)})").fetchall()
        done["compacted"] += 1
    con.execute(f"CALL ducklake_expire_snapshots({quoted(ALIAS)}, older_than => now())").fetchall()
    done["versions"] = drop_ended_inlined_rows(con)
    crash_point("tidy-expired")
    if erase:
        removed = con.execute(f"CALL ducklake_cleanup_old_files({quoted(ALIAS)}, cleanup_all => true)").fetchall()
    else:
        removed = con.execute(
            f"CALL ducklake_cleanup_old_files({quoted(ALIAS)}, older_than => $t)", {"t": started}
        ).fetchall()
    done["removed"] = len(removed)
    return done


def _crowded_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables with a folder (month) of more than MAX_FILES_PER_FOLDER data files."""
    rows = con.execute(f"""
        SELECT t.table_name
        FROM {metadata(ALIAS)}.ducklake_data_file AS f
        JOIN {metadata(ALIAS)}.ducklake_table AS t ON t.table_id = f.table_id AND t.end_snapshot IS NULL
        WHERE f.end_snapshot IS NULL
        GROUP BY t.table_name, f.partition_id, parse_dirpath(f.path)
        HAVING count(*) > $n
    """, {"n": MAX_FILES_PER_FOLDER}).fetchall()  # noqa: S608 -- the catalog's own schema name
    return sorted({r[0] for r in rows})


def forget_column_statistics(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the table-level statistics of every column: all-time min/max, phone numbers of purged rows among them.

    DuckLake keeps them per table (not per file) and only widens them. They are deleted, not set to NULL:
    a NULL min/max reads as "no value in this column", and the planner then prunes every filter on it (an
    UPDATE of counters matched no row). Without a row the column's statistics are unknown, which costs only
    planning precision (files are still pruned by their own statistics). An edit of the catalog's own table
    (format 1.0), in its own transaction.
    """
    con.execute(f"DELETE FROM {metadata(ALIAS)}.ducklake_table_column_stats")  # noqa: S608 -- the catalog's own schema


def drop_ended_inlined_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Remove the versions of inlined rows that no kept snapshot can see; returns how many.

    A small table's rows live inside the catalog (inlined); an UPDATE or DELETE there only sets the old
    version's ``end_snapshot``, and ``ducklake_expire_snapshots`` (1.5.5) leaves those versions in place: a
    purged duplicate's raw line would stay, and the counters table would grow by a row per command. Once the
    snapshots before the oldest kept one are expired, a version that ended by then is invisible to every
    snapshot: it is deleted, in its own transaction on the catalog.
    """
    md = metadata(ALIAS)
    oldest = con.execute(f"SELECT min(snapshot_id) FROM {md}.ducklake_snapshot").fetchall()[0][0]  # noqa: S608
    removed = 0
    for (name,) in con.execute(f"SELECT DISTINCT table_name FROM {md}.ducklake_inlined_data_tables ORDER BY 1").fetchall():  # noqa: S608
        # (the catalog's own tables are not listed by duckdb_tables(): a table dropped since is skipped by its error)
        if oldest is None or not re.fullmatch(r"ducklake_inlined_data_\d+_\d+", name):
            continue
        try:
            n = con.execute(
                f'SELECT count(*) FROM {md}."{name}" WHERE end_snapshot IS NOT NULL AND end_snapshot <= $o', {"o": oldest}  # noqa: S608
            ).fetchall()[0][0]
        except duckdb.CatalogException:
            continue
        if n:
            con.execute(f'DELETE FROM {md}."{name}" WHERE end_snapshot IS NOT NULL AND end_snapshot <= $o', {"o": oldest})  # noqa: S608
            removed += int(n)
    return removed


def rewrite_catalog(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[duckdb.DuckDBPyConnection, WarehouseBusy | None]:
    """Rewrite the catalog file so that none of its freed blocks keeps a purged byte; returns a new connection.

    Copy every table of the catalog into a new file (COPY FROM DATABASE writes only live rows), fsync, swap it
    in atomically. The caller holds the lock; ``con`` is closed.

    A shared catalog (PostgreSQL) is not a file of ours: with no transaction of this process open on it, its
    DuckLake tables are rewritten by PostgreSQL's VACUUM FULL (``catalog.vacuum_catalog``; docs/SCALE.md,
    "Erasure on the catalog"). When readers held a table through every try, the new connection comes back with
    the ``WarehouseBusy`` to report (the caller leaves the erasure for the next retention run): a connection is
    always handed back, so that the command ends as any busy one does (exit 5), never on a closed connection.
    """
    if settings.shared:
        close_lake(con)
        postponed = None
        try:
            vacuum_catalog(settings)
        except WarehouseBusy as e:
            postponed = e
        return open_connection(settings), postponed
    db = settings.database
    tmp = db.with_name(f".{db.name}.rewrite")
    for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
        stale.unlink(missing_ok=True)
    con.execute(f"CHECKPOINT {metadata(ALIAS)}")
    close_lake(con)
    wal = db.with_name(db.name + ".wal")
    m = duckdb.connect()
    try:
        m.execute(f"ATTACH {quoted(db)} AS old (READ_ONLY)")
        with private_files():
            m.execute(f"ATTACH {quoted(tmp)} AS new")
        m.execute("COPY FROM DATABASE old TO new")
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
    return open_connection(settings), None


def open_connection(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The writer's connection as every command gets it: the lake in use and the macros made."""
    con = open_lake(settings)
    try:
        con.execute("SET preserve_insertion_order = true")
        for path in sorted((sql_dir() / "macros").glob("*.sql")):  # the temporary macros every writer connection has
            con.execute(sql(f"macros/{path.stem}"))
    except BaseException:
        close_lake(con)
        raise
    return con


def finish_interrupted_rewrite(settings: Settings) -> None:
    """A killed catalog rewrite leaves only a stray temporary copy: remove it (the erasure is redone)."""
    db = settings.database
    for stale in (db.with_name(f".{db.name}.rewrite"), db.with_name(f".{db.name}.rewrite.wal")):
        stale.unlink(missing_ok=True)


def data_files(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[Any, Any]]:
    """The current data files of a table, each with its delete file (None once rewritten): paths, or the
    URIs themselves (``s3://…``) when the data files are on object storage (a Path would fold its ``//``)."""
    rows = con.execute(
        "SELECT data_file, delete_file FROM ducklake_list_files($c, $t) ORDER BY data_file", {"c": ALIAS, "t": table}
    ).fetchall()
    return [(file_ref(d), file_ref(x) if x else None) for d, x in rows]


def file_ref(name: str) -> Path | str:
    return name if "://" in name else Path(name)


def walk_files(folder: Path) -> Iterator[Path]:
    """Every regular file under a folder (none when it does not exist)."""
    if folder.is_dir():
        for root, _, names in os.walk(folder):
            for name in names:
                yield Path(root) / name
