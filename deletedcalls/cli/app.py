"""The command line: parse, call one library function, render, map errors to exit codes.

Exit codes (SPEC 6): 0 success, 1 unexpected error, 2 usage error, 3 input
rejected, 4 permission denied, 5 warehouse busy, 6 integrity failure,
7 environment failure.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from deletedcalls import logs
from deletedcalls.cli.ultravox_options import refuse_ultravox_options, ultravox_options
from deletedcalls.clock import today_utc
from deletedcalls.errors import DeletedCallsError, ExitCode, exit_code_for
from deletedcalls.settings import Settings, load_settings

EXIT_CODES_HELP = """\b
Exit codes:
  0 success            1 unexpected error    2 usage error
  3 input rejected     4 permission denied   5 warehouse busy
  6 integrity failure (a DR archive that does not verify)
  7 environment failure (disk full, a read-only or unreadable path)"""


class Cli(click.Group):
    """A group that turns library errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DeletedCallsError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            logs.error(e.one_line(), exit_code=int(e.exit_code))
            ctx.exit(int(exit_code_for(e)))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            logs.error("interrupted; nothing half-done was kept, run the command again")
            ctx.exit(int(ExitCode.UNEXPECTED))
        except Exception as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from deletedcalls.environment import environment_failure

            failure = environment_failure(e, ctx.obj.get("home") if ctx.obj else None)
            if failure is not None:
                logs.error(failure.one_line(), exit_code=int(failure.exit_code))
                ctx.exit(int(failure.exit_code))
            logs.error(f"unexpected error: {type(e).__name__}: {' '.join(str(e).split())} (run with --debug for the traceback)")
            ctx.exit(int(ExitCode.UNEXPECTED))


def _home_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    if value is not None and not value.strip():
        raise click.BadParameter("must name a directory, not an empty string", ctx=ctx, param=param)
    return None if value is None else Path(value)


@click.group(cls=Cli, epilog=EXIT_CODES_HELP)
@click.option("--home", type=click.Path(path_type=str), default=None, callback=_home_option, help="Warehouse directory (else $DELETEDCALLS_HOME, else ./warehouse).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Format of the log lines on stderr.")
@click.option("--quiet", is_flag=True, help="Only warnings and errors on stderr; no progress bars.")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="deletedcalls")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, log_format: str, quiet: bool, debug: bool) -> None:
    """Keep the audit trail of deleted call records in a DuckDB warehouse."""
    # Every file this process creates (databases, WALs, archives, restores, spools,
    # temporary files) is owner-only from creation; group access is granted explicitly.
    os.umask(0o077)
    logs.setup(log_format, quiet)
    ctx.ensure_object(dict)
    ctx.obj.update(home=home, quiet=quiet, debug=debug, log_format=log_format)


def settings_of(ctx: click.Context, **overrides: Any) -> Settings:
    return load_settings(ctx.obj["home"], **overrides)


def want_progress(ctx: click.Context) -> bool:
    return not ctx.obj.get("quiet") and sys.stderr.isatty() and sys.stdout.isatty()


