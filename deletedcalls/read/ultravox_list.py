"""The Ultravox list (SPEC 10): deleted Ultravox calls as Ultravox's ``GET /api/deleted_calls`` shows them.

The CLI (``deleted-calls list --api ultravox``) and the HTTP route call the same
two functions on a read-only connection to ``published/protected.duckdb``:

- ``parse_query(params)`` turns HTTP-style query parameters (each name to its
  list of values) into an ``UltravoxQuery``; an unknown or malformed parameter
  is a ``UsageError`` that names it (exit 2 / HTTP 400);
- ``list_tombstones(con, q)`` returns ``{"results", "next", "previous", "total"}``
  with exactly Ultravox's ten tombstone fields; ``get_tombstone(con, callId)``
  one of them, or ``NotFound``.

Order and cursors: results are in deleted-call id order, which only grows (a
new deletion always gets a larger id than every earlier one). A cursor carries
the filters and the last (or first) id of the page it came from, so a client
that follows ``next`` to the end sees each call exactly once, and sees calls
deleted meanwhile at the end, even while new tombstones arrive. A cursor is
base64url JSON with a check digest: an edited or made-up cursor is a usage
error (the digest detects tampering; it is not a secret, and a cursor grants
nothing its filters do not).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb

from deletedcalls.errors import NotFound, UsageError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_AGENT_IDS = 100
MAX_METADATA = 20
MAX_TEXT = 200
MAX_CURSOR = 16384
# The ten fields of an Ultravox tombstone, in Ultravox's order.
FIELDS = ["callId", "accountId", "created", "deletionTime", "joined", "ended", "maxDuration", "endReason",
          "recordingEnabled", "hadSummary"]
PARAMETERS = ("fromDate", "toDate", "timeOfDayStart", "timeOfDayEnd", "durationMin", "durationMax", "agentIds", "voiceId",
              "search", "pageSize", "cursor")
_TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")
_DURATION = re.compile(r"^([0-9]{1,12})(?:\.([0-9]{1,9}))?s$")
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class UltravoxQuery:
    """Filters and position of one page of the Ultravox list."""

    from_date: date | None = None  # a date (the whole UTC day), or a datetime (naive UTC: that instant)
    to_date: date | None = None
    time_of_day_start: time | None = None  # the UTC time of day of created, inclusive; start > end wraps midnight
    time_of_day_end: time | None = None
    duration_min: str | None = None  # as given ("60s"); compared exactly, in microseconds
    duration_max: str | None = None
    agent_ids: tuple[str, ...] = ()
    voice_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()  # (key, value), sorted by key
    search: str | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    after: int | None = None   # deleted-call id: the page starts after it (next)
    before: int | None = None  # deleted-call id: the page ends before it (previous)

    def filters(self) -> dict[str, Any]:
        """The filters as HTTP parameters (what a cursor carries, and what the access log records)."""
        out: dict[str, Any] = {}
        if self.from_date:
            out["fromDate"] = _bound_text(self.from_date)
        if self.to_date:
            out["toDate"] = _bound_text(self.to_date)
        if self.time_of_day_start is not None:
            out["timeOfDayStart"] = self.time_of_day_start.isoformat()
        if self.time_of_day_end is not None:
            out["timeOfDayEnd"] = self.time_of_day_end.isoformat()
        if self.duration_min is not None:
            out["durationMin"] = self.duration_min
        if self.duration_max is not None:
            out["durationMax"] = self.duration_max
        if self.agent_ids:
            out["agentIds"] = list(self.agent_ids)
        if self.voice_id is not None:
            out["voiceId"] = self.voice_id
        for key, value in self.metadata:
            out[f"metadata.{key}"] = value
        if self.search is not None:
            out["search"] = self.search
        return out

    def describe(self) -> dict[str, Any]:
        position = {k: v for k, v in (("after", self.after), ("before", self.before)) if v is not None}
        return {"api": "ultravox", **self.filters(), "pageSize": self.page_size, **position}


# ---------------------------------------------------------------- parameters


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if values is None or len(values) == 0:
        return None
    if isinstance(values, str) or len(values) > 1:
        raise UsageError(f"{name}: give it once (got {len(values) if not isinstance(values, str) else 'a bare string'})")
    value = values[0]
    if not isinstance(value, str):
        raise UsageError(f"{name}: must be text")
    limit = MAX_CURSOR if name == "cursor" else MAX_TEXT
    if len(value) > limit:
        raise UsageError(f"{name}: at most {limit} characters")
    return value


def _bound_text(value: date) -> str:
    return value.isoformat(sep="T") + "Z" if isinstance(value, datetime) else value.isoformat()


def _date(params: Mapping[str, Sequence[str]], name: str) -> date | None:
    """A date (YYYY-MM-DD: the whole UTC day) or a date-time (ISO 8601; without an offset it is UTC) as naive UTC."""
    value = _one(params, name)
    if value is None:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        if len(value) < 16 or value[10] not in "Tt ":
            raise ValueError(value)
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is not None:
            instant = instant.astimezone(UTC).replace(tzinfo=None)
        return instant
    except (ValueError, OverflowError):
        raise UsageError(f"{name}: must be a date YYYY-MM-DD or a date-time like 2026-03-05T10:22:01Z, not {value!r}") from None


def _time_of_day(params: Mapping[str, Sequence[str]], name: str) -> time | None:
    value = _one(params, name)
    if value is None:
        return None
    m = _TIME_OF_DAY.match(value)
    if not m:
        raise UsageError(f"{name}: must be a UTC time of day HH:MM or HH:MM:SS (00:00 to 23:59:59), not {value!r}")
    return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def _lower(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time.min)


def _upper(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time.max)


def duration_us(value: str, name: str, *, upper: bool) -> int:
    """A "60s"-form duration in whole microseconds (a lower bound rounds up, an upper bound down: exact)."""
    m = _DURATION.match(value)
    if not m:
        raise UsageError(f'{name}: must be a duration in seconds like "60s" or "1.5s", not {value!r}')
    try:
        us = Decimal(m.group(1) + "." + (m.group(2) or "0")) * 1_000_000
    except InvalidOperation:
        raise UsageError(f"{name}: not a duration: {value!r}") from None
    whole = int(us)
    return whole if upper or us == whole else whole + 1


def parse_query(params: Mapping[str, Sequence[str]]) -> UltravoxQuery:
    """HTTP query parameters (name -> values) to a query; unknown or malformed parameters are usage errors.

    A metadata filter is ``metadata.KEY=VALUE`` (Ultravox's spelling) or ``metadata[KEY]=VALUE`` (OpenAPI's
    deepObject style, as /openapi.json describes the family): the same filter.
    """
    deep = {k: f"metadata.{k[9:-1]}" for k in params if k.startswith("metadata[") and k.endswith("]")}
    if deep:
        both = [k for k in deep.values() if k in params]
        if both:
            raise UsageError(f"{both[0]}: give it once (as metadata.KEY or metadata[KEY], not both)")
        params = {deep.get(k, k): v for k, v in params.items()}
    unknown = sorted(k for k in params if k not in PARAMETERS and not k.startswith("metadata."))
    if unknown:
        raise UsageError(f"{unknown[0]}: unknown parameter of the Ultravox list (known: {', '.join(PARAMETERS)}, metadata.KEY)")
    q = UltravoxQuery(
        from_date=_date(params, "fromDate"),
        to_date=_date(params, "toDate"),
        time_of_day_start=_time_of_day(params, "timeOfDayStart"),
        time_of_day_end=_time_of_day(params, "timeOfDayEnd"),
        duration_min=_one(params, "durationMin"),
        duration_max=_one(params, "durationMax"),
        voice_id=_one(params, "voiceId"),
        search=_one(params, "search"),
    )
    for name, value in (("durationMin", q.duration_min), ("durationMax", q.duration_max)):
        if value is not None:
            duration_us(value, name, upper=name == "durationMax")
    agents = list(params.get("agentIds") or [])
    if isinstance(params.get("agentIds"), str):
        raise UsageError("agentIds: must be a list of values")
    if len(agents) > MAX_AGENT_IDS or any(not isinstance(a, str) or not a or len(a) > MAX_TEXT for a in agents):
        raise UsageError(f"agentIds: at most {MAX_AGENT_IDS} non-empty ids of at most {MAX_TEXT} characters")
    metadata = []
    for name in sorted(k for k in params if k.startswith("metadata.")):
        key = name.removeprefix("metadata.")
        if not key:
            raise UsageError(f"{name}: name the metadata key (metadata.KEY=VALUE)")
        value = _one(params, name)
        if value is None:
            raise UsageError(f"{name}: give a value (metadata.KEY=VALUE)")
        metadata.append((key, value))
    if len(metadata) > MAX_METADATA:
        raise UsageError(f"metadata: at most {MAX_METADATA} keys")
    page_size = _one(params, "pageSize")
    size = DEFAULT_PAGE_SIZE
    if page_size is not None:
        if not page_size.isdigit() or not 1 <= int(page_size) <= MAX_PAGE_SIZE:
            raise UsageError(f"pageSize: must be a whole number from 1 to {MAX_PAGE_SIZE}, not {page_size!r}")
        size = int(page_size)
    for name, value in (("search", q.search), ("voiceId", q.voice_id)):
        if value is not None and not value:
            raise UsageError(f"{name}: must not be empty (leave the parameter out to not filter on it)")
    q = replace(q, agent_ids=tuple(dict.fromkeys(agents)), metadata=tuple(metadata), page_size=size)
    if q.from_date and q.to_date and _lower(q.from_date) > _upper(q.to_date):
        raise UsageError(f"fromDate: {_bound_text(q.from_date)} is after toDate {_bound_text(q.to_date)}")
    cursor = _one(params, "cursor")
    if cursor is None:
        return q
    carried = decode_cursor(cursor)
    given = q.filters()
    if given and given != carried.filters():
        raise UsageError("cursor: it was made for other filters; follow next/previous as given, or start again without a cursor")
    return replace(carried, page_size=size if page_size is not None else carried.page_size)


# ---------------------------------------------------------------- cursors


def _digest(body: str) -> str:
    return hashlib.sha256(("deletedcalls-ultravox-cursor:" + body).encode()).hexdigest()[:16]


def encode_cursor(q: UltravoxQuery) -> str:
    position = {"after": q.after} if q.after is not None else {"before": q.before}
    body = json.dumps({"v": _CURSOR_VERSION, "f": q.filters(), "n": q.page_size, **position},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    token = json.dumps({"b": body, "d": _digest(body)}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> UltravoxQuery:
    bad = UsageError(f"cursor: {token[:20]}… is not a cursor of this list; use the next/previous value of a page")
    try:
        outer = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        body = outer["b"]
        if not isinstance(body, str) or outer.get("d") != _digest(body):
            raise bad
        data = json.loads(body)
        if data.get("v") != _CURSOR_VERSION or set(data) - {"v", "f", "n", "after", "before"}:
            raise bad
        filters = {k: (v if isinstance(v, list) else [v]) for k, v in data["f"].items()}
        if "cursor" in filters or "pageSize" in filters:
            raise bad
        q = parse_query({**filters, "pageSize": [str(data["n"])]})
        after, before = data.get("after"), data.get("before")
        if (after is None) == (before is None) or not isinstance(after if after is not None else before, int):
            raise bad
        return replace(q, after=after, before=before)
    except UsageError:
        raise bad from None
    except (ValueError, TypeError, KeyError, AttributeError):
        raise bad from None


# ---------------------------------------------------------------- listing


_SELECT = """
SELECT id, carrierCallID, ultravox.accountId, ultravox.created, deletedAt, ultravox.joined, ultravox.ended,
       ultravox.maxDuration, ultravox.endReason, ultravox.recordingEnabled, ultravox.hadSummary
