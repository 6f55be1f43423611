"""``dr list|verify|restore``: the disaster-recovery archives, read with the list a published store holds."""

from __future__ import annotations

from pathlib import Path

import click

from deletedcalls import logs
from deletedcalls.cli.options import output_options, settings_of


@click.group()
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
    from deletedcalls.dr.archives import log_verified, raise_for_failures, verify_archives
    from deletedcalls.published import reading

    settings = settings_of(ctx)
    with reading(settings, "analyst") as con:
        results = verify_archives(con, settings, list(archives) or None)
    log_verified(results)
    if as_json:
        from deletedcalls.output import echo_json

        echo_json([r.__dict__ for r in results])
    raise_for_failures(results)


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
