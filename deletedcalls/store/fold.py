"""Folding the access spool into access_log, under the writer's lock (the steps: ``spool.py``).

Each spooled entry lands in access_log exactly once: the files are taken
aside, their entries inserted in one transaction (those whose entryId is
not there yet), and the taken files are removed only after the stores are
published (``remove_folded``), so officers see every entry at all times.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from pathlib import Path

import duckdb

from deletedcalls import logs
from deletedcalls.fsutil import crash_point, fsync_path
from deletedcalls.settings import Settings
from deletedcalls.spool import FOLD_GLOB, SPOOL_GLOB, read_entries, spool_frame, trusted
from deletedcalls.store.warehouse import insert_from, rollback_quietly


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
    taken = [p for p in sorted(folder.glob(FOLD_GLOB)) if trusted(p)]
    if not taken:
        return 0, []
    fsync_path(folder)
    entries = read_entries(taken)
    torn = sum(1 for e in entries if str(e["entryId"]).startswith("torn-"))
    if torn:
        logs.warning(f"the access spool held {torn} torn entr{'y' if torn == 1 else 'ies'} (a reader stopped while logging): "
                     "folded into access_log with a reason starting 'torn:'", stage="fold", torn=torn)
    added = 0
    if entries:
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
