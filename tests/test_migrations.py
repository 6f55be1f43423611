"""Schema migrations numbered with gaps (branches reserve their numbers), and a gap filled by a later merge."""

from __future__ import annotations

import duckdb
from click.testing import CliRunner
from conftest import lake_connection

from deletedcalls.cli import cli
from deletedcalls.sqlfiles import migrations, sql_dir
from deletedcalls.store.warehouse import create_macros


def test_versions_are_the_file_numbers_in_order() -> None:
    found = migrations()
    assert [v for v, _ in found] == sorted(v for v, _ in found)
    assert all(name.startswith(f"{v:03d}_") for v, name in found)


def _database_without(home, skipped: int) -> None:
    """A warehouse of the single-file layout (sql/legacy/) that applied every legacy migration but `skipped`
    (as one made before that migration merged); init brings it to the last legacy version, then converts it."""
    home.mkdir()
    con = duckdb.connect(str(home / "deletedcalls.duckdb"))
    create_macros(con)  # as apply_migrations does: a migration may use them
    for path in sorted((sql_dir() / "legacy").glob("[0-9][0-9][0-9]_*.sql")):
        version, name = int(path.name[:3]), path.name
        if version == skipped:
            continue
        con.execute(path.read_text(encoding="utf-8"))
        con.execute(
            "INSERT INTO schema_migrations VALUES ($v, $n, now()::TIMESTAMP)",
            {"v": version, "n": name},
        )
    con.close()


def test_a_migration_numbered_below_the_highest_applied_one_is_still_applied(tmp_path) -> None:
    # a warehouse at the highest version that lacks a lower one (merged later from another branch)
    home = tmp_path / "wh"
    _database_without(home, skipped=10)
    runner = CliRunner()
    stale = runner.invoke(cli, ["--home", str(home), "files", "list"])
    assert stale.exit_code == 2 and "init" in stale.stderr
    upgraded = runner.invoke(cli, ["--home", str(home), "init"])
    assert upgraded.exit_code == 0, upgraded.stderr
    con = lake_connection(home)
    applied = [
        r[0]
        for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    ]
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    legacy = sorted(int(p.name[:3]) for p in (sql_dir() / "legacy").glob("[0-9][0-9][0-9]_*.sql"))
    assert applied == legacy + [v for v, _ in migrations()]
    assert "purged_keys" in tables
    assert runner.invoke(cli, ["--home", str(home), "files", "list"]).exit_code == 0
