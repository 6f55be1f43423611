"""Converting a home of the old layout (one DuckDB file, sql/legacy/) into the lake (issue 28).

``deletedcalls init`` on a home whose ``deletedcalls.duckdb`` is a plain
warehouse (not a lake's catalog) converts it, under the writer's lock:

1. the old file is brought to the last legacy schema version (as
   ``init`` always did) and checkpointed, so that it has no WAL;
2. a new lake is built beside it: catalog ``.deletedcalls.duckdb.lake``, data
   files under ``.data.converting/``; every table is copied, the key index
   built from the calls and deleted calls, purged keys turned into 16 bytes;
3. every table is verified row for row: its count and the sum of its rows'
   hashes, on both sides (purged keys through the same conversion);
4. the new catalog replaces the old file (one rename), then the data folder
   gets its name, ``data/``.

A warehouse written by duckdb 2.x (storage version 999) cannot be opened by
duckdb 1.5.5: it is exported first by the duckdb that wrote it
(``store/export_v2.py``, run with the previous installation's Python, into
``.export-v2/``); step 1 then starts from that export, imported here into a
1.5-format file (``IMPORT DATABASE``) whose every table's count is checked
against the export's own count, and the export and the imported file are
removed once the lake is in place. Without an export, ``init`` says how to
make one (exit 2) and changes nothing.

The old file is untouched until step 4. A conversion killed before it is
started over by the next ``init`` (what it built is removed first); one
killed between the two renames is finished by the next writer. Other commands
refuse a home that still has the old layout (exit 2: run ``init``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from deletedcalls import logs
from deletedcalls.catalog import Lake, attach, connection
from deletedcalls.clock import utc_now
from deletedcalls.errors import IntegrityFailure, UsageError
from deletedcalls.fsutil import crash_point, fsync_path, private_files
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import migrations, quoted, sql, sql_dir
from deletedcalls.store.export_v2 import EXPORT
from deletedcalls.store.lake import READ_BY_PAGE, configure


def lake_schema() -> tuple[int, str]:
    """The migration that creates the lake (the first of sql/schema/); later ones are applied by init as usual."""
    return migrations()[0]


def legacy_last() -> int:
    """The last schema version of the single-file layout (sql/legacy/): an old home is brought to it first."""
    return max(int(p.name[:3]) for p in (sql_dir() / "legacy").glob("[0-9][0-9][0-9]_*.sql"))

NEW_CATALOG = ".deletedcalls.duckdb.lake"
NEW_DATA = ".data.converting"
# tables of the lake that the old layout does not have
LAKE_ONLY = frozenset({"call_keys", "published_info"})
# A table read a page at a time is copied this many ids per statement, so that each data file stays small (lake.py)
CHUNK_IDS = 500_000


@dataclass(frozen=True)
class Converted:
    tables: int
    rows: int


def _new_catalog(settings: Settings) -> Path:
    return settings.home / NEW_CATALOG


def _new_data(settings: Settings) -> Path:
    return settings.home / NEW_DATA


IMPORTED = ".deletedcalls.duckdb.imported"


def written_by_newer_duckdb(path: Path) -> bool:
    """Whether the file is a DuckDB database of a storage version this duckdb cannot read (written by duckdb 2.x)."""
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.IOException as e:
        if "newer version" in str(e):
            return True
        raise
    return False


def _import_export(settings: Settings) -> Path:
    """The 2.x warehouse's export (store/export_v2.py) imported into a file this duckdb reads, every count checked."""
    import json

    from deletedcalls.store import export_v2

    export = settings.home / EXPORT
    if not (export / "counts.json").is_file():
        raise UsageError(
            f"{settings.database} was written by duckdb 2.x, which this version (duckdb {duckdb.__version__}, for the "
            f"lake) cannot open; export it first with the previous installation's Python: OLD_VENV/bin/python "
            f"{Path(export_v2.__file__).resolve()} {settings.home}; then run init again (docs/DECISIONS.md, issue 28)")
    counts = json.loads((export / "counts.json").read_text(encoding="utf-8"))["tables"]
    imported = settings.home / IMPORTED
    for stale in (imported, imported.with_name(IMPORTED + ".wal")):
        stale.unlink(missing_ok=True)
    with private_files():
        con = duckdb.connect(str(imported))
    try:
        con.execute(f"IMPORT DATABASE {quoted(export)}")
        for table, expected in counts.items():
            found = con.execute(f'SELECT count(*) FROM main."{table}"').fetchall()[0][0]  # noqa: S608 -- names of the export
            if found != expected:
                raise IntegrityFailure(f"importing {export}: {table} holds {found} rows, the old file {expected}; nothing was changed")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return imported


