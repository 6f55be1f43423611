"""Where the warehouse's tables live, and attaching them: the lake's catalog and its data path (issue 28).

The warehouse is one DuckLake (DuckDB's lakehouse format): a catalog that
holds every table's metadata (which Parquet files, which snapshot, small
tables inlined) and the Parquet data files under a data path, partitioned by
month. Today both are local to the home:

- the catalog is a DuckDB file, ``deletedcalls.duckdb`` (the writer's store:
  only writer commands attach it, under the home's lock);
- the data path is ``data/`` (owner-only), one folder per table and month;
- readers attach a published copy of the catalog, ``published/protected.duckdb``,
  read-only, over the same data path, and never wait for the writer.

This module is the one place that spells those locations (a catalog URL and a
data URI), so that a shared catalog (PostgreSQL) and object storage (``s3://``)
can be plugged in here later (issue 30). Everything else attaches through
``attach``.

The extension comes from the ``duckdb-extension-ducklake`` wheel and is loaded
from its file with DuckDB's signature checks on: nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import duckdb

from deletedcalls.sqlfiles import quoted

# the catalog's own schema of tables in the DuckDB file (what DuckLake calls its metadata catalog)
METADATA = "__ducklake_metadata_{alias}"


@functools.cache
def extension_path() -> Path:
    """The signed ducklake extension file inside the installed wheel, for this duckdb version."""
    spec = importlib.util.find_spec("duckdb_extension_ducklake")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the duckdb-extension-ducklake package is not installed (pip install deletedcalls installs it)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    found = sorted(folder.glob("ducklake.duckdb_extension"))
    if not found:
        raise RuntimeError(f"no ducklake extension for duckdb {duckdb.__version__} in {folder}: install the matching wheel")
    return found[0]


@dataclass(frozen=True)
class Lake:
    """A lake to attach: its catalog (a DuckDB file today) and the folder (URI) its data files are under."""

    catalog: Path
    data: str

    @property
    def url(self) -> str:
        return f"ducklake:{self.catalog}"


def data_uri(home: Path) -> str:
    """The data path of the home's lake: ``<home>/data/``, absolute (DuckLake stores it in the catalog)."""
    return str(home.resolve() / "data") + "/"


def writer_lake(home: Path) -> Lake:
    return Lake(home / "deletedcalls.duckdb", data_uri(home))


def published_lake(home: Path) -> Lake:
    """The catalog copy readers attach (``published/protected.duckdb``), over the writer's data files."""
    return Lake(home / "published" / "protected.duckdb", data_uri(home))


def connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the ducklake extension loaded and UTC as its time zone.

    UTC matters: partitions are months of ``startedAt`` (a TIMESTAMPTZ), which DuckDB
    computes in the session's zone.
    """
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"LOAD {quoted(extension_path())}")
    return con


def attach(con: duckdb.DuckDBPyConnection, lake: Lake, alias: str, *, read_only: bool = False) -> None:
    """ATTACH the lake as ``alias``. A home that moved keeps working: the data path is always given (and
    overrides the one recorded in the catalog, which DuckLake stores absolute).

    Read-only (a reader of the published catalog copy): the Parquet footers a query reads are kept for the
    connection's next queries (~1.5 ms of a ~10 ms page at 10M deleted calls). Safe because a lake's data file
    is never changed once written, only replaced by a new file under a new name.
    """
    options = [f"DATA_PATH {quoted(lake.data)}", "OVERRIDE_DATA_PATH true"]
    if read_only:
        options.append("READ_ONLY")
        con.execute("SET parquet_metadata_cache = true")
    con.execute(f"ATTACH {quoted(lake.url)} AS {alias} ({', '.join(options)})")


def metadata(alias: str) -> str:
    """The name of the attached lake's own catalog database (its ducklake_* tables)."""
    return METADATA.format(alias=alias)
