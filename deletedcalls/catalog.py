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
import time
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
        _quiet(session)  # before this command writes a value
        try:
            yield
        finally:  # released now: a closed session's backend exits a moment later, and the next command may be quicker
            _quiet(session)  # a table this command made (init's, an inlined table's new version)
            with contextlib.suppress(_psycopg().Error):
                session.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK_KEY,))


def _quiet(session: Any) -> None:
    """``quiet_statistics``, one try of LOCK_TIMEOUT per lock: what a reader held, the next writer command does."""
    with contextlib.suppress(_psycopg().Error):
        session.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        quiet_statistics(session, attempts=1)


# The catalog's upkeep (VACUUM FULL after a purge; dropping planner statistics) needs a table's exclusive lock, and
# while it waits for one a reader holds, PostgreSQL queues every new reader of that table behind it (issue 30,
# finding 9: a reader waited 20 s). So each attempt waits a moment only, then lets the queue through and tries again.
LOCK_TIMEOUT = "1s"
LOCK_ATTEMPTS = 4
LOCK_PAUSE_SECONDS = 2.0
# Column types of DuckLake's own tables that hold no value of a call (ids, counts, sizes, flags): their planner
# statistics are kept. Every other column (min_value, max_value, partition values, names, paths) and every column of
# an inlined data table (``ducklake_inlined_data_*``: the rows themselves) gets none (``quiet_statistics``).
NO_VALUE_TYPES = ("smallint", "integer", "bigint", "boolean", "real", "double precision", "oid")


def _exclusively(session: Any, statement: Any, attempts: int = LOCK_ATTEMPTS) -> bool:
    """Run ``statement`` (which takes a table's lock) within LOCK_TIMEOUT, in up to LOCK_ATTEMPTS tries spaced by
    LOCK_PAUSE_SECONDS; False when a reader held the table every time (the session sets its lock_timeout)."""
    psycopg = _psycopg()
    for attempt in range(attempts):
        if attempt:
            time.sleep(LOCK_PAUSE_SECONDS)
        try:
            session.execute(statement)
            return True
        except psycopg.errors.LockNotAvailable:
            continue
    return False


def quiet_statistics(session: Any, attempts: int = LOCK_ATTEMPTS) -> bool:
    """No PostgreSQL planner statistics on the catalog's value-holding columns, and none kept from before; idempotent.

    ANALYZE (autovacuum's too) copies a sample of each column into ``pg_statistic`` (most common values, histogram
    bounds): the min/max phone numbers of ``ducklake_file_column_stats`` stayed there after a purge (issue 30,
    finding 5). ``SET STATISTICS 0`` stops the collection (a SHARE UPDATE EXCLUSIVE lock: readers go on), but ANALYZE
    then leaves a column's old row in place; ``ALTER COLUMN … TYPE`` its own type drops it (PostgreSQL's
    RemoveStatistics; an exclusive lock, taken as ``_exclusively`` does), and VACUUM FULL of ``pg_statistic``, which a
    database owner may run on PostgreSQL 15, rewrites that catalog without the dead rows. Run by the writer's session
    at the start and end of every writer command (``writer_lock``) and after a purge (``vacuum_catalog``). Returns
    False when something was left for the next time (a reader held a table, or the role does not own the database).
    """
    psycopg = _psycopg()
    sql = psycopg.sql
    columns = session.execute(
        "SELECT c.relname, a.attname, a.attstattarget, format_type(a.atttypid, a.atttypmod), "
        "       EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname "
        "               AND s.attname = a.attname) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'ducklake%%' AND a.attnum > 0 "
        "AND NOT a.attisdropped AND (c.relname LIKE 'ducklake_inlined_data%%' "
        "     OR format_type(a.atttypid, NULL) <> ALL(%s)) ORDER BY 1, 2", (list(NO_VALUE_TYPES),)).fetchall()
    done, dropped = True, False
    for table, column, target, kind, analysed in columns:
        ident = sql.Identifier(table), sql.Identifier(column)
        if target != 0:
            done &= _exclusively(session, sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS 0").format(*ident),
                                 attempts)
        if analysed:  # collected before: its own type again drops pg_statistic's row (no rewrite, the same type)
            ok = _exclusively(session, sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(*ident, sql.SQL(kind)),
                              attempts)
            done &= ok
            dropped |= ok
    if dropped:
        owner = session.execute("SELECT pg_has_role(datdba, 'USAGE') FROM pg_database "
                                "WHERE datname = current_database()").fetchone()
        if owner and owner[0]:
            done &= _exclusively(session, "VACUUM (FULL) pg_catalog.pg_statistic", attempts)
        else:  # PostgreSQL skips it with a warning: the dead rows' bytes stay until the space is reused
            done = False
    return done


