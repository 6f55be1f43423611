"""Export a warehouse written by duckdb 2.x so that this version can convert it (issue 28's upgrade step).

Run it with the *previous* installation's Python (the one whose duckdb wrote the
file), before or after installing this version, with no writer running:

    OLD_VENV/bin/python path/to/deletedcalls/store/export_v2.py HOME

duckdb 1.5.5 (which DuckLake needs) cannot open a database file written by
duckdb 2.x (storage version 999), so the old file is read by the DuckDB that
wrote it: ``EXPORT DATABASE ... (FORMAT parquet)`` into ``HOME/.export-v2``
(0700, files 0600), under the home's writer lock, with each table's row count
in ``counts.json``, written last. ``deletedcalls --home HOME init`` then
imports that folder, checks every table's count, converts it into the lake as
any old home, and removes the folder and the old file.

This file imports nothing but the standard library and duckdb, so that it runs
in the old environment; it refuses a home whose file this duckdb cannot read.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from pathlib import Path

EXPORT = ".export-v2"


def export(home: Path) -> Path:
    import duckdb

    database = home / "deletedcalls.duckdb"
    if not database.is_file():
        raise SystemExit(f"error: {database} does not exist")
    os.umask(0o077)  # every folder and file of the export is the owner's alone, from its creation
    fd = os.open(home / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"error: {home}: a writer is running; export when it has ended") from None
    try:
        final, tmp = home / EXPORT, home / (EXPORT + ".tmp")
        if final.exists():
            return final
        shutil.rmtree(tmp, ignore_errors=True)
        con = duckdb.connect(str(database), read_only=True)
        try:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
                "ORDER BY 1").fetchall()]
            counts = {t: con.execute(f'SELECT count(*) FROM main."{t}"').fetchall()[0][0] for t in tables}  # noqa: S608
            escaped = str(tmp).replace("'", "''")
            con.execute(f"EXPORT DATABASE '{escaped}' (FORMAT parquet, COMPRESSION zstd)")
        finally:
            con.close()
        with open(tmp / "counts.json", "x", encoding="utf-8") as f:
            json.dump({"duckdb": duckdb.__version__, "tables": counts}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(home, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final
    finally:
        os.close(fd)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python export_v2.py HOME")
    done = export(Path(sys.argv[1]))
    print(f"exported to {done}; now run: deletedcalls --home {sys.argv[1]} init")
