"""The writer commands besides ingest: ``init``, ``materialise``, ``retention enforce`` and the nightly ``run``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import click

from deletedcalls import logs
from deletedcalls.cli.options import output_options, progress_bar, settings_of

if TYPE_CHECKING:
    from deletedcalls.store.retention import RetentionResult


@click.command()
@click.option("--catalog", metavar="URL", help="A shared catalog, postgresql://user@host:port/db (docs/SCALE.md); "
              "with --data. Default: the catalog is a file in the home.")
@click.option("--data", metavar="URI", help="Where a shared warehouse's data files go: s3://bucket/prefix or "
              "file:///shared/mount/folder; with --catalog.")
@click.pass_context
def init(ctx: click.Context, catalog: str | None, data: str | None) -> None:
    """Create the warehouse, or upgrade an older one (idempotent); --catalog and --data: a home of a shared one."""
    from deletedcalls.store.session import init_warehouse

    result = init_warehouse(settings_of(ctx), catalog=catalog, data=data)
    if result.created:
        logs.info(f"created warehouse {result.home} (schema version {result.to_version})")
    elif result.from_version != result.to_version:
        logs.info(f"upgraded warehouse {result.home} from schema version {result.from_version} to {result.to_version}")
    else:
        logs.info(f"warehouse {result.home} is up to date (schema version {result.to_version}); nothing to do")


@click.command("materialise")
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


@click.group()
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
    from deletedcalls.clock import today_utc
    from deletedcalls.settings import parse_date
    from deletedcalls.store.retention import dry_run_result, enforce_retention
    from deletedcalls.store.session import recorded_session

    settings = settings_of(ctx, retention_days=retention_days)
    when = parse_date(as_of, "--as-of") if as_of else today_utc()
    if dry_run:
        result = dry_run_result(settings, when)
    else:
        with recorded_session(settings, "retention enforce") as (session, run_id, counts):
            result, session.con = enforce_retention(session.con, settings, run_id, as_of=when, days=settings.retention_days)
            counts.update(result.run_counts())
            if result.postponed is not None:  # purged; the catalog's erasure waits for the next run: exit 5
                raise result.postponed
    render_retention(result, as_json)


def render_retention(result: RetentionResult, as_json: bool) -> None:
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


# ---------------------------------------------------------------- run


@click.command("run")
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
    from deletedcalls.batch import nightly_run, plan_run
    from deletedcalls.jobs import load_job

    job = load_job(jobfile)
    ctx.obj["home"] = job.home_for(ctx.obj["home"])
    run = plan_run(job, ctx.obj["home"], inbox=inbox, as_of=as_of, min_age_seconds=min_age_seconds)
    with nightly_run(run, functools.partial(progress_bar, ctx)) as (run_id, summary):
        if as_json:
            from deletedcalls.output import echo_json

            echo_json({"run": run_id, **summary.as_dict()})
