"""Publishing the stores: what readers open, never the writer's catalog (SPEC 7; opening one: ``published.py``).

The writer's lake (catalog ``deletedcalls.duckdb``, data files under ``data/``)
is attached by writer commands alone. Before a writer command exits it
publishes two stores, after the lake's maintenance (``lake.tidy``) has left the
calls files holding live calls only:

- ``published/analyst.duckdb``: a plain DuckDB file that any DuckDB client opens
  without extensions. Its small tables are copied by an allow-list
  (``sql/publish/analyst.sql``: no row of deleted_calls, access_log,
  user_activity_log, deletion items or pending deletions, no rejected line of a
  deletion log, small summary cells without cost). ``calls`` is a view over
  hard links, in ``published/data/``, to the lake's calls files: publishing the
  history costs a link per file, not a copy of its rows. A file that holds a
  call a pending deletion names (not yet moved by materialise) is not linked: a
  copy of it without those calls is written instead, since an analyst can read
  the linked files directly. Links of files the lake no longer uses are removed
  as soon as the new store is in place (an analyst's session on the previous
  store then gets "no file" and reconnects): a superseded calls file may hold a
  call deleted since.
- ``published/protected.duckdb``: a copy of the lake's catalog (small: file
  lists, statistics, inlined bookkeeping), which officers' reads attach
  read-only over the lake's own data files. Readers never open the writer's
  catalog, which DuckDB lets only one process hold.

Each is written under a temporary name, fsynced and renamed into place; a
crash before a rename leaves the previous store (and a temporary file that the
next publish removes). The data files a previous catalog copy names stay until
the next writer command (``lake.tidy``), except after a purge.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import pyarrow.fs as pafs

from deletedcalls.catalog import ANALYST_STORE, analyst_data, analyst_filesystem, metadata
from deletedcalls.clock import utc_now
from deletedcalls.errors import ConfigError
from deletedcalls.fsutil import crash_point, fsync_path, private_files, write_durably
from deletedcalls.published import MANIFEST, PAGES, Store, store_path
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import current_version, quoted, sql
from deletedcalls.store.keys import pending_touched
from deletedcalls.store.lake import ALIAS, data_files, file_ref, walk_files

# Views of sql/views/ that the analyst store carries (pending_deletions names deleted calls: protected).
ANALYST_VIEWS = ("archived_rows_total",)
# The published copies of calls files, mirroring their paths under data/.
LINKS = "data"


def _temp_path(settings: Settings, store: Store) -> Path:
    # Never `<store>.duckdb.tmp`: DuckDB lets a connection to the analyst store read that
    # folder (its spill directory) even with external access off.
    return settings.published_dir / f".{store}.duckdb.publishing.tmp"


@dataclass(frozen=True)
class Published:
    """What a publish wrote."""

    run_id: int | None
    published_at: datetime
    seconds: float
    files: int = 0  # calls files the analyst store's view reads
    hidden: int = 0  # of which copies without the calls a pending deletion names


def _analyst_gid(settings: Settings) -> int | None:
    if not settings.analyst_group:
        return None
    try:
        return grp.getgrnam(settings.analyst_group).gr_gid
    except KeyError as e:
        raise ConfigError(
            f"{settings.config_path}: access.analyst_group names {settings.analyst_group!r}, which is not a group "
            "on this machine; create it or leave the setting empty"
        ) from e


def prepare_folders(settings: Settings) -> None:
    """Create published/ and set the modes the analyst group needs (home 0710, published/ 0750) or owner-only."""
    gid = _analyst_gid(settings)
    published = settings.published_dir
    with private_files():
        published.mkdir(exist_ok=True, mode=0o700)
    if gid is None:
        os.chmod(published, 0o700)
        return
    os.chown(published, -1, gid)
    os.chmod(published, 0o750)
    os.chown(settings.home, -1, gid)
    os.chmod(settings.home, 0o710)


def remove_stale_temps(settings: Settings) -> None:
    """What a killed publish left; it may hold rows purged since."""
    if settings.published_dir.is_dir():
        for stale in settings.published_dir.glob(".*.tmp*"):
            stale.unlink(missing_ok=True)
        for folder in (LINKS, PAGES):
            for stale in walk_files(settings.published_dir / folder):
                if stale.name.startswith("."):
                    stale.unlink(missing_ok=True)


def publish(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int | None) -> Published:
    """Write both stores from the writer's connection and rename them into place (the caller holds the lock)."""
    started = time.perf_counter()
    prepare_folders(settings)
    remove_stale_temps(settings)
    now = utc_now()
    info = {"run": run_id, "t": now, "v": current_version(con)}
    analyst, protected = _temp_path(settings, "analyst"), _temp_path(settings, "protected")
    for tmp in (analyst, protected):
        _remove_temp(tmp)
    _pending_matches(con)
    con.execute("SET VARIABLE min_cell = $m", {"m": settings.min_cell})
    files, hidden = _calls_files(con, settings)
    with _attached(con, analyst):
        _write_analyst(con, files)
        con.execute(sql("publish/published_info"), {**info, "store": "analyst", "mode": "fresh"})
    _write_protected(con, settings, info, protected)
    pages = None if settings.shared else _write_pages(con, settings)
    stores = (("analyst", analyst),) if settings.shared else (("analyst", analyst), ("protected", protected))
    for store, tmp in stores:
        _finish_file(settings, store, tmp)  # type: ignore[arg-type]
    crash_point("publish-written")
    if pages is not None:
        _put_manifest(settings, pages)
    for store, tmp in stores:
        os.replace(tmp, store_path(settings, store))  # type: ignore[arg-type]
    fsync_path(settings.published_dir)
    if pages is not None:
        _remove_superseded_pages(settings, pages)
    if settings.shared:  # the store every home's analysts read, then the copies it no longer names
        _put_analyst_store(settings, _analyst_gid(settings))
        _remove_superseded_analyst_files(settings, files)
    _remove_superseded_links(settings, files)
    return Published(run_id, now, time.perf_counter() - started, len(files), hidden)