FROM deleted_calls
"""
_BASE = "ultravox IS NOT NULL"
_SPAN = "coalesce(epoch_us(ultravox.ended) - epoch_us(ultravox.joined), 0)"


def _where(q: UltravoxQuery) -> tuple[list[str], dict[str, Any]]:
    """Fixed SQL fragments and their bound values; nothing of a value is ever put into the SQL text."""
    clauses: list[str] = [_BASE]
    params: dict[str, Any] = {}
    if q.from_date:
        # a date is its whole UTC day, a date-time that instant (both inclusive)
        clauses.append("ultravox.created >= $from_date")
        params["from_date"] = _lower(q.from_date)
    if q.to_date:
        clauses.append("ultravox.created <= $to_date")
        params["to_date"] = _upper(q.to_date)
    if q.time_of_day_start is not None or q.time_of_day_end is not None:
        start, end = q.time_of_day_start or time.min, q.time_of_day_end or time.max
        # inclusive at both ends, to the second; a window from 22:00 to 06:00 wraps midnight
        joiner = "AND" if start <= end else "OR"
        second = "CAST(date_trunc('second', ultravox.created) AS TIME)"
        clauses.append(f"({second} >= $tod_start {joiner} {second} <= $tod_end)")
        params["tod_start"], params["tod_end"] = start, end
    if q.duration_min is not None:
        clauses.append(f"{_SPAN} >= $duration_min")
        params["duration_min"] = duration_us(q.duration_min, "durationMin", upper=False)
    if q.duration_max is not None:
        clauses.append(f"{_SPAN} <= $duration_max")
        params["duration_max"] = duration_us(q.duration_max, "durationMax", upper=True)
    if q.agent_ids:
        clauses.append("ultravox.callObject AND list_contains($agent_ids, ultravox.agentId)")
        params["agent_ids"] = list(q.agent_ids)
    if q.voice_id is not None:
        clauses.append("ultravox.callObject AND ultravox.voice = $voice_id")
        params["voice_id"] = q.voice_id
    for i, (key, value) in enumerate(q.metadata):
        clauses.append(f"ultravox.callObject AND ultravox.metadata[$meta_key_{i}] = $meta_value_{i}")
        params[f"meta_key_{i}"], params[f"meta_value_{i}"] = key, value
    if q.search is not None:
        clauses.append(
            "(contains(lower(carrierCallID), $search)"
            " OR (ultravox.callObject AND (contains(lower(coalesce(ultravox.agentId, '')), $search)"
            " OR list_bool_or(list_transform(map_values(ultravox.metadata), lambda v: contains(lower(v), $search))))))"
        )
        params["search"] = q.search.lower()
    return clauses, params


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(sep="T") + "Z"


def _tombstone(row: tuple[Any, ...]) -> dict[str, Any]:
    _, call_id, account, created, deleted, joined, ended, max_duration, end_reason, recording, had_summary = row
    return {
        "callId": call_id, "accountId": account, "created": _iso(created), "deletionTime": _iso(deleted),
        "joined": _iso(joined), "ended": _iso(ended), "maxDuration": max_duration, "endReason": end_reason,
        "recordingEnabled": recording, "hadSummary": had_summary,
    }


def list_tombstones(con: duckdb.DuckDBPyConnection, q: UltravoxQuery) -> dict[str, Any]:
    """One page of deleted Ultravox calls: {"results", "next", "previous", "total"} (cursors are tokens)."""
    clauses, params = _where(q)
    where = " WHERE " + " AND ".join(clauses)
    total = int(con.execute("SELECT count(*) FROM deleted_calls" + where, params).fetchall()[0][0])  # noqa: S608 -- fixed fragments, values bound
    descending = q.before is not None
    position = ["id < $before"] if descending else (["id > $after"] if q.after is not None else [])
    page_params = {**params, "n": q.page_size + 1}
    if descending:
        page_params["before"] = q.before
    elif q.after is not None:
        page_params["after"] = q.after
    order = " ORDER BY id DESC" if descending else " ORDER BY id"
    rows = con.execute(_SELECT + " WHERE " + " AND ".join(clauses + position) + order + " LIMIT $n", page_params).fetchall()  # noqa: S608
    more = len(rows) > q.page_size
    rows = rows[: q.page_size]
    if descending:
        rows.reverse()
    base = replace(q, after=None, before=None)
    nxt = prev = None
    if rows:
        if more or descending:
            nxt = encode_cursor(replace(base, after=rows[-1][0]))
        if (more and descending) or q.after is not None:
            prev = encode_cursor(replace(base, before=rows[0][0]))
    elif q.after is not None:
        prev = encode_cursor(replace(base, before=q.after + 1))
    return {"results": [_tombstone(r) for r in rows], "next": nxt, "previous": prev, "total": total}


def get_tombstone(con: duckdb.DuckDBPyConnection, call_id: str) -> dict[str, Any]:
    """One deleted Ultravox call by its Ultravox call id; NotFound when unknown (or archived)."""
    rows = con.execute(_SELECT + f" WHERE {_BASE} AND carrierCallID = $id ORDER BY id LIMIT 1", {"id": call_id}).fetchall()  # noqa: S608
    if not rows:
        raise NotFound(f"no deleted Ultravox call {call_id!r} (it may never have been deleted, or its partition was archived to dr/)")
    return _tombstone(rows[0])


def as_params(q: UltravoxQuery) -> dict[str, list[str]]:
    """The query's filters as HTTP parameters (name -> values), e.g. to build next/previous URLs around a cursor."""
    return {k: (v if isinstance(v, list) else [v]) for k, v in q.filters().items()}
