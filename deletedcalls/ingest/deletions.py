"""Ingest deletion logs (JSON Lines user-activity entries, SPEC 2.2) into user_activity_log.

Each line is parsed as JSON, flattened, and validated by the pandera entry
schema; a bad line is rejected with its line number and reason while the
others apply. An entry id seen before with the same content is a no-op; with
other content it is a conflict: kept in rejected_rows, not applied, and the
command exits 3. Every selector is expanded into deletion items, which stay
pending until ``materialise`` finds their calls. One file, one transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from deletedcalls import logs
from deletedcalls.clock import parse_timestamp, utc_now
from deletedcalls.environment import listed, note_committed, stops_the_command
from deletedcalls.errors import InputRejected
from deletedcalls.ingest.delivery import (
    SNIFF_BYTES,
    ChangedWhileRead,
    NotReadable,
    json_array_hint,
    json_problem,
    open_delivery,
    shown,
    sniff,
    stored_name,
)
from deletedcalls.ingest.rejects import delivered_hash, record_rejects, unexpected_reason
from deletedcalls.settings import Settings
from deletedcalls.store.warehouse import insert_from, next_ids, rollback_quietly

SELECTOR_KINDS = ["carrierCallIds", "cdrFile", "cdrFileLines", "callIds"]
# a deletion dated later than this after its ingestion is refused (SPEC 2.3)
FUTURE_TOLERANCE = timedelta(days=1)
ENTRY_FIELDS = ["id", "user", "timestamp", "action", "reason", "selectorKind", "selectorProblem"]


@dataclass
class DeletionFileResult:
    path: str
    file_name: str
    sha256: str
    status: str  # ingested | unchanged | rejected | changed
    file_id: int | None = None
    entries: int = 0
    items: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    rejected: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path, "fileName": self.file_name, "sha256": self.sha256, "status": self.status,
            "id": self.file_id, "entries": self.entries, "items": self.items, "duplicates": self.duplicates,
            "conflicts": self.conflicts, "rejected": self.rejected, "message": self.message,
        }


# the largest call id or line number a selector may name (a BIGINT holds it; JSON readers keep it exact)
MAX_NUMBER = 2**53


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v <= MAX_NUMBER


def _selector(sel: Any) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """(kind, problem, items) of a selector object."""
    if not isinstance(sel, dict):
        return None, "selector must be an object", []
    kinds = [k for k in ("carrierCallIds", "cdrFile", "callIds") if k in sel]
    if len(kinds) != 1:
        return None, "selector must hold exactly one of carrierCallIds, cdrFile, callIds", []
    kind = kinds[0]
    allowed = {"carrierCallIds": {"carrierCallIds", "carrier"}, "cdrFile": {"cdrFile", "lines"}, "callIds": {"callIds"}}
    extra = sorted(set(sel) - allowed[kind])
    if extra:
        return None, f"selector with {kind} cannot also have {', '.join(extra)}", []
    if kind == "carrierCallIds":
        ids, carrier = sel["carrierCallIds"], sel.get("carrier")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            return None, "carrierCallIds must be a non-empty list of non-empty strings", []
        if "carrier" in sel and not (isinstance(carrier, str) and carrier):
            return None, "carrier must be a non-empty string", []
        return kind, None, [{"kind": "carrierCallID", "carrier": carrier, "carrierCallID": i} for i in dict.fromkeys(ids)]
    if kind == "callIds":
        ids = sel["callIds"]
        if not isinstance(ids, list) or not ids or not all(_is_int(i) and i > 0 for i in ids):
            return None, f"callIds must be a non-empty list of positive integers up to {MAX_NUMBER}", []
        return kind, None, [{"kind": "callId", "callId": i} for i in dict.fromkeys(ids)]
    name = sel["cdrFile"]
    if not isinstance(name, str) or not name:
        return None, "cdrFile must be a non-empty file name", []
    if "lines" not in sel:
        return "cdrFile", None, [{"kind": "cdrFile", "cdrFile": name}]
    lines = sel["lines"]
    if not isinstance(lines, list) or not lines or not all(_is_int(n) and n >= 2 for n in lines):
        return None, f"lines must be a non-empty list of line numbers from 2 (line 1 is the header) to {MAX_NUMBER}", []
    return "cdrFileLines", None, [{"kind": "cdrFileLine", "cdrFile": name, "lineNumber": n} for n in dict.fromkeys(lines)]


@cache
def entry_schema():
    """The pandera schema of a flattened deletion-log entry."""
    from deletedcalls.ingest.schemas import pandera_polars

    pa_pl = pandera_polars()

    def check(expr: pl.Expr, name: str) -> Any:
        return pa_pl.Check(lambda data: data.lazyframe.select(expr), name=name)

    def no_nul(column: str) -> Any:
        return check(pl.col(column).is_null() | ~pl.col(column).str.contains("\x00", literal=True),
                     "must not hold a NUL character (\\u0000)")

    def named(column: str) -> list[Any]:
        """Who deleted and the entry's id: something to read in the audit trail, not blanks."""
        return [check(pl.col(column).str.strip_chars().str.len_chars() > 0, "must be a non-empty string, not only spaces"),
                no_nul(column)]

    text = pl.String
    return pa_pl.DataFrameSchema(
        {
            "id": pa_pl.Column(text, nullable=False, checks=named("id")),
            "user": pa_pl.Column(text, nullable=False, checks=named("user")),
            "timestamp": pa_pl.Column(text, nullable=False, checks=[
                check(pl.col("timestampUtc").is_not_null(), "must be an ISO 8601 timestamp (no offset = UTC)")]),
            "action": pa_pl.Column(text, nullable=False, checks=[check(pl.col("action") == "delete_calls", "must be delete_calls")]),
            "reason": pa_pl.Column(text, nullable=True, checks=[no_nul("reason")]),
            "selectorKind": pa_pl.Column(text, nullable=True, checks=[check(pl.col("selectorKind").is_in(SELECTOR_KINDS), "unknown selector kind")]),
            "selectorProblem": pa_pl.Column(text, nullable=True, checks=[check(pl.col("selectorProblem").is_null(), "invalid selector")]),
        },
        strict=False,
        name="deletion-log entry",
    )