@contextlib.contextmanager
def progress_bar(ctx: click.Context, total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """A byte-based progress bar on a terminal; nothing otherwise."""
    if not want_progress(ctx) or total <= 0:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (machine-readable, nothing else on stdout).")(f)


# ---------------------------------------------------------------- init


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the warehouse, or upgrade an older one (idempotent)."""
    from deletedcalls.store.session import init_warehouse

    result = init_warehouse(settings_of(ctx))
    if result.created:
        logs.info(f"created warehouse {result.home} (schema version {result.to_version})")
    elif result.from_version != result.to_version:
        logs.info(f"upgraded warehouse {result.home} from schema version {result.from_version} to {result.to_version}")
    else:
        logs.info(f"warehouse {result.home} is up to date (schema version {result.to_version}); nothing to do")


# ---------------------------------------------------------------- ingest


@cli.group()
def ingest() -> None:
    """Ingest carrier CDR files, deletion logs or Ultravox files."""


@ingest.command("cdr")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--max-reject-ratio", type=click.FloatRange(0, 1), default=None, help="Largest share of rejected records a file may have and still load (default from config.toml, 0.01).")
@click.option("--profile", default=None, help="The carrier profile of every file (profiles list); default: detected per file.")
@output_options
@click.pass_context
def ingest_cdr(ctx: click.Context, files: tuple[Path, ...], max_reject_ratio: float | None, profile: str | None, as_json: bool) -> None:
    """Ingest carrier CDR files (CSV) into calls.

    Each file loads whole or not at all. Rejected records are kept in
    rejected_rows. Exit 3 when a file is over its reject limit or conflicts
    with a known file of the same name; the other files are still ingested.
    """
    from deletedcalls.ingest.reader import read_ahead
    from deletedcalls.store.session import recorded_run

    # The first file is scanned and parsed from now on, on the other core, while this
    # thread imports pandera and duckdb and opens the warehouse (0.3-0.4 s on one core).
    # A file that turns out to be known is not loaded: its reading is stopped. It is read
    # with the profile it will be loaded with (chosen before the warehouse opens).
    early = _early_layout(ctx, files[0], profile)
    with (read_ahead(files[0], *early) if early else contextlib.nullcontext()) as ahead:
        from deletedcalls.ingest.schemas import cdr_schema

        cdr_schema()  # pandera first: the reader needs it to validate, DuckDB comes later
        from deletedcalls.ingest.cdr import ingest_cdr_files, raise_for_rejections

        settings = settings_of(ctx, max_reject_ratio=max_reject_ratio)
        total = sum(p.stat().st_size for p in files)
        with recorded_run(settings, "ingest cdr") as (con, run_id, counts):
            with progress_bar(ctx, total, "ingesting CDR files") as advance:
                results = ingest_cdr_files(con, settings, list(files), run_id, progress=advance, ahead=ahead, profile=profile)
            counts.update(
                files=len(results),
                loaded=sum(r.status == "loaded" for r in results),
                unchanged=sum(r.status == "unchanged" for r in results),
                rejected_files=sum(r.status in ("rejected", "conflict", "changed") for r in results),
                rows=sum(r.rows for r in results),
                rejected_rows=sum(r.rejected for r in results),
            )
            if as_json:
                from deletedcalls.output import echo_json

                echo_json([r.as_dict() for r in results])
            raise_for_rejections(results)


def _early_layout(ctx: click.Context, path: Path, profile: str | None) -> tuple[Any, str] | None:
    """The profile and zone of the first file, when known before the warehouse opens (see read_ahead)."""
    from deletedcalls.ingest.profiles import early_layout

    try:
        settings = settings_of(ctx)
    except DeletedCallsError:
        return None  # reported properly by the ingest itself
    return early_layout(settings.home, path, profile, settings.zone)


@ingest.command("deletions")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@output_options
@click.pass_context
def ingest_deletions(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Ingest deletion logs (JSON Lines user-activity entries) into user_activity_log.

    Bad lines are rejected (kept in rejected_rows) and the other lines apply.
    An entry seen before with the same content is a no-op; with other content
    it is a conflict, not applied, and the command exits 3. Run `materialise`
    to apply the entries.
    """
    from deletedcalls.ingest.deletions import ingest_deletion_files, raise_for_conflicts
    from deletedcalls.store.session import recorded_run

    settings = settings_of(ctx)
    with recorded_run(settings, "ingest deletions") as (con, run_id, counts):
        results = ingest_deletion_files(con, settings, list(files), run_id)
        counts.update(
            files=len(results), entries=sum(r.entries for r in results), items=sum(r.items for r in results),
            duplicates=sum(r.duplicates for r in results), rejected=sum(r.rejected for r in results),
            conflicts=sum(len(r.conflicts) for r in results),
        )
        if as_json:
            from deletedcalls.output import echo_json

            echo_json([r.as_dict() for r in results])
        raise_for_conflicts(results)


@ingest.command("ultravox")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@output_options
@click.pass_context
def ingest_ultravox(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Ingest Ultravox files: saved /api/calls pages, saved /api/deleted_calls pages
    and webhook spools (JSON Lines of call events), each recognised by its content.

    Calls are stored with carrier ultravox; a tombstone moves its call into
    deleted_calls (or stores it from the tombstone when the call was never
    ingested). Repeated events and files are no-ops. Bad records are kept in
    rejected_rows; exit 3 when a file is rejected whole.
    """
    from deletedcalls.ingest.ultravox import ingest_ultravox_files, raise_for_rejections
    from deletedcalls.store.session import recorded_run

    settings = settings_of(ctx)
    with recorded_run(settings, "ingest ultravox") as (con, run_id, counts):
        results = ingest_ultravox_files(con, settings, list(files), run_id)
        counts.update(files=len(results), **{k: sum(getattr(r, k) for r in results) for k in (
            "records", "new_calls", "updated", "unchanged", "deleted", "new_deleted", "rejected")})
        if as_json:
            from deletedcalls.output import echo_json

            echo_json([r.as_dict() for r in results])
        raise_for_rejections(results)


# ---------------------------------------------------------------- materialise


@cli.command("materialise")
@output_options
@click.pass_context
def materialise_command(ctx: click.Context, as_json: bool) -> None:
    """Apply pending deletions: move the calls they name from calls into deleted_calls.

    Items that match nothing yet stay in pending_deletions and are retried by
    every later materialise.
    """
    from deletedcalls.store.materialise import materialise
    from deletedcalls.store.session import recorded_run

    settings = settings_of(ctx)
    with recorded_run(settings, "materialise") as (con, run_id, counts):
        result = materialise(con, run_id)
        counts.update(result.as_dict())
    logs.info(
        f"materialised {result.deleted} deleted calls from {result.entries_applied} entries; "
        f"{result.pending_items} items of {result.pending_entries} entries still pending",
        stage="materialise", **result.as_dict(),
    )
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(result.as_dict())


# ---------------------------------------------------------------- retention


@cli.group()
def retention() -> None:
    """Retention: archive expired partitions to dr/ and purge them from the warehouse."""


@retention.command("enforce")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="The date to judge expiry against (default: today, UTC).")
@click.option("--retention-days", type=click.IntRange(min=0), default=None, help="Days a partition is kept after its month's last day (default from config.toml, 90).")
@click.option("--dry-run", is_flag=True, help="Print the plan (partitions, rows, files) and change nothing.")
@output_options
@click.pass_context
def retention_enforce(ctx: click.Context, as_of: str | None, retention_days: int | None, dry_run: bool, as_json: bool) -> None:
    """Archive, verify and purge every expired deleted-calls partition.

    A partition (a deletedMonth) expires when its last day plus the retention
    days is before the as-of date. Each is written to a Parquet archive under
    dr/, read back and verified, and only then deleted from the warehouse; the
    database file is then rewritten so no byte of a purged row remains.
    """
    from deletedcalls.settings import parse_date
    from deletedcalls.store.retention import enforce_retention
    from deletedcalls.store.session import recorded_session

    settings = settings_of(ctx, retention_days=retention_days)
    when = parse_date(as_of, "--as-of") if as_of else today_utc()
    if dry_run:
        from deletedcalls.published import reading
        from deletedcalls.store.retention import RetentionResult, plan_retention

        with reading(settings, "protected") as con:
            result = RetentionResult(as_of=when, retention_days=settings.retention_days, dry_run=True,
                                     plan=plan_retention(con, settings, when, settings.retention_days))
        _print_retention(result, as_json)
        return
    with recorded_session(settings, "retention enforce") as (session, run_id, counts):
        result, session.con = enforce_retention(session.con, settings, run_id, as_of=when, days=settings.retention_days)
        counts.update(partitions=len(result.plan), archived=len(result.archived), rows_purged=result.rows_purged,
                      recovered=len(result.recovered), erased=result.erased)
    _print_retention(result, as_json)


def _print_retention(result: Any, as_json: bool) -> None:
    when, days = result.as_of, result.retention_days
    if result.dry_run:
        logs.info(f"dry run: {len(result.plan)} partition(s) would be archived and purged (as of {when}, {days} days)", stage="retention")
        if not as_json:
            from deletedcalls.output import echo_table

            echo_table(["partition", "rows", "expiresAfter", "archive", "file"],
                       [[p.partition, p.rows, p.expires_after, p.archive_id, p.path] for p in result.plan], title="retention plan (dry run)")
    else:
        logs.info(f"retention as of {when} ({days} days): archived {len(result.archived)} partition(s), "
                  f"purged {result.rows_purged} rows" + ("; database file rewritten" if result.erased else ""), stage="retention")
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(result.as_dict())


# ---------------------------------------------------------------- dr


@cli.group()
def dr() -> None:
    """Disaster-recovery archives: list, verify, restore."""


@dr.command("list")
@output_options
@click.pass_context
def dr_list(ctx: click.Context, as_json: bool) -> None:
    """List DR archive files: id, partition, rows, size, sha256, created."""
    from deletedcalls.dr.archives import list_archives
    from deletedcalls.output import echo_rows
    from deletedcalls.published import reading

    with reading(settings_of(ctx), "analyst") as con:
        archives = list_archives(con)
    echo_rows(archives, ["id", "partition", "rows", "size", "sha256", "created"], "DR archives", as_json)


@dr.command("verify")
@click.argument("archives", nargs=-1)
@output_options
@click.pass_context
def dr_verify(ctx: click.Context, archives: tuple[str, ...], as_json: bool) -> None:
    """Verify DR archives (all, or the ids given): checksum, row count, readable. Exit 6 on any mismatch."""
    from deletedcalls.dr.archives import verify_archives
    from deletedcalls.errors import IntegrityFailure
    from deletedcalls.published import reading

    settings = settings_of(ctx)
    with reading(settings, "analyst") as con:
        results = verify_archives(con, settings, list(archives) or None)
    for r in results:
        if r.ok:
            logs.info(f"{r.id}: ok", stage="dr-verify", archive=r.id)
        else:
            logs.warning(f"{r.id}: {'; '.join(r.problems)}", stage="dr-verify", archive=r.id)
    if as_json:
        from deletedcalls.output import echo_json

        echo_json([r.__dict__ for r in results])
    bad = [r for r in results if not r.ok]
    if bad:
        raise IntegrityFailure(f"{len(bad)} of {len(results)} DR archive(s) do not verify: {bad[0].id}: {'; '.join(bad[0].problems)}")


@dr.command("restore")
@click.argument("archive")
@click.option("--into", "into", required=True, type=click.Path(dir_okay=False, path_type=Path), help="A new DuckDB file to restore into (must not exist).")
@click.pass_context
def dr_restore(ctx: click.Context, archive: str, into: Path) -> None:
    """Restore one DR archive into a separate DuckDB file for an investigation (needs data_protection).

    The new file is owner-only from its creation. The restore is logged in access_log.
    """
    from deletedcalls.dr.archives import restore_archive
    from deletedcalls.published import reading
    from deletedcalls.read.access import record_access, require_data_protection

    settings = settings_of(ctx)
    what = {"archive": archive, "into": str(into)}
    require_data_protection(settings, "dr restore", what)
    with reading(settings, "analyst") as con:
        rows = restore_archive(con, settings, archive, into)
    record_access(settings, "dr restore", what, rows, allowed=True)
    logs.info(f"restored {rows} rows of {archive} into {into} (table deleted_calls)", stage="dr-restore")


# ---------------------------------------------------------------- run


@cli.command("run")
@click.argument("jobfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--inbox", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Inbox folder (default: the job file's inbox).")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="Date for retention (default: today, UTC).")
@click.option("--min-age-seconds", type=click.IntRange(0, 366 * 86400), default=None,
              help="Leave inbox files modified less than this many seconds ago for the next run (default: the job file's, else config.toml's [inbox] min_age_seconds, 60).")
@output_options
@click.pass_context
def run_command(ctx: click.Context, jobfile: Path, inbox: Path | None, as_of: str | None, min_age_seconds: int | None, as_json: bool) -> None:
    """The scheduled batch: ingest new CDR files (*.csv, *.csv.gz, *.zip), Ultravox pages (*.json) and
    webhook spools, and deletion logs (*.jsonl, told apart by content) from the inbox,
    materialise, enforce retention, and record the run.

    Files already seen are skipped by content hash, so a re-run, or a run over
    an unchanged inbox, changes nothing. A rejected file fails the run with
    exit 3 after the rest of the inbox is processed. Files modified less than
    min_age_seconds ago (still being uploaded) are left for the next run.
    """
    from deletedcalls.batch import raise_for_run, run_job
    from deletedcalls.errors import UsageError
    from deletedcalls.jobs import load_job
    from deletedcalls.settings import parse_date
    from deletedcalls.store.session import recorded_session

    job = load_job(jobfile)
    if ctx.obj["home"] is None and job.home is not None and not os.environ.get("DELETEDCALLS_HOME"):
        ctx.obj["home"] = job.home
    min_age = min_age_seconds if min_age_seconds is not None else job.min_age_seconds
    settings = settings_of(ctx, retention_days=job.retention_days, max_reject_ratio=job.max_reject_ratio, min_age_seconds=min_age)
    box = inbox or job.inbox
    if box is None:
        raise UsageError(f"{jobfile} names no inbox ([job] inbox) and no --inbox was given")
    when = parse_date(as_of, "--as-of") if as_of else today_utc()
    from deletedcalls.batch import inbox_files

    cdr, _ = inbox_files(box)
    total = sum(p.stat().st_size for p in cdr if p.is_file())
    started = datetime.now(UTC)
    with recorded_session(settings, f"run {job.name}") as (session, run_id, counts):
        logs.info(f"run {job.name}: inbox {box}, as of {when}", stage="run", job=job.name, inbox=str(box), run=run_id)
        with progress_bar(ctx, total, "ingesting CDR files") as advance:
            summary = run_job(session, settings, box, run_id, as_of=when, progress=advance, pins=job.cdr_profiles)
        counts.update(summary.stages)
        seconds = (datetime.now(UTC) - started).total_seconds()
        logs.info(f"run {job.name} done in {seconds:.1f}s" + (f"; {len(summary.rejected_files)} rejected file(s)" if summary.rejected_files else ""),
                  stage="run", job=job.name, run=run_id, seconds=round(seconds, 3), rejected_files=len(summary.rejected_files))
        if as_json:
            from deletedcalls.output import echo_json

            echo_json({"run": run_id, **summary.as_dict()})
        raise_for_run(summary)


# ---------------------------------------------------------------- files


@cli.group()
def files() -> None:
    """CDR files known to the warehouse."""


@files.command("list")
@output_options
@click.pass_context
def files_list(ctx: click.Context, as_json: bool) -> None:
    """List CDR files: id, fileName, sha256, carrier, status, rows, rejected, profile, and why a rejected file was rejected."""
    from deletedcalls.output import echo_rows
    from deletedcalls.published import reading

    with reading(settings_of(ctx), "analyst") as con:
        rel = con.sql(
            'SELECT id, fileName, sha256, carrier, status, "rows", rejected, ingestedAt, reason, profile FROM cdr_files ORDER BY id'
        )
        files = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    echo_rows(files, ["id", "fileName", "sha256", "carrier", "status", "rows", "rejected", "profile", "reason"], "CDR files", as_json)


# ---------------------------------------------------------------- runs


@cli.group()
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


@cli.command("sql")
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


# ---------------------------------------------------------------- deleted calls


@cli.group("deleted-calls")
def deleted_calls() -> None:
    """Read deleted calls (needs the data_protection permission; every read is logged)."""


def _format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--format", "fmt", type=click.Choice(["json", "csv", "table"]), default=None,
                     help="Output format (default: table on a terminal, JSON otherwise).")(f)
    return click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(f)


def _fmt(fmt: str | None, as_json: bool) -> str:
    if as_json:
        return "json"
    return fmt or ("table" if sys.stdout.isatty() else "json")


def _parse_since(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    from deletedcalls.clock import parse_timestamp

    ts = parse_timestamp(value)
    if ts is None:
        raise click.BadParameter(f"must be an ISO 8601 date or timestamp (no offset = UTC), not {value!r}", param_hint=name)
    return ts


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
@_format_option
@ultravox_options  # --api and the Ultravox filters (cli_ultravox.py)
@click.pass_context
def deleted_calls_list(ctx: click.Context, cdr_file: int | None, min_date: datetime | None, max_date: datetime | None,
                       limit: int | None, offset: int | None, id_after: int | None, created_since: str | None,
                       updated_since: str | None, cursor: str | None, fmt: str | None, as_json: bool, api: str) -> None:
    """List deleted calls by id, with filters and pagination.

    JSON output is {"results": [...], "next": CURSOR, "previous": CURSOR, "total": N};
    pass a cursor back with --cursor to get that page. With --api ultravox: the
    deleted Ultravox calls as Ultravox lists them (its ten fields, its filters, JSON).
    """
    from deletedcalls.published import reading
    from deletedcalls.read.access import record_access, require_data_protection
    from deletedcalls.read.reading import build_query, list_deleted_calls

    if api == "ultravox":
        from deletedcalls.cli.ultravox_options import list_ultravox

        safe = [n for n, v in [("--cdr-file", cdr_file), ("--min-date", min_date), ("--max-date", max_date), ("--limit", limit),
                               ("--offset", offset), ("--id-after", id_after), ("--created-since", created_since),
                               ("--updated-since", updated_since), ("--format", fmt if fmt != "json" else None)] if v is not None]
        return list_ultravox(ctx, settings_of(ctx), cursor, safe)
    refuse_ultravox_options(ctx)
    q = build_query(
        cdr_file=cdr_file, min_date=min_date.date() if min_date else None, max_date=max_date.date() if max_date else None,
        created_since=_parse_since(created_since, "--created-since"), updated_since=_parse_since(updated_since, "--updated-since"),
        limit=limit, offset=offset, id_after=id_after, cursor=cursor,
        names={"cdr_file": "--cdr-file", "min_date": "--min-date", "max_date": "--max-date", "offset": "--offset",
               "id_after": "--id-after", "created_since": "--created-since", "updated_since": "--updated-since", "cursor": "--cursor"},
    )
    settings = settings_of(ctx)
    require_data_protection(settings, "deleted-calls list", q.describe())
    with reading(settings, "protected") as con:
        page = list_deleted_calls(con, q)
    record_access(settings, "deleted-calls list", q.describe(), len(page.results), allowed=True)
    _render_deleted(page.as_dict(), _fmt(fmt, as_json), listing=True)


@deleted_calls.command("get")
@click.argument("given_id", metavar="ID")
@click.option("--api", type=click.Choice(["safe", "ultravox"]), default="safe", show_default=True,
              help="Whose id: the seed (SAFE) API's deleted-call id (a number), or an Ultravox call id (JSON only).")
@_format_option
@click.pass_context
def deleted_calls_get(ctx: click.Context, given_id: str, api: str, fmt: str | None, as_json: bool) -> None:
    """Show one deleted call by its id (with --api ultravox: by its Ultravox call id)."""
    from deletedcalls.errors import NotFound
    from deletedcalls.published import reading
    from deletedcalls.read.access import record_access, require_data_protection
    from deletedcalls.read.reading import get_deleted_call

    settings = settings_of(ctx)
    if api == "ultravox":
        if fmt not in (None, "json"):
            raise click.UsageError("--api ultravox answers in JSON only")
        from deletedcalls.cli.ultravox_options import get_ultravox

        return get_ultravox(settings, given_id)
    if not given_id.isascii() or not given_id.isdigit() or int(given_id) > 2**53:
        raise click.BadParameter(f"{given_id[:40]!r} is not a deleted-call id (a whole number from 0 to 2^53)", param_hint="'ID'")
    deleted_call_id = int(given_id)
    require_data_protection(settings, "deleted-calls get", {"id": deleted_call_id})
    with reading(settings, "protected") as con:
        try:
            row = get_deleted_call(con, deleted_call_id)
        except NotFound:
            record_access(settings, "deleted-calls get", {"id": deleted_call_id}, 0, allowed=True)
            raise
    record_access(settings, "deleted-calls get", {"id": deleted_call_id}, 1, allowed=True)
    _render_deleted(row, _fmt(fmt, as_json), listing=False)


def _render_deleted(data: dict[str, Any], fmt: str, listing: bool) -> None:
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


# ---------------------------------------------------------------- tokens and serve


@cli.group()
def tokens() -> None:
    """API tokens for `serve` (creating, listing and revoking need data_protection)."""


@tokens.command("create")
@click.option("--user", "user", required=True, help="The user the token acts as (with that user's permission).")
@click.option("--expires", default=None, metavar="Nd|YYYY-MM-DD", help="Days from now (30d) or a date (00:00 UTC); default: never.")
@output_options
@click.pass_context
def tokens_create(ctx: click.Context, user: str, expires: str | None, as_json: bool) -> None:
    """Create a token and print it once; only a hash of its secret is stored."""
    from deletedcalls.clock import utc_now
    from deletedcalls.read.access import record_access, require_data_protection
    from deletedcalls.read.tokens import create_token, parse_expiry
    from deletedcalls.store.session import recorded_run

    settings = settings_of(ctx)
    until = parse_expiry(expires, utc_now())
    require_data_protection(settings, "tokens create", {"user": user})
    with recorded_run(settings, "tokens create") as (con, run_id, counts):
        con.execute("BEGIN")
        new = create_token(con, user, settings.user, until, run_id)
        con.execute("COMMIT")
        counts.update(token=new.id, user=user)
    record_access(settings, "tokens create", {"user": user, "token": new.id}, None, allowed=True)
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(new.as_dict())
    else:
        sys.stdout.write(new.token + "\n")
        logs.info(f"token {new.id} for {user!r} created" + (f", expires {until:%Y-%m-%d %H:%M} UTC" if until else "")
                  + "; it is shown only now", stage="tokens")


@tokens.command("list")
@output_options
@click.pass_context
def tokens_list(ctx: click.Context, as_json: bool) -> None:
    """List tokens: id, user, created, expires, revokedAt, lastUsed (never a secret)."""
    from deletedcalls.output import echo_rows
    from deletedcalls.published import reading
    from deletedcalls.read.access import require_data_protection
    from deletedcalls.read.tokens import list_tokens
    from deletedcalls.spool import spooled_entries

    settings = settings_of(ctx)
    require_data_protection(settings, "tokens list")
    with reading(settings, "protected") as con:
        rows = list_tokens(con, spooled_entries(settings))
    echo_rows(rows, ["id", "user", "created", "expires", "revokedAt", "lastUsed"], "API tokens", as_json)


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token; `serve` refuses it from its next request on."""
    from deletedcalls.read.access import require_data_protection
    from deletedcalls.read.tokens import revoke_token
    from deletedcalls.store.session import recorded_run

    settings = settings_of(ctx)
    require_data_protection(settings, "tokens revoke", {"token": token_id})
    with recorded_run(settings, "tokens revoke") as (con, run_id, counts):
        con.execute("BEGIN")
        changed = revoke_token(con, token_id)
        con.execute("COMMIT")
        counts.update(token=token_id, revoked=changed)
    logs.info(f"token {token_id} " + ("revoked" if changed else "was already revoked"), stage="tokens")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default: the number of CPUs).")
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, workers: int | None) -> None:
    """Serve the seed HTTP APIs (docs/API.md) from the published protected store, on uvicorn.

    Requests need a token (`deletedcalls tokens create`). The server never takes
    the warehouse's lock; it picks up each new publish without a restart.
    """
    from deletedcalls.http.server import serve

    serve(settings_of(ctx), host, port, workers or os.cpu_count() or 1)


