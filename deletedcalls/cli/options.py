"""What the commands share: settings from the global options, output options and formats, the progress bar."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from deletedcalls.settings import Settings, load_settings


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


def format_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--format json|csv|table and --json, for the commands that print deleted calls."""
    f = click.option("--format", "fmt", type=click.Choice(["json", "csv", "table"]), default=None,
                     help="Output format (default: table on a terminal, JSON otherwise).")(f)
    return click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(f)


def output_format(fmt: str | None, as_json: bool) -> str:
    if as_json:
        return "json"
    return fmt or ("table" if sys.stdout.isatty() else "json")


def echo_results(results: list[Any], as_json: bool) -> None:
    """An ingest command's output: each file's result as JSON with --json, else nothing (the log says it)."""
    if as_json:
        from deletedcalls.output import echo_json

        echo_json([r.as_dict() for r in results])
