"""The HTTP API's commands: ``tokens create|list|revoke`` and ``serve``."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from deletedcalls import logs
from deletedcalls.cli.options import output_options, settings_of

if TYPE_CHECKING:
    from deletedcalls.read.tokens import NewToken


@click.group()
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
    render_token(new, as_json)


def render_token(new: NewToken, as_json: bool) -> None:
    """A new token, shown once: its JSON with --json, else the token alone on stdout and the rest in the log."""
    if as_json:
        from deletedcalls.output import echo_json

        echo_json(new.as_dict())
    else:
        sys.stdout.write(new.token + "\n")
        logs.info(f"token {new.id} for {new.user!r} created" + (f", expires {new.expires:%Y-%m-%d %H:%M} UTC" if new.expires else "")
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


@click.command("serve")
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
