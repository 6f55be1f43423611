"""The data_protection permission and the access log.

Every read of deleted-call data (list, get, restore, sql over deleted_calls,
the access log or files) needs the acting user to be listed under
``[permissions] data_protection`` in config.toml; every read and every
refusal is written to access_log. See docs/SECURITY.md for what this does
and does not protect against.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from deletedcalls.errors import PermissionDenied
from deletedcalls.settings import Settings
from deletedcalls.warehouse import utc_now


def record_access(
    con: duckdb.DuckDBPyConnection, settings: Settings, command: str, filters: dict[str, Any] | None,
    rows: int | None, *, allowed: bool, reason: str | None = None,
) -> None:
    con.execute(
        "INSERT INTO access_log VALUES ($u, $t, $c, $f, $r, $a, $why)",
        {"u": settings.user, "t": utc_now(), "c": command, "f": json.dumps(filters or {}, sort_keys=True, default=str),
         "r": rows, "a": allowed, "why": reason},
    )


def require_data_protection(
    con: duckdb.DuckDBPyConnection, settings: Settings, command: str, filters: dict[str, Any] | None = None,
) -> None:
    """Raise PermissionDenied (exit 4) unless the user holds data_protection; the refusal is logged."""
    if settings.may_read_deleted_calls:
        return
    reason = "lacks data_protection"
    record_access(con, settings, command, filters, None, allowed=False, reason=reason)
    raise PermissionDenied(
        f"{settings.user!r} may not read deleted calls ({command}): the data_protection permission is needed; "
        f"ask for your user to be added to [permissions] data_protection in {settings.config_path}"
    )
