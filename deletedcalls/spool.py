"""The data_protection permission, the access spool and the access log (SPEC 5 and 7).

Every read of deleted-call data and every refusal is an access entry. Readers
hold no writer lock, so they do not write access_log themselves: they append
the entry to a spool file and fsync it **before** the result is returned (no
entry, no data). The next writer command folds the spool into access_log.

Spool files are ``spool/access-<pid>.jsonl``, one JSON entry a line, each with
a unique ``entryId``. Appending, per entry: open the file, ``flock`` it, check
that the path still names the inode we hold (a fold may have moved it away),
write one line, fsync, unlock.

Folding, under the writer's lock, in this order:

1. each ``access-*.jsonl`` is taken: locked, renamed to ``.fold-*.jsonl``,
   unlocked (a reader waits at most for that rename);
2. every ``.fold-*`` file is read; its entries whose entryId is not in
   access_log yet are inserted, in one transaction;
3. after COMMIT, and after the stores are published (so that the published
   access_log holds them: officers read published + spool), the ``.fold-*``
   files are unlinked and the folder fsynced (``remove_folded``).

A crash before 2's COMMIT leaves ``.fold-*`` files that the next fold reads
again; after it, the entryIds are in access_log and the next fold adds
nothing of them: no entry is lost, none doubled. Until the publish, the
``.fold-*`` files keep the entries visible to officers. A torn last line (a reader
killed in its write, before it returned anything) is skipped.

Whoever reads access_log (``sql`` with data_protection) sees the published
access_log plus every spooled entry not in it yet: ``spooled_entries``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls.errors import PermissionDenied
from deletedcalls.fsutil import crash_point, fsync_path, private_files
from deletedcalls.settings import Settings
from deletedcalls.store.warehouse import utc_now

SPOOL_GLOB = "access-*.jsonl"
FOLD_GLOB = ".fold-*.jsonl"
COLUMNS = ("user", "at", "command", "filters", "rowsReturned", "allowed", "reason", "entryId", "client", "tokenId")
# The spool entry as a polars schema (fold and the officers' view of access_log read it the same way).
SPOOL_SCHEMA = {c: "String" for c in COLUMNS} | {"rowsReturned": "Int64", "allowed": "Boolean"}


class SpoolUnwritable(PermissionDenied):
    """The access spool cannot be written: nothing is returned, since nothing could be logged."""


def record_access(
    settings: Settings, command: str, filters: dict[str, Any] | None, rows: int | None, *, allowed: bool,
    reason: str | None = None, client: str = "cli", token_id: str | None = None,
) -> None:
    """Append one access entry to the spool, durably; raises SpoolUnwritable if it cannot."""
    entry = {
        "user": settings.user, "at": utc_now().isoformat(), "command": command,
        "filters": json.dumps(filters or {}, sort_keys=True, default=str), "rowsReturned": rows,
        "allowed": allowed, "reason": reason, "entryId": str(uuid.uuid4()), "client": client, "tokenId": token_id,
    }
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    try:
        _append(settings.spool_dir, line)
    except OSError as e:
        raise SpoolUnwritable(
            f"cannot write the access spool in {settings.spool_dir} ({e.strerror or e}); nothing was returned, "
            "because the read could not be logged: run as the warehouse's owner, or free space"
        ) from e


def _append(folder: Path, line: bytes) -> None:
    with private_files():
        folder.mkdir(exist_ok=True, mode=0o700)
    path = folder / f"access-{os.getpid()}.jsonl"
    while True:
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue  # a fold took the file between our open and our lock: start a new one
            os.write(fd, line)
            os.fsync(fd)
            break
        finally:
            os.close(fd)  # also releases the lock
    if created:
        fsync_path(folder)


def require_data_protection(settings: Settings, command: str, filters: dict[str, Any] | None = None, *, client: str = "cli") -> None:
    """Raise PermissionDenied (exit 4) unless the user holds data_protection; the refusal is spooled first."""
    if settings.may_read_deleted_calls:
        return
    record_access(settings, command, filters, None, allowed=False, reason="lacks data_protection", client=client)
    raise PermissionDenied(
        f"{settings.user!r} may not read deleted calls ({command}): the data_protection permission is needed; "
        f"ask for your user to be added to [permissions] data_protection in {settings.config_path}"
    )


def _read_entries(paths: list[Path]) -> list[dict[str, Any]]:
    entries = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # folded and removed meanwhile
        for raw in data.splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a torn last line: its reader was killed before it returned anything
            if isinstance(entry, dict) and entry.get("entryId"):
                entries.append({c: entry.get(c) for c in COLUMNS})
    return entries


def spooled_entries(settings: Settings) -> list[dict[str, Any]]:
    """Every entry in the spool now, folded or not (readers de-duplicate by entryId)."""
    folder = settings.spool_dir
    if not folder.is_dir():
        return []
    return _read_entries([p for p in sorted(folder.glob(FOLD_GLOB)) + sorted(folder.glob(SPOOL_GLOB)) if _trusted(p)])


def spool_frame(entries: list[dict[str, Any]]) -> Any:
    """Spool entries as a polars frame of SPOOL_SCHEMA."""
    import polars as pl

    return pl.DataFrame(entries, schema={c: getattr(pl, t) for c, t in SPOOL_SCHEMA.items()})


def _take(path: Path) -> None:
    """Step 1 for one spool file: rename it aside while holding its lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, path.with_name(f".fold-{uuid.uuid4().hex}-{path.name}"))
    finally:
        os.close(fd)


