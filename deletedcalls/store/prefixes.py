"""Guards of a shared warehouse's prefixes: whose data prefix it is (issue 30, findings 2, 3 and 6).

DuckLake's orphan cleanup (``lake.remove_orphans``, at the start of every writer command) deletes every Parquet
file under the data path that the catalog does not name, and publish replaces the analysts' prefix beside it. So a
data prefix must belong to one warehouse only:

- ``init`` of a new shared warehouse needs an empty data prefix and an empty analysts' prefix (``<data>-analyst/``),
  and no ancestor prefix that is another warehouse's data or analysts' prefix (a descendant one would make its own
  prefix non-empty); a ``file://`` data folder must not be, hold or lie inside a home (``check_new``);
- ``init`` with a catalog that already holds a warehouse names that warehouse's data path, or is refused
  (``check_catalog``);
- ``init`` writes a marker, ``<data>/deletedcalls-warehouse.json``, holding the catalog's warehouse id
  (``warehouse_info``), or checks the one there (``claim``); every writer command checks it before anything is
  deleted (``check_own``). DuckLake's cleanups delete only ``*.parquet`` files, so the marker stays (tested).

Every refusal is exit 2, one line; nothing has been written or deleted when it is raised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from deletedcalls.catalog import _session, analyst_data, analyst_filesystem, lake_data, unreachable
from deletedcalls.clock import utc_now
from deletedcalls.errors import EnvironmentFailure, UsageError
from deletedcalls.settings import CONFIG_NAME, Settings

if TYPE_CHECKING:
    import pyarrow.fs as pafs

MARKER = "deletedcalls-warehouse.json"
ANALYST_STORE_NAME = "analyst.duckdb"
SUFFIX = "-analyst"
# a folder holding one of these is a home of its own (config.toml alone could be anyone's: with the home's lock file)
HOME_DATABASE = "deletedcalls.duckdb"
HOME_LOCK = ".lock"


def _fs(settings: Settings) -> tuple[pafs.FileSystem, str, str]:
    """The file system of the data and analysts' prefixes, and their roots there, without a trailing slash."""
    fs, _ = analyst_filesystem(settings)
    strip = "s3://" if lake_data(settings).startswith("s3://") else ""
    return fs, lake_data(settings).removeprefix(strip).rstrip("/"), analyst_data(settings).removeprefix(strip).rstrip("/")


def _failed(settings: Settings, where: str, error: OSError) -> EnvironmentFailure:
    text = " ".join(str(error).split())[:200]
    return EnvironmentFailure(f"cannot read the shared data location {where} of {settings.home}: {text}")


def _is_empty(fs: pafs.FileSystem, root: str) -> bool:
    import pyarrow.fs as pafs

    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return True
    if info.type != pafs.FileType.Directory:
        return False
    return not fs.get_file_info(pafs.FileSelector(root, recursive=False, allow_not_found=True))


def _is_home(folder: Path) -> bool:
    return (folder / HOME_DATABASE).exists() or ((folder / CONFIG_NAME).exists() and (folder / HOME_LOCK).exists())


def check_new(settings: Settings) -> None:
    """A new shared warehouse's prefixes: empty, under no other warehouse's, no home among them (see the module)."""
    import pyarrow.fs as pafs

    fs, root, analysts = _fs(settings)
    try:
        for prefix, what in ((root, "data"), (analysts, "analysts'")):
            if not _is_empty(fs, prefix):
                where = _uri(settings, prefix)
                raise UsageError(f"--data {settings.lake_data}: the {what} prefix {where} is not empty; a new shared warehouse "
                                 "needs its own empty data prefix and the one beside it (<data>-analyst/): name another")
        probes: list[tuple[str, str]] = []
        parts = root.split("/")
        for n in range(len(parts) - 1, 1, -1):  # not the bucket or the file system's root
            ancestor = "/".join(parts[:n])
            probes += [(f"{ancestor}/{MARKER}", ancestor), (f"{ancestor}{SUFFIX}/{ANALYST_STORE_NAME}", ancestor)]
            if ancestor.endswith(SUFFIX):  # inside another warehouse's analysts' prefix
                probes.append((f"{ancestor.removesuffix(SUFFIX)}/{MARKER}", ancestor.removesuffix(SUFFIX)))
        found = fs.get_file_info([p for p, _ in probes]) if probes else []
    except OSError as e:
        raise _failed(settings, settings.lake_data, e) from e
    for (_, owner), info in zip(probes, found, strict=True):
        if info.type != pafs.FileType.NotFound:
            raise UsageError(f"--data {settings.lake_data} lies inside the prefixes of the shared warehouse whose data is "
                             f"{_uri(settings, owner)}; a warehouse's data prefix is its own: name one outside it")