def _pending_matches(con: duckdb.DuckDBPyConnection) -> None:
    """materialise_winners: the calls pending deletions name, hidden from analysts (none read when no item is pending)."""
    if con.execute("SELECT count(*) FROM deletion_items WHERE resolvedAt IS NULL").fetchall()[0][0]:
        pending_touched(con)
        con.execute(sql("materialise/01_matches"))
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE materialise_winners AS SELECT CAST(NULL AS BIGINT) AS callId WHERE false")


def _write_protected(con: duckdb.DuckDBPyConnection, settings: Settings, info: dict, tmp: Path) -> None:
    """The catalog, with this publish recorded in it, copied byte for byte (owner-only) once it is checkpointed."""
    con.execute("BEGIN")
    con.execute("DELETE FROM published_info")
    con.execute(sql("publish/published_info_lake"), {**info, "store": "protected", "mode": "fresh"})
    con.execute("COMMIT")
    if settings.shared:
        return  # readers attach the shared catalog itself (catalog.published_lake): nothing to copy
    con.execute(f"CHECKPOINT {metadata(ALIAS)}")  # the catalog file whole, its WAL empty: a consistent copy
    _copy_private(settings.database, tmp)


def _calls_files(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[list[Any], int]:
    """The published paths of the calls files the analyst view reads: links to the lake's files, or copies
    without the calls a pending deletion names; returns them and how many are such copies."""
    gid = _analyst_gid(settings)
    current = data_files(con, "calls")
    if any(deletes for _, deletes in current):  # lake.tidy rewrites every file with deletes first
        raise RuntimeError("a calls file still has deleted rows at publish time; not publishing it to analysts")
    hiding = _files_holding_hidden_calls(con, [f for f, _ in current])
    if settings.shared:  # no hard links to object storage or another file system: copies under the analyst prefix
        return _analyst_prefix_files(con, settings, current, hiding, gid), len(hiding)
    published = []
    data_dir = settings.data_dir.resolve()  # the lake names its files under the resolved home (catalog.data_uri)
    for data_file, _ in current:
        target = settings.published_dir / LINKS / data_file.relative_to(data_dir)
        _folders(settings, target.parent, gid)
        if data_file in hiding:
            target = target.with_name(f"{target.stem}.visible.parquet")
            _write_visible_copy(con, data_file, target, gid)
        elif not target.exists():
            if gid is not None:
                # widened before it gets a name in published/: data/ itself stays owner-only (0700)
                os.chown(data_file, -1, gid)
                os.chmod(data_file, 0o640)
            os.link(data_file, target)
        published.append(target)
    if published and (settings.published_dir / LINKS).is_dir():
        fsync_path(settings.published_dir / LINKS)
    return published, len(hiding)


def _files_holding_hidden_calls(con: duckdb.DuckDBPyConnection, files: list[Any]) -> set[Any]:
    if not files or not con.execute("SELECT count(*) FROM materialise_winners").fetchall()[0][0]:
        return set()
    rows = con.execute(
        "SELECT DISTINCT filename FROM read_parquet($files, filename = true, union_by_name = true) "
        "WHERE id IN (SELECT callId FROM materialise_winners)",
        {"files": [str(f) for f in files]},
    ).fetchall()
    return {file_ref(r[0]) for r in rows}


def _write_visible_copy(con: duckdb.DuckDBPyConnection, source: Path | str, target: Path, gid: int | None) -> None:
    """A copy of a calls file without the calls pending deletions name, written privately then renamed."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    with private_files():
        _copy_visible(con, source, str(tmp))
    if gid is not None:
        os.chown(tmp, -1, gid)
        os.chmod(tmp, 0o640)
    fsync_path(tmp)
    os.replace(tmp, target)


def _copy_visible(con: duckdb.DuckDBPyConnection, source: Path | str, target: str) -> None:
    con.execute(
        f"COPY (SELECT {_call_columns(con)} FROM read_parquet($f, union_by_name = true) "  # noqa: S608 -- catalog names
        f"WHERE id NOT IN (SELECT callId FROM materialise_winners) ORDER BY id) TO {quoted(target)} "
        f"(FORMAT parquet, COMPRESSION {_compression(con)})",
        {"f": str(source)},
    )


def _analyst_prefix_files(con: duckdb.DuckDBPyConnection, settings: Settings, current: list[Any], hiding: set[Any],
                          gid: int | None) -> list[str]:
    """Shared layout: the calls files the analyst view reads, copied under the analyst prefix (``analyst_data``),
    which is all an analyst's credentials reach. A file holding a call a pending deletion names is copied without
    it at every publish; the others whole, once (a lake file never changes), by the object store itself (S3
    CopyObject: no transfer through this machine) or a copy on the mount, under a temporary name then renamed."""
    fs, root = analyst_filesystem(settings)
    where = analyst_data(settings)
    local = not where.startswith("s3://")
    if local:
        _folders(settings, Path(root) / "calls", gid, top=Path(root).parent)
    published = []
    for data_file, _ in current:
        stem = PurePosixPath(str(data_file)).stem
        name = f"{stem}.visible.parquet" if data_file in hiding else f"{stem}.parquet"
        target = f"{root}calls/{name}"
        if data_file in hiding:
            if local:
                _write_visible_copy(con, data_file, Path(target), gid)
            else:
                _copy_visible(con, data_file, where + f"calls/{name}")  # an S3 upload appears whole or not at all
        elif fs.get_file_info(target).type == pafs.FileType.NotFound:
            if local:
                _put_for_analysts(Path(data_file), Path(target), gid)
            else:
                fs.copy_file(str(data_file).removeprefix("s3://"), target)
        published.append(where + f"calls/{name}")
    return published


def _put_analyst_store(settings: Settings, gid: int | None) -> None:
    """Shared layout: the analyst store just published, put at the top of the analysts' prefix, where every home's
    analysts read it (``published.open_store``): a home that only reads never shows analysts a stale store."""
    fs, root = analyst_filesystem(settings)
    source = store_path(settings, "analyst")
    if root.startswith("/"):
        _put_for_analysts(source, Path(root) / ANALYST_STORE, gid)
        fsync_path(Path(root))
    else:  # one PUT (or a multipart upload): S3 shows the new object whole or not at all
        pafs.copy_files(str(source), root + ANALYST_STORE, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=fs)


def _put_for_analysts(source: Path, target: Path, gid: int | None) -> None:
    """Shared layout on a mount: a copy of ``source`` at ``target``, whole or not at all (a temporary beside it,
    fsynced, renamed), owner-only, or readable by the analysts' group when there is one."""
    tmp = target.with_name(f".{target.name}.tmp")
    with private_files():
        shutil.copyfile(source, tmp)
    if gid is not None:
        os.chown(tmp, -1, gid)
        os.chmod(tmp, 0o640)
    fsync_path(tmp)
    os.replace(tmp, target)


def _remove_superseded_analyst_files(settings: Settings, keep: list[Any]) -> None:
    """Shared layout: copies under the analyst prefix that the new analyst store no longer names."""
    fs, root = analyst_filesystem(settings)
    wanted = {str(k).removeprefix("s3://") for k in keep}
    for info in fs.get_file_info(pafs.FileSelector(root + "calls", recursive=True, allow_not_found=True)):
        if info.type == pafs.FileType.File and info.path not in wanted:
            fs.delete_file(info.path)


COMPRESSIONS = frozenset({"uncompressed", "snappy", "gzip", "zstd", "brotli", "lz4", "lz4_raw"})


def _compression(con: duckdb.DuckDBPyConnection) -> str:
    """The lake's Parquet compression (a copy is written as the lake writes its own files), from a fixed set."""
    rows = con.execute(
        "SELECT value FROM ducklake_options($c) WHERE option_name = 'parquet_compression' AND scope = 'GLOBAL'", {"c": ALIAS}
    ).fetchall()
    value = str(rows[0][0]).lower() if rows else "zstd"
    return value if value in COMPRESSIONS else "zstd"


def _folders(settings: Settings, folder: Path, gid: int | None, top: Path | None = None) -> None:
    """published/data/... folders (or the analyst prefix's, below ``top``): 0750 with the analyst group when it is
    set, else owner-only."""
    top = top or settings.published_dir
    for part in reversed([folder, *folder.parents]):
        if part == top or top not in part.parents or part.is_dir():
            continue
        with private_files():
            part.mkdir(mode=0o700)
        if gid is not None:
            os.chown(part, -1, gid)
            os.chmod(part, 0o750)


def _remove_superseded_links(settings: Settings, keep: list[Any]) -> None:
    """Published copies of calls files the new analyst store no longer names (they may hold a call deleted since)."""
    wanted = set(keep)
    links = settings.published_dir / LINKS
    for path in list(walk_files(links)):
        if path not in wanted:
            path.unlink(missing_ok=True)
    for root, dirs, _ in os.walk(links, topdown=False):
        for name in dirs:
            with contextlib.suppress(OSError):
                (Path(root) / name).rmdir()  # empty month folders
    if links.is_dir():
        fsync_path(links)


def _call_columns(con: duckdb.DuckDBPyConnection) -> str:
    names = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = $c AND table_name = 'calls' "
        "ORDER BY ordinal_position", {"c": ALIAS},
    ).fetchall()]
    return ", ".join(f'"{n}"' for n in names)


