"""Schema migrations numbered with gaps (branches reserve their numbers), and a gap filled by a later merge."""

from __future__ import annotations

import duckdb
from click.testing import CliRunner

from deletedcalls.cli import cli
from deletedcalls.sqlfiles import migrations, sql
from deletedcalls.store.warehouse import create_macros


def test_versions_are_the_file_numbers_in_order() -> None:
    found = migrations()
    assert [v for v, _ in found] == sorted(v for v, _ in found)
    assert all(name.startswith(f"{v:03d}_") for v, name in found)


def _database_without(home, skipped: int) -> None:
    """A warehouse that applied every known migration but `skipped` (as one made before that migration merged)."""
    home.mkdir()
    con = duckdb.connect(str(home / "deletedcalls.duckdb"))
    create_macros(con)  # as apply_migrations does: a migration may use them
    for version, name in migrations():
        if version == skipped:
            continue
        con.execute(sql(f"schema/{name[:-4]}"))
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
    con = duckdb.connect(str(home / "deletedcalls.duckdb"), read_only=True)
    applied = [
        r[0]
        for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    ]
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    assert applied == [v for v, _ in migrations()]
    assert "purged_keys" in tables
    assert runner.invoke(cli, ["--home", str(home), "files", "list"]).exit_code == 0
