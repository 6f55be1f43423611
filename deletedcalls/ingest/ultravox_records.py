"""Reading Ultravox files (SPEC 10): recognising a file by its content, flattening its records to text, and
validating them with the pandera schema of their kind (steps 2 and 3 of ``ultravox.py``, which applies them).

A file is a saved ``/api/calls`` page (call objects), a saved
``/api/deleted_calls`` page (tombstones: they have ``deletionTime``) or JSON
Lines of webhook events. Summaries and system prompts are never kept, not
even in the raw text of a rejected record.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from deletedcalls.ingest.delivery import json_problem

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


def raw_text(value: Any) -> str:
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
    except (ValueError, RecursionError) as e:  # nested too deep, a number too long
        return None, [], [], json_problem(e)
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
        except (ValueError, RecursionError) as e:
            why = json_problem(e)
            if not recognised:
                return None, [], [], f"line {number} is {why}: not a saved page nor JSON Lines of webhook events"
            rejects.append((number, [why], line[:RAW_LIMIT]))
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

    from deletedcalls.ingest.schemas import raise_for_broken_checks

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as e:
        raise_for_broken_checks(e.failure_cases)
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


def typed_calls(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        "callId", "fileIdx", "position",
        (pl.when(pl.col("endedAt").is_not_null()).then(2).when(pl.col("joinedAt").is_not_null()).then(1).otherwise(0))
        .cast(pl.Int32).alias("stage"),
        "accountId", "agentId", "voice", "metadataKeys", "metadataValues", "endReason",
        (pl.col("recordingEnabled") == "true").alias("recordingEnabled"),
        pl.col("createdAt").alias("created"), pl.col("joinedAt").alias("joined"), pl.col("endedAt").alias("ended"),
        "maxDuration", "hadSummary",
    )


def typed_tombstones(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        "callId", "fileIdx", "position", "accountId",
        pl.col("createdAt").alias("created"), pl.col("deletionTimeAt").alias("deletionTime"),
        pl.col("joinedAt").alias("joined"), pl.col("endedAt").alias("ended"),
        "maxDuration", "endReason",
        (pl.col("recordingEnabled") == "true").alias("recordingEnabled"),
        (pl.col("hadSummary") == "true").alias("hadSummary"),
    )



def is_ultravox_file(path: Path) -> bool:
    """For the inbox: a *.json file is an Ultravox page; a *.jsonl file is a webhook spool when its first
    line that is JSON is an object with an "event" (a deletion log's lines have "selector")."""
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
                except (ValueError, RecursionError):
                    continue  # a line that is not JSON tells nothing: the next one decides (its own load rejects it)
                return isinstance(obj, dict) and "event" in obj
    except OSError:
        return False
    return False
