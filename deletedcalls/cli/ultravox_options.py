"""The Ultravox options of ``deleted-calls list`` (``--api ultravox``), kept apart from read.py.

The options are turned into the HTTP query parameters of ``GET /api/deleted_calls`` and parsed by
``ultravox_list.parse_query``, so the CLI and the HTTP route accept and refuse exactly the same things.
Their values are collected in ``ctx.meta["ultravox"]`` (the command's signature stays the SAFE list's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from deletedcalls.read.ultravox_list import UltravoxQuery

# option -> HTTP parameter
OPTIONS: dict[str, str] = {
    "--from-date": "fromDate", "--to-date": "toDate", "--time-of-day-start": "timeOfDayStart",
    "--time-of-day-end": "timeOfDayEnd", "--duration-min": "durationMin", "--duration-max": "durationMax",
    "--agent-id": "agentIds", "--voice-id": "voiceId", "--metadata": "metadata", "--search": "search",
    "--page-size": "pageSize",
}
HELP = {
    "--from-date": "Ultravox: created on or after this date (YYYY-MM-DD, UTC) or instant (2026-03-05T10:00:00Z).",
    "--to-date": "Ultravox: created on or before this date (YYYY-MM-DD, UTC) or instant.",
    "--time-of-day-start": "Ultravox: created at or after this UTC time of day (HH:MM[:SS]).",
    "--time-of-day-end": "Ultravox: created at or before this UTC time of day (HH:MM[:SS]); before the start: wraps midnight.",
    "--duration-min": 'Ultravox: ended - joined at least this ("60s").',
    "--duration-max": 'Ultravox: ended - joined at most this ("600s").',
    "--agent-id": "Ultravox: this agent (repeatable: any of them).",
    "--voice-id": "Ultravox: this voice.",
    "--metadata": "Ultravox: KEY=VALUE in the call's metadata (repeatable: all must match).",
    "--search": "Ultravox: case-insensitive text in the call id, agent id or a metadata value.",
    "--page-size": "Ultravox: results per page, default 100, at most 1000.",
}


def _collect(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value not in (None, ()):
        ctx.meta.setdefault("ultravox", {})[param.opts[0]] = value


def ultravox_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--api and the Ultravox filters, collected into ctx.meta (not passed to the command)."""
    for opt in reversed(OPTIONS):
        multiple = opt in ("--agent-id", "--metadata")
        f = click.option(opt, multiple=multiple, expose_value=False, callback=_collect, help=HELP[opt])(f)
    return click.option("--api", type=click.Choice(["safe", "ultravox"]), default="safe", show_default=True,
                        help="Which list: the seed (SAFE) list of every deleted call, or Ultravox's deleted_calls list "
                             "(JSON only).")(f)


def given(ctx: click.Context) -> dict[str, Any]:
    return dict(ctx.meta.get("ultravox", {}))


def refuse_ultravox_options(ctx: click.Context) -> None:
    """The SAFE list takes none of the Ultravox options."""
    if given(ctx):
        raise click.UsageError(f"{', '.join(given(ctx))} applies to --api ultravox only")


def ultravox_query(ctx: click.Context, cursor: str | None, not_applicable: list[str]) -> UltravoxQuery:
    """deleted-calls list --api ultravox: the options as the HTTP route's parameters, parsed as the route parses them;
    an error names the option."""
    from deletedcalls.errors import UsageError
    from deletedcalls.read.ultravox_list import parse_query

    if not_applicable:
        raise click.UsageError(f"{', '.join(not_applicable)} does not apply to --api ultravox")
    params: dict[str, list[str]] = {}
    for opt, value in given(ctx).items():
        if opt == "--metadata":
            for pair in value:
                key, sep, val = pair.partition("=")
                if not sep or not key:
                    raise UsageError(f"--metadata: give KEY=VALUE, not {pair!r}")
                params.setdefault(f"metadata.{key}", []).append(val)
        elif opt == "--agent-id":
            params["agentIds"] = list(value)
        else:
            params[OPTIONS[opt]] = [value]
    if cursor is not None:
        params["cursor"] = [cursor]
    try:
        return parse_query(params)
    except UsageError as e:
        name = e.message.split(":", 1)[0]
        option = next((o for o, p in OPTIONS.items() if p == name or (p == "metadata" and name.startswith("metadata."))), None)
        raise UsageError(f"{option} ({e.message})" if option else e.message) from e