def main() -> None:
    # Start-up imports (duckdb, polars, pyarrow, pandera) allocate a few million objects
    # that live for the whole run; the default threshold of 700 runs hundreds of young
    # collections over them that find nothing, 40-70 ms of a 0.35 s start.
    gc.set_threshold(100_000, 10, 10)
    try:
        cli(obj={})  # standalone mode: always ends in SystemExit
    except SystemExit as e:
        _exit(e.code)


def _exit(code: int | str | None) -> None:
    """Flush what was written and leave without tearing the interpreter down.

    By now every connection is closed and every worker thread joined (the
    commands do that in with-blocks); what is left is Python's shutdown of the
    modules of duckdb, polars, pyarrow and pandera, which took 0.15 s of every
    command (20 % of a small one, 5 % of a 1M-row ingest) and does nothing for
    the warehouse (docs/DECISIONS.md). Output that cannot be written is an
    error (exit 1), not a silent loss. With a non-daemon thread still running, the
    normal exit is kept, so that it is waited for.
    """
    import logging
    import threading

    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = int(ExitCode.UNEXPECTED)
    status = int(code or 0)
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)
    logging.shutdown()
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as e:
        if status == 0:  # a failed command has already said what went wrong, in one line
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"error: could not write the output: {e}\n")
            # a full disk or a closed pipe under stdout is the environment's failure (7)
            status = int(ExitCode.ENVIRONMENT_FAILURE if isinstance(e, OSError) else ExitCode.UNEXPECTED)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------- profiles


