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
write one line whole (a short write, as on a nearly full disk, is continued;
a write that fails cuts the file back to where the line began, so no torn
entry is left behind a read that returned nothing), fsync, unlock. A file
whose last line is torn (its process was killed while writing it, and returned
nothing) gets a newline before the next entry, so that entry stays whole.

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
``.fold-*`` files keep the entries visible to officers. A torn line (a reader
killed in its write, before it returned anything) is never skipped: it becomes an
entry whose reason says it is torn, with what could be read of who and what
(``torn_entry``), and the fold warns of it.

Whoever reads access_log (``sql`` with data_protection) sees the published
access_log plus every spooled entry not in it yet: ``spooled_entries``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
from datetime import UTC, datetime
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
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue  # a fold took the file between our open and our lock: start a new one
            _write_whole(fd, line)
            break
        finally:
            os.close(fd)  # also releases the lock
    if created:
        fsync_path(folder)


def _write_whole(fd: int, line: bytes) -> None:
    """Write line at the end of the locked file fd whole and fsync it, or leave the file as it was and raise OSError."""
    start = os.fstat(fd).st_size
    if start and os.pread(fd, 1, start - 1) != b"\n":
        line = b"\n" + line  # a torn line before ours (its writer was killed): ours starts a line of its own
    view = memoryview(line)
    try:
        while view:
            written = os.write(fd, view)  # short on a nearly full disk: go on with the rest
            if written <= 0:
                raise OSError(errno.ENOSPC, "no space left for the access entry")
            view = view[written:]
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):  # not a torn entry behind a read that returns nothing
            os.ftruncate(fd, start)
            os.fsync(fd)
        raise


_FIELD = re.compile(rb'"(entryId|user|at|command|client|tokenId)": "((?:[^"\\]|\\.)*)"')


def torn_entry(path: Path, raw: bytes) -> dict[str, Any]:
    """A line that is not a whole entry, as an entry saying so: who, when and what as far as they can be read (an entry
    starts with them; else "(unreadable)" and the file's time), not allowed (nothing was returned: its writer stopped
    before the entry was whole), rowsReturned unknown. Its id comes from the line and the spool file's own name, so a
    torn line folded twice is one entry."""
    fields: dict[str, Any] = {}
    for key, value in _FIELD.findall(raw):
        with contextlib.suppress(ValueError):
            fields.setdefault(key.decode(), json.loads(b'"' + value + b'"'))
    name = re.sub(r"^\.fold-[0-9a-f]+-", "", path.name)
    digest = hashlib.sha256(name.encode() + b"\0" + raw).hexdigest()[:32]
    if "at" not in fields:
        with contextlib.suppress(OSError):
            fields["at"] = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None).isoformat()
    return {c: fields.get(c) for c in COLUMNS} | {
        "user": fields.get("user") or "(unreadable)", "command": fields.get("command") or "(unreadable)",
        "entryId": f"torn-{digest}", "allowed": False, "rowsReturned": None,
        "reason": f"torn: {len(raw)} bytes of an entry in {name} (its process stopped while logging; it returned nothing "
                  f"if it was a current deletedcalls; entryId {fields.get('entryId') or 'unreadable'})",
    }


def read_entries(paths: list[Path]) -> list[dict[str, Any]]:
    """The entries of spool files, as COLUMNS; a torn line is an entry saying so (``torn_entry``), never skipped
    (a file removed meanwhile is: folded, it is in access_log)."""
    entries = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # folded and removed meanwhile
        for raw in data.splitlines():
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if isinstance(entry, dict) and entry.get("entryId"):
                entries.append({c: entry.get(c) for c in COLUMNS})
            else:
                entries.append(torn_entry(path, raw))
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
