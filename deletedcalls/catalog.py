"""Where the warehouse's tables live, and attaching them: the lake's catalog and its data path (issues 28, 30).

The warehouse is one DuckLake (DuckDB's lakehouse format): a catalog that
holds every table's metadata (which Parquet files, which snapshot, small
tables inlined) and the Parquet data files under a data path, partitioned by
month. Two layouts:

- in the home (the default, needing no server): the catalog is a DuckDB file,
  ``deletedcalls.duckdb`` (the writer's store: only writer commands attach it,
  under the home's lock); the data path is ``data/`` (owner-only); readers
  attach a published copy of the catalog, ``published/protected.duckdb``,
  read-only, over the same data path, and never wait for the writer;
- shared (``[lake] catalog`` and ``data``, written by ``init --catalog URL
  --data URI``, docs/SCALE.md): the catalog is a PostgreSQL database
  (``postgresql://user@host:port/db``; the password from libpq's environment,
  never from a file of ours) and the data files are under ``s3://bucket/prefix``
  (credentials from the AWS chain, the endpoint from ``[lake.s3]``) or a shared
  mount (``file:///…``). Every home made with the same two is the same
  warehouse. One writer across machines: a PostgreSQL advisory lock
  (``writer_lock``), held by the writer command's own session to the catalog
  database, released by PostgreSQL when that session ends (a killed writer's
  too). Readers attach the catalog itself read-only: DuckLake reads one
  snapshot, PostgreSQL's MVCC never makes them wait.

This module is the one place that spells those locations (a catalog URL and a
data URI). Everything else attaches through ``attach``.

The extensions come from the ``duckdb-extension-*`` wheels (ducklake; for the
shared layout postgres_scanner, httpfs and aws) and are loaded from their files
with DuckDB's signature checks on: nothing is downloaded, and autoloading is off.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb

from deletedcalls.errors import EnvironmentFailure, WarehouseBusy
from deletedcalls.sqlfiles import quoted

if TYPE_CHECKING:
    from deletedcalls.settings import Settings

# the catalog's own schema of tables in the DuckDB file (what DuckLake calls its metadata catalog)
METADATA = "__ducklake_metadata_{alias}"
# extension -> the wheel that carries it (postgres_scanner: the wheel whose file name LOADs; see DECISIONS.md)
WHEELS = {"ducklake": "duckdb_extension_ducklake", "postgres_scanner": "duckdb_extension_postgres_scanner",
          "httpfs": "duckdb_extension_httpfs", "aws": "duckdb_extension_aws"}
# The advisory lock key of the one writer of a shared warehouse (one warehouse per catalog database): a fixed
# number of ours, so that another application's advisory locks in the same database are unlikely to collide.
WRITER_LOCK_KEY = 0x2D5C_1E0A_7B3F_4C11


@functools.cache
def extension_path(name: str = "ducklake") -> Path:
    """The signed extension file inside its installed wheel, for this duckdb version."""
    wheel = WHEELS[name]
    spec = importlib.util.find_spec(wheel)
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentFailure(f"the {wheel.replace('_', '-')} package is not installed "
                                 "(pip install deletedcalls installs ducklake; deletedcalls[shared] the others)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    found = sorted(folder.glob(f"{name}.duckdb_extension"))
    if not found:
        raise EnvironmentFailure(f"no {name} extension for duckdb {duckdb.__version__} in {folder}: install the matching wheel")
    return found[0]


@dataclass(frozen=True)
class Lake:
    """A lake to attach: its catalog (a DuckDB file, or a PostgreSQL conninfo) and the URI its data files are under."""

    catalog: Path | str
    data: str

    @property
    def url(self) -> str:
        if isinstance(self.catalog, str):
            return f"ducklake:postgres:{self.catalog}"
        return f"ducklake:{self.catalog}"


def data_uri(home: Path) -> str:
    """The data path of the home's lake: ``<home>/data/``, absolute (DuckLake stores it in the catalog)."""
    return str(home.resolve() / "data") + "/"


def lake_data(settings: Settings) -> str:
    """Where the data files are, as DuckDB names them: ``s3://bucket/prefix/``, a mount's absolute folder, or data/."""
    if not settings.shared:
        return data_uri(settings.home)
    data = settings.lake_data.rstrip("/") + "/"
    return data.removeprefix("file://")  # file:///mnt/x/ -> /mnt/x/: local paths, as the home's own layout has


