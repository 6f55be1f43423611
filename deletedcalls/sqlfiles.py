"""The SQL files (``sql/``): loaded by name; the schema migrations among them, and the version a database is at.

The files live in the source tree's ``sql/`` and, in a wheel, inside the
package as ``deletedcalls/sql`` (hatch ``force-include``); both the writer and
the readers load them from here.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def sql_dir() -> Path:
    """Where the SQL files are: inside the installed package, else the source tree."""
    packaged = Path(__file__).parent / "sql"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).parent.parent / "sql"
    if source.is_dir():
        return source
    raise RuntimeError("the deletedcalls SQL files are missing from this installation")


def quoted(text: str | Path) -> str:
    """A string literal for SQL where DuckDB takes no bound parameter (ATTACH's path, on duckdb 1.5).

    The one place a value is spelled into SQL: single quotes doubled, nothing else to escape.
    """
    return "'" + str(text).replace("'", "''") + "'"


@cache
def sql(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return (sql_dir() / f"{name}.sql").read_text(encoding="utf-8")


_GLOB_CHARACTERS = re.compile(r"([*?\[\]])")


def literal_path(path: Path | str) -> str:
    """A file's path as DuckDB's file readers take it literally.

    ``read_parquet``, ``read_csv``, ``read_json`` and ``glob`` expand ``*``, ``?`` and
    ``[...]`` anywhere in a path, also in the folders above the file: a home named
    ``w[h]x`` would read the files of a sibling ``whx`` instead of its own. Each such
    character is written as a one-character class (``[*]``), which matches only itself
    (checked on duckdb 1.5.5 and 2.0). ATTACH, connect and ``COPY ... TO`` take a path as it is.
    """
    return _GLOB_CHARACTERS.sub(r"[\1]", str(path))


def migrations() -> list[tuple[int, str]]:
    """Schema migrations in order: (version, file name); the version is the file's number, and numbers may have gaps
    (branches reserve numbers; a migration merged later with a lower number is still applied: ``pending``)."""
    found = []
    for path in (sql_dir() / "schema").glob("*.sql"):
        m = _MIGRATION_NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), path.name))
    return sorted(found)


def schema_version_required() -> int:
    return migrations()[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version a database (the warehouse, or a published store) is at; 0 before the first migration."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if not exists or exists[0][0] == 0:
        return 0
    rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(rows[0][0]) if rows else 0


def pending(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """The migrations not recorded in the database's ``schema_migrations``, in order, gaps below its version included."""
    if current_version(con) == 0:
        return migrations()
    applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    return [(v, name) for v, name in migrations() if v not in applied]