def vacuum_catalog(settings: Settings) -> list[str]:
    """Rewrite the shared catalog's tables without their dead rows (``VACUUM FULL``), after a purge; their names.

    PostgreSQL keeps a deleted row's bytes in its table file until the space is reused: a purged month's file
    statistics (min/max phone numbers) stayed there after plain VACUUM too (measured: docs/SCALE.md, "Erasure on
    the catalog"). VACUUM FULL writes each DuckLake table anew and drops the old file. It runs outside a
    transaction (DuckDB's postgres extension cannot: it wraps every statement in one), in the writer's session
    kind: psycopg in autocommit. A reader's transaction that began before the purge keeps its rows visible, and
    then present, until the next VACUUM. Readers wait a moment at most (``_exclusively``); a table a reader held
    through every attempt is left, and the purge's command exits 5 (``WarehouseBusy``): the purge itself is
    committed, its events stay unerased, and the next retention run erases again. The planner's statistics go
    too (``quiet_statistics``). The catalog's WAL is PostgreSQL's (docs/SCALE.md).
    """
    psycopg = _psycopg()
    with _session(settings) as session:
        try:
            session.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            tables = [r[0] for r in session.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'ducklake%%' "
                "ORDER BY tablename").fetchall()]
            held = [t for t in tables
                    if not _exclusively(session, psycopg.sql.SQL("VACUUM (FULL) {}").format(psycopg.sql.Identifier(t)))]
            statistics = quiet_statistics(session)
        except psycopg.Error as e:
            raise unreachable(settings, e) from e
    if held or not statistics:
        what = f"table(s) {', '.join(held)}" if held else "tables whose planner statistics go"
        raise WarehouseBusy(
            f"warehouse {settings.home}: the purge is done, but readers held {what} in the shared catalog through "
            f"{LOCK_ATTEMPTS} tries of {LOCK_TIMEOUT}; the next retention run (retention enforce, run) erases again")
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


# How S3 (DuckDB's httpfs, pyarrow, the AWS chain) words a data location that cannot be used, and what to say.
_STORAGE_TEXTS = (
    (("nosuchbucket", "no_such_bucket", "specified bucket does not exist"), "its bucket does not exist"),
    (("secret validation failure", "no credentials", "unable to locate credentials", "invalidaccesskeyid",
      "signaturedoesnotmatch", "invalidtoken", "expiredtoken", "accessdenied", "access denied", "http 403", "forbidden"),
     "the S3 credentials (the AWS chain: environment, profile, role) are missing or refused there"),
    (("could not resolve host", "connection refused", "could not establish connection", "failed to connect",
      "couldn't connect", "timed out"), "its S3 endpoint does not answer"),
)


def storage_failure(error: BaseException, home: Path) -> EnvironmentFailure | None:
    """Exit 7 for a shared warehouse's S3 data location that cannot be used (a bucket that does not exist,
    missing or refused credentials, an endpoint that does not answer), in one line naming it; None for anything
    else. The error's own text is not shown: an S3 error may quote a request's headers."""
    text = " ".join(str(error).split()).lower()
    if "s3" not in text and "aws" not in text and "bucket" not in text and "credential" not in text:
        return None
    why = next((what for needles, what in _STORAGE_TEXTS if any(n in text for n in needles)), None)
    if why is None:
        return None
    try:
        from deletedcalls.settings import load_settings

        settings = load_settings(home)
    except Exception:  # noqa: BLE001 -- no readable config (an init that failed early): the location is not named
        where = ""
    else:
        where = settings.lake_data if settings.shared else ""
        if not where.startswith("s3://"):
            return None  # a home of its own, or a mount: not the lake's bucket (a DR target's is DR's to report)
        bucket = where.removeprefix("s3://").split("/", 1)[0].lower()
        if bucket not in text and "secret validation failure" not in text:  # our secrets are the lake's only
            return None
    failure = EnvironmentFailure(f"cannot use the shared data location {where or 'on S3'} of {home}: {why}; "
                                 "fix it and run the same command again")
    failure.__cause__ = error if isinstance(error, Exception) else None
    return failure


def unreachable(settings: Settings, error: Exception) -> EnvironmentFailure:
    """Exit 7 for a shared catalog or data location that cannot be reached (no server, refused, bad credentials)."""
    text = " ".join(str(error).split())[:300]
    return EnvironmentFailure(f"cannot reach the shared catalog {settings.lake_catalog} of {settings.home}: {text}")
