"""Ingest Ultravox files (SPEC 10): saved ``/api/calls`` pages, saved ``/api/deleted_calls`` pages, webhook spools.

Per file, in this order:

1. its bytes are read once; the SHA-256 is of exactly those bytes, and a file
   whose size or modification time changed meanwhile loads nothing and is not
   recorded (the next run tries again). Content seen before is a no-op;
2. it is recognised by content: a JSON object whose ``results`` hold call
   objects (a calls page) or tombstones (they have ``deletionTime``), or JSON
   Lines of webhook events (``{"event": "call.ended", "call": {...}}``).
   Anything else is rejected whole (exit 3);
3. each record is flattened to text and validated by the pandera schema of its
   kind (call object, tombstone, event); a bad record is rejected with its
   position in ``results`` (pages) or its line (spools) and every reason. Over
   the reject limit (``max_reject_ratio``, as for CDR files) the file is
   rejected whole;
4. one transaction applies consecutive files of one family (call objects, or
   tombstones; in batches of about ``BATCH_RECORDS`` records) in file order
   (``sql/ultravox/``), records each file and its rejects, checks the
   invariants when calls moved, and commits:
   - call objects: per call, the object that knows most (``stage``: created,
     joined, ended), then the last one, is the file's word on it. A new call is
     inserted into ``calls`` (carrier ``ultravox``) and ``ultravox_calls``; a
     live call is updated when the object differs and knows at least as much
     (a repeated event is a no-op, a retried ``call.started`` after
     ``call.ended`` is stale); an already deleted call gets the fields only a
     call object has (agent, voice, metadata);
   - tombstones: a live call moves to ``deleted_calls`` with its fields; a call
     never ingested is stored from the tombstone alone; a call already deleted
     is a no-op.

A crash before COMMIT leaves nothing of those files; the next run ingests them whole.
Summaries and system prompts are never kept, not even in the raw text of a
rejected record.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from deletedcalls import logs
from deletedcalls.clock import utc_now
from deletedcalls.errors import InputRejected
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import sql
from deletedcalls.store.warehouse import insert_from, next_ids, rollback_quietly

CALL_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
DURATION = r"^[0-9]{1,12}(\.[0-9]{1,9})?s$"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"
TIMESTAMP_RULE = "must be an ISO 8601 time with Z or an offset (2026-03-05T10:22:01Z)"
# Never stored, not even in a rejected record's raw text: the audit trail does not need their personal data.
NOT_KEPT = ("summary", "shortSummary", "systemPrompt")
RAW_LIMIT = 200  # characters kept of a line that is not JSON (it cannot be cleaned of NOT_KEPT)
MAX_FUTURE = timedelta(days=1)

CALL_TEXT = ("callId", "accountId", "agentId", "voice", "endReason", "created", "joined", "ended", "maxDuration")
TOMBSTONE_TEXT = ("callId", "accountId", "endReason", "created", "deletionTime", "joined", "ended", "maxDuration")
# The order reasons are listed in.
FIELD_ORDER = ("event", "call", "callId", "accountId", "created", "deletionTime", "joined", "ended", "maxDuration",
               "endReason", "recordingEnabled", "hadSummary", "agentId", "voice", "metadata")


@dataclass
class UltravoxFileResult:
    """What happened to one Ultravox file."""

    path: str
    file_name: str
    sha256: str
    status: str  # loaded | rejected | unchanged | changing
    kind: str | None = None  # calls | tombstones | events
    file_id: int | None = None
    records: int = 0
    new_calls: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    new_deleted: int = 0
    rejected: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path, "fileName": self.file_name, "sha256": self.sha256, "status": self.status,
            "kind": self.kind, "id": self.file_id, "records": self.records, "newCalls": self.new_calls,
            "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted,
            "newDeleted": self.new_deleted, "rejected": self.rejected, "message": self.message,
        }


# ---------------------------------------------------------------- recognising a file


Record = tuple[int, Any, str]  # (position or line, parsed JSON value, raw text for a reject)
Reject = tuple[int, list[str], str]


def _cleaned(value: Any) -> Any:
    """A record without the fields that are never kept (also inside an event's call)."""
    if not isinstance(value, dict):
        return value
    out = {k: v for k, v in value.items() if k not in NOT_KEPT}
    if isinstance(out.get("call"), dict):
        out["call"] = {k: v for k, v in out["call"].items() if k not in NOT_KEPT}
    return out


def _raw(value: Any) -> str:
    return json.dumps(_cleaned(value), ensure_ascii=False, separators=(",", ":"))


def recognise(data: bytes) -> tuple[str | None, list[Record], list[Reject], str | None]:
    """(kind, records, rejects, why the file is not an Ultravox file) of a file's bytes."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        return None, [], [], f"not UTF-8 text (byte {e.start}): an Ultravox file is JSON"
    if not text.strip():
        return None, [], [], "the file is empty"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return _json_lines(text)
    if isinstance(doc, dict) and "results" in doc:
        results = doc["results"]
        if not isinstance(results, list):
            return None, [], [], "results is not a list: not a saved Ultravox page"
        first = next((r for r in results if isinstance(r, dict)), {})
        kind = "tombstones" if "deletionTime" in first else "calls"
        return kind, [(i, r, "") for i, r in enumerate(results, start=1)], [], None
    if isinstance(doc, dict) and "event" in doc:
        return "events", [(1, doc, "")], [], None
    return None, [], [], _not_ultravox(doc)


def _not_ultravox(doc: Any) -> str:
    if isinstance(doc, dict) and "selector" in doc:
        return "not an Ultravox file: it looks like a deletion log (use `ingest deletions`)"
    return ('not an Ultravox file: expected a saved page ({"results": [...]}) or JSON Lines of webhook events '
            '({"event": ..., "call": {...}})')


def _json_lines(text: str) -> tuple[str | None, list[Record], list[Reject], str | None]:
    records: list[Record] = []
    rejects: list[Reject] = []
    recognised = False
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if not recognised:
                return None, [], [], f"line {number} is not JSON ({e.msg}): not a saved page nor JSON Lines of webhook events"
            rejects.append((number, [f"not valid JSON: {e.msg} at column {e.colno}"], line[:RAW_LIMIT]))
            continue
        if not recognised:
            if not (isinstance(obj, dict) and "event" in obj):
                return None, [], [], _not_ultravox(obj)
            recognised = True
        records.append((number, obj, ""))
    return "events", records, rejects, None


# ---------------------------------------------------------------- flattening and validating


class _Columns:
    """Flattens JSON objects column by column: one list comprehension per field, and Python work
    only for the rare value of the wrong JSON type (one function call per object cost 3x as much)."""

    def __init__(self, objects: list[Any], what: str) -> None:
        self.problems: dict[int, list[str]] = {}
        self.objects = [o if o.__class__ is dict else {} for o in objects]
        for i, o in enumerate(objects):
            if o.__class__ is not dict:
                self.problem(i, f"{what}: must be a JSON object")

    def problem(self, i: int, text: str) -> None:
        self.problems.setdefault(i, []).append(text)

    def text(self, name: str) -> pl.Series:
        values = [o.get(name) for o in self.objects]
        for i, v in enumerate(values):
            if v is not None and v.__class__ is not str:
                self.problem(i, f"{name}: must be a string")
                values[i] = json.dumps(v)
        return pl.Series(name, values, dtype=pl.String)

    def flag(self, name: str) -> pl.Series:
        """A JSON boolean as 'true'/'false'; anything else as its JSON text (which the schema refuses)."""
        values = [o.get(name) for o in self.objects]
        return pl.Series(name, ["true" if v is True else "false" if v is False else None if v is None else json.dumps(v)
                                for v in values], dtype=pl.String)

    def problem_column(self) -> pl.Series:
        column: list[str | None] = [None] * len(self.objects)
        for i, texts in self.problems.items():
            column[i] = "; ".join(texts)
        return pl.Series("problem", column, dtype=pl.String)


def _string_lists(name: str, lists: list[list[str]]) -> pl.Series:
    """A List(String) column from flat values and offsets: polars built one Series per inner list, and
    pyarrow's pa.array() of nested Python lists imports pandas."""
    import pyarrow as pa

    offsets = pl.Series(list(itertools.accumulate(map(len, lists), initial=0)), dtype=pl.Int64).to_arrow()
    flat = pl.Series(list(itertools.chain.from_iterable(lists)), dtype=pl.String).to_arrow()
    return pl.Series(name, pa.LargeListArray.from_arrays(offsets, flat))


def _instant(name: str) -> pl.Expr:
    return (pl.col(name).str.to_datetime(TIMESTAMP_FORMAT, strict=False, time_zone="UTC", time_unit="us")
            .dt.replace_time_zone(None).alias(f"{name}At"))


def call_frame(records: list[Record], events: bool) -> pl.DataFrame:
    """Flattened call objects (of pages, or of events' ``call``) as text, with parsed instants."""
    if events:
        wrappers = [obj if obj.__class__ is dict else {} for _, obj, _ in records]
        cols = _Columns([w.get("call") for w in wrappers], "call")
        for i, w in enumerate(wrappers):
            if w.get("call") is None:
                cols.problems[i] = ["call: required"]
    else:
        cols = _Columns([obj for _, obj, _ in records], "call")
    series = {name: cols.text(name) for name in CALL_TEXT}
    agents = series["agentId"].to_list()
    nested = [i for i, (a, o) in enumerate(zip(agents, cols.objects, strict=True)) if a is None and "agent" in o]
    for i in nested:  # newer call objects nest the agent: {"agent": {"agentId": ...}}
        inner = cols.objects[i]["agent"]
        v = inner.get("agentId") if inner.__class__ is dict else None
        agents[i] = v if v is None or v.__class__ is str else json.dumps(v)
    if nested:
        series["agentId"] = pl.Series("agentId", agents, dtype=pl.String)
    metas = [o.get("metadata") for o in cols.objects]
    keys: list[list[str]] = []
    values: list[list[str]] = []
    for i, m in enumerate(metas):
        if m.__class__ is dict and all(v.__class__ is str for v in m.values()):
            keys.append(list(m))
            values.append(list(m.values()))
        else:
            if m is not None:
                cols.problem(i, "metadata: must be an object of string values")
            keys.append([])
            values.append([])
    frame = pl.DataFrame([
        *series.values(), cols.flag("recordingEnabled"), _string_lists("metadataKeys", keys),
        _string_lists("metadataValues", values),
        pl.Series("hadSummary", [bool(o.get("summary") or o.get("shortSummary")) for o in cols.objects], dtype=pl.Boolean),
        cols.problem_column(), pl.Series("position", [r[0] for r in records], dtype=pl.Int64),
    ])
    if events:
        frame = frame.with_columns(pl.Series("event", [_event_name(obj) for _, obj, _ in records], dtype=pl.String))
    return frame.with_columns(_instant("created"), _instant("joined"), _instant("ended"))


def _event_name(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return json.dumps(obj)
    v = obj.get("event")
    return v if v is None or isinstance(v, str) else json.dumps(v)


def tombstone_frame(records: list[Record], now: datetime) -> pl.DataFrame:
    cols = _Columns([obj for _, obj, _ in records], "tombstone")
    frame = pl.DataFrame([
        *(cols.text(name) for name in TOMBSTONE_TEXT), cols.flag("recordingEnabled"), cols.flag("hadSummary"),
        cols.problem_column(), pl.Series("position", [r[0] for r in records], dtype=pl.Int64),
    ])
    frame = frame.with_columns(_instant("created"), _instant("joined"), _instant("ended"), _instant("deletionTime"))
    return frame.with_columns((pl.col("deletionTimeAt") > now + MAX_FUTURE).fill_null(False).alias("deletionTooLate"))


@cache
def _schemas() -> dict[str, Any]:
    """The pandera schemas of a call object, a tombstone and a webhook event (flattened to text)."""
    from deletedcalls.ingest.schemas import pandera_polars

    pa = pandera_polars()

    def check(expr: pl.Expr, name: str) -> Any:
        return pa.Check(lambda data: data.lazyframe.select(expr), name=name)

    def matches(column: str, pattern: str, name: str) -> Any:
        return check(pl.col(column).is_null() | pl.col(column).str.contains(pattern), name)

    def instant(column: str) -> Any:
        return check(pl.col(column).is_null() | pl.col(f"{column}At").is_not_null(), TIMESTAMP_RULE)

    def flag(column: str) -> Any:
        return check(pl.col(column).is_null() | pl.col(column).is_in(["true", "false"]), "must be true or false")

    text = pl.String
    common = {
        "callId": pa.Column(text, nullable=False, checks=[matches(
            "callId", CALL_ID, "must be an Ultravox call id (letters, digits, - _ . :; at most 128)")]),
        "created": pa.Column(text, nullable=False, checks=[instant("created")]),
        "joined": pa.Column(text, nullable=True, checks=[instant("joined")]),
        "ended": pa.Column(text, nullable=True, checks=[
            instant("ended"),
            check(pl.col("endedAt").is_null() | pl.col("joinedAt").is_null() | (pl.col("endedAt") >= pl.col("joinedAt")),
                  "must not be before joined"),
        ]),
        "maxDuration": pa.Column(text, nullable=True, checks=[matches("maxDuration", DURATION, 'must be a duration like "3600s"')]),
        "endReason": pa.Column(text, nullable=True),
        "recordingEnabled": pa.Column(text, nullable=False, checks=[flag("recordingEnabled")]),
        "problem": pa.Column(text, nullable=True, checks=[check(pl.col("problem").is_null(), "problem")]),
    }
    call = pa.DataFrameSchema({
        **common,
        "accountId": pa.Column(text, nullable=True),
        "agentId": pa.Column(text, nullable=True),
        "voice": pa.Column(text, nullable=True),
    }, strict=False, name="Ultravox call object")
    event = call.add_columns({
        "event": pa.Column(text, nullable=False, checks=[check(
            pl.col("event").is_null() | pl.col("event").str.starts_with("call."),
            "must be a call event (call.started, call.joined, call.ended, call.billed, ...)")]),
    })
    tombstone = pa.DataFrameSchema({
        **common,
        "accountId": pa.Column(text, nullable=False, checks=[check(
            pl.col("accountId").is_null() | (pl.col("accountId").str.len_chars() > 0), "must be a non-empty string")]),
        "deletionTime": pa.Column(text, nullable=False, checks=[
            instant("deletionTime"),
            check(~pl.col("deletionTooLate"), "must not be more than one day after the moment of ingestion"),
        ]),
        "hadSummary": pa.Column(text, nullable=False, checks=[flag("hadSummary")]),
    }, strict=False, name="Ultravox tombstone")
    return {"calls": call, "events": event, "tombstones": tombstone}


def rejection_reasons(kind: str, frame: pl.DataFrame) -> dict[int, list[str]]:
    """Validate a flattened frame with the schema of its kind; reasons by 0-based row."""
    schema = _schemas()[kind]
    import pandera.errors

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as e:
        reasons: dict[int, list[str]] = {}
        cases = e.failure_cases.filter(pl.col("index").is_not_null())
        for index, column, check_name, value in cases.select("index", "column", "check", "failure_case").iter_rows():
            if column == "problem":
                found = str(value).split("; ")
            elif check_name == "not_nullable":
                found = [f"{column}: required"]
            else:
                found = [f"{column}: {check_name} (got {value!r})"]
            reasons.setdefault(int(index), []).extend(found)
        order = {name: i for i, name in enumerate(FIELD_ORDER)}
        for rs in reasons.values():
            rs.sort(key=lambda r: order.get(r.split(":")[0], 99))
        return reasons
    return {}


def _typed_calls(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        "callId", "fileIdx", "position",
        (pl.when(pl.col("endedAt").is_not_null()).then(2).when(pl.col("joinedAt").is_not_null()).then(1).otherwise(0))
        .cast(pl.Int32).alias("stage"),
        "accountId", "agentId", "voice", "metadataKeys", "metadataValues", "endReason",
        (pl.col("recordingEnabled") == "true").alias("recordingEnabled"),
        pl.col("createdAt").alias("created"), pl.col("joinedAt").alias("joined"), pl.col("endedAt").alias("ended"),
        "maxDuration", "hadSummary",
    )


def _typed_tombstones(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        "callId", "fileIdx", "position", "accountId",
        pl.col("createdAt").alias("created"), pl.col("deletionTimeAt").alias("deletionTime"),
        pl.col("joinedAt").alias("joined"), pl.col("endedAt").alias("ended"),
        "maxDuration", "endReason",
        (pl.col("recordingEnabled") == "true").alias("recordingEnabled"),
        (pl.col("hadSummary") == "true").alias("hadSummary"),
    )


# ---------------------------------------------------------------- applying


def _run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[tuple[Any, ...]]:
    text = sql(f"ultravox/{name}")
    used = {k: v for k, v in params.items() if f"${k}" in text}
    return con.execute(text, used or None).fetchall()


def _per_file(con: duckdb.DuckDBPyConnection, query: str) -> dict[int, tuple[int, ...]]:
    return {int(r[0]): tuple(int(v) for v in r[1:]) for r in con.execute(query).fetchall()}


def _apply_calls(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, first_file: int, run_id: int,
                 now: datetime) -> dict[int, dict[str, int]]:
    """Apply the call objects of a group of files; per file (group index): new, updated."""
    insert_from(con, "uv_objects", good, sql("ultravox/calls_incoming"))
    ids = {"first_file": first_file, "now": now, "run": run_id}
    _run(con, "calls_changed")
    _run(con, "calls_update_live")
    _run(con, "calls_update_fields", **ids)
    _run(con, "calls_to_fill")
    _run(con, "calls_fill_deleted", **ids)
    _run(con, "calls_new")
    new = int(con.execute("SELECT count(*) FROM uv_new").fetchall()[0][0])
    if new:
        first = next_ids(con, "call", new)
        _run(con, "calls_insert", first_id=first)
        _run(con, "calls_insert_fields", first_id=first, **ids)
    counts: dict[int, dict[str, int]] = {}
    for table, column, key in (("uv_new", "firstFileIdx", "new_calls"), ("uv_changed", "fileIdx", "updated"),
                               ("uv_fill", "fileIdx", "updated")):
        query = f"SELECT {column}, count(*) FROM {table} GROUP BY ALL"  # noqa: S608 -- fixed temp tables and columns
        for idx, (n,) in _per_file(con, query).items():
            counts.setdefault(idx, {"new_calls": 0, "updated": 0})[key] += n
    for table in ("uv_incoming", "uv_changed", "uv_fill", "uv_new"):
        con.execute(f"DROP TABLE {table}")
    return counts


def _apply_tombstones(con: duckdb.DuckDBPyConnection, good: pl.DataFrame, run_id: int,
                      now: datetime) -> dict[int, dict[str, int]]:
    """Apply the tombstones of a group of files; per file (group index): deleted, new_deleted."""
    insert_from(con, "uv_tombs", good, sql("ultravox/tombstones_deleting"))
    total, new = con.execute("SELECT count(*), count(newRank) FROM uv_deleting").fetchall()[0]
    if total:
        first_call = next_ids(con, "call", new) if new else 0
        first_deleted = next_ids(con, "deleted_call", total)
        _run(con, "tombstones_insert", first_call=first_call, first_deleted=first_deleted, now=now, run=run_id)
        _run(con, "tombstones_summary", first_deleted=first_deleted, last_deleted=first_deleted + total - 1)
        _run(con, "tombstones_remove_live")
        _run(con, "tombstones_remove_fields")
    counts = {idx: {"deleted": d, "new_deleted": n} for idx, (d, n) in _per_file(
        con, "SELECT fileIdx, count(liveId), count(newRank) FROM uv_deleting GROUP BY ALL").items()}
    con.execute("DROP TABLE uv_deleting")
    return counts


def _record(con: duckdb.DuckDBPyConnection, result: UltravoxFileResult, size: int, run_id: int, reason: str | None,
            rejects: list[Reject], now: datetime) -> None:
    con.execute(
        "INSERT INTO ultravox_files VALUES ($id, $name, $sha, $kind, $status, $records, $new, $updated, $unchanged, "
        "$deleted, $new_deleted, $rejected, $size, $reason, $at, $run)",
        {"id": result.file_id, "name": result.file_name, "sha": result.sha256, "kind": result.kind,
         "status": result.status, "records": result.records, "new": result.new_calls, "updated": result.updated,
         "unchanged": result.unchanged, "deleted": result.deleted, "new_deleted": result.new_deleted,
         "rejected": result.rejected, "size": size, "reason": reason, "at": now, "run": run_id},
    )
    if rejects:
        rejects.sort(key=lambda r: r[0])
        table = pl.DataFrame({"line": [r[0] for r in rejects], "reasons": [r[1] for r in rejects],
                              "raw": [r[2] for r in rejects], "callId": [_call_id_of(r[2]) for r in rejects]},
                             schema={"line": pl.Int64, "reasons": pl.List(pl.String), "raw": pl.String, "callId": pl.String})
        insert_from(con, "uv_rejects", table, sql("ultravox/rejects"),
                    {"file": result.file_id, "name": result.file_name, "run": run_id})


def _call_id_of(raw: str) -> str | None:
    """The call id a rejected record's text names (a call object's or tombstone's, or an event's call), if any."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, dict):
        for holder in (value, value.get("call")):
            if isinstance(holder, dict) and isinstance(holder.get("callId"), str):
                return str(holder["callId"])
    return None


def _read_once(path: Path) -> bytes | None:
    """The file's bytes, or None when its size or modification time changed while it was read."""
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        data = f.read()
        after = os.stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        return None
    return data


@dataclass
class _File:
    """One file on its way: what was read and decided before the transaction."""

    result: UltravoxFileResult
    size: int = 0
    records: list[Record] | None = None
    rejects: list[Reject] | None = None
    why: str | None = None  # why it is rejected whole (None: it loads)
    good: pl.DataFrame | None = None  # its valid records, typed

    @property
    def family(self) -> str:
        return "tombstones" if self.result.kind == "tombstones" else "calls"


def _open(con: duckdb.DuckDBPyConnection, path: Path, seen: dict[str, str]) -> _File:
    """Step 1 and 2 for one file: read once, hash, known?, recognise."""
    f = _File(UltravoxFileResult(str(path), path.name, "", "rejected"))
    r = f.result
    try:
        if not path.is_file():
            r.message = "not a regular file; nothing was read"
            return f
        data = _read_once(path)
    except OSError as e:
        r.message = f"cannot be read ({e.strerror or e}); nothing was loaded"
        return f
    if data is None:
        r.status = "changing"
        r.message = "the file changed while it was read (still being written?); nothing loaded, the next run tries again"
        return f
    r.sha256, f.size = hashlib.sha256(data).hexdigest(), len(data)
    known = con.execute("SELECT id, fileName, status FROM ultravox_files WHERE sha256 = $s ORDER BY id LIMIT 1",
                        {"s": r.sha256}).fetchall()
    if known or r.sha256 in seen:
        r.status = "unchanged"
        name, status = (known[0][1], known[0][2]) if known else (seen[r.sha256], "in this command")
        r.file_id = known[0][0] if known else None
        r.message = f"already ingested{'' if name == path.name else f' as {name!r}'} ({status}); nothing to do"
        return f
    seen[r.sha256] = path.name
    r.kind, f.records, f.rejects, f.why = recognise(data)
    r.records = len(f.records) + len(f.rejects)  # lines of a spool that are not JSON are records too
    if f.why is not None:
        r.message = f"rejected whole, nothing loaded: {f.why}"
    return f


def _validate(files: list[_File], kind: str, now: datetime, max_ratio: float) -> None:
    """Step 3 for every file of one kind at once (one pandera validation, whatever the number of files)."""
    if not files:
        return
    frames = []
    for idx, f in enumerate(files):
        assert f.records is not None
        frame = tombstone_frame(f.records, now) if kind == "tombstones" else call_frame(f.records, kind == "events")
        frames.append(frame.with_columns(pl.lit(idx, pl.Int32).alias("fileIdx")))
    frame = pl.concat(frames, how="vertical")
    reasons = rejection_reasons(kind, frame) if frame.height else {}
    typed = _typed_tombstones(frame) if kind == "tombstones" else _typed_calls(frame)
    if reasons:
        typed = typed.filter(~pl.int_range(typed.height).is_in(list(reasons)))
    parts = typed.partition_by("fileIdx", as_dict=True)
    starts = list(itertools.accumulate((len(f.records or []) for f in files), initial=0))
    for row, why in sorted(reasons.items()):
        idx = bisect.bisect_right(starts, row) - 1
        f = files[idx]
        assert f.records is not None and f.rejects is not None
        number, obj, _ = f.records[row - starts[idx]]
        f.rejects.append((number, why, _raw(obj)))
    for idx, f in enumerate(files):
        f.good = parts.get((idx,), typed.clear())
        r = f.result
        r.rejected = len(f.rejects or [])
        if r.records and r.rejected / r.records > max_ratio:
            f.why = (f"{r.rejected} of {r.records} records rejected ({r.rejected / r.records:.2%}), "
                     f"over the limit of {max_ratio:.2%}")
            r.message = f"rejected whole, nothing loaded: {f.why}"


def _apply_group(con: duckdb.DuckDBPyConnection, group: list[_File], run_id: int, now: datetime) -> None:
    """Step 4 for consecutive files of one family, in one transaction."""
    con.execute("BEGIN")
    try:
        first_file = next_ids(con, "ultravox_file", len(group))
        loading = [(i, f) for i, f in enumerate(group) if f.why is None]
        frames = [f.good.with_columns(pl.lit(i, pl.Int32).alias("fileIdx")) for i, f in loading if f.good is not None]
        good = pl.concat(frames, how="vertical") if frames else None
        counts: dict[int, dict[str, int]] = {}
        if good is not None and good.height:
            if group[0].family == "tombstones":
                counts = _apply_tombstones(con, good, run_id, now)
            else:
                counts = _apply_calls(con, good, first_file, run_id, now)
        for i, f in enumerate(group):
            r = f.result
            r.file_id = first_file + i
            if f.why is None:
                r.status = "loaded"
                for key, n in counts.get(i, {}).items():
                    setattr(r, key, n)
                valid = f.good.height if f.good is not None else 0
                r.unchanged = valid - r.new_calls - r.updated - r.deleted - r.new_deleted
                r.message = _summary(r)
            _record(con, r, f.size, run_id, f.why, f.rejects or [], now)
        if group[0].family == "tombstones" and loading:
            # tombstones move calls between tables: the invariants are checked before COMMIT, as
            # materialise does; call objects only add or update live calls (as a CDR load does)
            from deletedcalls.store.audits import check_invariants

            check_invariants(con)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise


def _summary(r: UltravoxFileResult) -> str:
    if r.kind == "tombstones":
        parts = [f"{r.deleted} calls deleted", f"{r.new_deleted} deletions of calls never ingested",
                 f"{r.unchanged} already deleted"]
    else:
        parts = [f"{r.new_calls} new calls", f"{r.updated} updated", f"{r.unchanged} unchanged"]
    if r.rejected:
        parts.append(f"{r.rejected} rejected (see rejected_rows)")
    return f"{r.kind}: " + ", ".join(parts)


BATCH_RECORDS = 100_000


def _flush(con: duckdb.DuckDBPyConnection, batch: list[_File], settings: Settings, run_id: int, now: datetime) -> None:
    """Validate and apply a batch of opened files, then let go of their records."""
    recognised = [f for f in batch if f.result.kind is not None and f.why is None]
    for kind in ("calls", "events", "tombstones"):
        _validate([f for f in recognised if f.result.kind == kind], kind, now, settings.max_reject_ratio)
    # recorded: every file read whole and new (loaded, or rejected for what it holds); not an unreadable one
    to_record = [f for f in batch if f.result.status == "rejected" and f.result.sha256 or (f.result.kind and f.why is None)]
    groups: list[list[_File]] = []
    for f in to_record:
        if groups and (f.why is not None or groups[-1][0].family == f.family):
            groups[-1].append(f)
        else:
            groups.append([f])
    for group in groups:
        _apply_group(con, group, run_id, now)
    for f in batch:
        f.records = f.good = None


def ingest_ultravox_files(con: duckdb.DuckDBPyConnection, settings: Settings, paths: list[Path], run_id: int,
                          *, log_unchanged: bool = True, now: datetime | None = None) -> list[UltravoxFileResult]:
    """Ingest the files in order, logging each outcome; a rejected file does not stop the others.

    Files are read in order and handled in batches of about BATCH_RECORDS records (memory
    stays bounded): consecutive files of one family (call objects: pages and events;
    tombstones) are validated together and applied in one transaction, in file order, so a
    later file's word on a call wins as if the files had come one by one (one transaction
    and one validation per 1000-call page cost more than the work itself, docs/BENCHMARKS.md).
    """
    now = now or utc_now()
    seen: dict[str, str] = {}
    files: list[_File] = []
    batch: list[_File] = []
    held = 0
    for path in paths:
        f = _open(con, path, seen)
        files.append(f)
        batch.append(f)
        held += len(f.records or [])
        if held >= BATCH_RECORDS:
            _flush(con, batch, settings, run_id, now)
            batch, held = [], 0
    _flush(con, batch, settings, run_id, now)
    for f in files:
        r = f.result
        if r.status == "unchanged" and not log_unchanged:
            continue
        log = logs.warning if r.status in ("rejected", "changing") or r.rejected else logs.info
        log(f"{r.file_name}: {r.message}", stage="ingest-ultravox", file=r.path, status=r.status, kind=r.kind,
            records=r.records, rejected=r.rejected)
    return [f.result for f in files]


def raise_for_rejections(results: list[UltravoxFileResult]) -> None:
    bad = [r for r in results if r.status == "rejected"]
    if bad:
        more = f" (and {len(bad) - 1} more file(s))" if len(bad) > 1 else ""
        raise InputRejected(f"{bad[0].file_name}: {bad[0].message}{more}")


def is_ultravox_file(path: Path) -> bool:
    """For the inbox: a *.json file is an Ultravox page; a *.jsonl file is a webhook spool when its first
    non-blank line is an object with an "event" (a deletion log's lines have "selector")."""
    if path.suffix.lower() == ".json":
        return True
    if path.suffix.lower() != ".jsonl":
        return False
    try:
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", errors="replace").removeprefix("\ufeff").strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    return False
                return isinstance(obj, dict) and "event" in obj
    except OSError:
        return False
    return False