def _write_analyst(con: duckdb.DuckDBPyConnection, files: list[Any]) -> None:
    """The analyst store, attached as pub: the allow-listed tables, calls as a view over its files, the views."""
    for statement in duckdb.extract_statements(sql("publish/analyst")):
        con.execute(statement.query)
    columns = _call_columns(con)
    if files:
        paths = "[" + ", ".join(quoted(f) for f in files) + "]"
        source = f"read_parquet({paths}, union_by_name = true)"
    else:
        source = f"(SELECT * FROM {ALIAS}.calls LIMIT 0)"  # noqa: S608 -- fixed names
    if files:
        con.execute(f"CREATE VIEW pub.calls AS SELECT {columns} FROM {source}")  # noqa: S608 -- paths quoted, names from the catalog
    else:
        con.execute(f"CREATE TABLE pub.calls AS SELECT {columns} FROM {source}")  # noqa: S608 -- an empty table of the same columns
    con.execute("USE pub")
    try:
        for view in ANALYST_VIEWS:
            con.execute(sql(f"views/{view}"))
    finally:
        con.execute(f"USE {ALIAS}")


def _remove_temp(tmp: Path) -> None:
    tmp.unlink(missing_ok=True)
    tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


@contextlib.contextmanager
def _attached(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[None]:
    """``path`` attached as ``pub`` (created owner-only); DETACH checkpoints it, so no WAL is left."""
    with private_files():
        con.execute(f"ATTACH {quoted(path)} AS pub")
    try:
        yield
    finally:
        con.execute("DETACH pub")
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def _copy_private(source: Path, target: Path) -> None:
    """A byte copy of a DuckDB file, owner-only from creation."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(source, "rb") as src:
            size = os.fstat(src.fileno()).st_size
            copied = 0
            while copied < size:
                n = os.copy_file_range(src.fileno(), fd, size - copied)
                if n == 0:
                    break
                copied += n
    finally:
        os.close(fd)


def _finish_file(settings: Settings, store: Store, tmp: Path) -> None:
    gid = _analyst_gid(settings) if store == "analyst" else None
    if gid is not None:
        # widened before it gets its public name: until then only the owner can open it
        os.chown(tmp, -1, gid)
        os.chmod(tmp, 0o640)
    fsync_path(tmp)


# ---------------------------------------------------------------- the officers' page store


def _write_pages(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """The officers' page store: each deleted month's rows of ``deleted_calls`` as a DuckDB file of their own,
    sorted by id, in ``published/pages/`` (owner-only). A month's file is named by its month and a fingerprint
    of the lake files that hold it (data and delete files, which DuckLake never changes once written, and the
    schema version), so a month whose files did not change since the last publish is not written again.

    A month whose previous files are all still there unchanged only gained rows (a night's materialise): its
    previous page file is copied and the new rows (ids past its last) appended, checked by count against the
    lake; otherwise (an erasure, a compaction, a row of a lower id) the month is written whole. A night thus
    writes what it adds, a purge writes nothing. Returns the manifest: {"months": {month: file name},
    "files": {month: [lake files]}}.
    """
    folder = settings.published_dir / PAGES
    with private_files():
        folder.mkdir(exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    months: dict[str, list[str]] = {}
    for data_file, delete_file in data_files(con, "deleted_calls"):
        months.setdefault(_partition_month(str(data_file)), []).append(f"{data_file}|{delete_file or ''}")
    previous = _read_manifest(folder)
    version = current_version(con)
    names: dict[str, str] = {}
    for month, files in sorted(months.items()):
        files.sort()
        digest = hashlib.sha256("\n".join([f"schema {version}", *files]).encode()).hexdigest()[:20]
        name = f"{month}.{digest}.duckdb"
        target = folder / name
        if not target.exists():
            tmp = folder / f".{name}.tmp"
            _remove_temp(tmp)
            before = previous["months"].get(month)
            grown = (before is not None and (folder / before).exists()
                     and previous.get("version") == version and set(previous["files"].get(month, [])) <= set(files))
            if not (grown and _append_page(con, folder / before, tmp, month)):
                _remove_temp(tmp)
                with _attached(con, tmp):
                    con.execute("CREATE TABLE pub.deleted_calls AS SELECT * FROM deleted_calls WHERE deletedMonth = $m ORDER BY id",
                                {"m": month})
            fsync_path(tmp)
            os.replace(tmp, target)
        names[month] = name
    fsync_path(folder)
    return {"months": names, "files": months, "version": version}


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return {"months": {}, "files": {}}
    return {"months": manifest.get("months", {}), "files": manifest.get("files", {}), "version": manifest.get("version")}


def _append_page(con: duckdb.DuckDBPyConnection, source: Path, tmp: Path, month: str) -> bool:
    """``tmp``: a copy of a month's previous page file with the month's rows of higher ids appended; False (and
    ``tmp`` to be written whole) when the result does not hold exactly the lake's rows of that month."""
    _copy_private(source, tmp)
    with _attached(con, tmp):
        last = con.execute("SELECT max(id) FROM pub.deleted_calls").fetchall()[0][0]
        con.execute("INSERT INTO pub.deleted_calls SELECT * FROM deleted_calls WHERE deletedMonth = $m AND id > $last ORDER BY id",
                    {"m": month, "last": last if last is not None else -(2**62)})
        got = con.execute("SELECT count(*) FROM pub.deleted_calls").fetchall()[0][0]
        want = con.execute("SELECT count(*) FROM deleted_calls WHERE deletedMonth = $m", {"m": month}).fetchall()[0][0]
    return bool(got == want)


def _partition_month(path: str) -> str:
    """The deleted month a deleted_calls file holds, from its partition folder (``deletedMonth=2026-03``)."""
    for part in reversed(PurePosixPath(path).parts):
        if part.startswith("deletedMonth="):
            return part.removeprefix("deletedMonth=")
    raise RuntimeError(f"a deleted_calls file outside a month's folder: {path}; not publishing it")


def _put_manifest(settings: Settings, pages: dict[str, Any]) -> None:
    """Name the current page files (``published/pages/manifest.json``), replaced whole by rename."""
    folder = settings.published_dir / PAGES
    tmp = folder / f".{MANIFEST}.tmp"
    write_durably(tmp, json.dumps(pages, sort_keys=True).encode())
    os.replace(tmp, folder / MANIFEST)
    fsync_path(folder)


def _remove_superseded_pages(settings: Settings, pages: dict[str, Any]) -> None:
    """Page files the manifest no longer names: a month purged (its rows must not outlive the purge) or rewritten."""
    wanted = {*pages["months"].values(), MANIFEST}
    folder = settings.published_dir / PAGES
    for path in list(walk_files(folder)):
        if path.name not in wanted:
            path.unlink(missing_ok=True)
    fsync_path(folder)
