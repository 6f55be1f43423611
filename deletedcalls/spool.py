"""The access spool: the file format that readers append access entries to and the writer folds (SPEC 5 and 7).

Appending an entry is the readers' side (``read/access.py``, ``record_access``); folding
the spool into access_log is the writer's (``store/fold.py``). Both go through this module.

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

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from deletedcalls.errors import PermissionDenied
from deletedcalls.fsutil import fsync_path, private_files
from deletedcalls.settings import Settings

SPOOL_GLOB = "access-*.jsonl"
FOLD_GLOB = ".fold-*.jsonl"
COLUMNS = ("user", "at", "command", "filters", "rowsReturned", "allowed", "reason", "entryId", "client", "tokenId")
# The spool entry as a polars schema (fold and the officers' view of access_log read it the same way).
SPOOL_SCHEMA = {c: "String" for c in COLUMNS} | {"rowsReturned": "Int64", "allowed": "Boolean"}


def append_line(folder: Path, line: bytes) -> None:
    """Append one entry's line to this process's spool file in folder, durably (the steps above)."""
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


def read_entries(paths: list[Path]) -> list[dict[str, Any]]:
    """The entries of spool files, as COLUMNS (a file removed meanwhile and a torn last line are skipped)."""
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
    return read_entries([p for p in sorted(folder.glob(FOLD_GLOB)) + sorted(folder.glob(SPOOL_GLOB)) if trusted(p)])


def spool_frame(entries: list[dict[str, Any]]) -> Any:
    """Spool entries as a polars frame of SPOOL_SCHEMA."""
    import polars as pl

    return pl.DataFrame(entries, schema={c: getattr(pl, t) for c, t in SPOOL_SCHEMA.items()})


def trusted(path: Path) -> bool:
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
