"""Restoring a DR archive into a new DuckDB file, from any target, with or without the warehouse (SPEC 11).

What a restore needs is the archive and its key: the target it is on (its
manifest and key material lie beside it) and the keyring. In this order:

1. find the archive's manifest on the target; check the object's SHA-256
   against it (and against the warehouse's record when there is one);
2. open it with its key (a destroyed key: exit 6, "shredded on DATE");
3. ``before_write``: the caller logs the read (the access spool) **before**
   any row is written;
4. stream the rows, one row group at a time, into ``deleted_calls`` of a new
   DuckDB file made inside a private folder beside the target
   (``.NAME.restore``, 0700), with a ``restore_log`` row saying who restored
   what, from where, when; check rows, id range and content checksum against
   the manifest; CHECKPOINT, fsync, rename into place.

Any failure after step 3 removes what was written: the private folder goes,
and the target name never existed. Paths are never handed to DuckDB as
patterns: the archive is read by pyarrow, and the new file is opened by name.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from deletedcalls.clock import utc_now
from deletedcalls.dr.archives import (
    Checksum,
    archive_names,
    manifest_checksum,
    read_batches,
    read_manifest,
)
from deletedcalls.errors import IntegrityFailure, NotFound, UsageError
from deletedcalls.fsutil import crash_point, fsync_path, private_files
from deletedcalls.sqlfiles import sql

if TYPE_CHECKING:
    from deletedcalls.dr.encryption import Crypto
    from deletedcalls.dr.targets import Target



@dataclass(frozen=True)
class Source:
    archive_id: str
    target: Target
    rel: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Restored:
    archive_id: str
    source: str
    rows: int
    into: Path
    key_id: str | None


def parse_archive_id(archive_id: str) -> tuple[str, int]:
    import re

    m = re.fullmatch(r"(\d{4}-\d{2})-part-(\d{4})", archive_id)
    if not m:
        raise UsageError(f"{archive_id!r} is not an archive id (YYYY-MM-part-NNNN); `deletedcalls dr list` shows them")
    return m.group(1), int(m.group(2))


def find_source(archive_id: str, targets: list[Target]) -> Source:
    """The first target that holds the archive's manifest (each target is tried in order; a down one is skipped
    when another has it)."""
    partition, part = parse_archive_id(archive_id)
    _, rel = archive_names(partition, part)
    failures = []
    for target in targets:
        try:
            manifest, raw = read_manifest(target, rel)
        except IntegrityFailure:
            raise
        except Exception as e:  # a target down: try the next
            from deletedcalls.errors import DeletedCallsError

            if not isinstance(e, DeletedCallsError):
                raise
            failures.append(e)
            continue
        if raw is not None and manifest is None:
            raise IntegrityFailure(f"archive {archive_id} on {target.uri}: its manifest is not valid JSON; not restored")
        if manifest is not None:
            return Source(archive_id, target, rel, manifest)
    if failures and len(failures) == len(targets):
        raise failures[0]
    where = ", ".join(t.uri for t in targets)
    raise NotFound(f"no DR archive {archive_id} on {where}; `deletedcalls dr list` shows the archives and their targets")


def check_into(into: Path, home: Path | None) -> None:
    """A restore writes a new file in an existing folder, outside the warehouse home (exit 2 otherwise)."""
    if into.exists() or into.is_symlink():
        raise UsageError(f"{into} already exists; restore into a new file")
    parent = into.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"the folder of {into} does not exist; create it first, or restore elsewhere")
    _work_folder(into)  # exit 2 when no folder without a '?' can hold the work
    if home is not None:
        h = home.resolve()
        real = parent.resolve() / into.name
        if real.parent == h or h in real.parents:
            raise UsageError("restore into a file outside the warehouse home")


def restore(
    source: Source, crypto: Crypto | None, into: Path, *, user: str, before_write: Callable[[int], None],
    sha256: str | None = None, home: Path | None = None,
) -> Restored:
    """Restore one archive into ``into`` (a new DuckDB file); ``before_write(rows)`` logs the read first."""
    check_into(into, home)
    manifest = source.manifest
    expected = _expected(source)
    want = sha256 or manifest.get("sha256")
    got_sha, _ = source.target.sha256(source.rel)
    if got_sha != want:
        raise IntegrityFailure(f"archive {source.archive_id} on {source.target.uri}: sha256 {got_sha[:12]}… differs from "
                               f"the recorded {str(want)[:12]}…; not restored")
    rows = read_batches(source.target, source.rel, crypto)  # opens with the key: a shredded archive stops here
    before_write(expected.rows)
    folder = _private_folder(_work_folder(into) / f".{into.name.replace('?', '_')}.restore")
    try:
        tmp = folder / "restore.duckdb"  # the final name (which may hold a ?) comes by rename
        with private_files():
            out = duckdb.connect(str(tmp))
        try:
            out.execute("SET memory_limit = '256MB'")  # DuckDB spills past it, into the private folder
            out.execute("SET preserve_insertion_order = true")
            out.register("batches", rows)
            out.execute(sql("dr/restore_rows"), {"partition": manifest["partition"]})
            out.unregister("batches")
            out.execute(sql("dr/restore_log_create"))
            out.execute(sql("dr/restore_log_insert"), {
                "archive": source.archive_id, "partition": manifest["partition"], "source": f"{source.target.uri}/{source.rel}",
                "sha": got_sha, "key": (manifest.get("encryption") or {}).get("keyId"), "rows": expected.rows,
                "at": utc_now(), "user": user, "host": socket.gethostname(), "warehouse": (manifest.get("warehouse") or {}).get("id"),
            })
            r = out.execute(sql("dr/restored_checksum")).fetchall()[0]
            got = Checksum(int(r[0]), int(r[1] or 0), int(r[2] or 0), str(r[3]))
            if got != expected:
                raise IntegrityFailure(f"archive {source.archive_id} restored from {source.target.uri} does not match its "
                                       f"manifest ({tuple(got)} != {tuple(expected)}); nothing was kept")
            crash_point("restore-written")
            out.execute("CHECKPOINT")
        finally:
            out.close()
        fsync_path(tmp)
        os.replace(tmp, into)
        fsync_path(into.absolute().parent)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Restored(source.archive_id, source.target.uri, expected.rows, into, (manifest.get("encryption") or {}).get("keyId"))


def _expected(source: Source) -> Checksum:
    try:
        return manifest_checksum(source.manifest)
    except (KeyError, TypeError, ValueError):
        raise IntegrityFailure(f"archive {source.archive_id} on {source.target.uri}: its manifest lacks its counts; "
                               "not restored") from None


def _work_folder(into: Path) -> Path:
    """Where the new file is built before it is renamed to ``into``: its own folder, unless that path holds a '?'.

    DuckDB names a database's WAL by inserting ``.wal`` before the first ``?`` of its (absolute) path, so no
    database can be written below such a folder; the work is then done in the nearest folder above it whose path
    has none, on the same file system (a rename cannot cross file systems), and the finished file renamed down.
    """
    parent = into.absolute().parent
    if "?" not in str(parent):
        return parent
    above = parent
    while "?" in str(above):
        above = above.parent
    try:
        same = os.stat(above).st_dev == os.stat(parent).st_dev and os.access(above, os.W_OK | os.X_OK)
    except OSError:
        same = False
    if not same:
        raise UsageError(f"DuckDB cannot write a database below a folder whose path holds '?' ({parent}), and "
                         f"{above} is not a writable folder on the same file system: restore elsewhere, then move it")
    return above


def _private_folder(path: Path) -> Path:
    """A new folder only we can enter; one left by an interrupted restore of ours is emptied first."""
    try:
        os.mkdir(path, 0o700)
        return path
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
        raise UsageError(f"{path} exists and is not a private folder of yours; remove it or restore elsewhere")
    shutil.rmtree(path)
    os.mkdir(path, 0o700)
    return path
