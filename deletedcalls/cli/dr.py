"""``dr list|verify|restore|drill|migrate|keys``: the disaster-recovery archives (SPEC 4, 11)."""

from __future__ import annotations

from pathlib import Path

import click

from deletedcalls import logs
from deletedcalls.cli.options import output_options, settings_of

_FROM = click.option("--from", "from_uri", default=None, metavar="URI", help="The target to read from (file:///path or s3://bucket/prefix); default: the archive's targets.")
_KEYRING = click.option("--keyring", type=click.Path(dir_okay=False, path_type=Path), default=None, help="The keyring file (default: [dr] keyring, else ~/.config/deletedcalls/keyrings/<warehouse id>.keyring).")


@click.group()
def dr() -> None:
    """Disaster-recovery archives: list, verify, restore, drill, migrate, keys."""


@dr.command("list")
@output_options
@click.pass_context
def dr_list(ctx: click.Context, as_json: bool) -> None:
    """List DR archives: id, partition, rows, state (live / shredded), and per target its URI, whether it
    verified there and whether it is off the machine. Warns about plain archives and local targets."""
    from deletedcalls.dr.inventory import LIST_COLUMNS, describe_archives, list_warnings, table_rows
    from deletedcalls.output import echo_rows
    from deletedcalls.published import reading

    settings = settings_of(ctx)
    with reading(settings, "analyst") as con:
        archives = describe_archives(con, settings)
    for warning in list_warnings(archives, settings):
        logs.warning(warning, stage="dr-list")
    echo_rows(archives if as_json else table_rows(archives), LIST_COLUMNS, "DR archives", as_json)


@dr.command("verify")
@click.argument("archives", nargs=-1)
@_KEYRING
@output_options
@click.pass_context
def dr_verify(ctx: click.Context, archives: tuple[str, ...], keyring: Path | None, as_json: bool) -> None:
    """Verify DR archives (all, or the ids given) on every target: manifest, SHA-256, decrypted rows, id range and
    content checksum against the record. Exit 6 on any mismatch."""
    from deletedcalls.dr.archives import log_verified, raise_for_failures
    from deletedcalls.dr.inventory import verify_all
    from deletedcalls.published import reading

    settings = settings_of(ctx)
    with reading(settings, "analyst") as con:
        results = verify_all(con, settings, list(archives) or None, keyring)
    log_verified(results)
    if as_json:
        from deletedcalls.output import echo_json

        echo_json([r.__dict__ for r in results])
    raise_for_failures(results)


@dr.command("restore")
@click.argument("archive")
@click.option("--into", "into", required=True, type=click.Path(dir_okay=False, path_type=Path), help="A new DuckDB file to restore into (must not exist; its folder must).")
@_FROM
@_KEYRING
@click.pass_context
def dr_restore(ctx: click.Context, archive: str, into: Path, from_uri: str | None, keyring: Path | None) -> None:
    """Restore one DR archive into a separate DuckDB file (tables deleted_calls, restore_log).

    With a warehouse: needs data_protection, and the read is logged in access_log before a row is written.
    Without one (a new machine): give --from URI and --keyring PATH; the act is logged in the file's restore_log.
    """
    from deletedcalls.read.recovery import restore_archive

    done = restore_archive(settings_of(ctx), archive, into, from_uri=from_uri, keyring=keyring)
    logs.info(f"restored {done.rows} rows of {done.archive_id} from {done.source} into {into} (table deleted_calls)", stage="dr-restore")


@dr.command("drill")
@_FROM
@_KEYRING
@output_options
@click.pass_context
def dr_drill(ctx: click.Context, from_uri: str | None, keyring: Path | None, as_json: bool) -> None:
    """Restore the newest archive of each target into a temporary file, check it against its manifest, remove it,
    and report. Exit 0 when every target's drill passed, 6 when an archive did not, 7 when a target was unreachable."""
    from deletedcalls.dr.drill import raise_for_drill
    from deletedcalls.output import echo_rows
    from deletedcalls.read.recovery import drill

    lines = drill(settings_of(ctx), from_uri=from_uri, keyring=keyring)
    echo_rows([line.as_dict() for line in lines], ["target", "archive", "rows", "seconds", "ok", "problem"], "DR drill", as_json)
    raise_for_drill(lines)


@dr.command("migrate")
@output_options
@click.pass_context
def dr_migrate(ctx: click.Context, as_json: bool) -> None:
    """Encrypt the plain archives written before SPEC 11 to the targets, verify them there, remove the plaintext."""
    from deletedcalls.store.dr_upkeep import migrate_plain_archives
    from deletedcalls.store.session import recorded_run

    with recorded_run(settings_of(ctx), "dr migrate") as (con, run_id, counts):
        result = migrate_plain_archives(con, settings_of(ctx), run_id)
        counts.update(migrated=len(result.migrated))
    logs.info(f"migrated {len(result.migrated)} plain archive(s) to {len(result.targets)} target(s)", stage="dr-migrate")
    _echo(result.as_dict(), as_json)


@dr.group("keys")
def keys() -> None:
    """The key-encryption keys of the archives (one per partition): list, rotate."""


@keys.command("list")
@_KEYRING
@output_options
@click.pass_context
def keys_list_command(ctx: click.Context, keyring: Path | None, as_json: bool) -> None:
    """Key ids, partitions, states (live / destroyed) and versions held; never a key's bytes."""
    from deletedcalls.output import echo_rows
    from deletedcalls.read.recovery import keys_of_warehouse

    rows = keys_of_warehouse(settings_of(ctx), keyring)
    echo_rows(rows, ["keyId", "partition", "state", "current", "archives", "created", "destroyedAt"], "DR keys", as_json)


@keys.command("rotate")
@output_options
@click.pass_context
def keys_rotate(ctx: click.Context, as_json: bool) -> None:
    """Give every live key a new version and re-wrap the archives' data keys under it on every target (the archives
    are not rewritten); the old versions are dropped once every copy is re-wrapped."""
    from deletedcalls.store.dr_upkeep import rotate_keys
    from deletedcalls.store.session import recorded_run

    with recorded_run(settings_of(ctx), "dr keys rotate") as (con, run_id, counts):
        result = rotate_keys(con, settings_of(ctx), run_id)
        counts.update(rotated=len(result.keys))
    logs.info(f"rotated {len(result.keys)} key(s)", stage="dr-keys")
    _echo(result.as_dict(), as_json)


def _echo(data: object, as_json: bool) -> None:
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(data)
