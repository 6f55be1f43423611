"""The reading commands: ``deleted-calls list|get`` (both APIs), ``sql``, ``files list``, ``runs list``.

They open the published stores only, never the writer's database or lock.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from deletedcalls.cli.options import format_options, output_format, output_options, settings_of
from deletedcalls.cli.ultravox_options import (
    refuse_ultravox_options,
    ultravox_options,
    ultravox_query,
)

if TYPE_CHECKING:
    from deletedcalls.read.reading import ListQuery

# parameter -> the option that sets it, for messages (the HTTP API names its own parameters)
SAFE_OPTIONS = {"cdr_file": "--cdr-file", "min_date": "--min-date", "max_date": "--max-date", "offset": "--offset",
                "id_after": "--id-after", "created_since": "--created-since", "updated_since": "--updated-since",
                "cursor": "--cursor"}


@click.group("deleted-calls")
def deleted_calls() -> None:
    """Read deleted calls (needs the data_protection permission; every read is logged)."""


@deleted_calls.command("list")
@click.option("--cdr-file", type=int, default=None, help="Only calls of this CDR file id (files list shows ids).")
@click.option("--min-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="startDate on or after (YYYY-MM-DD).")
@click.option("--max-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="startDate on or before (YYYY-MM-DD).")
@click.option("--limit", type=click.IntRange(1, 1000), default=None, help="Page size, default 100, at most 1000.")
@click.option("--offset", type=click.IntRange(min=0), default=None, help="Skip this many (slower on deep pages than --id-after).")
@click.option("--id-after", type=int, default=None, help="Keyset pagination: only ids greater than this.")
@click.option("--created-since", default=None, help="created on or after this ISO 8601 time (UTC if no offset).")
@click.option("--updated-since", default=None, help="updated on or after this ISO 8601 time (UTC if no offset).")
@click.option("--cursor", default=None, help="Continue a listing: the next or previous value of an earlier page.")
@format_options
@ultravox_options  # --api and the Ultravox filters (ultravox_options.py)
@click.pass_context
def deleted_calls_list(ctx: click.Context, cdr_file: int | None, min_date: datetime | None, max_date: datetime | None,
                       limit: int | None, offset: int | None, id_after: int | None, created_since: str | None,
                       updated_since: str | None, cursor: str | None, fmt: str | None, as_json: bool, api: str) -> None:
    """List deleted calls by id, with filters and pagination.

    JSON output is {"results": [...], "next": CURSOR, "previous": CURSOR, "total": N};
    pass a cursor back with --cursor to get that page. With --api ultravox: the
    deleted Ultravox calls as Ultravox lists them (its ten fields, its filters, JSON).
    """
    from deletedcalls.read import officer

    if api == "ultravox":
        safe = {"--cdr-file": cdr_file, "--min-date": min_date, "--max-date": max_date, "--limit": limit, "--offset": offset,
                "--id-after": id_after, "--created-since": created_since, "--updated-since": updated_since,
                "--format": fmt if fmt != "json" else None}
        return list_ultravox(ctx, cursor, [n for n, v in safe.items() if v is not None])
    refuse_ultravox_options(ctx)
    q = _safe_query(cdr_file, min_date, max_date, limit, offset, id_after, created_since, updated_since, cursor)
    page = officer.list_deleted(settings_of(ctx), q)
    render_deleted(page.as_dict(), output_format(fmt, as_json), listing=True)


def _safe_query(cdr_file: int | None, min_date: datetime | None, max_date: datetime | None, limit: int | None,
                offset: int | None, id_after: int | None, created_since: str | None, updated_since: str | None,
                cursor: str | None) -> ListQuery:
    """The SAFE list's options as the query the HTTP route builds from its parameters."""
    from deletedcalls.read.reading import build_query

    return build_query(
        cdr_file=cdr_file, min_date=min_date.date() if min_date else None, max_date=max_date.date() if max_date else None,
        created_since=_parse_since(created_since, "--created-since"), updated_since=_parse_since(updated_since, "--updated-since"),
        limit=limit, offset=offset, id_after=id_after, cursor=cursor, names=SAFE_OPTIONS,
    )


def list_ultravox(ctx: click.Context, cursor: str | None, not_applicable: list[str]) -> None:
    """deleted-calls list --api ultravox: the options as Ultravox's query, read and logged, printed as JSON."""
    from deletedcalls.output import echo_json
    from deletedcalls.read.officer import list_ultravox as read_listing

    settings = settings_of(ctx)
    echo_json(read_listing(settings, ultravox_query(ctx, cursor, not_applicable)))


@deleted_calls.command("get")
@click.argument("given_id", metavar="ID")
@click.option("--api", type=click.Choice(["safe", "ultravox"]), default="safe", show_default=True,
              help="Whose id: the seed (SAFE) API's deleted-call id (a number), or an Ultravox call id (JSON only).")
