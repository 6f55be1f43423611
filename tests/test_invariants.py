"""Property tests: whatever deletions arrive, in whatever order, the invariants hold.

- a call is in exactly one of calls and deleted_calls;
- ingested = live + deleted (+ archived);
- deleting a deleted call changes nothing; materialise twice = materialise once.
"""

from __future__ import annotations

import calendar
import json
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import csv_text, decrypted_rows, good_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletedcalls.ingest.cdr import ingest_cdr_file
from deletedcalls.ingest.deletions import ingest_deletion_file
from deletedcalls.ingest.synthetic import write_deletions
from deletedcalls.settings import Settings, load_settings
from deletedcalls.store.audits import failed_audits
from deletedcalls.store.materialise import materialise
from deletedcalls.store.session import init_warehouse, writer

N_CALLS = 12


def entry(entry_id: str, selector: dict, timestamp: str) -> dict:
    return {"id": entry_id, "user": "u", "timestamp": timestamp, "action": "delete_calls", "selector": selector}

selectors = st.one_of(
    st.builds(lambda ids: {"carrierCallIds": [f"BT-{i:012d}" for i in ids]}, st.lists(st.integers(0, N_CALLS + 3), min_size=1, max_size=4)),
    st.builds(lambda ids: {"carrierCallIds": [f"BT-{i:012d}" for i in ids], "carrier": "BT"}, st.lists(st.integers(0, N_CALLS), min_size=1, max_size=3)),
    st.builds(lambda ids: {"callIds": ids}, st.lists(st.integers(1, 2 * N_CALLS + 3), min_size=1, max_size=4)),
    st.builds(lambda f, lines: {"cdrFile": f, "lines": lines}, st.sampled_from(["a.csv", "b.csv", "c.csv"]), st.lists(st.integers(2, N_CALLS + 3), min_size=1, max_size=3)),
    st.builds(lambda f: {"cdrFile": f}, st.sampled_from(["a.csv", "b.csv", "c.csv"])),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("cdr"), st.sampled_from(["a.csv", "b.csv"])),
        st.tuples(st.just("deletions"), st.lists(st.tuples(st.integers(0, 6), selectors, st.integers(1, 28)), min_size=1, max_size=3)),
        st.tuples(st.just("materialise"), st.none()),
    ),
    min_size=1, max_size=7,
)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_a_call_is_in_exactly_one_table_whatever_the_order(plan):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s = load_settings(root / "wh")
        init_warehouse(s)
        check_order(root, s, plan)


def check_order(root: Path, s: Settings, plan: list) -> None:
    """The plan's steps on the warehouse of ``s`` (made and empty), then the invariants (also on the shared layout,
    tests/test_shared_layouts.py)."""
    files = {
        "a.csv": csv_text([good_row(i) for i in range(N_CALLS // 2)]),
        "b.csv": csv_text([good_row(i) for i in range(N_CALLS // 2, N_CALLS)]),
    }
    with writer(s) as con:
        for n, (kind, arg) in enumerate(plan):
            if kind == "cdr":
                path = root / arg
                path.write_text(files[arg])
                ingest_cdr_file(con, s, path, run_id=n)
            elif kind == "deletions":
                path = write_deletions(root / f"log{n}.jsonl", [
                    entry(f"UAL-{k}", sel, f"2026-03-{day:02d}T00:00:00Z") for k, sel, day in arg])
                ingest_deletion_file(con, s, path, run_id=n)
            else:
                materialise(con, run_id=n)
        materialise(con, run_id=99)
        snapshot = con.execute("SELECT * EXCLUDE (created, updated, runId) FROM deleted_calls ORDER BY id").fetchall()
        again = materialise(con, run_id=100)
        assert again.deleted == 0
        assert con.execute("SELECT * EXCLUDE (created, updated, runId) FROM deleted_calls ORDER BY id").fetchall() == snapshot
        assert failed_audits(con) == {}
        live = {r[0] for r in con.execute("SELECT id FROM calls").fetchall()}
        dead = [r[0] for r in con.execute("SELECT callId FROM deleted_calls").fetchall()]
        assert not live & set(dead)
        assert len(dead) == len(set(dead))
        loaded = con.execute("SELECT coalesce(sum(\"rows\"), 0) FROM cdr_files WHERE status = 'loaded'").fetchall()[0][0]
        assert len(live) + len(dead) == loaded
        # every deleted call was named by the entry that deleted it
        for call_id, cid, entry_sel in con.execute(
            "SELECT d.callId, d.carrierCallID, u.selector FROM deleted_calls d JOIN user_activity_log u ON u.id = d.userActivityLog"
        ).fetchall():
            sel = json.loads(entry_sel)
            if "callIds" in sel:
                assert call_id in sel["callIds"]
            elif "carrierCallIds" in sel:
                assert cid in sel["carrierCallIds"]


retention_plans = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(1, 12), st.integers(1, 40)), min_size=1, max_size=4),  # (month, call id) deletions
        st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 6, 1)),  # as-of
        st.integers(0, 120),  # retention days
    ),
    min_size=1, max_size=4,
)


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(retention_plans)
def test_archived_plus_warehouse_rows_are_all_deleted_rows(plan):
    from deletedcalls.dr.inventory import verify_all
    from deletedcalls.dr.keys import default_keyring_path
    from deletedcalls.store.retention import enforce_retention
    from deletedcalls.store.session import writing

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s = load_settings(root / "wh")
        init_warehouse(s)
        (root / "a.csv").write_text(csv_text([good_row(i) for i in range(40)]))
        with writing(s) as session:
            ingest_cdr_file(session.con, s, root / "a.csv", run_id=0)
            for n, (deletions, as_of, days) in enumerate(plan):
                path = write_deletions(root / f"log{n}.jsonl", [
                    entry(f"UAL-{n}-{k}", {"callIds": [call]}, f"2026-{month:02d}-15T12:00:00Z")
                    for k, (month, call) in enumerate(deletions)])
                ingest_deletion_file(session.con, s, path, run_id=n)
                materialise(session.con, run_id=n)
                _, session.con = enforce_retention(session.con, s, n, as_of=as_of, days=days)
                con = session.con
                kept = {r[0] for r in con.execute("SELECT callId FROM deleted_calls").fetchall()}
                keyring = default_keyring_path(con.execute("SELECT warehouseId FROM warehouse_info").fetchall()[0][0])
                archived = [r["callId"] for f in sorted(s.dr_dir.glob("deletedMonth=*/part-*.parquet"))
                            for r in decrypted_rows(f, keyring, ["callId"])]  # type: ignore[arg-type]
                assert len(archived) == len(set(archived)), "a row archived twice"
                assert not kept & set(archived), "a row both archived and in the warehouse"
                deleted_ever = con.execute("SELECT coalesce(sum(deletions), 0) FROM deleted_calls_summary").fetchall()[0][0]
                assert len(kept) + len(archived) == deleted_ever
                assert failed_audits(con) == {}
                # nothing left in the warehouse is expired
                for (month,) in con.execute("SELECT DISTINCT deletedMonth FROM deleted_calls").fetchall():
                    last = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
                    expiry = date(int(month[:4]), int(month[5:]), last) + timedelta(days=days)
                    assert not expiry < as_of
            assert all(v.ok for v in verify_all(session.con, s, None))