def is_lake(path: Path) -> bool:
    """Whether a DuckDB file is a lake's catalog (it has DuckLake's metadata tables) rather than an old warehouse."""
    if written_by_newer_duckdb(path):
        return False
    con = duckdb.connect(str(path), read_only=True)
    try:
        return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'ducklake_metadata'").fetchall()[0][0])
    finally:
        con.close()


def layout_settled(settings: Settings) -> bool:
    """True when the home is a lake with nothing of a conversion left; the cheap check every command makes."""
    return (settings.data_dir.is_dir() and not _new_data(settings).exists() and not _new_catalog(settings).exists()
            and not (settings.home / IMPORTED).exists() and not (settings.home / EXPORT).exists())


def finish_or_refuse(settings: Settings) -> bool:
    """For a home that is not plainly a lake: finish a conversion that swapped its catalog already (True), or
    return False for an old-layout home (the caller converts it, or refuses). The caller holds the lock."""
    if not settings.database.exists():
        return True
    if is_lake(settings.database):
        if _new_data(settings).exists():
            os.replace(_new_data(settings), settings.data_dir)
            fsync_path(settings.home)
        _new_catalog(settings).unlink(missing_ok=True)
        _remove_imported(settings)
        return True
    return False


def convert(settings: Settings) -> Converted:
    """Convert the old-layout warehouse of the home into a lake, verified, then swap it in (the caller holds the lock)."""
    _remove_partial(settings)
    source = _import_export(settings) if written_by_newer_duckdb(settings.database) else settings.database
    _bring_to_legacy_last(source)
    catalog, data = _new_catalog(settings), _new_data(settings)
    with private_files():
        data.mkdir(mode=0o700)
        con = connection()
        attach(con, Lake(catalog, str(data.resolve()) + "/"), "lake")
    try:
        con.execute(f"ATTACH {quoted(source)} AS old (READ_ONLY)")
        con.execute("USE lake")
        for name in ("purged_key", "call_key"):
            con.execute(sql(f"macros/{name}"))
        con.execute("BEGIN")
        version, name = lake_schema()
        con.execute(sql(f"schema/{name[:-4]}"))
        con.execute("COMMIT")
        configure(con)
        tables = _tables(con, "lake")
        rows = 0
        for table in tables:
            if table in LAKE_ONLY:
                continue
            con.execute("BEGIN")
            con.execute(f'DELETE FROM lake."{table}"')  # noqa: S608 -- a catalog name; what 011 seeded (counters, warehouse_info): the old rows win
            _copy(con, table)
            con.execute("COMMIT")
            crash_point("convert-copied")
        con.execute("BEGIN")
        con.execute("INSERT INTO schema_migrations VALUES ($v, $n, $t)", {"v": version, "n": name, "t": utc_now()})
        con.execute(sql("convert/call_keys"))
        con.execute("COMMIT")
        for table in tables:
            if table not in LAKE_ONLY:
                rows += _verify(con, table)
        con.execute("CHECKPOINT __ducklake_metadata_lake")
        con.execute("USE memory")
        con.execute("DETACH old")
        con.execute("DETACH lake")
    finally:
        con.close()
    for wal in (catalog.with_name(catalog.name + ".wal"),):
        if wal.exists() and wal.stat().st_size:
            raise IntegrityFailure(f"{wal} still holds changes after the conversion's checkpoint; not swapping (run init again)")
        wal.unlink(missing_ok=True)
    fsync_path(catalog)
    crash_point("convert-verified")
    os.replace(catalog, settings.database)
    fsync_path(settings.home)
    crash_point("convert-swapped")
    os.replace(data, settings.data_dir)
    fsync_path(settings.home)
    _remove_imported(settings)
    logs.info(f"converted the warehouse to the lake layout: {len(tables) - len(LAKE_ONLY)} tables, {rows} rows, verified",
              stage="init", tables=len(tables), rows=rows)
    return Converted(len(tables) - len(LAKE_ONLY), rows)