@format_options
@click.pass_context
def deleted_calls_get(ctx: click.Context, given_id: str, api: str, fmt: str | None, as_json: bool) -> None:
    """Show one deleted call by its id (with --api ultravox: by its Ultravox call id)."""
    from deletedcalls.read import officer

    settings = settings_of(ctx)
    if api == "ultravox":
        if fmt not in (None, "json"):
            raise click.UsageError("--api ultravox answers in JSON only")
        from deletedcalls.output import echo_json

        return echo_json(officer.get_ultravox(settings, given_id))
    if not given_id.isascii() or not given_id.isdigit() or int(given_id) > 2**53:
        raise click.BadParameter(f"{given_id[:40]!r} is not a deleted-call id (a whole number from 0 to 2^53)", param_hint="'ID'")
    render_deleted(officer.get_deleted(settings, int(given_id)), output_format(fmt, as_json), listing=False)


def _parse_since(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    from deletedcalls.clock import parse_timestamp

    ts = parse_timestamp(value)
    if ts is None:
        raise click.BadParameter(f"must be an ISO 8601 date or timestamp (no offset = UTC), not {value!r}", param_hint=name)
    return ts


def render_deleted(data: dict[str, Any], fmt: str, listing: bool) -> None:
    from deletedcalls.output import echo_json, echo_table, to_csv
    from deletedcalls.read.reading import FIELDS

    rows = data["results"] if listing else [data]
    if fmt == "json":
        echo_json(data)
    elif fmt == "csv":
        sys.stdout.write(to_csv(FIELDS, [[r[f] for f in FIELDS] for r in rows]))
    elif listing:
        cols = ["id", "startDate", "startTime", "target", "external", "duration", "costCDR", "carrier", "carrierCallID", "deletedBy", "deletedAt"]
        echo_table(cols, [[r[c] for c in cols] for r in rows], title=f"deleted calls ({len(rows)} of {data['total']})")
        if data["next"]:
            sys.stderr.write(f"next page: --cursor {data['next']}\n")
    else:
        echo_table(["field", "value"], [[f, data[f]] for f in FIELDS])


# ---------------------------------------------------------------- files


@click.group()
def files() -> None:
    """CDR files known to the warehouse."""


@files.command("list")
@output_options
@click.pass_context
def files_list(ctx: click.Context, as_json: bool) -> None:
    """List CDR files: id, fileName, sha256, carrier, status, rows, rejected, profile, why a rejected file was rejected,
    and the part of the file each load read (bytes, lines; extends: the earlier load of a growing file it continues).

    One row per load: a file that grew, or was rejected and sent again, has one row per attempt.
    """
    from deletedcalls.output import echo_rows
    from deletedcalls.published import reading

    with reading(settings_of(ctx), "analyst") as con:
        rel = con.sql(
            'SELECT id, fileName, sha256, carrier, status, "rows", rejected, ingestedAt, reason, profile, '
            "[startByte, endByte] AS bytes, [firstLine, lastLine] AS lines, extendsFile AS extends FROM cdr_files ORDER BY id"
        )
        files = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    echo_rows(files, ["id", "fileName", "sha256", "carrier", "status", "rows", "rejected", "profile", "bytes", "lines", "extends",
                      "reason"], "CDR files", as_json)


# ---------------------------------------------------------------- runs


@click.group()
def runs() -> None:
    """Job runs and their outcome."""


@runs.command("list")
@output_options
@click.pass_context
def runs_list(ctx: click.Context, as_json: bool) -> None:
    """List runs: command, user, start, end, outcome, counts, and the message of a run that failed."""
    from deletedcalls.output import echo_rows
    from deletedcalls.published import reading
    from deletedcalls.store.runs import list_runs

    with reading(settings_of(ctx), "analyst") as con:
        rows = list_runs(con)
    echo_rows(rows, ["id", "command", "user", "startedAt", "endedAt", "outcome", "exitCode", "counts", "message"], "runs", as_json)


# ---------------------------------------------------------------- sql


@click.command("sql")
@click.argument("query", required=False)
@click.option("--file", "query_file", default=None, metavar="FILE", help="Read the query from a file (- for stdin), e.g. sql/queries/*.sql.")
@output_options
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.pass_context
def sql_command(ctx: click.Context, query: str | None, query_file: str | None, as_json: bool, as_csv: bool) -> None:
    """Run one read-only SQL query on the published store you may read.

    Without data_protection the query runs on published/analyst.duckdb, which
    holds no deleted call, access-log entry or deletion entry, with no file
    access; naming one of those is refused (exit 4). With data_protection it
    runs on published/protected.duckdb, and is logged. Both show the state of
    the last writer command; nothing can be written. A query that starts with
    a -- comment must follow `--` on the command line, or come from --file.
    """
    from deletedcalls.output import echo_json, echo_table, to_csv
    from deletedcalls.read.analyst import Query, read_query_file, run_query

    if (query is None) == (query_file is None):
        raise click.UsageError("give a QUERY or --file, one of the two")
    settings = settings_of(ctx)
    q = read_query_file(settings, query_file) if query_file is not None else Query(query or "")
    result = run_query(settings, q)
    cols, rows = result.columns, result.rows
    if as_json:
        echo_json([dict(zip(cols, r, strict=True)) for r in rows])
    elif as_csv:
        sys.stdout.write(to_csv(cols, rows))
    else:
        echo_table(cols, rows)
