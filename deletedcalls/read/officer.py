"""An officer's reads of deleted calls through the command line: the permission first, then the published
protected store, then the access entry (SPEC 5 and 7).

Each function is one command's read: it refuses a user without
data_protection (the refusal is logged), reads, and logs the read with the
command's name, its filters and the rows returned, before the caller prints
anything. A lookup that finds nothing is logged as a read of 0 rows. The
HTTP routes make the same reads and log them with the request
(``http/server.py``).
"""

from __future__ import annotations

from typing import Any

from deletedcalls.errors import NotFound
from deletedcalls.published import reading
from deletedcalls.read.access import record_access, require_data_protection
from deletedcalls.read.reading import ListQuery, Page, get_deleted_call, list_deleted_calls
from deletedcalls.read.ultravox_list import UltravoxQuery, get_tombstone, list_tombstones
from deletedcalls.settings import Settings


def list_deleted(settings: Settings, q: ListQuery) -> Page:
    """``deleted-calls list``: a page of the SAFE list."""
    require_data_protection(settings, "deleted-calls list", q.describe())
    with reading(settings, "protected") as con:
        page = list_deleted_calls(con, q)
    record_access(settings, "deleted-calls list", q.describe(), len(page.results), allowed=True)
    return page


def get_deleted(settings: Settings, deleted_call_id: int) -> dict[str, Any]:
    """``deleted-calls get ID``: one deleted call, or NotFound (a read of 0 rows)."""
    require_data_protection(settings, "deleted-calls get", {"id": deleted_call_id})
    with reading(settings, "protected") as con:
        try:
            row = get_deleted_call(con, deleted_call_id)
        except NotFound:
            record_access(settings, "deleted-calls get", {"id": deleted_call_id}, 0, allowed=True)
            raise
    record_access(settings, "deleted-calls get", {"id": deleted_call_id}, 1, allowed=True)
    return row


def list_ultravox(settings: Settings, q: UltravoxQuery) -> dict[str, Any]:
    """``deleted-calls list --api ultravox``: a page of the deleted Ultravox calls, as Ultravox lists them."""
    command = "deleted-calls list --api ultravox"
    require_data_protection(settings, command, q.describe())
    with reading(settings, "protected") as con:
        page = list_tombstones(con, q)
    record_access(settings, command, q.describe(), len(page["results"]), allowed=True)
    return page


def get_ultravox(settings: Settings, call_id: str) -> dict[str, Any]:
    """``deleted-calls get --api ultravox CALL_ID``: one tombstone, as GET /api/deleted_calls/{callId} gives it."""
    command = "deleted-calls get --api ultravox"
    require_data_protection(settings, command, {"callId": call_id})
    with reading(settings, "protected") as con:
        try:
            tombstone = get_tombstone(con, call_id)
        except NotFound:
            record_access(settings, command, {"callId": call_id}, 0, allowed=True)
            raise
    record_access(settings, command, {"callId": call_id}, 1, allowed=True)
    return tombstone
