"""Reading deleted calls (SPEC 5): list/get, pagination, formats, permission on every path."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import REPO, csv_text, good_row

DPO = "dpo"


def entry(i, ids, ts="2026-03-05T10:00:00Z"):
    return json.dumps({"id": i, "user": "alice", "timestamp": ts, "action": "delete_calls", "selector": {"callIds": ids}}) + "\n"


@pytest.fixture
def deleted(wh, write):
    """30 calls in two files; calls 1-25 deleted (ids 1-25 in call order)."""
    rows_a = [good_row(i, target=f"0{i:010d}", startDate=f"2026-03-{(i % 28) + 1:02d}", costCDR=f"{i}.0001") for i in range(20)]
    rows_b = [good_row(i, target=f"+44{i:010d}") for i in range(20, 30)]
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows_a))), ok=True)
    wh.cli("ingest", "cdr", str(write("b.csv", csv_text(rows_b))), ok=True)
    wh.cli("ingest", "deletions", str(write("d.jsonl", entry("UAL-1", list(range(1, 26))))), ok=True)
    wh.cli("materialise", ok=True)
    return wh


def test_list_returns_the_seed_envelope_with_values_as_in_the_cdr(deleted):
    page = deleted.json("deleted-calls", "list", "--limit", "5", user=DPO)
    assert set(page) == {"results", "next", "previous", "total"}
    assert page["total"] == 25 and len(page["results"]) == 5 and page["previous"] is None
    first = page["results"][0]
    assert first["id"] == 1 and first["target"] == "00000000000"
    assert first["costCDR"] == "0.0001" and first["startDate"] == "2026-03-01" and first["startTime"] == "10:22:01"
    assert first["deletedAt"] == "2026-03-05T10:00:00Z" and first["userActivityLog"] == "UAL-1"
    assert {"CDRFileID", "lineNumber", "carrierCallID", "deletedBy", "created", "updated"} <= set(first)


def test_cursors_walk_forward_and_back_over_every_row_once(deleted):
    seen, cursor, pages = [], None, []
    while True:
        args = ["deleted-calls", "list", "--limit", "7"] + (["--cursor", cursor] if cursor else [])
        page = deleted.json(*args, user=DPO)
        pages.append(page)
        seen += [r["id"] for r in page["results"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == list(range(1, 26))
    back = deleted.json("deleted-calls", "list", "--cursor", pages[2]["previous"], user=DPO)
    assert [r["id"] for r in back["results"]] == [r["id"] for r in pages[1]["results"]]


def test_filters_by_file_dates_and_id_after(deleted):
    by_file = deleted.json("deleted-calls", "list", "--cdr-file", "2", user=DPO)
    assert by_file["total"] == 5 and {r["CDRFileID"] for r in by_file["results"]} == {2}
    dated = deleted.json("deleted-calls", "list", "--min-date", "2026-03-03", "--max-date", "2026-03-05", "--cdr-file", "1", user=DPO)
    assert sorted(r["startDate"] for r in dated["results"]) == ["2026-03-03", "2026-03-04", "2026-03-05"]
    after = deleted.json("deleted-calls", "list", "--id-after", "22", user=DPO)
    assert [r["id"] for r in after["results"]] == [23, 24, 25] and after["total"] == 25
    offset = deleted.json("deleted-calls", "list", "--offset", "20", "--limit", "3", user=DPO)
    assert [r["id"] for r in offset["results"]] == [21, 22, 23]
    future = deleted.json("deleted-calls", "list", "--created-since", "2999-01-01", user=DPO)
    assert future["results"] == [] and future["total"] == 0
    recent = deleted.json("deleted-calls", "list", "--updated-since", "2000-01-01T00:00:00+01:00", user=DPO)
    assert recent["total"] == 25


def test_limit_is_at_most_1000_and_bad_cursors_are_usage_errors(deleted):
    assert deleted.cli("deleted-calls", "list", "--limit", "1001", user=DPO).exit_code == 2
    assert deleted.cli("deleted-calls", "list", "--cursor", "garbage", user=DPO).exit_code == 2
    assert deleted.cli("deleted-calls", "list", "--min-date", "2026-02-30", user=DPO).exit_code == 2


def test_get_one_and_an_unknown_id(deleted):
    got = deleted.json("deleted-calls", "get", "3", user=DPO)
    assert got["id"] == 3 and got["target"] == "00000000002"
    missing = deleted.cli("deleted-calls", "get", "999", user=DPO)
    assert missing.exit_code == 2 and "999" in missing.stderr and missing.stdout == ""


def test_csv_output_keeps_leading_zeros_and_exact_money(deleted):
    out = deleted.cli("deleted-calls", "list", "--format", "csv", "--limit", "2", user=DPO).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["target"] == "00000000000" and rows[1]["costCDR"] == "1.0001"


@pytest.mark.parametrize("args", [
    ["deleted-calls", "list"],
    ["deleted-calls", "get", "1"],
    ["sql", "SELECT * FROM deleted_calls"],
    ["sql", "SELECT target FROM deleted_calls LIMIT 1"],
    ["sql", "SELECT count(*) FROM deleted_calls"],
    ["sql", "WITH x AS (SELECT * FROM deleted_calls) SELECT * FROM x"],
    ["sql", "SELECT * FROM query_table('deleted_calls')"],
    ["sql", "SELECT * FROM query('SELECT * FROM deleted_calls')"],
    ["sql", "SELECT * FROM pragma_storage_info('deleted_calls')"],
    ["sql", "SELECT * FROM access_log"],
    ["sql", "SUMMARIZE deleted_calls"],
    ["sql", "DESCRIBE deleted_calls"],
    ["sql", "SELECT * FROM deleted_calls ORDER BY 1, 2"],
    ["sql", "FROM deleted_calls"],
    ["sql", "SELECT * FROM calls WHERE id IN (SELECT callId FROM DELETED_CALLS)"],
    ["sql", "SELECT * FROM read_parquet('dr/*/*.parquet')"],
    ["sql", "SELECT * FROM read_text('config.toml')"],
    ["sql", "SELECT * FROM glob('*')"],
])
def test_without_data_protection_every_path_is_refused_with_exit_4_and_logged(deleted, args):
    result = deleted.cli(*args, user="analyst")
    assert result.exit_code == 4, (args, result.stderr)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "00000000" not in result.stderr
    assert deleted.access_log() == [("analyst", False)]


def test_with_data_protection_reads_are_logged_with_filters_and_rows(deleted):
    deleted.cli("deleted-calls", "list", "--limit", "4", "--cdr-file", "1", user=DPO)
    deleted.cli("deleted-calls", "get", "2", user=DPO)
    rows = deleted.json("sql", "SELECT count(*) AS n FROM deleted_calls", user=DPO)
    assert rows == [{"n": 25}]
    log = deleted.access_log("user", "command", "filters", "rowsReturned", "allowed")
    assert [(r[0], r[1], r[3], r[4]) for r in log] == [
        (DPO, "deleted-calls list", 4, True), (DPO, "deleted-calls get", 1, True),
        (DPO, "sql", None, True), (DPO, "sql", 1, True)]  # a statement is logged before it runs, then its outcome
    assert json.loads(log[0][2])["cdr_file"] == 1


def test_analysts_get_the_summary_without_phone_numbers(deleted):
    rows = deleted.json("sql", "SELECT * FROM deleted_calls_summary", user="analyst")
    assert rows == [{"deletedMonth": "2026-03", "carrier": "BT", "deletedBy": "alice", "deletions": 25,
                     "costCDR": str(sum(__import__("decimal").Decimal(f"{i}.0001") for i in range(20)) + 5 * __import__("decimal").Decimal("1.2345")),
                     "duration": 25 * 61}]
    cols = {r["column_name"] for r in deleted.json("sql", "SELECT column_name FROM duckdb_columns() WHERE table_name = 'deleted_calls_summary'")}
    assert not cols & {"target", "external", "terminationNumber", "extension"}
    ordered = deleted.cli("sql", "SELECT * FROM deleted_calls_summary ORDER BY 1, 2, 3", user="analyst")
    assert ordered.exit_code == 0, ordered.stderr
    # live calls, files and runs stay open to analysts; what names deleted calls or why does not
    for table in ("calls", "cdr_files", "rejected_rows", "runs", "deletion_files", "dr_archives"):
        assert deleted.cli("sql", f"SELECT count(*) FROM {table}", user="analyst").exit_code == 0, table
    for table in ("pending_deletions", "user_activity_log", "deletion_items"):
        assert deleted.cli("sql", f"SELECT count(*) FROM {table}", user="analyst").exit_code == 4, table


def test_the_summary_keeps_its_counts_through_retention_but_not_the_costs(deleted):
    before = deleted.json("sql", "SELECT * FROM deleted_calls_summary")
    deleted.cli("retention", "enforce", "--as-of", "2027-01-01", ok=True)
    assert deleted.scalar("SELECT count(*) FROM deleted_calls") == 0
    assert deleted.json("sql", "SELECT * FROM deleted_calls_summary") == [
        dict(r, costCDR=None, duration=None) for r in before]


def test_dr_files_are_encrypted_so_sql_reads_no_row_of_them_and_dr_restore_does(deleted, tmp_path):
    """SPEC 11: archives are encrypted; an officer reads them through `dr restore` (logged), never with read_parquet."""
    deleted.cli("retention", "enforce", "--as-of", "2027-01-01", ok=True)
    pattern = str(deleted.home / "dr" / "*" / "*.parquet")
    officer = deleted.cli("sql", f"SELECT count(*) AS n, min(target) AS t FROM read_parquet('{pattern}')", user=DPO)
    assert officer.exit_code == 4 and "+44" not in officer.stdout + officer.stderr, officer.stderr
    assert deleted.cli("sql", f"SELECT count(*) FROM read_parquet('{pattern}')", user="analyst").exit_code == 4
    archives = deleted.json("dr", "list")
    assert archives and all(deleted.cli("dr", "restore", a["id"], "--into", str(tmp_path / f"{a['id']}.duckdb"),
                                        user=DPO).exit_code == 0 for a in archives)


def test_example_analyst_queries_run(deleted):
    from deletedcalls.sqlfiles import sql_dir

    queries = sorted((sql_dir() / "queries").glob("*.sql"))
    assert queries
    for q in queries:
        # the first line says when a query needs data_protection
        user = DPO if "data_protection" in q.read_text().splitlines()[0] else "analyst"
        result = deleted.cli("sql", "--file", str(q), "--json", user=user)
        assert result.exit_code == 0, (q.name, result.stderr)
        assert isinstance(json.loads(result.stdout), list)
        inline = deleted.cli("sql", "--json", "--", q.read_text(), user=user)
        assert inline.exit_code == 0 and inline.stdout == result.stdout


def test_keyset_pages_equal_the_plain_query_with_gaps_and_filters(tmp_path):
    """The windowed keyset path must return exactly `id > a ORDER BY id LIMIT n`, whatever the gaps."""
    import random

    from deletedcalls.read.reading import _SELECT, ListQuery, list_deleted_calls
    from deletedcalls.settings import load_settings
    from deletedcalls.store.session import init_warehouse, writer

    settings = load_settings(tmp_path / "wh")
    init_warehouse(settings)
    fill = (REPO / "bench" / "run.py").read_text().split('FILL_DELETED = """', 1)[1].split('"""', 1)[0]
    with writer(settings) as con:
        con.execute(fill, {"first": 1, "n": 60_000, "month": "2026-01"})
        # gaps: a purged-looking hole, and every 7th id missing
        con.execute("DELETE FROM deleted_calls WHERE id BETWEEN 20000 AND 45000 OR id % 7 = 0")
        rng = random.Random(3)
        for _ in range(40):
            after = rng.choice([None, 0, 19990, 19999, 45000, 59990, 70000, rng.randrange(1, 60_000)])
            q = ListQuery(id_after=after, limit=rng.choice([1, 10, 100]), cdr_file=rng.choice([None, 1]),
                          min_date=rng.choice([None, __import__("datetime").date(2026, 1, 20)]))
            page = list_deleted_calls(con, q)
            where, params = [], {}
            if after is not None:
                where.append("id > $a")
                params["a"] = after
            if q.cdr_file is not None:
                where.append('"CDRFileID" = $f')
                params["f"] = q.cdr_file
            if q.min_date is not None:
                where.append('"startDate" >= $d')
                params["d"] = q.min_date
            plain = con.execute(_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id LIMIT $n",
                                {**params, "n": q.limit}).fetchall()
            assert [r["id"] for r in page.results] == [r[0] for r in plain], q
            if page.previous:
                from deletedcalls.read.reading import decode_cursor

                back = list_deleted_calls(con, decode_cursor(page.previous))
                if back.results and page.results:
                    assert back.results[-1]["id"] < page.results[0]["id"]


def test_deleted_calls_carry_their_utc_instant_beside_the_carriers_wall_clock(wh, write):
    # the Gamma sample is UK wall clock: 29/03/2026 02:00:05 is BST, 01:00:05 UTC
    wh.cli("ingest", "cdr", str(REPO / "data" / "gamma-fcs-2026-03-29.csv"), ok=True)
    entry = {"id": "U-fcs", "user": "alice", "timestamp": "2026-03-30T10:00:00Z", "action": "delete_calls",
             "selector": {"cdrFile": "gamma-fcs-2026-03-29.csv"}}
    wh.cli("ingest", "deletions", str(write("d.jsonl", json.dumps(entry) + "\n")), ok=True)
    wh.cli("materialise", ok=True)
    rows = wh.json("deleted-calls", "list", user=DPO)["results"]
    bst = [r for r in rows if (r["startDate"], r["startTime"]) == ("2026-03-29", "02:00:05")]
    assert [r["startedAt"] for r in bst] == ["2026-03-29T01:00:05Z"]
    assert all(r["startedAt"].endswith("Z") for r in rows)
    assert wh.json("deleted-calls", "get", str(bst[0]["id"]), user=DPO)["startedAt"] == "2026-03-29T01:00:05Z"
    csv_out = wh.cli("deleted-calls", "list", "--format", "csv", user=DPO)
    header, *lines = list(csv.reader(io.StringIO(csv_out.stdout)))
    assert header[12:15] == ["startDate", "startTime", "startedAt"]
    assert ["2026-03-29", "02:00:05", "2026-03-29T01:00:05Z"] in [line[12:15] for line in lines]


@pytest.fixture(scope="module")
def sparse_lake(tmp_path_factory):
    """A lake of deleted calls whose ids are sparse and uneven: dense runs, long holes, every 3rd id of a stretch."""
    from deletedcalls.settings import load_settings
    from deletedcalls.store.session import init_warehouse, writer

    settings = load_settings(tmp_path_factory.mktemp("sparse") / "wh")
    init_warehouse(settings)
    fill = (REPO / "bench" / "run.py").read_text().split('FILL_DELETED = """', 1)[1].split('"""', 1)[0]
    with writer(settings) as con:
        con.execute(fill, {"first": 1, "n": 9_000, "month": "2026-01"})
        con.execute("DELETE FROM deleted_calls WHERE id BETWEEN 2000 AND 6000 OR (id > 6000 AND id % 3 <> 0) OR id % 97 = 0")
    return settings


def test_keyset_pages_in_both_directions_equal_the_plain_query_with_the_counts_kept(sparse_lake):
    """Forward and backward pages, any start (before the first id, past the last, negative, huge), any limit and
    filters, with the counts and id bounds kept between pages as ``serve`` keeps them: always the rows of the plain
    ``ORDER BY id LIMIT n`` query, and the listing's true total."""
    from datetime import date

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from deletedcalls.read.reading import _SELECT, ListQuery, list_deleted_calls, validate

    positions = st.one_of(st.integers(-5, 9_100), st.sampled_from([-(2**53), 2**53, 1999, 2000, 6000, 6001, 8999, 9000]))
    kept: dict = {}

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pos=st.one_of(st.none(), positions), backward=st.booleans(), limit=st.sampled_from([1, 2, 7, 100, 1000]),
           min_date=st.sampled_from([None, date(2026, 1, 20)]), keep=st.booleans())
    def check(pos, backward, limit, min_date, keep):
        q = ListQuery(limit=limit, min_date=min_date, **({"id_before": pos} if backward and pos is not None else {"id_after": pos}))
        validate(q)
        page = list_deleted_calls(con, q, kept if keep else None)
        where, params = [], {}
        if min_date is not None:
            where.append('"startDate" >= $d')
            params["d"] = min_date
        total = con.execute("SELECT count(*) FROM deleted_calls" + (" WHERE " + " AND ".join(where) if where else ""),
                            params or None).fetchall()[0][0]
        if pos is not None:
            where.append("id < $p" if backward else "id > $p")
            params["p"] = pos
        plain = con.execute(_SELECT + (" WHERE " + " AND ".join(where) if where else "")
                            + (" ORDER BY id DESC" if backward and pos is not None else " ORDER BY id") + " LIMIT $n",
                            {**params, "n": limit}).fetchall()
        expected = sorted(r[0] for r in plain)
        assert [r["id"] for r in page.results] == expected, q
        assert page.total == total

    import deletedcalls.published as published

    with published.reading(sparse_lake, "protected") as con:
        check()