@cli.group()
def profiles() -> None:
    """Carrier profiles: how each CDR layout maps onto the call record (SPEC 8)."""


@profiles.command("list")
@output_options
@click.pass_context
def profiles_list(ctx: click.Context, as_json: bool) -> None:
    """List the built-in profiles and the warehouse's own (<home>/profiles/*.toml)."""
    from deletedcalls.ingest.profile_check import list_profiles

    rows = list_profiles(settings_of(ctx).home)
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(rows)
        return
    from deletedcalls.output import echo_table

    echo_table(["name", "origin", "extends", "detect", "description"],
               [[r["name"], r["origin"], r["extends"] or "", r["detect"], r["description"]] for r in rows], title="profiles")


@profiles.command("show")
@click.argument("name")
@click.pass_context
def profiles_show(ctx: click.Context, name: str) -> None:
    """Print one profile, with what it extends applied, in the TOML profile format."""
    from deletedcalls.ingest.profiles import Catalog, as_toml

    click.echo(as_toml(Catalog(settings_of(ctx).home).get(name)), nl=False)


@profiles.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--profile", default=None, help="Check with this profile instead of the detected one.")
@click.option("--rows", type=click.IntRange(0, 10_000), default=5, show_default=True, help="Mapped records to show.")
@output_options
@click.pass_context
def profiles_check(ctx: click.Context, file: Path, profile: str | None, rows: int, as_json: bool) -> None:
    """Show which profile reads FILE, its first mapped records and its rejects; writes nothing.

    Exit 3 when no profile matches the file or it cannot be read.
    """
    from deletedcalls.ingest.profile_check import check_file, render_check

    result = check_file(settings_of(ctx), file, profile=profile, rows=rows)
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(result.as_dict())
    else:
        render_check(result)
    result.raise_if_unreadable()
