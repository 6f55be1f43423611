"""Analyst SQL: one read-only query on a published store, chosen by the user's permission.

The boundary is the file the query runs on, not the query: a user without
data_protection runs on ``published/analyst.duckdb``, which holds no protected
row, with external access off and the configuration locked (no file, no
ATTACH). However a query is written (``query()`` over ``current_query()``,
statistics functions, a name built at run time), there is nothing protected in
reach. Officers run on ``published/protected.duckdb``, where ``access_log``
also shows the spooled entries not folded yet, with external access off too
(DR archives are read through ``dr restore``); each officer statement is
logged before it runs and again with its outcome, failures included. Every
query is bounded by ``[analyst]`` (time, memory, threads, spill space), locked.

Courtesies on top, not the boundary: a query that names a protected table, or
fails because one is missing, is refused with exit 4 and the refusal logged;
a query read from a file is never quoted back in an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls.catalog import ANALYST_STORE, analyst_data, lake_data
from deletedcalls.errors import PermissionDenied, UsageError
from deletedcalls.published import reading
from deletedcalls.read.access import record_access
from deletedcalls.settings import QueryLimits, Settings
from deletedcalls.spool import spool_frame, spooled_entries
from deletedcalls.sqlfiles import quoted

# Tables and views only the protected store holds: named in the courtesy refusal.
PROTECTED_TABLES = frozenset({"deleted_calls", "access_log", "user_activity_log", "deletion_items", "pending_deletions",
                              "ultravox_calls", "ultravox_files"})


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Query:
    """A query and where it came from (a file's text is never shown back)."""

    text: str
    file: Path | None = None

    def describe(self) -> dict[str, Any]:
        return {"query": self.text, **({"file": str(self.file)} if self.file else {})}


MAX_QUERY_BYTES = 1 << 20


def read_query_file(settings: Settings, path: str) -> Query:
    """The query in a file (``-``: stdin), at most 1 MiB; files of the warehouse home, and anything
    that is not a regular file (a device, a FIFO), are refused unread."""
    import stat
    import sys

    if path == "-":
        return Query(sys.stdin.read(MAX_QUERY_BYTES + 1)[:MAX_QUERY_BYTES + 1])
    file = Path(path)
    home = settings.home.resolve()
    if file.resolve() == home or home in file.resolve().parents:
        raise UsageError(f"sql --file {path}: a file inside the warehouse home is not a query; nothing was read")
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"sql --file {path}: not a regular file; nothing was read")
            if st.st_size > MAX_QUERY_BYTES:
                raise UsageError(f"sql --file {path}: over {MAX_QUERY_BYTES} bytes, so not a query; nothing was read")
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(MAX_QUERY_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as e:
        raise UsageError(f"sql --file {path}: cannot read it ({e.strerror or type(e).__name__})") from e
    try:
        return Query(data.decode("utf-8-sig"), file)
    except UnicodeDecodeError as e:
        raise UsageError(f"sql --file {path}: not UTF-8 text, so not a query; its content is not shown") from e


def _error(q: Query, e: duckdb.Error) -> UsageError:
    """A usage error for a failed query; for a file, the kind of error and its line, never its text."""
    message = " ".join(str(e).split())
    if q.file is None:
        return UsageError(f"sql: {message}")
    kind = message.split(":", 1)[0] if ":" in message else type(e).__name__
    line = re.search(r"LINE (\d+):", str(e))
    at = f" at line {line.group(1)}" if line else ""
    return UsageError(f"sql --file {q.file}: {kind}{at}; the file's content is not shown (is it a SQL query?)")


def _objects(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        tree = list(tree.values())
    if isinstance(tree, list):
        for value in tree:
            yield from _objects(value)


def _named_tables(con: duckdb.DuckDBPyConnection, text: str) -> set[str]:
    """Every base table the query names, from DuckDB's parser (a courtesy check, not the boundary)."""
    ast = json.loads(con.execute("SELECT json_serialize_sql($q)", {"q": text}).fetchall()[0][0])
    return {
        o["table_name"].lower()
        for o in _objects(ast)
        if o.get("type") == "BASE_TABLE" and isinstance(o.get("table_name"), str)
    }


def _single_select(q: Query) -> str:
    try:
        statements = duckdb.extract_statements(q.text)
    except duckdb.Error as e:
        raise _error(q, e) from e
    if len(statements) != 1:
        raise UsageError(f"sql: give exactly one statement, not {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError(f"sql is read-only: only queries are allowed, not {statements[0].type.name}")
    return q.text.strip().rstrip(";")


def run_query(settings: Settings, query: str | Query) -> QueryResult:
    """Run one analyst query as the acting user, on the store that user may read, within [analyst]'s limits."""
    q = query if isinstance(query, Query) else Query(query)
    text = _single_select(q)
    if settings.may_read_deleted_calls:
        return _run_protected(settings, q, text)
    return _run_analyst(settings, q, text)


def _refuse(settings: Settings, q: Query, what: str, **filters: Any) -> PermissionDenied:
    record_access(settings, "sql", {**q.describe(), **filters}, None, allowed=False, reason=f"reads {what}")
    return PermissionDenied(
        f"{settings.user!r} may not run this query: it reads {what}, which needs the data_protection permission; "
        "without it, query deleted_calls_summary for deletions by month, carrier and user"
    )


class QueryStopped(UsageError):
    """A query ran past [analyst] timeout_seconds and was stopped (exit 2)."""


@contextlib.contextmanager
def bounded(con: duckdb.DuckDBPyConnection, limits: QueryLimits, readable: str | list[str] = "", *,
            files: list[str] | None = None) -> Iterator[None]:
    """The connection as every `sql` query gets it: no file outside its own store, [analyst]'s limits, all locked.

    ``files``: the exact files the query may open (DuckDB's ``allowed_paths``, a set lookup of the path as
    written: ``a/../b``, ``a//b``, ``a/./b`` or ``%2e%2e`` is not in it, however the query builds it);
    ``readable``: folders (``allowed_directories``, a string-prefix check that ``..`` passes: the protected store's
    lake data only, which an officer reads anyway).

    Spills go to a private folder of this query alone (removed after it): a
    connection may read its spill folder even with external access off, so no
    two queries share one. The timeout is a timer that interrupts the
    connection (DuckDB has no statement timeout); the query then raises
    QueryStopped.
    """
    spill = tempfile.mkdtemp(prefix="deletedcalls-sql-")  # 0700, this process's user's
    done = threading.Event()

    def stop() -> None:
        if not done.is_set():
            with contextlib.suppress(duckdb.Error):
                con.interrupt()

    try:
        con.execute(f"SET threads = {int(limits.threads)}")
        con.execute(f"SET memory_limit = {quoted(limits.memory_limit)}")  # checked sizes (settings._SIZE)
        con.execute(f"SET temp_directory = {quoted(spill)}")
        con.execute(f"SET max_temp_directory_size = {quoted(limits.max_temp_directory_size)}")
        # the store's own data files and nothing else: the analyst store's calls view reads the files linked into
        # published/data/, the protected store (the lake's catalog) the lake's data/ (issue 28)
        directories = readable if isinstance(readable, list) else [readable] if readable else []
        con.execute("SET allowed_directories = $d", {"d": directories})
        con.execute("SET allowed_paths = $p", {"p": list(files or [])})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        timer = threading.Timer(limits.timeout_seconds, stop)
        timer.daemon = True
        timer.start()
        try:
            yield
        except duckdb.InterruptException as e:
            raise QueryStopped(
                f"sql: stopped after {limits.timeout_seconds} s ([analyst] timeout_seconds in config.toml); "
                "narrow the query (a WHERE, a LIMIT) or ask the warehouse's owner to raise the limit"
            ) from e
        finally:
            done.set()
            timer.cancel()
            timer.join()
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _execute(con: duckdb.DuckDBPyConnection, text: str) -> QueryResult:
    rel = con.execute(text)
    columns = [d[0] for d in rel.description] if rel.description else []
    return QueryResult(columns, rel.fetchall())


def _stopped(settings: Settings, q: Query, e: QueryStopped, store: str, started: str | None = None) -> QueryStopped:
    extra = {"started": started} if started else {}
    record_access(settings, "sql", {**q.describe(), **extra}, None, allowed=True,
                  reason=f"stopped: over {settings.limits.timeout_seconds} s ({store} store)")
    return e


_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_DOT_SEGMENT = re.compile(r"[/\\]\.\.([/\\]|$)|^\.\.[/\\]")  # a '..' segment of a path
# a name in a path the analysts may read: no '.', '..' or hidden name, no '%', '?', '*', '//' (an empty segment)
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_=-][A-Za-z0-9._=-]*")


def _literals(text: str) -> list[str]:
    return [m.replace("''", "'") for m in _LITERAL.findall(text)]


def view_files(con: duckdb.DuckDBPyConnection, root: str) -> list[str]:
    """The files the analyst store's ``calls`` view reads that lie under ``root`` by plain names: the exact
    paths a query on it may open. A path spelled otherwise (``..``, ``.``, ``//``, ``%``) is left out, so the
    view fails on it (refused) rather than open a folder to it. An empty store's ``calls`` is a table: none."""
    rows = con.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND view_name = 'calls'").fetchall()
    if not rows:
        return []
    files = []
    for path in _literals(rows[0][0]):
        rest = path.removeprefix(root) if path.startswith(root) else ""
        if rest and all(_PLAIN_SEGMENT.fullmatch(part) for part in rest.split("/")):
            files.append(path)
    return files


def _run_analyst(settings: Settings, q: Query, text: str) -> QueryResult:
    """On the analyst store, which holds nothing protected; not logged, except refusals and a stopped query."""
    with reading(settings, "analyst") as con:
        # the exact files the store's calls view names, no folder (issue 30: an s3:// prefix let '..' out of it)
        if settings.shared:  # the view reads the copies under the analyst prefix (docs/SECURITY.md, shared layout)
            files = [*view_files(con, analyst_data(settings) + "calls/"), analyst_data(settings) + ANALYST_STORE]
        else:
            files = view_files(con, str(settings.published_dir.resolve() / "data") + "/")
        named = sorted(_named_tables(con, text) & PROTECTED_TABLES)
        if named:
            raise _refuse(settings, q, ", ".join(named))
        if any(_DOT_SEGMENT.search(literal) for literal in _literals(text)):  # a courtesy: the allow-list refuses it too
            raise _refuse(settings, q, "files")
        try:
            with bounded(con, settings.limits, files=files):
                try:
                    return _execute(con, text)
                except duckdb.PermissionException as e:
                    raise _refuse(settings, q, "files") from e
                except duckdb.CatalogException as e:
                    missing = sorted(t for t in PROTECTED_TABLES if re.search(rf"\b{t}\b", str(e).lower()))
                    if missing:
                        raise _refuse(settings, q, ", ".join(missing)) from e
                    raise _error(q, e) from e
                except duckdb.InterruptException:
                    raise
                except duckdb.Error as e:
                    raise _error(q, e) from e
        except QueryStopped as e:
            raise _stopped(settings, q, e, "analyst") from e.__cause__


def _run_protected(settings: Settings, q: Query, text: str) -> QueryResult:
    """On the protected store, logged before it runs and again with its outcome, failures included (SPEC 7).

    The statement's entry is in the spool before DuckDB sees it: a query that
    fails with values in its error (``error(string_agg(target, ';'))``) was
    logged as a read first, and its failure is logged after; the error is shown
    to the officer, whose read it is. Only the kind of a failure is logged,
    never its message (access_log must not become a copy of deleted calls).
    External access is off as for analysts: DR archives are read through
    ``dr restore``, which is logged.
    """
    started: str | None = None
    with reading(settings, "protected") as con:
        readable = lake_data(settings)
        with_spooled_access_log(con, settings)
        try:
            with bounded(con, settings.limits, readable):
                started = record_access(settings, "sql", q.describe(), None, allowed=True, reason="started")
                outcome = {**q.describe(), "started": started}
                try:
                    result = _execute(con, text)
                except duckdb.InterruptException:
                    raise
                except duckdb.PermissionException as e:
                    record_access(settings, "sql", outcome, None, allowed=False, reason="refused: reads files")
                    raise PermissionDenied(
                        "sql: a query reads only the store it runs on, never a file (DR archives: dr restore)") from e
                except duckdb.Error as e:
                    record_access(settings, "sql", outcome, None, allowed=True, reason=f"failed: {type(e).__name__}")
                    raise _error(q, e) from e
                except BaseException:  # Ctrl-C: the outcome is logged as far as it can be
                    with contextlib.suppress(Exception):
                        record_access(settings, "sql", outcome, None, allowed=True, reason="failed: interrupted")
                    raise
        except QueryStopped as e:
            raise _stopped(settings, q, e, "protected", started) from e.__cause__
    # the rows exist only in this process until the outcome is logged too (a spool that fails now returns nothing)
    record_access(settings, "sql", outcome, len(result.rows), allowed=True, reason="ok")
    return result


def with_spooled_access_log(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Make ``access_log`` in this connection the published log plus the spool (a temp view shadows the table)."""
    entries = spooled_entries(settings)
    if not entries:
        return
    store = con.execute("SELECT current_database()").fetchall()[0][0]
    con.register("spooled_frame", spool_frame(entries))
    con.execute("""
        CREATE TEMP TABLE spooled_access AS
        SELECT DISTINCT ON (entryId) * REPLACE (CAST("at" AS TIMESTAMP) AS "at")
        FROM spooled_frame ORDER BY entryId
    """)
    con.unregister("spooled_frame")
    published = f'"{store}".main.access_log'
    con.execute(f"""
        CREATE TEMP VIEW access_log AS
        SELECT * FROM {published}
        UNION ALL BY NAME
        SELECT * FROM spooled_access
        WHERE entryId NOT IN (SELECT entryId FROM {published} WHERE entryId IS NOT NULL)
    """)  # noqa: S608 -- the store's own catalog name (a file stem we chose), no values
