"""Whether a warehouse home may be trusted (SPEC 7): a check made before config.toml is read.

config.toml decides who holds data_protection, so a config that someone else
could write or swap grants the permission to them. The home, config.toml, the
DuckDB files, published/ and spool/ must be owned by the user running the
command (or root), not writable by group or others, and be the entries
themselves (no symbolic link inside the home). Anything else: exit 4 with one
line naming the path and the fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from deletedcalls.errors import PermissionDenied

# Entries of the home that decide what a command trusts or writes, relative to the home.
CHECKED = (
    "config.toml", "deletedcalls.duckdb", "deletedcalls.duckdb.wal", "published", "published/analyst.duckdb",
    "published/protected.duckdb", "spool", "dr", ".lock", "profiles",
)


def check_home(home: Path) -> None:
    """Raise PermissionDenied unless the home and its entries are safe to use; a missing home is fine (init)."""
    try:
        st = os.stat(home)
    except FileNotFoundError:
        return
    except OSError:
        return  # not a folder, unreadable: the command's own error says so
    if not stat.S_ISDIR(st.st_mode):
        return
    _check_owner_and_mode(home, st, "the warehouse home")
    for name in CHECKED:
        path = home / name
        try:
            check_entry(path)
        except FileNotFoundError:
            continue


def check_entry(path: Path, *, regular: bool = False) -> None:
    """Raise PermissionDenied unless `path` is itself (no symbolic link) the running user's or root's, and not
    group/other-writable; with `regular`, also a regular file. FileNotFoundError when it does not exist."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise PermissionDenied(
            f"{path} is a symbolic link; a warehouse's files must lie in its home itself: "
            "replace the link with the file it points to (as the warehouse's owner), or fix --home"
        )
    if regular and not stat.S_ISREG(st.st_mode):
        raise PermissionDenied(f"{path} is not a regular file; remove it (as the warehouse's owner)")
    _check_owner_and_mode(path, st, "the folder" if stat.S_ISDIR(st.st_mode) else "the file")


def _check_owner_and_mode(path: Path, st: os.stat_result, what: str) -> None:
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        raise PermissionDenied(
            f"{path} is owned by uid {st.st_uid}, not by the user running this command (uid {me}) or root: "
            f"{what} could have been written by someone else; run deletedcalls as the warehouse's owner, or `chown` it"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionDenied(
            f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}), so anyone could change "
            f"what it grants: run `chmod go-w {path}`"
        )