def check_homes(settings: Settings) -> None:
    """A data folder on a mount (and the analysts' one beside it) must not be, hold, or lie inside a home, this one
    or another: the orphan cleanup would delete its Parquet files (data/, published/data/)."""
    if lake_data(settings).startswith("s3://"):
        return
    data, analysts = Path(lake_data(settings)).resolve(), Path(analyst_data(settings)).resolve()
    home = settings.home.resolve()
    for folder in (data, analysts):
        if folder == home or home in folder.parents or folder in home.parents:
            raise UsageError(f"--data {settings.lake_data} is, holds or lies inside the home {home}; a shared warehouse's "
                             "data folder is outside every home: name another")
        for candidate in (folder, *folder.parents):
            if _is_home(candidate):
                raise UsageError(f"--data {settings.lake_data} is or lies inside the warehouse home {candidate}; a shared "
                                 "warehouse's data folder is outside every home: name another")
        if folder.is_dir():
            for inner in (p for p in folder.rglob("*") if p.is_dir()):
                if _is_home(inner):
                    raise UsageError(f"--data {settings.lake_data} holds the warehouse home {inner}; a shared warehouse's "
                                     "data folder is outside every home: name another")


def _uri(settings: Settings, root: str) -> str:
    return f"s3://{root}/" if settings.lake_data.startswith("s3://") else f"file://{root}/"


def recorded_data(settings: Settings) -> str | None:
    """The data path the shared catalog's lake was made with (DuckLake's ``ducklake_metadata``), None when the
    catalog database holds no lake yet. A catalog nobody answers is exit 7."""
    try:
        with _session(settings) as session:
            if session.execute("SELECT to_regclass('ducklake_metadata')").fetchone()[0] is None:
                return None
            row = session.execute("SELECT value FROM ducklake_metadata WHERE key = 'data_path'").fetchone()
    except EnvironmentFailure:
        raise
    except Exception as e:  # psycopg's errors: its module is imported by _session
        raise unreachable(settings, e) from e
    return str(row[0]) if row else None


def check_catalog(settings: Settings) -> bool:
    """Whether the catalog already holds a warehouse; refused (exit 2, naming both) when its data path is not --data."""
    recorded = recorded_data(settings)
    if recorded is None:
        return False
    if recorded.rstrip("/") != lake_data(settings).rstrip("/"):
        raise UsageError(f"the catalog {settings.lake_catalog} holds a warehouse whose data is {recorded}, not "
                         f"{settings.lake_data}; a catalog has one data prefix: name that one, or a new catalog database")
    return True


def _read_marker(settings: Settings) -> dict[str, str] | None:
    fs, root, _ = _fs(settings)
    try:
        with fs.open_input_stream(f"{root}/{MARKER}") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        if "not found" in str(e).lower() or "no such" in str(e).lower():
            return None
        raise _failed(settings, settings.lake_data, e) from e
    try:
        marker = json.loads(raw)
    except ValueError:
        marker = None
    return marker if isinstance(marker, dict) else {}


def _warehouse_id(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.execute("SELECT warehouseId FROM warehouse_info").fetchall()[0][0])


def claim(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """init, after the migrations and before anything is published or tidied: write the marker, or check it is this
    catalog's (a warehouse made before the marker gets one: its catalog named this data path)."""
    mine = _warehouse_id(con)
    marker = _read_marker(settings)
    if marker is None:
        fs, root, _ = _fs(settings)
        text = json.dumps({"warehouseId": mine, "data": settings.lake_data, "markedAt": utc_now().isoformat()}, indent=2)
        try:
            fs.create_dir(root, recursive=True)
            with fs.open_output_stream(f"{root}/{MARKER}") as f:
                f.write(text.encode() + b"\n")
        except OSError as e:
            raise _failed(settings, settings.lake_data, e) from e
    elif marker.get("warehouseId") != mine:
        raise _foreign(settings, mine, marker)


def check_own(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """A writer command, before the orphan cleanup: the data prefix's marker names this catalog's warehouse."""
    mine = _warehouse_id(con)
    marker = _read_marker(settings)
    if marker is None:
        fs, root, _ = _fs(settings)
        try:
            nothing = _is_empty(fs, root)
        except OSError as e:
            raise _failed(settings, settings.lake_data, e) from e
        if nothing:  # no marker and no file at all: a bucket that does not exist, or one these credentials cannot see
            raise EnvironmentFailure(f"the shared data location {settings.lake_data} of {settings.home} holds nothing this "
                                     "warehouse wrote (a bucket that does not exist, or credentials that cannot read it); "
                                     "nothing was changed")
        raise UsageError(f"the data prefix {settings.lake_data} of {settings.home} has no {MARKER}, so nothing marks it as "
                         f"this warehouse's; nothing was changed: run `deletedcalls --home {settings.home} init` to mark it")
    if marker.get("warehouseId") != mine:
        raise _foreign(settings, mine, marker)


def _foreign(settings: Settings, mine: str, marker: dict[str, str]) -> UsageError:
    theirs = marker.get("warehouseId") or "unreadable"
    return UsageError(f"the data prefix {settings.lake_data} of {settings.home} belongs to another warehouse ({MARKER}: "
                      f"{theirs}; this catalog's is {mine}); nothing was changed: a data prefix is one warehouse's")