TEXT_FIELDS = ("id", "user", "timestamp", "action", "reason")


def _json_type(v: Any) -> str:
    return ("a boolean" if isinstance(v, bool) else "a number" if isinstance(v, int | float)
            else "a list" if isinstance(v, list) else "an object" if isinstance(v, dict) else type(v).__name__)


def _flatten(obj: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The entry's fields for the schema, and the items its selector names.

    A field of another JSON type than a string is not turned into text (["a", "b"] would
    become the user '["a", "b"]', 1.5 the id '1.5'): it is left out, and `typeProblems`
    says why, so that the line is rejected.
    """
    kind, problem, items = _selector(obj.get("selector"))
    if "selector" not in obj:
        problem = "selector is required"
    wrong = {f: obj[f] for f in TEXT_FIELDS if obj.get(f) is not None and not isinstance(obj[f], str)}
    flat: dict[str, Any] = {f: None if f in wrong else obj.get(f) for f in TEXT_FIELDS}
    flat["timestampUtc"] = parse_timestamp(flat["timestamp"]) if flat["timestamp"] is not None else None
    flat["selectorKind"], flat["selectorProblem"] = kind, problem
    flat["typeProblems"] = [f"{f}: must be a string{' (ISO 8601)' if f == 'timestamp' else ''}, not {_json_type(v)}"
                            for f, v in wrong.items()]
    return flat, items


def _validate(flat: list[dict[str, Any]]) -> dict[int, list[str]]:
    import pandera.errors

    from deletedcalls.ingest.schemas import raise_for_broken_checks

    rows = [{k: v for k, v in f.items() if k != "typeProblems"} for f in flat]
    frame = pl.DataFrame(rows, schema={**{c: pl.String for c in ENTRY_FIELDS}, "timestampUtc": pl.Datetime("us")})
    try:
        entry_schema().validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as e:
        raise_for_broken_checks(e.failure_cases)
        reasons: dict[int, list[str]] = {}
        cases = e.failure_cases.filter(pl.col("index").is_not_null())
        for index, column, check_name, value in cases.select("index", "column", "check", "failure_case").iter_rows():
            if column == "selectorProblem":
                text = f"selector: {value}"
            elif check_name == "not_nullable":
                text = f"{column}: required"
            else:
                text = f"{column}: {check_name} (got {value!r})"
            reasons.setdefault(int(index), []).append(text)
        return reasons
    return {}


def canonical_sha256(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def ingest_deletion_file(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, run_id: int, *, now: datetime | None = None
) -> DeletionFileResult:
    """Ingest one deletion log in one transaction, from one read of it (delivery.py).

    A log that cannot be read as JSON Lines text at all, or none of whose lines is a
    valid entry, is a rejected file (SPEC 2.3); one that changed while it was read is
    not recorded and is tried again by the next run.
    """
    now = now or utc_now()
    result = DeletionFileResult(shown(path), stored_name(path), "", "ingested")
    try:
        with open_delivery(path) as delivery:
            data = delivery.read()
            reason = sniff(data[:SNIFF_BYTES], "JSON Lines")
            result.sha256 = delivery.finish()
    except NotReadable as e:
        result.sha256 = e.sha256
        return _reject_log(con, result, run_id, f"the file {e.reason}", [], now)
    except ChangedWhileRead as e:
        result.status, result.message = "changed", str(e)
        return result
    known = con.execute(
        "SELECT id, fileName, status, reason FROM deletion_files WHERE sha256 = $s ORDER BY status = 'ingested' DESC, id LIMIT 1",
        {"s": result.sha256},
    ).fetchall()
    if known:
        result.status, result.file_id = "unchanged", known[0][0]
        same = "" if known[0][1] == result.file_name else f" as {known[0][1]!r}"
        was = f" (rejected: {known[0][3]})" if known[0][2] == "rejected" else ""
        result.message = f"already ingested{same}{was}; nothing to do"
        return result
    if reason:
        return _reject_log(con, result, run_id, f"the file {reason}", [], now)

    rejects, parsed = _parse_lines(data)
    flattened = [_flatten(obj) for _, obj, _ in parsed]
    flat = [f for f, _ in flattened]
    reasons = _validate(flat) if flat else {}
    last_call_id = con.execute("SELECT value FROM counters WHERE name = 'call'").fetchall()[0][0]
    latest = now + FUTURE_TOLERANCE
    valid = []
    for pos, (number, obj, raw) in enumerate(parsed):
        fl, items = flattened[pos]
        mistyped = {p.split(":")[0] for p in fl["typeProblems"]}  # their "required" says less than the type does
        why = fl["typeProblems"] + [r for r in reasons.get(pos, []) if r.split(":")[0] not in mistyped]
        if fl["timestampUtc"] is not None and fl["timestampUtc"] > latest:
            why.append(
                f"timestamp: {fl['timestamp']} is more than one day after ingestion ({now:%Y-%m-%dT%H:%M:%SZ}); "
                "a deletion dated in the future would keep its calls out of retention"
            )
        unassigned = [it["callId"] for it in items if it["kind"] == "callId" and it["callId"] > last_call_id]
        if unassigned:
            listed = ", ".join(map(str, unassigned[:5])) + (" …" if len(unassigned) > 5 else "")
            why.append(
                f"selector: callIds {listed} not assigned yet (the last call id is {last_call_id}); "
                "an id not yet assigned can only match a call the entry's author never saw"
            )
        if why:
            rejects.append((number, why, raw))
        else:
            valid.append((number, obj, raw, flattened[pos]))
    if not valid and rejects:
        hint = json_array_hint(data[:SNIFF_BYTES])
        whole = f"the file {hint}" if hint else f"none of its {len(rejects)} line(s) is a valid entry (see rejected_rows)"
        return _reject_log(con, result, run_id, whole, rejects, now)

    con.execute("BEGIN")
    try:
        file_id = next_ids(con, "deletion_file", 1)
        result.file_id = file_id
        ids = list({str(obj["id"]) for _, obj, _, _ in valid})
        seen = dict(con.execute(
            "SELECT id, contentSha256 FROM user_activity_log WHERE id IN (SELECT unnest($ids))", {"ids": ids}
        ).fetchall()) if ids else {}
        entries, items = [], []
        for number, obj, raw, (fl, its) in valid:
            digest = canonical_sha256(obj)
            entry_id = fl["id"]
            if entry_id in seen:
                if seen[entry_id] == digest:
                    result.duplicates += 1
                else:
                    result.conflicts.append(entry_id)
                    rejects.append((number, [f"conflict: entry id {entry_id!r} was seen before with other content; not applied"], raw))
                continue
            seen[entry_id] = digest
            entries.append({
                "id": entry_id, "user": fl["user"], "timestamp": fl["timestampUtc"], "action": fl["action"],
                "reason": fl["reason"], "selector": json.dumps(obj["selector"], sort_keys=True), "selectorKind": fl["selectorKind"],
                "contentSha256": digest, "deletionFileID": file_id, "lineNumber": number, "ingestedAt": now,
                "appliedAt": None, "runId": run_id,
            })
            for pos, it in enumerate(its):
                items.append({"userActivityLog": entry_id, "item": pos, "kind": it["kind"], "carrier": it.get("carrier"),
                              "carrierCallID": it.get("carrierCallID"), "callId": it.get("callId"),
                              "cdrFile": it.get("cdrFile"), "lineNumber": it.get("lineNumber")})
        _insert_entries(con, entries, items)
        result.entries, result.items = len(entries), len(items)
        result.rejected = len(rejects) - len(result.conflicts)
        _record_log(con, result, run_id, now, "ingested", None)
        record_rejects(con, "deletions", file_id, result.file_name, run_id, rejects)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise
    parts = [f"{result.entries} new entries ({result.items} items)"]
    if result.duplicates:
        parts.append(f"{result.duplicates} seen before (no-op)")
    if result.rejected:
        parts.append(f"{result.rejected} lines rejected (see rejected_rows)")
    if result.conflicts:
        parts.append(f"{len(result.conflicts)} conflicting entries not applied: {', '.join(result.conflicts[:5])}")
    result.message = "; ".join(parts)
    return result


def _parse_lines(data: bytes) -> tuple[list[tuple[int, list[str], str]], list[tuple[int, dict[str, Any], str]]]:
    """(rejected lines, parsed objects) of JSON Lines text: (line number, reasons, raw) and (line number, object, raw)."""
    rejects: list[tuple[int, list[str], str]] = []
    parsed: list[tuple[int, dict[str, Any], str]] = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw_bytes in enumerate(lines, start=1):
        raw = raw_bytes.decode("utf-8", errors="replace").rstrip("\r")
        if number == 1:
            raw = raw.removeprefix("\ufeff")
        if not raw.strip():
            continue
        try:
            raw_bytes.decode("utf-8")
            obj = json.loads(raw)
        except UnicodeDecodeError:
            rejects.append((number, ["not valid UTF-8 text"], raw))
            continue
        except (ValueError, RecursionError) as e:  # not JSON, nested too deep, a number too long
            why = json_problem(e)
            rejects.append((number, [why], raw))
            continue
        if not isinstance(obj, dict):
            rejects.append((number, ["not a JSON object"], raw))
            continue
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # "\ud800": JSON allows it, no text store does
            rejects.append((number, ["holds a lone UTF-16 surrogate escape (\\udXXX): not valid Unicode text"], raw))
            continue
        parsed.append((number, obj, raw))
    return rejects, parsed


def _record_log(con: duckdb.DuckDBPyConnection, result: DeletionFileResult, run_id: int, now: datetime, status: str, reason: str | None) -> None:
    con.execute(
        "INSERT INTO deletion_files VALUES ($id, $name, $sha, $entries, $dups, $conflicts, $rejected, $at, $run, $status, $reason)",
        {"id": result.file_id, "name": result.file_name, "sha": result.sha256, "entries": result.entries, "dups": result.duplicates,
         "conflicts": len(result.conflicts), "rejected": result.rejected, "at": now, "run": run_id, "status": status, "reason": reason},
    )


def _reject_log(
    con: duckdb.DuckDBPyConnection, result: DeletionFileResult, run_id: int, why: str,
    rejects: list[tuple[int, list[str], str]], now: datetime,
) -> DeletionFileResult:
    """Record a deletion log rejected whole (nothing of it applies), with its rejected lines."""
    con.execute("BEGIN")
    try:
        result.file_id = next_ids(con, "deletion_file", 1)
        result.status, result.entries, result.items, result.rejected = "rejected", 0, 0, len(rejects)
        _record_log(con, result, run_id, now, "rejected", why)
        record_rejects(con, "deletions", result.file_id, result.file_name, run_id, rejects)
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise
    result.message = f"rejected whole, nothing applied: {why}"
    return result


def _insert_entries(con: duckdb.DuckDBPyConnection, entries: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    if not entries:
        return
    # polars frames, not pyarrow's from_pylist: that imports pandas (0.18 s of a run)
    entry_table = pl.DataFrame(entries, schema={
        "id": pl.String, "user": pl.String, "timestamp": pl.Datetime("us"), "action": pl.String,
        "reason": pl.String, "selector": pl.String, "selectorKind": pl.String,
        "contentSha256": pl.String, "deletionFileID": pl.Int64, "lineNumber": pl.Int64,
        "ingestedAt": pl.Datetime("us"), "appliedAt": pl.Datetime("us"), "runId": pl.Int64,
    })
    insert_from(con, "new_entries", entry_table, "INSERT INTO user_activity_log SELECT * FROM new_entries")
    item_table = pl.DataFrame(items, schema={
        "userActivityLog": pl.String, "item": pl.Int32, "kind": pl.String, "carrier": pl.String,
        "carrierCallID": pl.String, "callId": pl.Int64, "cdrFile": pl.String, "lineNumber": pl.Int64,
    })
    insert_from(con, "new_items", item_table, "INSERT INTO deletion_items SELECT *, NULL, NULL, NULL FROM new_items")


def ingest_deletion_files(
    con: duckdb.DuckDBPyConnection, settings: Settings, paths: list[Path], run_id: int, *, log_unchanged: bool = True
) -> list[DeletionFileResult]:
    """Ingest each deletion log in turn, logging each outcome."""
    results: list[DeletionFileResult] = []
    for path in paths:
        try:
            d = ingest_deletion_file(con, settings, path, run_id)
        except Exception as e:  # one log never stops the others (SPEC 2.3): it is recorded as rejected first
            if stops_the_command(e) or logs.debugging():
                done = [f"{r.file_name} ({r.status})" for r in results if r.status in ("ingested", "rejected")]
                note_committed(e, f"deletion log(s) {listed(done)}" if done else "")
                raise
            d = _reject_unexpected(con, path, run_id, e)
        results.append(d)
        if d.status == "unchanged" and not log_unchanged:
            continue
        log = logs.warning if (d.conflicts or d.rejected or d.status in ("rejected", "changed")) else logs.info
        log(f"{d.file_name}: {d.message}", stage="ingest-deletions", file=d.path, entries=d.entries,
            rejected=d.rejected, conflicts=len(d.conflicts))
    return results


def _reject_unexpected(con: duckdb.DuckDBPyConnection, path: Path, run_id: int, error: Exception) -> DeletionFileResult:
    """Record a log whose ingestion failed in a way nobody foresaw (a bug) as rejected, so that the run goes on;
    with its hash when it can be read, so that later runs skip it."""
    rollback_quietly(con)
    result = DeletionFileResult(shown(path), stored_name(path), delivered_hash(path)[0], "rejected")
    try:
        return _reject_log(con, result, run_id, unexpected_reason(error, "ingestion"), [], utc_now())
    except Exception:
        raise error from None


def run_counts(results: list[DeletionFileResult]) -> dict[str, int]:
    """What a command that ingests deletion logs records in its run's counts."""
    return dict(
        files=len(results), entries=sum(r.entries for r in results), items=sum(r.items for r in results),
        duplicates=sum(r.duplicates for r in results), rejected=sum(r.rejected for r in results),
        conflicts=sum(len(r.conflicts) for r in results),
    )


def raise_for_conflicts(results: list[DeletionFileResult]) -> None:
    """After every log was tried: exit 3 for a log rejected whole, changed while read, or with conflicts."""
    refused = [r for r in results if r.status in ("rejected", "changed")]
    if refused:
        more = f" (and {len(refused) - 1} more file(s))" if len(refused) > 1 else ""
        raise InputRejected(f"{refused[0].file_name}: {refused[0].message}{more}")
    conflicts = [(r.file_name, c) for r in results for c in r.conflicts]
    if conflicts:
        name, entry = conflicts[0]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise InputRejected(
            f"{name}: entry {entry!r} conflicts with an earlier entry of the same id; it was not applied{more}. "
            "Give a changed entry a new id."
        )
