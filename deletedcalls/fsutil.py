"""File helpers: content hashes and durable writes (fsync before rename, fsync the folder after)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()  # one reused buffer, no new block per read


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a new file (created with its final mode, whatever the umask) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # O_CREAT's mode is masked by the umask; an existing file kept its own
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files created inside (by us or by DuckDB, Parquet writers, ...) are owner-only from their first byte.

    DuckDB creates its files with the process umask and offers no mode of its own,
    so the umask is what makes a new database, WAL, archive or restore private at
    creation rather than after. The CLI sets 0o077 for the whole process; this
    restores the caller's umask after, for library callers.
    """
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


FREE_ENV = "DELETEDCALLS_TEST_FREE_BYTES"


def free_bytes(path: Path) -> int:
    """Bytes this user may still write on the file system that holds `path`.

    DELETEDCALLS_TEST_FREE_BYTES, when set, is the figure instead (a whole number of
    bytes): the tests steer a small disk with it where they cannot mount one. Never
    set in production.
    """
    told = os.environ.get(FREE_ENV)
    if told is not None:
        if not told.strip().isdigit():
            from deletedcalls.errors import UsageError

            raise UsageError(f"{FREE_ENV} must be a whole number of bytes, not {told!r}; it is for tests only: unset it")
        return int(told)
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


CRASH_ENV = "DELETEDCALLS_CRASH_AT"


def crash_point(name: str) -> None:
    """Fault injection for the crash tests: SIGKILL this process at a named step when asked.

    Set DELETEDCALLS_CRASH_AT to one of: archive-written, archive-renamed,
    purged, rewrite-copied, restore-written, publish-written, spool-folded.
    Never set in production.
    """
    if os.environ.get(CRASH_ENV) == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
