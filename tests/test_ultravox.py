"""Ultravox calls (SPEC 10): ingest of pages, tombstones and webhook spools; the Ultravox list; retention and DR.

Generated data: hundreds of calls across agents, voices and metadata; tombstones of known
and never-ingested calls; retried webhook deliveries. Every filter is checked against an
oracle computed from the generated objects.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import Warehouse, lake_connection, protected_connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deletedcalls.errors import NotFound, UsageError
from deletedcalls.ingest.synthetic_ultravox import (
    AGENTS,
    CAMPAIGNS,
    VOICES,
    call_object,
    event,
    started,
    tombstone,
    write_events,
    write_page,
)
from deletedcalls.read.ultravox_list import FIELDS, get_tombstone, list_tombstones, parse_query

DPO = "dpo"
CALLS = 300          # call objects ingested from pages
DELETED = 140        # of them deleted by tombstones
UNKNOWN = 30         # tombstones of calls never ingested


def ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def deletion_time(i: int) -> datetime:
    return datetime(2026, 3, 10, tzinfo=UTC) + timedelta(minutes=7 * i)


def ingest(w: Warehouse, *paths: Path, code: int = 0) -> list[dict[str, Any]]:
    result = w.cli("ingest", "ultravox", *map(str, paths), "--json")
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout)


def uv_list(w: Warehouse, *args: str, user: str = DPO) -> dict[str, Any]:
    result = w.cli("deleted-calls", "list", "--api", "ultravox", *args, user=user)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def model(call: dict[str, Any], tomb: dict[str, Any], call_object_seen: bool) -> dict[str, Any]:
    """What the oracle knows of one deleted Ultravox call."""
    joined, ended = ts(tomb["joined"]), ts(tomb["ended"])
    return {
        "callId": tomb["callId"], "created": ts(tomb["created"]), "tomb": tomb,
        "span_us": 0 if joined is None or ended is None else (ended - joined) // timedelta(microseconds=1),
        "agentId": call.get("agentId") if call_object_seen else None,
        "voice": call.get("voice") if call_object_seen else None,
        "metadata": call.get("metadata") or {} if call_object_seen else {},
        "seen": call_object_seen,
    }


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, list[dict[str, Any]]]:
    """A warehouse with 300 Ultravox calls in pages, 140 of them deleted, and 30 tombstones of unknown calls."""
    base = tmp_path_factory.mktemp("uv")
    w = Warehouse(base / "warehouse")
    w.cli("init", ok=True)
    calls = [call_object(i, seed=7) for i in range(CALLS)]
    pages = [write_page(base / f"calls-{p}.json", calls[p * 100:(p + 1) * 100]) for p in range(3)]
    # webhook deliveries of the first 50 calls: started, ended twice (a retry), then a stale started again
    spool = write_events(base / "hooks.jsonl", [e for c in calls[:50] for e in (
        event("call.started", started(c)), event("call.ended", c), event("call.ended", c), event("call.started", started(c)))])
    ingest(w, *pages, spool)
    unknown = [call_object(i, seed=99) for i in range(UNKNOWN)]
    chosen = list(range(0, CALLS, 2))[:DELETED]
    tombs = [tombstone(calls[i], deletion_time(k)) for k, i in enumerate(chosen)]
    tombs += [tombstone(c, deletion_time(DELETED + k), account="acct-other") for k, c in enumerate(unknown)]
    ingest(w, write_page(base / "deleted-1.json", tombs[:90]), write_page(base / "deleted-2.json", tombs[90:]))
    oracle = [model(calls[i], tombs[k], True) for k, i in enumerate(chosen)]
    oracle += [model(c, tombs[DELETED + k], False) for k, c in enumerate(unknown)]
    return w, oracle


def matches(m: dict[str, Any], f: dict[str, Any]) -> bool:
    created = m["created"].replace(tzinfo=None) if m["created"].tzinfo is None else m["created"].astimezone(UTC).replace(tzinfo=None)
    for key, after in (("fromDate", True), ("toDate", False)):
        if key in f:
            bound = f[key]
            mine = created if isinstance(bound, datetime) else created.date()
            if (mine < bound) if after else (mine > bound):
                return False
    if "timeOfDayStart" in f or "timeOfDayEnd" in f:
        t = created.replace(microsecond=0).time()
        start, end = f.get("timeOfDayStart", time.min), f.get("timeOfDayEnd", time(23, 59, 59))
        if not ((start <= t <= end) if start <= end else (t >= start or t <= end)):
            return False
    if "durationMin" in f and m["span_us"] < f["durationMin"] * 1_000_000:
        return False
    if "durationMax" in f and m["span_us"] > f["durationMax"] * 1_000_000:
        return False
    if "agentIds" in f and not (m["seen"] and m["agentId"] in f["agentIds"]):
        return False
    if "voiceId" in f and not (m["seen"] and m["voice"] == f["voiceId"]):
        return False
    if any(not m["seen"] or m["metadata"].get(k) != v for k, v in f.get("metadata", {}).items()):
        return False
    if "search" in f:
        s = f["search"].lower()
        texts = [m["callId"]] + ([m["agentId"] or ""] + list(m["metadata"].values()) if m["seen"] else [])
        if not any(s in t.lower() for t in texts):
            return False
    return True


def as_params(f: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in f.items():
        if k in ("fromDate", "toDate"):
            out[k] = [v.isoformat() + "Z" if isinstance(v, datetime) else v.isoformat()]
        elif k in ("timeOfDayStart", "timeOfDayEnd"):
            out[k] = [v.strftime("%H:%M:%S") if v.second else v.strftime("%H:%M")]
        elif k in ("durationMin", "durationMax"):
            out[k] = [f"{v}s"]
        elif k == "agentIds":
            out[k] = list(v)
        elif k == "metadata":
            out.update({f"metadata.{mk}": [mv] for mk, mv in v.items()})
        else:
            out[k] = [v]
    return out


def walk(con: duckdb.DuckDBPyConnection, params: dict[str, list[str]], page_size: int) -> tuple[list[str], int]:
    q = parse_query({**params, "pageSize": [str(page_size)]})
    seen, total = [], None
    while True:
        page = list_tombstones(con, q)
        total = page["total"] if total is None else total
        assert page["total"] == total
        seen += [r["callId"] for r in page["results"]]
        if not page["next"]:
            return seen, total
        q = parse_query({**params, "cursor": [page["next"]], "pageSize": [str(page_size)]})


filters = st.fixed_dictionaries({}, optional={
    # a date (its whole UTC day) or a date-time (that instant), as Ultravox takes both
    "fromDate": st.dates(date(2026, 2, 28), date(2026, 3, 6)) | st.datetimes(datetime(2026, 2, 28), datetime(2026, 3, 6)).map(
        lambda d: d.replace(microsecond=0)),
    "toDate": st.dates(date(2026, 2, 28), date(2026, 3, 6)) | st.datetimes(datetime(2026, 2, 28), datetime(2026, 3, 6)).map(
        lambda d: d.replace(microsecond=0)),
    "timeOfDayStart": st.times().map(lambda t: t.replace(microsecond=0)),
    "timeOfDayEnd": st.times().map(lambda t: t.replace(microsecond=0)),
    "durationMin": st.integers(0, 1300),
    "durationMax": st.integers(0, 1300),
    "agentIds": st.lists(st.sampled_from(AGENTS), min_size=1, max_size=3, unique=True),
    "voiceId": st.sampled_from(VOICES),
    "metadata": st.dictionaries(st.sampled_from(["campaign", "region", "customer"]),
                                st.sampled_from([*CAMPAIGNS, "north", "South", "C0007", "C0042"]), max_size=2),
    "search": st.sampled_from(["SUMMER", "agent-r", "c00", "south", "ab", "7", "nobody"]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(f=filters, page_size=st.integers(1, 60))
def test_every_filter_matches_the_oracle_and_a_walk_sees_each_match_once(populated, f, page_size):
    w, oracle = populated
    if "fromDate" in f and "toDate" in f:
        lo = f["fromDate"] if isinstance(f["fromDate"], datetime) else datetime.combine(f["fromDate"], time.min)
        hi = f["toDate"] if isinstance(f["toDate"], datetime) else datetime.combine(f["toDate"], time.max)
        if lo > hi:
            f["toDate"] = f["fromDate"]
    expected = sorted(m["callId"] for m in oracle if matches(m, f))
    con = protected_connection(w.home)
    try:
        seen, total = walk(con, as_params(f), page_size)
    finally:
        con.close()
    assert total == len(expected)
    assert len(seen) == len(set(seen)) and sorted(seen) == expected


def test_the_cli_list_returns_ultravox_s_ten_fields(populated):
    w, oracle = populated
    page = uv_list(w, "--page-size", "5")
    assert set(page) == {"results", "next", "previous", "total"} and page["total"] == DELETED + UNKNOWN
    first = page["results"][0]
    assert list(first) == FIELDS
    assert first == oracle[0]["tomb"]  # exactly the tombstone Ultravox gave: times in UTC with Z, "1800s" durations
    assert first["deletionTime"].endswith("Z") and first["created"].endswith("Z") and first["maxDuration"].endswith("s")
    unknown = uv_list(w, "--search", oracle[-1]["callId"].upper())
    assert [r["callId"] for r in unknown["results"]] == [oracle[-1]["callId"]]
    assert unknown["results"][0]["accountId"] == "acct-other"


def test_cli_filters_are_the_same_query(populated):
    w, oracle = populated
    f = {"agentIds": AGENTS[:2], "metadata": {"campaign": "Summer"}, "durationMin": 60}
    expected = sorted(m["callId"] for m in oracle if matches(m, f))
    page = uv_list(w, "--agent-id", AGENTS[0], "--agent-id", AGENTS[1], "--metadata", "campaign=Summer",
                   "--duration-min", "60s", "--page-size", "1000")
    assert sorted(r["callId"] for r in page["results"]) == expected and page["total"] == len(expected)


def test_get_one_tombstone_and_an_unknown_call(populated):
    w, oracle = populated
    con = protected_connection(w.home)
    try:
        got = get_tombstone(con, oracle[3]["callId"])
        assert list(got) == FIELDS and got["callId"] == oracle[3]["callId"]
        with pytest.raises(NotFound):
            get_tombstone(con, "no-such-call")
    finally:
        con.close()


def test_the_cli_gets_one_tombstone_by_ultravox_call_id_as_the_api_does(populated):
    w, oracle = populated
    deleted = uv_list(w, "--page-size", "1")["results"][0]
    got = w.json("deleted-calls", "get", "--api", "ultravox", deleted["callId"], user=DPO)
    assert got == deleted and list(got) == FIELDS
    missing = w.cli("deleted-calls", "get", "--api", "ultravox", "no-such-call", user=DPO)
    assert missing.exit_code == 2 and "no-such-call" in missing.stderr and missing.stdout == ""
    refused = w.cli("deleted-calls", "get", "--api", "ultravox", deleted["callId"], user="analyst")
    assert refused.exit_code == 4 and refused.stdout == ""
    assert w.cli("deleted-calls", "get", "--api", "ultravox", deleted["callId"], "--format", "csv", user=DPO).exit_code == 2
    assert w.cli("deleted-calls", "get", deleted["callId"], user=DPO).exit_code == 2  # not a SAFE id
    logged = [e for e in w.access_log("user", "command", "allowed", "rowsReturned", "filters") if e[1] == "deleted-calls get --api ultravox"]
    asked = json.dumps({"callId": deleted["callId"]})
    assert ("dpo", "deleted-calls get --api ultravox", True, 1, asked) in logged
    assert ("analyst", "deleted-calls get --api ultravox", False, None, asked) in logged


@pytest.mark.parametrize("params, named", [
    ({"colour": ["red"]}, "colour"),
    ({"pageSize": ["1001"]}, "pageSize"),
    ({"pageSize": ["0"]}, "pageSize"),
    ({"fromDate": ["2026-02-30"]}, "fromDate"),
    ({"durationMin": ["60"]}, "durationMin"),
    ({"durationMax": ["-5s"]}, "durationMax"),
    ({"voiceId": ["a", "b"]}, "voiceId"),
    ({"metadata.": ["x"]}, "metadata."),
    ({"cursor": ["garbage"]}, "cursor"),
    ({"search": [""]}, "search"),
    ({"voiceId": [""]}, "voiceId"),  # empty, like search: a 400, not a filter on the empty voice
    ({"fromDate": ["2026-03-05T25:00:00Z"]}, "fromDate"),
    ({"toDate": ["2026-03-05T10"]}, "toDate"),
    ({"timeOfDayStart": ["24:00"]}, "timeOfDayStart"),
    ({"timeOfDayEnd": ["9:00"]}, "timeOfDayEnd"),
    ({"fromDate": ["2026-03-05T10:00:01Z"], "toDate": ["2026-03-05T10:00:00Z"]}, "fromDate"),
])
def test_unknown_or_malformed_parameters_name_the_parameter(params, named):
    with pytest.raises(UsageError) as e:
        parse_query(params)
    assert e.value.message.startswith(named)


def test_forged_and_mismatched_cursors_are_usage_errors(populated):
    w, _ = populated
    page = uv_list(w, "--page-size", "3", "--voice-id", VOICES[0])
    token = page["next"]
    import base64

    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw["b"] = raw["b"].replace('"after":', '"after":1').replace(VOICES[0], VOICES[1])
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    assert w.cli("deleted-calls", "list", "--api", "ultravox", "--cursor", forged, user=DPO).exit_code == 2
    assert w.cli("deleted-calls", "list", "--api", "ultravox", "--cursor", token + "x", user=DPO).exit_code == 2
    with pytest.raises(UsageError, match="other filters"):
        parse_query({"cursor": [token], "voiceId": [VOICES[1]]})
    same = parse_query({"cursor": [token], "voiceId": [VOICES[0]], "pageSize": ["7"]})
    assert same.voice_id == VOICES[0] and same.page_size == 7 and same.after is not None


def test_options_of_the_other_api_are_usage_errors(populated):
    w, _ = populated
    for args in (["--limit", "5"], ["--min-date", "2026-03-01"], ["--format", "csv"], ["--metadata", "novalue"],
                 ["--page-size", "1001"], ["--duration-min", "1m"]):
        result = w.cli("deleted-calls", "list", "--api", "ultravox", *args, user=DPO)
        assert result.exit_code == 2, args
    result = w.cli("deleted-calls", "list", "--agent-id", "x", user=DPO)
    assert result.exit_code == 2 and "--api ultravox" in result.stderr


def test_reading_needs_data_protection_and_every_read_and_refusal_is_logged(populated):
    w, _ = populated
    refused = w.cli("deleted-calls", "list", "--api", "ultravox", "--voice-id", "Mark", user="analyst")
    assert refused.exit_code == 4 and refused.stdout == "" and "data_protection" in refused.stderr
    uv_list(w, "--page-size", "4")
    log = w.access_log("user", "command", "allowed", "rowsReturned", "filters")
    mine = [r for r in log if r[1] == "deleted-calls list --api ultravox"]
    assert ("analyst", "deleted-calls list --api ultravox", False, None) == mine[-2][:4]
    assert json.loads(mine[-2][4])["voiceId"] == "Mark"
    assert mine[-1][:4] == (DPO, "deleted-calls list --api ultravox", True, 4)


def test_the_safe_list_shows_ultravox_deletions_too(populated):
    w, _ = populated
    page = w.json("deleted-calls", "list", "--limit", "1000", user=DPO)
    ultra = [r for r in page["results"] if r["carrier"] == "ultravox"]
    assert len(ultra) == DELETED + UNKNOWN
    assert all(r["target"] is None and r["costCDR"] is None for r in ultra)
    assert {r["deletedBy"] for r in ultra} == {"ultravox:acct-acme", "ultravox:acct-other"}
    assert all(r["userActivityLog"] == "ultravox:" + r["carrierCallID"] for r in ultra)


def test_ultravox_tables_are_not_in_the_analyst_store(populated):
    w, _ = populated
    con = duckdb.connect(str(w.home / "published" / "analyst.duckdb"), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert not {"ultravox_calls", "ultravox_files", "deleted_calls"} & tables
        assert con.execute("SELECT count(*) FROM calls WHERE carrier = 'ultravox'").fetchall()[0][0] == CALLS - DELETED
    finally:
        con.close()
    refused = w.cli("sql", "SELECT * FROM ultravox_calls")
    assert refused.exit_code == 4 and "ultravox_calls" in refused.stderr


def test_stored_calls_follow_the_mapping_and_keep_no_summary_or_prompt(populated):
    w, _ = populated
    calls = {c["callId"]: c for c in (call_object(i, seed=7) for i in range(CALLS))}
    rows = w.query("SELECT c.carrierCallID, c.startDate, c.startTime, c.duration, c.callTypeRecordingFlag, c.target, "
                   "c.costCDR, c.callTypeDirectionFlag, u.ultravox FROM calls c JOIN ultravox_calls u ON u.id = c.id")
    assert len(rows) == CALLS - DELETED
    for call_id, day, clock, duration, flag, target, cost, direction, fields in rows:
        c = calls[call_id]
        start = ts(c["joined"] or c["created"])
        assert (day, clock.isoformat()) == (start.date(), start.time().replace(microsecond=0).isoformat())
        span = 0 if c["joined"] is None else int((ts(c["ended"]) - ts(c["joined"])).total_seconds())
        assert duration == span and flag == ("Y" if c["recordingEnabled"] else "N")
        assert target is None and cost is None and direction is None
        assert fields["agentId"] == c["agentId"] and fields["voice"] == c["voice"] and fields["metadata"] == c["metadata"]
        assert fields["hadSummary"] == bool(c["summary"]) and fields["callObject"] is True
    for name in ("deletedcalls.duckdb", "published/protected.duckdb"):
        assert b"Jane Doe" not in (w.home / name).read_bytes()


def test_files_are_recorded_and_the_invariants_hold(populated):
    w, _ = populated
    from deletedcalls.store.audits import failed_audits

    con = lake_connection(w.home)
    try:
        assert failed_audits(con) == {}
        files = con.execute("SELECT fileName, kind, status, records, newCalls, deleted, newDeleted FROM ultravox_files ORDER BY id").fetchall()
    finally:
        con.close()
    assert files[:4] == [("calls-0.json", "calls", "loaded", 100, 100, 0, 0), ("calls-1.json", "calls", "loaded", 100, 100, 0, 0),
                         ("calls-2.json", "calls", "loaded", 100, 100, 0, 0), ("hooks.jsonl", "events", "loaded", 200, 0, 0, 0)]
    assert sum(f[5] for f in files) == DELETED and sum(f[6] for f in files) == UNKNOWN


# ---------------------------------------------------------------- ingest behaviour, each on its own warehouse


def test_same_file_again_and_repeated_events_are_no_ops(wh, write):
    calls = [call_object(i, seed=3) for i in range(20)]
    page = write_page(write("p.json", "") , calls)
    first = ingest(wh, page)
    assert first[0]["newCalls"] == 20
    again = ingest(wh, page)
    assert again[0]["status"] == "unchanged"
    spool = write_events(write("e.jsonl", ""), [event("call.ended", c) for c in calls] * 2)
    repeat = ingest(wh, spool)[0]
    assert (repeat["newCalls"], repeat["updated"], repeat["unchanged"]) == (0, 0, 40)
    assert wh.scalar("SELECT count(*) FROM calls") == 20 and wh.scalar("SELECT count(*) FROM ultravox_calls") == 20


def test_a_later_event_updates_a_call_and_a_stale_one_does_not(wh, write):
    call = call_object(1, seed=5)
    call["joined"], call["ended"] = "2026-03-01T10:00:00Z", "2026-03-01T10:01:01.900Z"
    ingest(wh, write_events(write("a.jsonl", ""), [event("call.started", started(call))]))
    assert wh.query("SELECT duration, startTime FROM calls")[0][0] == 0
    ingest(wh, write_events(write("b.jsonl", ""), [event("call.joined", {**call, "ended": None}), event("call.ended", call)]))
    assert wh.query("SELECT duration, CAST(startTime AS VARCHAR) FROM calls")[0] == (61, "10:00:00")
    same_file = ingest(wh, write_events(write("a2.jsonl", ""), [event("call.started", started(call))]))[0]
    assert same_file["status"] == "unchanged"  # the same bytes as a.jsonl
    stale = ingest(wh, write_events(write("c.jsonl", ""), [event("call.started", {**started(call), "clientVersion": "retry"})]))[0]
    assert stale["unchanged"] == 1 and wh.scalar("SELECT duration FROM calls") == 61
    billed = {**call, "metadata": {"customer": "C9", "tier": "gold"}}
    assert ingest(wh, write_events(write("d.jsonl", ""), [event("call.billed", billed)]))[0]["updated"] == 1
    assert wh.scalar("SELECT ultravox.metadata['tier'] FROM ultravox_calls") == "gold"


def test_tombstones_move_known_calls_atomically_and_store_unknown_ones(wh, write):
    calls = [call_object(i, seed=11) for i in range(10)]
    ingest(wh, write_page(write("p.json", ""), calls))
    ghost = call_object(500, seed=11)
    tombs = [tombstone(c, deletion_time(k)) for k, c in enumerate(calls[:4])] + [tombstone(ghost, deletion_time(9), "acct-x")]
    r = ingest(wh, write_page(write("t.json", ""), tombs))[0]
    assert (r["deleted"], r["newDeleted"], r["unchanged"]) == (4, 1, 0)
    assert wh.scalar("SELECT count(*) FROM calls") == 6 and wh.scalar("SELECT count(*) FROM ultravox_calls") == 6
    rows = wh.query("SELECT carrierCallID, deletedBy, userActivityLog, deletedAt, ultravox.callObject, ultravox.agentId, callId "
                    "FROM deleted_calls ORDER BY id")
    assert [r[0] for r in rows] == [c["callId"] for c in calls[:4]] + [ghost["callId"]]
    assert rows[0][1:4] == ("ultravox:acct-acme", f"ultravox:{calls[0]['callId']}", deletion_time(0).replace(tzinfo=None))
    assert rows[0][4] is True and rows[0][5] == calls[0]["agentId"]
    assert rows[4][1] == "ultravox:acct-x" and rows[4][4] is False and rows[4][5] is None and rows[4][6] == 11
    # the same tombstones in another file: no-op; the ghost's call object later fills in its agent
    assert ingest(wh, write_page(write("t2.json", ""), list(reversed(tombs))))[0]["unchanged"] == 5
    filled = ingest(wh, write_page(write("late.json", ""), [ghost]))[0]
    assert (filled["updated"], filled["newCalls"]) == (1, 0)
    assert wh.query("SELECT ultravox.callObject, ultravox.agentId FROM deleted_calls WHERE carrierCallID = $c",
                    {"c": ghost["callId"]})[0] == (True, ghost["agentId"])
    assert wh.scalar("SELECT count(*) FROM calls") == 6


def test_rejected_records_keep_position_reasons_and_no_prompt(wh, write):
    calls = [call_object(i, seed=13) for i in range(300)]
    calls[2] = {**calls[2], "created": "yesterday", "recordingEnabled": "yes", "metadata": {"n": 5}}
    r = ingest(wh, write_page(write("p.json", ""), calls))[0]
    assert (r["status"], r["newCalls"], r["rejected"]) == ("loaded", 299, 1)
    [(line, reasons, raw)] = wh.query("SELECT lineNumber, reasons, rawLine FROM rejected_rows WHERE source = 'ultravox'")
    assert line == 3
    assert [x.split(":")[0] for x in reasons] == ["created", "recordingEnabled", "metadata"]
    assert "systemPrompt" not in raw and "Jane" not in raw and json.loads(raw)["callId"] == calls[2]["callId"]
    bad_lines = write("hooks.jsonl", json.dumps(event("call.ended", calls[0])) + "\n{not json\n" + json.dumps({"event": 5, "call": calls[1]}) + "\n")
    r = ingest(wh, bad_lines, code=3)[0]
    assert r["status"] == "rejected" and r["rejected"] == 2
    assert sorted(wh.query("SELECT lineNumber FROM rejected_rows WHERE fileName = 'hooks.jsonl'")) == [(2,), (3,)]


def test_files_that_are_not_ultravox_files_are_rejected_with_exit_3(wh, write):
    log = write("d.jsonl", json.dumps({"id": "UAL-1", "user": "a", "timestamp": "2026-03-01T00:00:00Z", "action": "delete_calls",
                                       "selector": {"callIds": [1]}}) + "\n")
    result = wh.cli("ingest", "ultravox", str(log), str(write("x.json", "[1, 2]")), str(write("e.json", "")))
    assert result.exit_code == 3 and "deletion log" in result.stderr
    assert wh.scalar("SELECT count(*) FROM ultravox_files WHERE status = 'rejected'") == 3
    future = tombstone(call_object(1), datetime.now(UTC) + timedelta(days=3))
    result = wh.cli("ingest", "ultravox", str(write_page(write("t.json", ""), [future])))
    assert result.exit_code == 3 and wh.scalar("SELECT count(*) FROM deleted_calls") == 0


# ---------------------------------------------------------------- cursors while deletions arrive


def test_a_cursor_walk_sees_each_call_once_while_new_tombstones_arrive(wh, write):
    calls = [call_object(i, seed=17) for i in range(200)]
    ingest(wh, write_page(write("p.json", ""), calls))
    ingest(wh, write_page(write("t0.json", ""), [tombstone(c, deletion_time(k)) for k, c in enumerate(calls[:60])]))
    seen: list[str] = []
    page = uv_list(wh, "--page-size", "13")
    batch = 0
    while True:
        seen += [r["callId"] for r in page["results"]]
        if batch < 4:  # between pages, more deletions arrive (and are published)
            fresh = calls[60 + batch * 20: 80 + batch * 20]
            ingest(wh, write_page(write(f"t{batch + 1}.json", ""), [tombstone(c, deletion_time(100 + k)) for k, c in enumerate(fresh)]))
            batch += 1
        if not page["next"]:
            break
        page = uv_list(wh, "--cursor", page["next"])
    assert len(seen) == len(set(seen)) == 140
    assert set(seen) == {c["callId"] for c in calls[:140]}
    back = uv_list(wh, "--cursor", page["previous"])
    assert [r["callId"] for r in back["results"]] == seen[-len(page["results"]) - 13:-len(page["results"])]


# ---------------------------------------------------------------- deletion log, retention, DR, batch


def test_a_deletion_log_entry_deletes_an_ultravox_call_with_its_fields(wh, write):
    calls = [call_object(i, seed=19) for i in range(5)]
    ingest(wh, write_page(write("p.json", ""), calls))
    entry = {"id": "UAL-9", "user": "alice", "timestamp": "2026-03-09T10:00:00Z", "action": "delete_calls",
             "selector": {"carrierCallIds": [calls[1]["callId"]], "carrier": "ultravox"}}
    wh.cli("ingest", "deletions", str(write("d.jsonl", json.dumps(entry) + "\n")), ok=True)
    wh.cli("materialise", ok=True)
    assert wh.scalar("SELECT count(*) FROM ultravox_calls") == 4
    page = uv_list(wh)
    assert [r["callId"] for r in page["results"]] == [calls[1]["callId"]]
    assert page["results"][0]["deletionTime"] == "2026-03-09T10:00:00Z"
    assert uv_list(wh, "--agent-id", calls[1]["agentId"])["total"] == (1 if calls[1]["agentId"] else 0)


def test_ultravox_deletions_follow_retention_and_restore_from_dr(wh, write, tmp_path):
    calls = [call_object(i, seed=23) for i in range(30)]
    ingest(wh, write_page(write("p.json", ""), calls))
    january = [tombstone(c, datetime(2026, 1, 5, tzinfo=UTC) + timedelta(hours=k)) for k, c in enumerate(calls[:10])]
    march = [tombstone(c, datetime(2026, 3, 5, tzinfo=UTC)) for c in calls[10:15]]
    ingest(wh, write_page(write("t.json", ""), january + march))
    wh.cli("retention", "enforce", "--as-of", "2026-05-15", ok=True)
    page = uv_list(wh, "--page-size", "100")
    assert sorted(r["callId"] for r in page["results"]) == sorted(c["callId"] for c in calls[10:15])
    archives = wh.json("dr", "list")
    assert [(a["partition"], a["rows"]) for a in archives] == [("2026-01", 10)]
    assert wh.cli("dr", "verify", ok=True).exit_code == 0
    into = tmp_path / "restore.duckdb"
    wh.cli("dr", "restore", archives[0]["id"], "--into", str(into), user=DPO, ok=True)
    con = duckdb.connect(str(into), read_only=True)
    try:
        restored = con.execute("SELECT carrierCallID, deletedBy, ultravox.agentId, ultravox.metadata FROM deleted_calls "
                               "ORDER BY id").fetchall()
    finally:
        con.close()
    assert [r[0] for r in restored] == [c["callId"] for c in calls[:10]]
    assert restored[0][1:4] == ("ultravox:acct-acme", calls[0]["agentId"], calls[0]["metadata"])
    # a tombstone landing later in the archived month is archived as a further part
    ingest(wh, write_page(write("late.json", ""), [tombstone(calls[20], datetime(2026, 1, 30, tzinfo=UTC))]))
    wh.cli("retention", "enforce", "--as-of", "2026-05-15", ok=True)
    assert [(a["partition"], a["rows"]) for a in wh.json("dr", "list")] == [("2026-01", 10), ("2026-01", 1)]
    from deletedcalls.store.audits import failed_audits

    con = lake_connection(wh.home)
    try:
        assert failed_audits(con) == {}
    finally:
        con.close()


def test_a_purged_ultravox_call_delivered_again_stays_deleted(wh, write):
    """A re-delivered calls page or tombstone page must not bring back a call retention purged."""
    calls = [call_object(i, seed=29) for i in range(6)]
    page = write_page(write("p.json", ""), calls)
    ingest(wh, page)
    tombs = write_page(write("t.json", ""), [tombstone(c, datetime(2026, 1, 5, tzinfo=UTC)) for c in calls[:2]])
    ingest(wh, tombs)
    wh.cli("retention", "enforce", "--as-of", "2026-05-15", ok=True)
    assert uv_list(wh)["total"] == 0
    before = wh.json("sql", "SELECT count(*) AS n FROM calls", user=DPO)[0]["n"]
    assert before == 4
    # the same content under new names: a page export and a tombstone page sent again
    ingest(wh, write_page(write("p-again.json", ""), calls))
    ingest(wh, write_page(write("t-again.json", ""), [tombstone(c, datetime(2026, 1, 6, tzinfo=UTC)) for c in calls[:2]]))
    live = {r["carrierCallID"] for r in wh.json("sql", "SELECT carrierCallID FROM calls", user=DPO)}
    assert live == {c["callId"] for c in calls[2:]}, "a purged call came back as a live call"
    assert wh.json("sql", "SELECT count(*) AS n FROM deleted_calls", user=DPO)[0]["n"] == 0
    assert uv_list(wh)["total"] == 0
    # a malformed copy of a purged call object keeps none of its text (found by an outside tester)
    bad = {**calls[0], "created": "yesterday", "metadata": {"marker": "PURGEDMARK7"}}
    ingest(wh, write_page(write("p-bad.json", ""), [bad, *calls[2:]]), code=3)  # over the reject limit: rejects kept
    rejected = wh.json("sql", "SELECT rawLine, reasons FROM rejected_rows WHERE fileName = 'p-bad.json'", user=DPO)
    assert len(rejected) == 1 and rejected[0]["rawLine"] == "" and "purged" in rejected[0]["reasons"][-1]
    outside_dr = b"".join(p.read_bytes() for p in wh.home.rglob("*") if p.is_file() and "dr" not in p.relative_to(wh.home).parts)
    assert b"PURGEDMARK7" not in outside_dr


def test_the_batch_picks_up_pages_and_webhook_spools_by_content(wh, write, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    calls = [call_object(i, seed=29) for i in range(8)]
    write_page(inbox / "uv-calls.json", calls[:6])
    write_events(inbox / "uv-hooks.jsonl", [event("call.ended", c) for c in calls[6:]] * 2)
    write_page(inbox / "uv-deleted.json", [tombstone(calls[0], datetime(2026, 3, 3, tzinfo=UTC))])
    (inbox / "deletions.jsonl").write_text(json.dumps({
        "id": "UAL-1", "user": "bob", "timestamp": "2026-03-04T00:00:00Z", "action": "delete_calls",
        "selector": {"carrierCallIds": [calls[7]["callId"]]}}) + "\n")
    job = tmp_path / "job.toml"
    job.write_text(f'[job]\nname = "t"\ninbox = "{inbox}"\n')
    out = wh.json("run", str(job), "--as-of", "2026-03-31", "--min-age-seconds", "0")
    assert out["stages"]["ingest-ultravox"]["files"] == 3 and out["stages"]["ingest-ultravox"]["newCalls"] == 8
    assert out["stages"]["ingest-deletions"]["entries"] == 1 and out["stages"]["materialise"]["deleted"] == 1
    assert sorted(r["callId"] for r in uv_list(wh)["results"]) == sorted([calls[0]["callId"], calls[7]["callId"]])
    again = wh.json("run", str(job), "--as-of", "2026-03-31", "--min-age-seconds", "0")
    assert again["stages"]["ingest-ultravox"]["unchanged"] == 3


def test_a_path_that_is_not_a_regular_file_is_a_rejected_file_and_the_others_load(wh, write, tmp_path):
    import os

    fifo = tmp_path / "spool.jsonl"
    os.mkfifo(fifo)
    page = write_page(write("p.json", ""), [call_object(1, seed=31)])
    result = wh.cli("ingest", "ultravox", str(fifo), str(page))
    assert result.exit_code == 3 and "spool.jsonl" in result.stderr.strip().splitlines()[-1]
    assert wh.scalar("SELECT count(*) FROM calls") == 1


deliveries = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=25)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=deliveries, cuts=st.lists(st.integers(0, 25), max_size=3), one_command=st.booleans())
def test_retried_and_reordered_webhooks_end_in_the_latest_state_that_knows_most(tmp_path_factory, sent, cuts, one_command):
    """Whatever the order, repeats and file boundaries: per call, the last delivery of the highest stage."""
    base = tmp_path_factory.mktemp("hooks")
    w = Warehouse(base / "warehouse")
    w.cli("init", ok=True)
    calls = [call_object(i, seed=37) for i in range(4)]
    for c in calls:
        c["joined"], c["ended"] = "2026-03-01T10:00:00Z", "2026-03-01T10:02:00Z"

    def variant(i: int, stage: int, version: int) -> dict[str, Any]:
        c = {**calls[i], "metadata": {"version": str(version)}}
        if stage == 0:
            return started(c)
        return {**c, "ended": None} if stage == 1 else c

    events = [event(f"call.{('started', 'joined', 'ended')[s]}", variant(i, s, v)) for i, s, v in sent]
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    files = [write_events(base / f"h{k}.jsonl", events[a:b]) for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))]
    if one_command:
        ingest(w, *files)
    else:
        for f in files:
            ingest(w, f)
    expected = {}
    for i, s, v in sent:
        if i not in expected or s >= expected[i][0]:
            expected[i] = (s, v)
    got = dict(w.query("SELECT u.callId, {'m': u.ultravox.metadata['version'], 's': u.stage, 'd': c.duration} "
                       "FROM ultravox_calls u JOIN calls c ON c.id = u.id"))
    assert set(got) == {calls[i]["callId"] for i in expected}
    for i, (s, v) in expected.items():
        assert got[calls[i]["callId"]] == {"m": str(v), "s": s, "d": 120 if s == 2 else 0}


def test_date_times_and_a_time_of_day_window_through_the_cli(populated):
    w, oracle = populated
    # a window around midnight UTC (22:00 to 02:00 wraps), from an instant, as the CLI spells the options
    got = uv_list(w, "--from-date", "2026-03-01T00:00:00+01:00", "--time-of-day-start", "22:00",
                  "--time-of-day-end", "02:00", "--page-size", "1000")
    f = {"fromDate": datetime(2026, 2, 28, 23, 0), "timeOfDayStart": time(22, 0), "timeOfDayEnd": time(2, 0)}
    expected = sorted(m["callId"] for m in oracle if matches(m, f))
    assert expected and sorted(r["callId"] for r in got["results"]) == expected and got["total"] == len(expected)
    bad = w.cli("deleted-calls", "list", "--api", "ultravox", "--voice-id", "", user=DPO)
    assert bad.exit_code == 2 and "--voice-id" in bad.stderr and "must not be empty" in bad.stderr


def test_metadata_filters_spelled_the_openapi_way_are_the_same_filter():
    from deletedcalls.http.openapi import document

    assert parse_query({"metadata[region]": ["north"]}) == parse_query({"metadata.region": ["north"]})
    with pytest.raises(UsageError):
        parse_query({"metadata[region]": ["north"], "metadata.region": ["south"]})
    names = [p["name"] for p in document()["paths"]["/api/deleted_calls"]["get"]["parameters"]]
    assert "metadata" in names and not [n for n in names if "." in n or "KEY" in n]
