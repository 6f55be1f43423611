"""Guards of a shared warehouse's prefixes (issue 30, findings 2, 3, 4, 6 and 7; docs/SCALE.md, "Whose prefix it is").

A data prefix is one warehouse's: init refuses one that is not empty, lies inside another warehouse's prefixes, or is,
holds or lies inside a home; init with a catalog that has another data path is refused; a writer never cleans a
prefix whose marker is another warehouse's. Real servers (tests/test_shared.py's PostgreSQL cluster and the S3 server
of conftest), marked ``postgres`` like test_shared.py; the checks that need no server are not marked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import S3Server, Warehouse, free_port
from test_shared import calls_csv, lake, postgres, postgres_server  # noqa: F401 -- the servers' fixtures

from deletedcalls.store.prefixes import MARKER


def objects_under(s3: S3Server, bucket: str, prefix: str) -> dict[str, bytes]:
    return {k: v for k, v in s3.objects(bucket).items() if k.startswith(prefix)}


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def first_warehouse(tmp_path: Path, catalog: str, data: str) -> Warehouse:
    """A shared warehouse with calls in it, made from home ``first``."""
    a = Warehouse(tmp_path / "first")
    a.cli("init", "--catalog", catalog, "--data", data, ok=True)
    a.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt.csv", 0, 20)), ok=True)
    return a


@postgres
def test_the_same_data_prefix_with_another_catalog_is_refused_and_the_first_warehouse_is_untouched(
        lake, postgres_server, s3, tmp_path):  # noqa: F811
    a = first_warehouse(tmp_path, lake["catalog"], lake["data"])
    before = s3.objects(lake["bucket"])
    assert any(k.startswith("warehouse/main/calls/") for k in before) and f"warehouse/{MARKER}" in before

    b = Warehouse(tmp_path / "second")
    result = b.cli("init", "--catalog", postgres_server.database(), "--data", lake["data"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "not empty" in result.stderr
    assert s3.objects(lake["bucket"]) == before
    assert not (b.home / "config.toml").exists()
    a.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt2.csv", 20, 5)), ok=True)  # the first warehouse still works
    assert a.json("sql", "SELECT count(*) AS n FROM calls") == [{"n": 25}]


@postgres
@pytest.mark.parametrize("direction", ["inside", "around"])
def test_a_prefix_nested_in_another_warehouses_either_way_is_refused(direction, lake, postgres_server, s3, tmp_path):  # noqa: F811
    outer, inner = f"s3://{lake['bucket']}/x/big", f"s3://{lake['bucket']}/x/big/nested"
    first, second = (outer, inner) if direction == "inside" else (inner, outer)
    first_warehouse(tmp_path, lake["catalog"], first)
    before = s3.objects(lake["bucket"])
    result = Warehouse(tmp_path / "second").cli("init", "--catalog", postgres_server.database(), "--data", second)
    assert result.exit_code == 2, result.stderr
    assert ("inside" in result.stderr) if direction == "inside" else ("not empty" in result.stderr)
    assert s3.objects(lake["bucket"]) == before


@postgres
def test_a_prefix_inside_another_warehouses_analyst_prefix_is_refused(lake, postgres_server, s3, tmp_path):  # noqa: F811
    first_warehouse(tmp_path, lake["catalog"], lake["data"])
    result = Warehouse(tmp_path / "second").cli("init", "--catalog", postgres_server.database(),
                                                "--data", f"{lake['data']}-analyst/mine")
    assert result.exit_code == 2 and "inside" in result.stderr, result.stderr


@postgres
@pytest.mark.parametrize("where", ["data", "published/data", "home"])
def test_a_data_folder_inside_or_equal_to_a_home_of_its_own_is_refused_and_that_home_is_intact(
        where, lake, tmp_path):  # noqa: F811
    own = Warehouse(tmp_path / "own")
    own.cli("init", ok=True)
    own.cli("ingest", "cdr", str(calls_csv(tmp_path, "bt.csv", 0, 20)), ok=True)
    before = files_under(own.home)
    folder = own.home if where == "home" else own.home / where
    for data in (folder, tmp_path):  # the home itself, inside it, or a folder holding it
        result = Warehouse(tmp_path / f"shared-{len(data.parts)}").cli("init", "--catalog", lake["catalog"],
                                                                        "--data", data.as_uri())
        assert result.exit_code == 2, result.stderr
        assert "home" in result.stderr and result.stderr.count("\n") == 1
    assert files_under(own.home) == before


@postgres
def test_a_catalog_that_holds_a_warehouse_with_another_data_prefix_is_refused_naming_both(lake, s3, tmp_path):  # noqa: F811
    first_warehouse(tmp_path, lake["catalog"], lake["data"])
    other = f"s3://{lake['bucket']}/elsewhere"
    b = Warehouse(tmp_path / "second")
    result = b.cli("init", "--catalog", lake["catalog"], "--data", other)
    assert result.exit_code == 2, result.stderr
    assert "s3://" + lake["bucket"] + "/warehouse" in result.stderr and other in result.stderr
    assert not (b.home / "config.toml").exists()
    assert not objects_under(s3, lake["bucket"], "elsewhere")


@pytest.mark.parametrize("query", ["?password=hunter2", "?user=u&password=hunter2", "?sslmode=disable&PassWord=hunter2",
                                   "?pass%77ord=hunter2"])
def test_a_password_in_the_catalog_urls_query_is_refused_not_echoed_and_nothing_written(query, tmp_path):
    w = Warehouse(tmp_path / "h")
    result = w.cli("init", "--catalog", f"postgresql://u@127.0.0.1:5432/db{query}", "--data", "s3://b/p")
    assert result.exit_code == 2, result.stderr
    assert "password" in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert not w.home.exists()


@postgres
def test_an_init_that_failed_on_an_unreachable_catalog_leaves_nothing_and_the_corrected_one_completes(lake, tmp_path):  # noqa: F811
    w = Warehouse(tmp_path / "h")
    wrong = f"postgresql://deletedcalls@127.0.0.1:{free_port()}/nowhere"
    failed = w.cli("init", "--catalog", wrong, "--data", lake["data"])
    assert failed.exit_code == 7, failed.stderr
    assert not w.home.exists()
    w.cli("init", "--catalog", lake["catalog"], "--data", lake["data"], ok=True)
    assert (w.home / "config.toml").exists()


@postgres
def test_a_failed_init_keeps_a_home_that_existed_before_it(lake, tmp_path):  # noqa: F811
    home = tmp_path / "h"
    home.mkdir()
    w = Warehouse(home)
    failed = w.cli("init", "--catalog", f"postgresql://deletedcalls@127.0.0.1:{free_port()}/nowhere", "--data", lake["data"])
    assert failed.exit_code == 7, failed.stderr
    assert home.is_dir() and not list(home.iterdir())
    w.cli("init", "--catalog", lake["catalog"], "--data", lake["data"], ok=True)


@postgres
@pytest.mark.parametrize("where", ["s3", "mount"])
def test_a_writer_refuses_before_deleting_anything_when_its_prefix_is_marked_by_another_warehouse(
        where, lake, postgres_server, s3, tmp_path):  # noqa: F811
    data = lake["data"] if where == "s3" else (tmp_path / "mount" / "wh").as_uri()
    a = first_warehouse(tmp_path, lake["catalog"], data)

    def everything() -> dict[str, bytes]:
        if where == "s3":
            return s3.objects(lake["bucket"])
        return files_under(tmp_path / "mount")

    marker = json.loads(everything()[f"wh/{MARKER}" if where == "mount" else f"warehouse/{MARKER}"])
    other = {**marker, "warehouseId": "00000000-0000-0000-0000-000000000000"}
    if where == "s3":
        s3.client().put_object(Bucket=lake["bucket"], Key=f"warehouse/{MARKER}", Body=json.dumps(other).encode())
    else:
        (tmp_path / "mount" / "wh" / MARKER).write_text(json.dumps(other))
    # an orphan the writer's cleanup would delete: a Parquet file the catalog does not name
    orphan = "warehouse/main/calls/orphan.parquet" if where == "s3" else "wh/main/calls/orphan.parquet"
    if where == "s3":
        s3.client().put_object(Bucket=lake["bucket"], Key=orphan, Body=b"PAR1 not ours PAR1")
    else:
        (tmp_path / "mount" / orphan).write_bytes(b"PAR1 not ours PAR1")
    before = everything()
    result = a.cli("ingest", "cdr", str(calls_csv(tmp_path, "more.csv", 20, 5)))
    assert result.exit_code == 2, result.stderr
    assert "another warehouse" in result.stderr and result.stderr.count("\n") == 1
    assert everything() == before


@postgres
def test_the_marker_survives_the_writers_orphan_cleanup_and_a_purge(lake, s3, tmp_path):  # noqa: F811
    a = first_warehouse(tmp_path, lake["catalog"], lake["data"])
    marker = s3.objects(lake["bucket"])[f"warehouse/{MARKER}"]
    s3.client().put_object(Bucket=lake["bucket"], Key="warehouse/main/calls/orphan.parquet", Body=b"PAR1 x PAR1")
    a.cli("materialise", ok=True)  # a writer: the orphan cleanup ran
    objects = s3.objects(lake["bucket"])
    assert "warehouse/main/calls/orphan.parquet" not in objects, "control: the cleanup ran"
    assert objects[f"warehouse/{MARKER}"] == marker
    a.cli("retention", "enforce", "--as-of", "2099-01-01", "--retention-days", "0", ok=True)
    assert s3.objects(lake["bucket"])[f"warehouse/{MARKER}"] == marker
