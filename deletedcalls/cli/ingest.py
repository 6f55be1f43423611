"""``ingest cdr|deletions|ultravox`` and ``profiles list|show|check``: files into the warehouse, and the layouts
they are read with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from deletedcalls.cli.options import echo_results, output_options, progress_bar, settings_of

if TYPE_CHECKING:
    from deletedcalls.ingest.profile_check import CheckResult

FILES = click.Path(exists=True, dir_okay=False, path_type=Path)
# what ingest takes: any path; one that cannot be opened is a rejected file (exit 3) and the others still load
DELIVERIES = click.Path(readable=False, path_type=Path)  # click would refuse an unreadable one (exit 2) itself


@click.group()
def ingest() -> None:
    """Ingest carrier CDR files, deletion logs or Ultravox files."""


@ingest.command("cdr")
@click.argument("files", nargs=-1, required=True, type=DELIVERIES)
@click.option("--max-reject-ratio", type=click.FloatRange(0, 1), default=None, help="Largest share of rejected records a file may have and still load (default from config.toml, 0.01).")
@click.option("--profile", default=None, help="The carrier profile of every file (profiles list); default: detected per file.")
@click.option("--retry", is_flag=True, help="Load files rejected before again, even when nothing that decided their rejection changed.")
@output_options
@click.pass_context
def ingest_cdr(ctx: click.Context, files: tuple[Path, ...], max_reject_ratio: float | None, profile: str | None, retry: bool,
               as_json: bool) -> None:
    """Ingest carrier CDR files (CSV) into calls.

    Each file loads whole or not at all. Rejected records are kept in
    rejected_rows. Exit 3 when a file is over its reject limit or conflicts
    with a known file of the same name; the other files are still ingested.
    A longer copy of a loaded file (a switch's growing Master.csv, or its
    rotated copy) loads only its new records. A rejected file loads again
    once its profile, that profile's content or the reject limit changed, or
    with --retry.
    """
    from deletedcalls.ingest.reader import reading_ahead

    # the first file is read while duckdb is imported and the warehouse opened: import nothing heavy before
    with reading_ahead(ctx.obj["home"], files[0], profile) as ahead:
        from deletedcalls.ingest.cdr import ingest_cdr_files, raise_for_rejections, run_counts
        from deletedcalls.ingest.delivery import total_size
        from deletedcalls.store.session import recorded_run

        settings = settings_of(ctx, max_reject_ratio=max_reject_ratio)
        total = total_size(files)
        with recorded_run(settings, "ingest cdr") as (con, run_id, counts):
            with progress_bar(ctx, total, "ingesting CDR files") as advance:
                results = ingest_cdr_files(con, settings, list(files), run_id, progress=advance, ahead=ahead, profile=profile,
                                           retry=retry)
            counts.update(run_counts(results))
            echo_results(results, as_json)
            raise_for_rejections(results)


@ingest.command("deletions")
@click.argument("files", nargs=-1, required=True, type=DELIVERIES)
@output_options
@click.pass_context
def ingest_deletions(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Ingest deletion logs (JSON Lines user-activity entries) into user_activity_log.

    Bad lines are rejected (kept in rejected_rows) and the other lines apply.
    An entry seen before with the same content is a no-op; with other content
    it is a conflict, not applied, and the command exits 3. Run `materialise`
    to apply the entries.
    """
    from deletedcalls.ingest.deletions import ingest_deletion_files, raise_for_conflicts, run_counts
    from deletedcalls.store.session import recorded_run

    settings = settings_of(ctx)
    with recorded_run(settings, "ingest deletions") as (con, run_id, counts):
        results = ingest_deletion_files(con, settings, list(files), run_id)
        counts.update(run_counts(results))
        echo_results(results, as_json)
        raise_for_conflicts(results)


@ingest.command("ultravox")
@click.argument("files", nargs=-1, required=True, type=DELIVERIES)
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
    from deletedcalls.ingest.ultravox import ingest_ultravox_files, raise_for_rejections, run_counts
    from deletedcalls.store.session import recorded_run

    settings = settings_of(ctx)
    with recorded_run(settings, "ingest ultravox") as (con, run_id, counts):
        results = ingest_ultravox_files(con, settings, list(files), run_id)
        counts.update(run_counts(results))
        echo_results(results, as_json)
        raise_for_rejections(results)


# ---------------------------------------------------------------- profiles


@click.group()
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
@click.argument("file", type=FILES)
@click.option("--profile", default=None, help="Check with this profile instead of the detected one.")
@click.option("--rows", type=click.IntRange(0, 10_000), default=5, show_default=True, help="Mapped records to show.")
@output_options
@click.pass_context
def profiles_check(ctx: click.Context, file: Path, profile: str | None, rows: int, as_json: bool) -> None:
    """Show which profile reads FILE, its first mapped records and its rejects; writes nothing.

    Exit 3 when no profile matches the file or it cannot be read.
    """
    from deletedcalls.ingest.profile_check import check_file

    result = check_file(settings_of(ctx), file, profile=profile, rows=rows)
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(result.as_dict())
    else:
        render_check(result)
    result.raise_if_unreadable()


def render_check(result: CheckResult) -> None:
    """profiles check's report for people, on stderr: the profile and why, then the first mapped records and the rejects."""
    from rich.console import Console

    from deletedcalls.output import echo_table

    err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)  # a reason may say "[read]"
    if result.profile is None:
        err.print(f"{Path(result.file).name}: {result.unreadable or result.why}")
        return
    err.print(f"{Path(result.file).name}: profile {result.profile} ({result.why})")
    if result.unreadable:
        err.print(f"  cannot be read with it: {result.unreadable}")
        return
    err.print(f"  {result.records} records: {result.accepted} would load, {len(result.rejects)} rejected"
              + (f", {result.ambiguous} in the autumn hour" if result.ambiguous else "")
              + (f"; unused columns: {', '.join(result.extra_columns)}" if result.extra_columns else ""))
    if result.rows:
        columns = [c for c in result.rows[0] if any(r.get(c) not in (None, "") for r in result.rows)]
        echo_table(columns, [[r.get(c) for c in columns] for r in result.rows], title="first mapped records")
    if result.rejects:
        echo_table(["line", "reasons"], [[r["line"], "; ".join(r["reasons"])] for r in result.rejects[:20]],
                   title="rejected records" + (" (first 20)" if len(result.rejects) > 20 else ""))
