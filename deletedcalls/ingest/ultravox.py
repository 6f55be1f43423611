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
   rejected whole (recognising, flattening and validating: ``ultravox_records.py``);
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
import contextlib
import hashlib
import itertools
import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from deletedcalls import logs
from deletedcalls.clock import utc_now
from deletedcalls.environment import listed, note_committed, stops_the_command
from deletedcalls.errors import InputRejected
from deletedcalls.ingest.delivery import shown, stored_name
from deletedcalls.ingest.rejects import unexpected_reason
from deletedcalls.ingest.ultravox_records import (
    Record,
    Reject,
    call_frame,
    raw_text,
    recognise,
    rejection_reasons,
    tombstone_frame,
    typed_calls,
    typed_tombstones,
)
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import sql
from deletedcalls.store.warehouse import insert_from, next_ids, rollback_quietly


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
    f = _File(UltravoxFileResult(shown(path), stored_name(path), "", "rejected"))
    r = f.result
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO is never opened: its read would block
            r.message = "not a regular file; nothing was read"
            return f
        data = _read_once(path)
    except OSError as e:
        r.message = f"cannot be opened or read: {e.strerror or e}; nothing was loaded"
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
        r.message = f"already ingested{'' if name == r.file_name else f' as {name!r}'} ({status}); nothing to do"
        return f
    seen[r.sha256] = r.file_name
    r.kind, f.records, f.rejects, f.why = recognise(data)
    r.records = len(f.records) + len(f.rejects)  # lines of a spool that are not JSON are records too
    if f.why is not None:
        r.message = f"rejected whole, nothing loaded: {f.why}"
    return f


def _unexpected(f: _File, error: Exception, path: Path | None = None) -> _File:
    """A file whose reading failed in a way nobody foresaw (a bug): rejected whole, with its hash when it can be read
    (so that later runs skip it) and the error as its reason."""
    r = f.result
    if path is not None and not r.sha256:
        with contextlib.suppress(OSError):
            data = _read_once(path)
            if data is not None:
                r.sha256, f.size = hashlib.sha256(data).hexdigest(), len(data)
    r.status, f.records, f.rejects, f.good = "rejected", [], [], None
    f.why = unexpected_reason(error, "reading")
    r.message = f"rejected whole, nothing loaded: {f.why}"
    return f


def _validate(files: list[_File], kind: str, now: datetime, max_ratio: float) -> None:
    """Step 3 for every file of one kind at once (one pandera validation, whatever the number of files)."""
    flattened = []
    for f in files:
        assert f.records is not None
        try:
            flattened.append((f, tombstone_frame(f.records, now) if kind == "tombstones" else call_frame(f.records, kind == "events")))
        except Exception as e:  # one file never stops the others: it is rejected (and recorded) alone
            if stops_the_command(e) or logs.debugging():
                raise
            _unexpected(f, e)
    files = [f for f, _ in flattened]
    if not files:
        return
    frames = [frame.with_columns(pl.lit(idx, pl.Int32).alias("fileIdx")) for idx, (_, frame) in enumerate(flattened)]
    frame = pl.concat(frames, how="vertical")
    reasons = rejection_reasons(kind, frame) if frame.height else {}
    typed = typed_tombstones(frame) if kind == "tombstones" else typed_calls(frame)
    if reasons:
        typed = typed.filter(~pl.int_range(typed.height).is_in(list(reasons)))
    parts = typed.partition_by("fileIdx", as_dict=True)
    starts = list(itertools.accumulate((len(f.records or []) for f in files), initial=0))
    for row, why in sorted(reasons.items()):
        idx = bisect.bisect_right(starts, row) - 1
        f = files[idx]
        assert f.records is not None and f.rejects is not None
        number, obj, _ = f.records[row - starts[idx]]
        f.rejects.append((number, why, raw_text(obj)))
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


def _flush(con: duckdb.DuckDBPyConnection, batch: list[_File], settings: Settings, run_id: int, now: datetime,
           committed: list[str]) -> None:
    """Validate and apply a batch of opened files, then let go of their records; `committed` gains the files
    recorded."""
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
        committed.extend(f"{f.result.file_name} ({f.result.status})" for f in group)
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
    committed: list[str] = []
    try:
        for path in paths:
            try:
                f = _open(con, path, seen)
            except Exception as e:  # one file never stops the others (SPEC 2.3): it is recorded as rejected
                if stops_the_command(e) or logs.debugging():
                    raise
                f = _unexpected(_File(UltravoxFileResult(shown(path), stored_name(path), "", "rejected")), e, path)
            files.append(f)
            batch.append(f)
            held += len(f.records or [])
            if held >= BATCH_RECORDS:
                _flush(con, batch, settings, run_id, now, committed)
                batch, held = [], 0
        _flush(con, batch, settings, run_id, now, committed)
    except BaseException as e:
        note_committed(e, f"Ultravox file(s) {listed(committed)}" if committed else "")
        raise
    for f in files:
        r = f.result
        if r.status == "unchanged" and not log_unchanged:
            continue
        log = logs.warning if r.status in ("rejected", "changing") or r.rejected else logs.info
        log(f"{r.file_name}: {r.message}", stage="ingest-ultravox", file=r.path, status=r.status, kind=r.kind,
            records=r.records, rejected=r.rejected)
    return [f.result for f in files]


def run_counts(results: list[UltravoxFileResult]) -> dict[str, int]:
    """What a command that ingests Ultravox files records in its run's counts."""
    return dict(files=len(results), **{k: sum(getattr(r, k) for r in results) for k in (
        "records", "new_calls", "updated", "unchanged", "deleted", "new_deleted", "rejected")})


def raise_for_rejections(results: list[UltravoxFileResult]) -> None:
    bad = [r for r in results if r.status == "rejected"]
    if bad:
        more = f" (and {len(bad) - 1} more file(s))" if len(bad) > 1 else ""
        raise InputRejected(f"{bad[0].file_name}: {bad[0].message}{more}")
