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


def write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created inside are owner-only from their creation (umask 077), also those DuckDB creates."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)