def conninfo(settings: Settings) -> str:
    """The libpq connection string of the shared catalog (the URL as written: libpq reads URLs; no password)."""
    return "postgresql://" + settings.lake_catalog.split("://", 1)[1]


def writer_lake(settings: Settings | Path) -> Lake:
    from deletedcalls.settings import Settings

    if isinstance(settings, Settings):
        if settings.shared:
            return Lake(conninfo(settings), lake_data(settings))
        settings = settings.home
    return Lake(settings / "deletedcalls.duckdb", data_uri(settings))


def published_lake(settings: Settings | Path) -> Lake:
    """What readers attach: the published catalog copy over the writer's data files, or the shared catalog itself."""
    from deletedcalls.settings import Settings

    if isinstance(settings, Settings):
        if settings.shared:
            return writer_lake(settings)
        settings = settings.home
    return Lake(settings / "published" / "protected.duckdb", data_uri(settings))


def connection(settings: Settings | None = None, *, catalog: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the ducklake extension loaded and UTC as its time zone.

    UTC matters: partitions are months of ``startedAt`` (a TIMESTAMPTZ), which DuckDB
    computes in the session's zone. For a shared warehouse the postgres, httpfs and aws
    extensions are loaded too, and an s3:// data URI gets its (temporary) secret.
    ``catalog=False`` (the analyst store's connection): never the postgres extension, whose
    ``postgres_scan`` would reach the catalog database whatever ``enable_external_access`` says.
    """
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"LOAD {quoted(extension_path())}")
        if settings is not None and settings.shared:
            for name in ("postgres_scanner", "httpfs", "aws") if catalog else ("httpfs", "aws"):
                con.execute(f"LOAD {quoted(extension_path(name))}")
            if lake_data(settings).startswith("s3://"):
                s3_secret(con, settings)
    except BaseException:
        con.close()
        raise
    return con


def s3_secret(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """A temporary (never written) S3 secret from the AWS credential chain, scoped to the lake's bucket."""
    endpoint = settings.lake_s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    options = ["TYPE s3", "PROVIDER credential_chain", f"SCOPE {quoted(lake_data(settings))}"]
    region = settings.lake_s3_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    if region:
        options.append(f"REGION {quoted(region)}")
    if endpoint:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options += [f"ENDPOINT {quoted(url.netloc)}", "URL_STYLE 'path'", f"USE_SSL {'true' if url.scheme == 'https' else 'false'}"]
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET lake_s3 ({', '.join(options)})")


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


@contextlib.contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Hold the shared warehouse's writer lock for the block, or fail at once with ``WarehouseBusy``.

    A session-level PostgreSQL advisory lock, taken by a connection of its own to the catalog database
    (a DuckDB transaction keeps that one PostgreSQL session for the whole block). PostgreSQL releases it
    when the session ends: at the end of the block, or when the writer dies (kill -9, a lost machine)
    and its connection closes. Readers never take it. The home's layout needs none (its OS lock does).
    """
    if not settings.shared:
        yield
        return
    con = connection(settings)
    try:
        try:
            con.execute(f"ATTACH {quoted(conninfo(settings))} AS writer_lock (TYPE postgres)")
            con.execute("BEGIN")
            got = con.execute(
                "SELECT * FROM postgres_query('writer_lock', $q)", {"q": f"SELECT pg_try_advisory_lock({WRITER_LOCK_KEY})"}
            ).fetchall()[0][0]
        except duckdb.Error as e:
            raise unreachable(settings, e) from e
        if not got:
            raise WarehouseBusy(
                f"warehouse {settings.home} is busy: another deletedcalls process (on this or another machine) is "
                "writing to its shared catalog; try again later"
            )
        yield
    finally:
        con.close()  # the session ends: PostgreSQL releases the lock


def unreachable(settings: Settings, error: Exception) -> EnvironmentFailure:
    """Exit 7 for a shared catalog or data location that cannot be reached (no server, refused, bad credentials)."""
    text = " ".join(str(error).split())[:300]
    return EnvironmentFailure(f"cannot reach the shared catalog {settings.lake_catalog} of {settings.home}: {text}")