def fold_spool(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[int, list[Path]]:
    """Fold the spool into access_log, each entry exactly once; returns the entries added and the files
    to remove once the stores are published (``remove_folded``)."""
    folder = settings.spool_dir
    if not folder.is_dir():
        return 0, []
    for path in sorted(folder.glob(SPOOL_GLOB)):
        _take(path)
    taken = [p for p in sorted(folder.glob(FOLD_GLOB)) if _trusted(p)]
    if not taken:
        return 0, []
    fsync_path(folder)
    entries = _read_entries(taken)
    added = 0
    if entries:
        from deletedcalls.store.warehouse import insert_from, rollback_quietly

        frame = spool_frame(entries)
        con.execute("BEGIN")
        try:
            before = con.execute("SELECT count(*) FROM access_log").fetchall()[0][0]
            insert_from(con, "spooled", frame, """
                INSERT INTO access_log ("user", "at", command, filters, rowsReturned, allowed, reason, entryId, client, tokenId)
                SELECT DISTINCT ON (entryId) "user", CAST("at" AS TIMESTAMP), command, filters, rowsReturned, allowed,
                       reason, entryId, client, tokenId
                FROM spooled
                WHERE entryId NOT IN (SELECT entryId FROM access_log WHERE entryId IS NOT NULL)
                ORDER BY entryId
            """)
            added = int(con.execute("SELECT count(*) FROM access_log").fetchall()[0][0]) - int(before)
            con.execute("COMMIT")
        except BaseException:
            rollback_quietly(con)
            raise
    crash_point("spool-folded")
    return added, taken


def remove_folded(settings: Settings, taken: list[Path]) -> None:
    """Step 3: the folded files, once the published stores hold their entries."""
    for path in taken:
        path.unlink(missing_ok=True)
    if taken:
        fsync_path(settings.spool_dir)


def _trusted(path: Path) -> bool:
    """A spool file is believed only if it is ours: a regular file of the running user (or root), not group/other-writable."""
    from deletedcalls.trust import check_entry

    try:
        check_entry(path, regular=True)
    except FileNotFoundError:
        return False
    except PermissionDenied as e:
        from deletedcalls import logs

        logs.warning(f"ignoring spool file {path}: {e.one_line()}", stage="access")
        return False
    return True