def _remove_imported(settings: Settings) -> None:
    """A 2.x warehouse's export and its imported copy, once the lake holds their rows (they hold deleted calls)."""
    for path in (settings.home / IMPORTED, settings.home / (IMPORTED + ".wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.home / EXPORT, ignore_errors=True)
    fsync_path(settings.home)


def _remove_partial(settings: Settings) -> None:
    """What a killed conversion built (the old file was not touched): it is started over."""
    for path in (_new_catalog(settings), _new_catalog(settings).with_name(NEW_CATALOG + ".wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(_new_data(settings), ignore_errors=True)
    if settings.data_dir.exists():  # an old-layout home has no data/: only a conversion can have made it
        shutil.rmtree(settings.data_dir)


def _bring_to_legacy_last(path: Path) -> None:
    """The legacy migrations the old file lacks, each in its own transaction (as init always did), then a checkpoint."""
    import re

    con = duckdb.connect(str(path))
    try:
        for macro in sorted((sql_dir() / "macros").glob("*.sql")):  # a legacy migration may use them (012: reason_code)
            con.execute(sql(f"macros/{macro.stem}"))
        # every legacy migration it has not recorded, in number order (branches reserve numbers: 011 may come after 012)
        have = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for legacy in sorted((sql_dir() / "legacy").glob("*.sql")):
            m = re.match(r"^(\d{3})_", legacy.name)
            if not m or int(m.group(1)) in have:
                continue
            con.execute("BEGIN")
            con.execute(legacy.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES ($v, $n, $t)", {"v": int(m.group(1)), "n": legacy.name, "t": utc_now()})
            con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = $c AND table_type = 'BASE TABLE' "
        "ORDER BY table_name", {"c": catalog},
    ).fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'lake' AND table_name = $t "
        "ORDER BY ordinal_position", {"t": table},
    ).fetchall()]


def _source(con: duckdb.DuckDBPyConnection, table: str, ids: bool = False) -> str:
    """The old table's rows as the lake's table holds them (purged keys: 16 bytes instead of a UHUGEINT);
    with ``ids``, only those with ``$lo <= id < $hi``."""
    columns = ", ".join(f'"{c}"' for c in _columns(con, table))
    if table == "purged_keys":
        return sql("convert/purged_keys")
    where = ' WHERE "id" >= $lo AND "id" < $hi' if ids else ""
    order = ' ORDER BY "id"' if table in ("calls", "deleted_calls") else ""
    return f'SELECT {columns} FROM old.main."{table}"{where}{order}'  # noqa: S608 -- names from the catalogs


def _copy(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Copy one table into the lake; a table read by page (``READ_BY_PAGE``) CHUNK_IDS ids per statement (a file each)."""
    columns = ", ".join(f'"{c}"' for c in _columns(con, table))
    insert = f'INSERT INTO lake."{table}" ({columns}) '  # noqa: S608 -- names from the catalogs
    if table not in READ_BY_PAGE:
        con.execute(insert + _source(con, table))
        return
    lo, hi = con.execute(f'SELECT min("id"), max("id") FROM old.main."{table}"').fetchall()[0]  # noqa: S608 -- a catalog name
    for start in range(lo, hi + 1, CHUNK_IDS) if lo is not None else ():
        con.execute(insert + _source(con, table, ids=True), {"lo": start, "hi": start + CHUNK_IDS})


def _verify(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Count and sum of row hashes of the old rows (as converted) and of the lake's table; IntegrityFailure if they differ."""
    columns = ", ".join(f'"{c}"' for c in _columns(con, table))
    fingerprint = "SELECT count(*), CAST(coalesce(sum(CAST(hash({cols}) AS HUGEINT)), 0) AS VARCHAR) FROM ({src})"
    old = con.execute(fingerprint.format(cols=columns, src=_source(con, table))).fetchall()[0]
    rows = f'SELECT * FROM lake."{table}"'  # noqa: S608 -- a catalog name
    if table == "schema_migrations":  # the lake has one more: 011 itself
        rows += f" WHERE version <= {legacy_last()}"
    new = con.execute(fingerprint.format(cols=columns, src=rows)).fetchall()[0]
    if old != new:
        raise IntegrityFailure(f"converting {table}: the lake holds {new[0]} rows (hash {new[1]}), the old file {old[0]} (hash {old[1]}); "
                               "nothing was swapped, the old file is untouched")
    return int(new[0])
