"""Reading deleted calls (SPEC 5): get one, or list with the seed API's filters and pagination.

Pages are keyset pages by id (``id > idAfter ORDER BY id LIMIT n``), which
stay fast at any depth because deleted_calls is stored in id order; ``offset``
is allowed but slower the deeper it goes. A cursor is an opaque token that
carries the filters and the position, for ``--cursor``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

import duckdb

from deletedcalls.errors import NotFound, UsageError

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

# Seed field names, in the order the API returns them.
FIELDS = [
    "id", "CDRFileID", "lineNumber", "target", "extension", "external", "terminationNumber", "locationCarrier",
    "callTypeDirectionFlag", "chargeBand", "callTypeOriginationTypeFlag", "callTypeRecordingFlag",
    "startDate", "startTime", "startedAt", "tariffTime", "duration", "answerTime",
    "costCDR", "costSuggestedRetail", "costCDRBasic", "costCDRAccessCharge", "costCDRSurchargeMobileOrigination",
    "costCDRSurchargePayphoneOrigination", "costCDRSurchargeCallRecording",
    "carrier", "callCarrier", "carrierCallID", "callId", "userActivityLog", "deletedBy", "deletedAt", "deletedMonth",
    "created", "updated",
]
# startedAt: the UTC instant as ISO 8601 with Z, whatever the session's time zone (startDate and startTime beside
# it are the carrier's wall clock); a call without one (none since migration 006) shows null
_EXPRESSIONS = {"startedAt": """strftime("startedAt" AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')"""}
_SELECT = "SELECT " + ", ".join(_EXPRESSIONS.get(f, f'"{f}"') for f in FIELDS) + " FROM deleted_calls"  # noqa: S608 -- fixed field names, no values

# Each filter's SQL, fixed text with a bound parameter of the same name.
_FILTERS = {
    "cdr_file": '"CDRFileID" = $cdr_file',
    "min_date": '"startDate" >= $min_date',
    "max_date": '"startDate" <= $max_date',
    "created_since": '"created" >= $created_since',
    "updated_since": '"updated" >= $updated_since',
}


@dataclass(frozen=True)
class ListQuery:
    """Filters and position of one listing."""

    cdr_file: int | None = None
    min_date: date | None = None
    max_date: date | None = None
    created_since: datetime | None = None
    updated_since: datetime | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    id_after: int | None = None
    id_before: int | None = None

    def filters(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in _FILTERS and v is not None}

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, 0) or k == "limit"}


@dataclass
class Page:
    results: list[dict[str, Any]]
    next: str | None
    previous: str | None
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {"results": self.results, "next": self.next, "previous": self.previous, "total": self.total}


