"""Reading deleted calls (SPEC 5): get one, or list with the seed API's filters and pagination.

Pages are keyset pages by id (``id > idAfter ORDER BY id LIMIT n``), which
stay fast at any depth because deleted_calls is stored in id order; ``offset``
is allowed but slower the deeper it goes. A cursor is an opaque token that
carries the filters and the position, for ``--cursor``.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
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


# At most this many filter sets' statistics are kept per connection (``totals``)
_TOTALS_KEPT = 1024


@dataclass(frozen=True)
class _Stats:
    """A filter set's rows: how many, and their smallest and largest id (None when there are none)."""

    count: int
    lo: int | None
    hi: int | None


def _stats(con: duckdb.DuckDBPyConnection, where: str, params: dict[str, Any], kept: dict[tuple, _Stats] | None) -> _Stats:
    """The count and id bounds of the listing's rows, in one query (each query on a lake costs its catalog's work:
    ~2 ms on a DuckDB file, ~4 ms on PostgreSQL); from ``kept`` when this connection has counted them already."""
    key = tuple(sorted(params.items()))
    if kept is not None and key in kept:
        return kept[key]
    count, lo, hi = con.execute('SELECT count(*), min("id"), max("id") FROM deleted_calls' + where, params or None).fetchall()[0]  # noqa: S608 -- fixed clauses, values bound
    stats = _Stats(int(count), lo, hi)
    if kept is not None:
        if len(kept) >= _TOTALS_KEPT:
            kept.clear()
        kept[key] = stats
    return stats


def _keyset_rows(con: duckdb.DuckDBPyConnection, q: ListQuery, descending: bool, stats: _Stats) -> list[tuple[Any, ...]]:
    """limit+1 rows after id_after (or before id_before), in id order (reversed when descending).

    Measured (docs/DECISIONS.md, "Readers on the lake"): every query pays the catalog's work, and a
    query reading the 35 columns of a few Parquet rows costs the same whatever the rows, so a page is
    one query in the usual case. ``stats`` (the listing's count and id bounds) says how dense its
    ids are; the page is read from an id window sized for limit+1 rows at that density
    (zonemaps skip every other row group), ordered and cut in the query, and the window grows
    only when filters make the ids in it sparser than the average. Gives exactly the rows of
    ``WHERE id > a ORDER BY id LIMIT n``.
    """
    if stats.count == 0 or stats.lo is None or stats.hi is None:
        return []
    n = q.limit + 1
    pos = q.id_before if descending else q.id_after
    # no id lies outside the bounds: start at them (the windows below then never pass ±2^54)
    pos = min(stats.hi + 1, pos if pos is not None else stats.hi + 1) if descending else max(stats.lo - 1, pos if pos is not None else stats.lo - 1)
    if (pos <= stats.lo) if descending else (pos >= stats.hi):
        return []
    span = stats.hi - stats.lo + 1
    # ids per row at this density, and half a page more, so that a page of average sparsity needs one window
    window = n + 1 if stats.count == span else min(span + 1, max(n + 1, (n * span) // stats.count * 3 // 2))
    where, params = _where(q, ['"id" > $lo', '"id" < $hi'])
    sql = _SELECT + where + (' ORDER BY "id" DESC' if descending else ' ORDER BY "id"') + " LIMIT $n"  # noqa: S608 -- fixed clauses, values bound
    while True:
        lo, hi = (pos - window, pos) if descending else (pos, pos + window)
        rows = con.execute(sql, {**params, "lo": lo, "hi": hi, "n": n}).fetchall()
        if len(rows) >= n or (lo < stats.lo if descending else hi > stats.hi):
            return rows
        window *= 4


@contextlib.contextmanager
def _one_snapshot(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block's queries in one read transaction: the count and the page are of one snapshot when a writer on a
    shared catalog commits between them, and DuckLake reads its catalog once for them (measured: -3 to -4 ms of a
    ~20 ms page on PostgreSQL). A listing's connection is in autocommit (a failed BEGIN would abort a caller's
    transaction in DuckDB, so none is attempted inside one)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def list_deleted_calls(con: duckdb.DuckDBPyConnection, q: ListQuery, totals: dict[tuple, Any] | None = None) -> Page:
    """One page. ``totals``: the listings' counts and id bounds already read on this connection, by filters, for a
    caller whose connection sees one unchanging store (``serve``: a published store is never changed in place, only
    replaced; its totals are kept per store). Without it, two queries in the usual case: the count with the id
    bounds, then the page."""
    validate(q)
    descending = q.id_before is not None and q.id_after is None
    where, params = _where(q, [])
    with _one_snapshot(con):
        stats = _stats(con, where, params, totals)
        if q.offset:
            rows = con.execute(_SELECT + where + ' ORDER BY "id" LIMIT $n OFFSET $o', {**params, "n": q.limit + 1, "o": q.offset}).fetchall()
        else:
            rows = _keyset_rows(con, q, descending, stats)
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    if descending:
        rows.reverse()
    total = stats.count
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


def get_deleted_call(con: duckdb.DuckDBPyConnection, deleted_call_id: int) -> dict[str, Any]:
    rows = con.execute(_SELECT + ' WHERE "id" = $id', {"id": deleted_call_id}).fetchall()
    if not rows:
        raise NotFound(f"no deleted call with id {deleted_call_id} (it may never have existed, or its partition was archived to dr/)")
    return dict(zip(FIELDS, rows[0], strict=True))
