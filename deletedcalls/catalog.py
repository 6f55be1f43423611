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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import duckdb

from deletedcalls.errors import EnvironmentFailure, WarehouseBusy
from deletedcalls.sqlfiles import quoted

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from deletedcalls.settings import Settings

# the catalog's own schema of tables in the DuckDB file (what DuckLake calls its metadata catalog)
METADATA = "__ducklake_metadata_{alias}"
# extension -> the wheel that carries it (postgres_scanner: the wheel whose file name LOADs; see DECISIONS.md)
WHEELS = {"ducklake": "duckdb_extension_ducklake", "postgres_scanner": "duckdb_extension_postgres_scanner",
          "httpfs": "duckdb_extension_httpfs", "aws": "duckdb_extension_aws"}
# The advisory lock key of the one writer of a shared warehouse (one warehouse per catalog database): a fixed
# number of ours, so that another application's advisory locks in the same database are unlikely to collide.
WRITER_LOCK_KEY = 0x2D5C_1E0A_7B3F_4C11
# The analysts' prefix of a shared warehouse is the data URI with this suffix (``analyst_data``).
ANALYST_SUFFIX = "-analyst"
# The analyst store of a shared warehouse, as its last writer command published it, at the top of that prefix.
ANALYST_STORE = "analyst.duckdb"


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


def analyst_data(settings: Settings) -> str:
    """Where a shared warehouse's analysts read calls files: a prefix beside the lake's data, never under it
    (``s3://b/wh`` -> ``s3://b/wh-analyst/``; ``file:///mnt/wh`` -> ``/mnt/wh-analyst/``). Beside, so that an S3
    policy or folder mode grants analysts that prefix and not the lake's, and DuckLake's orphan cleanup of the data
    path never lists it. Publish writes copies of the current calls files there, without the calls a pending
    deletion names (docs/SECURITY.md, "A shared warehouse")."""
    return lake_data(settings).rstrip("/") + ANALYST_SUFFIX + "/"


def analyst_filesystem(settings: Settings) -> tuple[pafs.FileSystem, str]:
    """The analyst prefix as a pyarrow file system and its root there (``bucket/prefix-analyst/`` or a folder)."""
    import pyarrow.fs as pafs  # only publish and its tests need it: not at every command's start

    where = analyst_data(settings)
    if not where.startswith("s3://"):
        return pafs.LocalFileSystem(), where
    options: dict[str, object] = {"connect_timeout": 10, "request_timeout": 60}
    endpoint = s3_endpoint(settings)
    if endpoint:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options.update(endpoint_override=url.netloc, scheme=url.scheme or "https")
    region = s3_region(settings)
    if region:
        options["region"] = region
    return pafs.S3FileSystem(**options), where.removeprefix("s3://")


def s3_endpoint(settings: Settings) -> str:
    return settings.lake_s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""


def s3_region(settings: Settings) -> str:
    return settings.lake_s3_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""


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
    ``postgres_scan`` would reach the catalog database whatever ``enable_external_access`` says, and an S3
    secret for the analyst prefix only (``analyst_data``), not for the lake's data.
    """
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"LOAD {quoted(extension_path())}")
        if settings is not None and settings.shared:
            for name in ("postgres_scanner", "httpfs", "aws") if catalog else ("httpfs", "aws"):
                con.execute(f"LOAD {quoted(extension_path(name))}")
            if lake_data(settings).startswith("s3://"):
                if catalog:
                    s3_secret(con, settings, "lake_s3", lake_data(settings))
                s3_secret(con, settings, "analyst_s3", analyst_data(settings))
    except BaseException:
        con.close()
        raise
    return con


def s3_secret(con: duckdb.DuckDBPyConnection, settings: Settings, name: str, scope: str) -> None:
    """A temporary (never written) S3 secret ``name`` (a fixed word) from the AWS credential chain, scoped to a prefix."""
    endpoint = s3_endpoint(settings)
    options = ["TYPE s3", "PROVIDER credential_chain", f"SCOPE {quoted(scope)}"]
    region = s3_region(settings)
    if region:
        options.append(f"REGION {quoted(region)}")
    if endpoint:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options += [f"ENDPOINT {quoted(url.netloc)}", "URL_STYLE 'path'", f"USE_SSL {'true' if url.scheme == 'https' else 'false'}"]
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET {name} ({', '.join(options)})")


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

    A session-level PostgreSQL advisory lock, taken by a connection of its own to the catalog database in
    autocommit (psycopg): the session holds the lock and no transaction, so it keeps no snapshot that would stop
    VACUUM of the catalog (``vacuum_catalog``, after a purge). PostgreSQL releases the lock when the session
    ends: at the end of the block, or when the writer dies (kill -9, a lost machine) and its connection closes.
    Readers never take it. The home's layout needs none (its OS lock does).
    """
    if not settings.shared:
        yield
        return
    with _session(settings) as session:
        try:
            got = session.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK_KEY,)).fetchone()
        except _psycopg().Error as e:
            raise unreachable(settings, e) from e
        if not got or not got[0]:
            raise WarehouseBusy(
                f"warehouse {settings.home} is busy: another deletedcalls process (on this or another machine) is "
                "writing to its shared catalog; try again later"
            )
        try:
            yield
        finally:  # released now: a closed session's backend exits a moment later, and the next command may be quicker
            with contextlib.suppress(_psycopg().Error):
                session.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK_KEY,))


