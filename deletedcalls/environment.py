"""Tell an environment failure (disk full, read-only or unreadable path) from a bug (SPEC 2.3, exit 7).

The operating system reports these as ``OSError`` with an errno; DuckDB reports
them as its own ``IOException`` (and, when a write fails half-way through a
checkpoint, as a ``FatalException`` that invalidates the database) whose text
carries the system's message and usually the file. ``environment_failure``
turns either into one ``EnvironmentFailure`` line that names the path, or
returns None for anything else (which stays exit 1: a bug).

What a failed command leaves: every stage writes in a transaction or to a
temporary file renamed into place, so the failure leaves the state before the
stage; DuckDB replays or drops its WAL at the next open. The same command,
run again once the disk has room, does the work (tests/test_hostile_env.py).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from deletedcalls.errors import DeletedCallsError, EnvironmentFailure, IntegrityFailure

# errno values that say "the machine", not "the input" or "the code"
_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOTDIR,
    errno.EISDIR, errno.EFBIG, errno.EMFILE, errno.ENFILE, errno.ENAMETOOLONG, errno.ELOOP,
})
# the same conditions as DuckDB words them (it passes strerror through)
_DUCKDB_TEXTS = {
    "no space left on device": "No space left on device",
    "disk quota exceeded": "Disk quota exceeded",
    "read-only file system": "Read-only file system",
    "permission denied": "Permission denied",
    "input/output error": "Input/output error",
    "not a directory": "Not a directory",
    "is a directory": "Is a directory",
    "file too large": "File too large",
    "could not write all bytes": "a write was cut short (is the disk full?)",
    "could not truncate": "a file could not be truncated (is the disk full?)",
    "could not fsync": "a file could not be synced to disk",
}
_QUOTED_PATH = re.compile(r"""["'](/[^"']+)["']""")


def environment_failure(error: BaseException, where: Path | None = None) -> EnvironmentFailure | None:
    """The EnvironmentFailure this error is, or None when it is not one. `where` names the path when the error does not."""
    if isinstance(error, EnvironmentFailure):
        return error
    if isinstance(error, OSError) and error.errno in _ERRNOS:
        # the system's own words ("No space left on device"), which operators search for
        return _failure(os.strerror(error.errno), error.filename or where, error)
    text = str(error)
    lowered = text.lower()
    if type(error).__module__.startswith(("duckdb", "_duckdb")):
        for needle, what in _DUCKDB_TEXTS.items():
            if needle in lowered:
                m = _QUOTED_PATH.search(text)
                return _failure(what, m.group(1) if m else where, error)
    return None


_COMMITTED = "committed before the failure: "


def listed(names: list[str], most: int = 5) -> str:
    """Names for a message: the first `most`, and how many more."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def note_committed(error: BaseException, what: str) -> None:
    """Say on an error that stops a command what the command had already committed (files loaded, stages done):
    an exit 7 then tells the operator that this stays and that running the command again completes the rest."""
    if what:
        error.add_note(_COMMITTED + what)


def _committed(error: BaseException) -> list[str]:
    seen: list[str] = []
    for e in (error, error.__cause__, error.__context__):
        for note in getattr(e, "__notes__", None) or []:
            if note.startswith(_COMMITTED) and note[len(_COMMITTED):] not in seen:
                seen.append(note[len(_COMMITTED):])
    return seen


def _failure(what: str, path: object, error: BaseException) -> EnvironmentFailure:
    at = f"{path}: " if path else ""
    done = _committed(error)
    if done:
        message = (
            f"{at}{what}. Committed before the failure, and kept: {'; '.join(done)}; the step that failed kept "
            "nothing half-done. Fix it (free space, a writable home) and run the same command again: it does the rest"
        )
    else:
        message = (
            f"{at}{what}; nothing half-done was kept. Fix it (free space, a writable home) "
            "and run the same command again"
        )
    failure = EnvironmentFailure(message, path=str(path) if path else None)
    failure.__cause__ = error
    return failure


# ---------------------------------------------------------------- a damaged DuckDB file (exit 6)

# how DuckDB words a file that is not (or no longer) a whole database: random bytes, 0 bytes, cut short,
# a block whose checksum fails
_DAMAGE_TEXTS = (
    "not a valid duckdb database file", "could not read enough bytes", "corrupt database file",
    "does not match stored checksum", "the file is not a valid", "invalid database header",
)
WRITER_WAY_OUT = ("restore it (with the rest of its home) from a backup, or `init` a new home and ingest the "
                  "delivered files again; nothing was changed")


def is_damaged(error: BaseException) -> bool:
    """Whether a DuckDB error says that a database file is damaged (not a database, cut short, a bad checksum)."""
    if not type(error).__module__.startswith(("duckdb", "_duckdb")):
        return False
    text = str(error).lower()
    return any(needle in text for needle in _DAMAGE_TEXTS)


def damaged_database(path: Path, error: BaseException, way_out: str) -> IntegrityFailure:
    """Exit 6 for a damaged database file: one line naming it, what DuckDB found, and `way_out`."""
    found = " ".join(str(error).split())
    found = re.sub(r'^[\w ]*Error: ', "", found)[:160]
    failure = IntegrityFailure(f"{path} is damaged ({found}); {way_out}", path=str(path))
    failure.__cause__ = error
    return failure


def stops_the_command(error: BaseException) -> bool:
    """Whether an error met while one input file is read stops the whole command, rather than rejecting that file.

    It does when no file can be blamed: an expected failure (busy, usage, permission, integrity, environment),
    the machine (disk full, a read-only home), a damaged database, or DuckDB having invalidated the connection.
    Anything else is that file's: it is recorded as rejected, and the other files go on.
    """
    if isinstance(error, DeletedCallsError) or not isinstance(error, Exception):
        return True
    if environment_failure(error) is not None or is_damaged(error):
        return True
    return type(error).__name__ in ("FatalException", "InternalException") and type(error).__module__.startswith(("duckdb", "_duckdb"))
