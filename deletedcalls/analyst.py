"""Analyst SQL: one read-only query, with the data_protection rule enforced on what it actually reads.

The query must be a single SELECT (DESCRIBE, SHOW, SUMMARIZE and FROM-first
queries are SELECTs too). It runs inside a transaction that is always rolled
back. Before it runs, DuckDB binds it (EXPLAIN, which executes nothing) and
we walk the plan: every table it scans and every table function it calls must
be on the allow-list for the acting user. This sees through views, CTEs and
``query_table('...')``, which a text check would miss; the tables the parser
names are added, because the optimiser answers some queries from statistics
and leaves no scan in the plan. Users without
data_protection also get a connection that cannot reach files or attach
databases (``enable_external_access = false``, configuration locked).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from deletedcalls.access import record_access
from deletedcalls.errors import PermissionDenied, UsageError
from deletedcalls.settings import Settings
from deletedcalls.warehouse import writer

# Tables that hold deleted-call data or who read it: data_protection only.
PROTECTED_TABLES = frozenset({"deleted_calls", "access_log"})
# Table functions anyone may call: they read no data of the warehouse or of files.
SAFE_FUNCTIONS = frozenset({
    "RANGE", "GENERATE_SERIES", "UNNEST", "UNNEST_FUNCTION",
    "DUCKDB_TABLES", "DUCKDB_VIEWS", "DUCKDB_COLUMNS", "DUCKDB_SCHEMAS", "DUCKDB_TYPES", "DUCKDB_FUNCTIONS",
    "DUCKDB_CONSTRAINTS", "DUCKDB_INDEXES", "DUCKDB_KEYWORDS", "DUCKDB_SETTINGS", "DUCKDB_DATABASES",
    "PRAGMA_TABLE_INFO", "PRAGMA_SHOW", "SHOW_TABLES", "SUMMARY", "DESCRIBE",
})


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    sources: list[str]


def _objects(tree: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a parsed JSON tree (a plan or a syntax tree), depth first."""
    if isinstance(tree, dict):
        yield tree
        tree = list(tree.values())
    if isinstance(tree, list):
        for value in tree:
            yield from _objects(value)


def _plan_sources(plan: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """The tables the bound plan scans and the table functions it calls (from each operator's extra_info)."""
    infos = [o for o in _objects(plan) if "Table" in o or "Function" in o]
    tables = {str(o["Table"]).split(".")[-1].lower() for o in infos if "Table" in o}
    functions = {str(o["Function"]).upper() for o in infos if "Function" in o}
    return tables, functions


def _parsed_tables(con: duckdb.DuckDBPyConnection, text: str) -> set[str] | None:
    """Every base table the query names, from DuckDB's parser (json_serialize_sql); None if it cannot say.

    (DuckDB's get_table_names fails on positional ORDER BY, so the AST is walked instead.)
    """
    ast = json.loads(con.execute("SELECT json_serialize_sql($q)", {"q": text}).fetchall()[0][0])
    if ast.get("error"):
        return None
    return {
        o["table_name"].lower()
        for o in _objects(ast)
        if o.get("type") == "BASE_TABLE" and isinstance(o.get("table_name"), str)
    }


def _single_select(query: str) -> str:
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as e:
        raise UsageError(f"sql: {' '.join(str(e).split())}") from e
    if len(statements) != 1:
        raise UsageError(f"sql: give exactly one statement, not {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError(f"sql is read-only: only queries are allowed, not {statements[0].type.name}")
    return query.strip().rstrip(";")


def run_query(settings: Settings, query: str) -> QueryResult:
    """Run one analyst query as the acting user; raises PermissionDenied (logged) when it reaches protected data."""
    text = _single_select(query)
    privileged = settings.may_read_deleted_calls
    with writer(settings) as con:
        if not privileged:
            con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            plan_rows = con.execute("EXPLAIN (FORMAT json) " + text).fetchall()
            tables, functions = _plan_sources(json.loads(plan_rows[0][1]))
            # the parser's view too: the optimiser answers some queries (count(*)) from
            # statistics, with no scan left in the plan
            parsed = _parsed_tables(con, text)
            if parsed is None and not privileged:
                raise UsageError("sql: this query cannot be checked for protected tables; simplify it")
            tables |= parsed or set()
        except duckdb.PermissionException as e:
            # external access is off for this user: a file read or an attach
            record_access(con, settings, "sql", {"query": query}, None, allowed=False, reason="reads files")
            raise PermissionDenied(
                f"{settings.user!r} may not run this query: reading files through sql needs the data_protection permission"
            ) from e
        except duckdb.Error as e:
            raise UsageError(f"sql: {' '.join(str(e).split())}") from e
        protected = sorted(tables & PROTECTED_TABLES)
        unsafe = sorted(functions - SAFE_FUNCTIONS)
        sensitive = bool(protected or unsafe)
        if sensitive and not privileged:
            what = ", ".join(protected + [f"{f.lower()}()" for f in unsafe])
            record_access(con, settings, "sql", {"query": query}, None, allowed=False, reason=f"reads {what}")
            raise PermissionDenied(
                f"{settings.user!r} may not run this query: it reads {what}, which needs the data_protection permission; "
                "without it, query deleted_calls_summary for deletions by month, carrier and user"
            )
        con.execute("BEGIN")
        try:
            rel = con.execute(text)
            columns = [d[0] for d in rel.description] if rel.description else []
            rows = rel.fetchall()
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            raise UsageError(f"sql: {' '.join(str(e).split())}") from e
        con.execute("ROLLBACK")
        if sensitive:
            record_access(con, settings, "sql", {"query": query}, len(rows), allowed=True)
    return QueryResult(columns, rows, sorted(tables | {f.lower() + "()" for f in functions}))