# How long the catalog's VACUUM FULL waits for a table a reader holds before the purge's command gives up (exit 5;
# the next retention run erases again): its exclusive lock queues new readers behind it while it waits.
VACUUM_LOCK_TIMEOUT = "20s"


def vacuum_catalog(settings: Settings) -> list[str]:
    """Rewrite the shared catalog's tables without their dead rows (``VACUUM FULL``), after a purge; their names.

    PostgreSQL keeps a deleted row's bytes in its table file until the space is reused: a purged month's file
    statistics (min/max phone numbers) stayed there after plain VACUUM too (measured: docs/SCALE.md, "Erasure on
    the catalog"). VACUUM FULL writes each DuckLake table anew and drops the old file. It runs outside a
    transaction (DuckDB's postgres extension cannot: it wraps every statement in one), in the writer's session
    kind: psycopg in autocommit. A reader's transaction that began before the purge keeps its rows visible, and
    then present, until the next VACUUM. The catalog's WAL is PostgreSQL's (docs/SCALE.md).
    """
    psycopg = _psycopg()
    with _session(settings) as session:
        try:
            session.execute(f"SET lock_timeout = '{VACUUM_LOCK_TIMEOUT}'")
            tables = [r[0] for r in session.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'ducklake%%' "
                "ORDER BY tablename").fetchall()]
            for table in tables:
                session.execute(psycopg.sql.SQL("VACUUM (FULL) {}").format(psycopg.sql.Identifier(table)))
        except psycopg.errors.LockNotAvailable as e:
            raise WarehouseBusy(
                f"warehouse {settings.home}: the purge is done, but the VACUUM of its shared catalog waited over "
                f"{VACUUM_LOCK_TIMEOUT} for a reader; the next retention run (retention enforce, run) erases again"
            ) from e
        except psycopg.Error as e:
            raise unreachable(settings, e) from e
    return tables


def _psycopg():  # noqa: ANN202 -- the module, imported where a shared warehouse needs it
    try:
        import psycopg
        import psycopg.sql
    except ImportError as e:
        raise EnvironmentFailure("the psycopg package is not installed: pip install 'deletedcalls[shared]'") from e
    return psycopg


@contextlib.contextmanager
def _session(settings: Settings) -> Iterator[Any]:
    """A psycopg connection to the catalog database in autocommit, closed at the end of the block."""
    psycopg = _psycopg()
    try:
        session = psycopg.connect(conninfo(settings), autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        raise unreachable(settings, e) from e
    try:
        yield session
    finally:
        session.close()  # the session ends: PostgreSQL releases its advisory lock


def unreachable(settings: Settings, error: Exception) -> EnvironmentFailure:
    """Exit 7 for a shared catalog or data location that cannot be reached (no server, refused, bad credentials)."""
    text = " ".join(str(error).split())[:300]
    return EnvironmentFailure(f"cannot reach the shared catalog {settings.lake_catalog} of {settings.home}: {text}")
