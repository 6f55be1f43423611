"""The data_protection permission, and the access entry every read of deleted-call data leaves (SPEC 5 and 7).

Every read of deleted-call data and every refusal is an access entry. Readers
hold no writer lock, so they do not write access_log themselves: they append
the entry to the access spool (``spool.py``) and fsync it **before** the
result is returned (no entry, no data). The next writer command folds the
spool into access_log (``store/fold.py``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from deletedcalls.clock import utc_now
from deletedcalls.errors import PermissionDenied
from deletedcalls.settings import Settings
from deletedcalls.spool import append_line


class SpoolUnwritable(PermissionDenied):
    """The access spool cannot be written: nothing is returned, since nothing could be logged."""


def record_access(
    settings: Settings, command: str, filters: dict[str, Any] | None, rows: int | None, *, allowed: bool,
    reason: str | None = None, client: str = "cli", token_id: str | None = None,
) -> str:
    """Append one access entry to the spool, whole and durably, and return its entryId; raises SpoolUnwritable
    (nothing may be returned) if it cannot."""
    # who and what first: a torn entry (spool.py) keeps what it can of them
    entry = {
        "entryId": str(uuid.uuid4()), "user": settings.user, "at": utc_now().isoformat(), "command": command,
        "client": client, "tokenId": token_id, "allowed": allowed, "rowsReturned": rows, "reason": reason,
        "filters": json.dumps(filters or {}, sort_keys=True, default=str),
    }
    line = (json.dumps(entry) + "\n").encode()
    try:
        append_line(settings.spool_dir, line)
    except OSError as e:
        raise SpoolUnwritable(
            f"cannot write the access spool in {settings.spool_dir} ({e.strerror or e}); nothing was returned, "
            "because the read could not be logged: run as the warehouse's owner, or free space"
        ) from e
    return str(entry["entryId"])


def require_data_protection(settings: Settings, command: str, filters: dict[str, Any] | None = None, *, client: str = "cli") -> None:
    """Raise PermissionDenied (exit 4) unless the user holds data_protection; the refusal is spooled first."""
    if settings.may_read_deleted_calls:
        return
    record_access(settings, command, filters, None, allowed=False, reason="lacks data_protection", client=client)
    raise PermissionDenied(
        f"{settings.user!r} may not read deleted calls ({command}): the data_protection permission is needed; "
        f"ask for your user to be added to [permissions] data_protection in {settings.config_path}"
    )
