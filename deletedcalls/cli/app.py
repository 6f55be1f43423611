"""The command line's root: the global options, errors mapped to exit codes, the commands, ``main``.

Exit codes (SPEC 6): 0 success, 1 unexpected error, 2 usage error, 3 input
rejected, 4 permission denied, 5 warehouse busy, 6 integrity failure,
7 environment failure.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import Any

import click

from deletedcalls import logs
from deletedcalls.cli import api, dr, ingest, read, report, warehouse
from deletedcalls.errors import DeletedCallsError, ExitCode, exit_code_for

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
            from deletedcalls.settings import resolve_home

            home = resolve_home(ctx.obj.get("home") if ctx.obj else None)
            failure = environment_failure(e, home)
            if failure is None:
                from deletedcalls.catalog import storage_failure

                failure = storage_failure(e, home)  # a shared warehouse's bucket or credentials (issue 30)
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
    logs.setup(log_format, quiet, debug)
    ctx.ensure_object(dict)
    ctx.obj.update(home=home, quiet=quiet, debug=debug, log_format=log_format)


# every command, each defined in the module of its stage (click lists them by name)
for command in (
    warehouse.init, ingest.ingest, ingest.profiles, warehouse.materialise_command, warehouse.retention, dr.dr,
    warehouse.run_command, read.files, read.runs, read.sql_command, read.deleted_calls, api.tokens, api.serve_command,
    report.report_command,
):
    cli.add_command(command)


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