def encode_cursor(q: ListQuery) -> str:
    raw = json.dumps({"v": 1, **{k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in asdict(q).items() if v is not None}},
                     sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, name: str = "--cursor") -> ListQuery:
    """The query a cursor carries; ``name`` is how the caller spells the cursor (an option or a parameter)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.pop("v") != 1:
            raise ValueError("version")
        for k in ("min_date", "max_date"):
            if k in data:
                data[k] = date.fromisoformat(data[k])
        for k in ("created_since", "updated_since"):
            if k in data:
                data[k] = datetime.fromisoformat(data[k])
        q = ListQuery(**data)
        validate(q)
        return q
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError, UsageError) as e:
        raise UsageError(f"{name} {token[:20]}… is not a cursor this deletedcalls made; use the next/previous value of a listing") from e


def build_query(
    *, cdr_file: int | None = None, min_date: date | None = None, max_date: date | None = None,
    created_since: datetime | None = None, updated_since: datetime | None = None, limit: int | None = None,
    offset: int | None = None, id_after: int | None = None, cursor: str | None = None,
    names: dict[str, str] | None = None,
) -> ListQuery:
    """One listing's query from its filters, or from a cursor (which carries its own; only limit may change).

    ``names`` maps a filter to how the caller spells it (``--min-date``, ``minDate``) for error messages.
    The CLI and the HTTP API both build their queries here.
    """
    spelled = names or {}
    if cursor is not None:
        given = [spelled.get(n, n) for n, v in [("cdr_file", cdr_file), ("min_date", min_date), ("max_date", max_date),
                                                ("offset", offset), ("id_after", id_after), ("created_since", created_since),
                                                ("updated_since", updated_since)] if v is not None]
        if given:
            raise UsageError(f"{spelled.get('cursor', 'cursor')} carries its own filters; do not combine it with {', '.join(given)}")
        q = decode_cursor(cursor, spelled.get("cursor", "--cursor"))
        if limit is not None:
            q = replace(q, limit=limit)
    else:
        q = ListQuery(cdr_file=cdr_file, min_date=min_date, max_date=max_date, created_since=created_since,
                      updated_since=updated_since, limit=DEFAULT_LIMIT if limit is None else limit, offset=offset or 0,
                      id_after=id_after)
    validate(q, spelled)
    return q
# the largest id or offset an option or cursor may carry: past it, DuckDB's BIGINT arithmetic overflows
MAX_POSITION = 2**53


def validate(q: ListQuery, names: dict[str, str] | None = None) -> None:
    """Refuse a query no listing can answer; ``names`` spells each filter as the caller does (else as a CLI option)."""

    def spelled(name: str) -> str:
        return (names or {}).get(name) or f"--{name.replace('_', '-')}"

    for name in ("cdr_file", "limit", "offset", "id_after", "id_before"):
        v = getattr(q, name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not -MAX_POSITION <= v <= MAX_POSITION):
            raise UsageError(f"{spelled(name)} must be a whole number between {-MAX_POSITION} and {MAX_POSITION}")
    for name in ("min_date", "max_date", "created_since", "updated_since"):
        v = getattr(q, name)
        if v is not None and not isinstance(v, date):
            raise UsageError(f"{spelled(name)} must be a date")
    if not 1 <= q.limit <= MAX_LIMIT:
        raise UsageError(f"{spelled('limit')} must be between 1 and {MAX_LIMIT}, not {q.limit}")
    if q.offset < 0:
        raise UsageError(f"{spelled('offset')} must be 0 or more")
    if q.offset and (q.id_after is not None or q.id_before is not None):
        raise UsageError(f"use either {spelled('offset')} or {spelled('id_after')}, not both")


def _where(q: ListQuery, extra: list[str]) -> tuple[str, dict[str, Any]]:
    params = q.filters()
    clauses = [_FILTERS[k] for k in params] + extra
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# First id window a keyset page looks in when ids are not dense; grown until the page is full.
_WINDOW = 8192


def _keyset_rows(con: duckdb.DuckDBPyConnection, q: ListQuery, descending: bool) -> list[tuple[Any, ...]]:
    """limit+1 rows after id_after (or before id_before), in id order (reversed when descending).

    Measured on 10M rows (docs/BENCHMARKS.md): `id > a ORDER BY id LIMIT n` is a top-N
    over every later row group, and sorting 35 columns costs more than sorting
    in Python. So: (1) ids are dense, so first try exactly the next limit+1
    ids, unsorted; (2) otherwise find the page's ids in a growing id window
    (zonemaps skip all other row groups), then fetch those rows. Both give
    exactly the rows of the plain query.
    """
    n = q.limit + 1
    pos = q.id_before if descending else q.id_after
    bounds = None
    if pos is None:
        bounds = _id_bounds(con)
        if bounds is None:
            return []
        pos = bounds[1] + 1 if descending else bounds[0] - 1
    lo, hi = (pos - n, pos) if descending else (pos, pos + n + 1)
    where, params = _where(q, ['"id" > $lo', '"id" < $hi'])
    rows = con.execute(_SELECT + where, {**params, "lo": lo, "hi": hi}).fetchall()
    if len(rows) < n:
        bounds = bounds or _id_bounds(con)
        rows = _window_rows(con, q, pos, descending, bounds) if bounds else []
    rows.sort(key=lambda r: r[0], reverse=descending)
    return rows[:n]


def _id_bounds(con: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    lo_id, hi_id = con.execute('SELECT min("id"), max("id") FROM deleted_calls').fetchall()[0]
    return None if lo_id is None else (lo_id, hi_id)


def _window_rows(
    con: duckdb.DuckDBPyConnection, q: ListQuery, pos: int, descending: bool, bounds: tuple[int, int]
) -> list[tuple[Any, ...]]:
    n = q.limit + 1
    lo_id, hi_id = bounds
    where, params = _where(q, ['"id" > $lo', '"id" < $hi'])
    order = ' ORDER BY "id" DESC' if descending else ' ORDER BY "id"'
    ids_sql = 'SELECT "id" FROM deleted_calls' + where + order + " LIMIT $n"  # noqa: S608 -- fixed clauses, values bound
    window = max(_WINDOW, q.limit * 8)
    while True:
        lo, hi = (pos - window, pos) if descending else (pos, pos + window)
        ids = [r[0] for r in con.execute(ids_sql, {**params, "lo": lo, "hi": hi, "n": n}).fetchall()]
        if len(ids) >= n or (lo < lo_id if descending else hi > hi_id):
            break
        window *= 4
    if not ids:
        return []
    first, last = min(ids), max(ids)
    return con.execute(_SELECT + where, {**params, "lo": first - 1, "hi": last + 1}).fetchall()


def list_deleted_calls(con: duckdb.DuckDBPyConnection, q: ListQuery, totals: dict[tuple, int] | None = None) -> Page:
    """One page. ``totals``: counts already made on this connection by filters, for a caller whose connection
    sees one unchanging published store (``serve``: a store is never changed in place, only replaced)."""
    validate(q)
    descending = q.id_before is not None and q.id_after is None
    where, params = _where(q, [])
    if q.offset:
        rows = con.execute(_SELECT + where + ' ORDER BY "id" LIMIT $n OFFSET $o', {**params, "n": q.limit + 1, "o": q.offset}).fetchall()
    else:
        rows = _keyset_rows(con, q, descending)
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    if descending:
        rows.reverse()
    total = _total(con, where, params, totals)
    results = [dict(zip(FIELDS, r, strict=True)) for r in rows]
    base = replace(q, offset=0, id_after=None, id_before=None)
    nxt = prev = None
    if q.offset:
        if more:
            nxt = encode_cursor(replace(base, offset=q.offset + q.limit))
        prev = encode_cursor(replace(base, offset=max(q.offset - q.limit, 0)))
    else:
        if results and (descending or more):
            nxt = encode_cursor(replace(base, id_after=results[-1]["id"]))
        if results and (q.id_after is not None or (descending and more)):
            prev = encode_cursor(replace(base, id_before=results[0]["id"]))
        if not results and q.id_after is not None:
            prev = encode_cursor(replace(base, id_before=q.id_after + 1))
    return Page(results, nxt, prev, total)


# at most this many filter sets' counts are kept per connection
_TOTALS_KEPT = 1024


def _total(con: duckdb.DuckDBPyConnection, where: str, params: dict[str, Any], totals: dict[tuple, int] | None) -> int:
    key = tuple(sorted(params.items()))
    if totals is not None and key in totals:
        return totals[key]
    total = int(con.execute("SELECT count(*) FROM deleted_calls" + where, params or None).fetchall()[0][0])  # noqa: S608 -- fixed clauses, values bound
    if totals is not None:
        if len(totals) >= _TOTALS_KEPT:
            totals.clear()
        totals[key] = total
    return total


def get_deleted_call(con: duckdb.DuckDBPyConnection, deleted_call_id: int) -> dict[str, Any]:
    rows = con.execute(_SELECT + ' WHERE "id" = $id', {"id": deleted_call_id}).fetchall()
    if not rows:
        raise NotFound(f"no deleted call with id {deleted_call_id} (it may never have existed, or its partition was archived to dr/)")
    return dict(zip(FIELDS, rows[0], strict=True))
