"""The scheduled batch run: ingest what is new in the inbox (CDR files, Ultravox files, deletion logs),
materialise, enforce retention.

Every step is its own transaction and every step is idempotent (files are
known by content hash, entries by id and content, deletions by call), so a
run killed at any moment and run again ends in the same state as one clean
run. Rejected files do not stop the run; they fail it (exit 3) at the end.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from deletedcalls import logs
from deletedcalls.clock import today_utc
from deletedcalls.environment import note_committed
from deletedcalls.errors import InputRejected, UsageError
from deletedcalls.fsutil import crash_point
from deletedcalls.ingest.cdr import ingest_cdr_files
from deletedcalls.ingest.deletions import ingest_deletion_files
from deletedcalls.ingest.delivery import total_size
from deletedcalls.jobs import Job
from deletedcalls.settings import Settings, load_settings, parse_date
from deletedcalls.store.materialise import materialise
from deletedcalls.store.retention import enforce_retention
from deletedcalls.store.session import recorded_session
from deletedcalls.store.warehouse import Session


@dataclass
class RunSummary:
    inbox: str
    as_of: date
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected_files: list[str] = field(default_factory=list)
    young: list[str] = field(default_factory=list)  # files left for the next run ([inbox] min_age_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {"inbox": self.inbox, "asOf": self.as_of.isoformat(), "stages": self.stages,
                "rejectedFiles": self.rejected_files, "leftForNextRun": self.young}


# CDR files as carriers deliver them: plain, gzip or a single-member zip (SPEC 8)
CDR_SUFFIXES = (".csv", ".csv.gz", ".zip")


def inbox_files(inbox: Path, globs: tuple[str, ...] = ()) -> tuple[list[Path], list[Path]]:
    """CDR files and deletion logs of the inbox, each in name order (stable from run to run).

    A CDR file is a name with one of the suffixes, or one that matches a glob: a job's [[cdr]] pins and the
    profiles' file names and rotated names (Master.csv.1, Master.csv-20261201.gz, a CUCM file pinned by
    ``cdr_*``). Every such entry is taken except folders: a FIFO, a device or a dangling link named *.csv is
    reported as a rejected file, not passed over in silence.
    """
    if not inbox.is_dir():
        raise UsageError(f"inbox {inbox} is not a folder")
    files = sorted(p for p in inbox.iterdir() if not p.name.startswith(".") and not p.is_dir())
    logs_ = [p for p in files if p.suffix.lower() == ".jsonl"]
    cdr = [p for p in files if p not in logs_ and p.suffix.lower() != ".json"
           and (p.name.lower().endswith(CDR_SUFFIXES) or any(fnmatch.fnmatch(p.name, g) for g in globs))]
    return cdr, logs_


def cdr_name_globs(settings: Settings, pins: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The names besides *.csv that a run takes as CDR files: its pins' globs, the profiles' names and rotated
    names (not a profile's catch-all "*", which would take every file)."""
    from deletedcalls.ingest.profiles import Catalog

    globs = [g for g, _ in pins]
    for p in Catalog(settings.home).all():
        globs += [g for g in (p.detect_filename, *p.detect_rotated) if g and g != "*"]
    return tuple(dict.fromkeys(globs))


def settled(paths: list[Path], min_age_seconds: int, now: float) -> tuple[list[Path], list[Path]]:
    """(files to take now, files modified less than min_age_seconds ago: left for the next run).

    A file that cannot be stat-ed is taken: its ingestion reports why it cannot be read.
    """
    take: list[Path] = []
    young: list[Path] = []
    for p in paths:
        try:
            modified = os.stat(p).st_mtime
        except OSError:
            take.append(p)
            continue
        (young if now - modified < min_age_seconds else take).append(p)
    return take, young


def run_job(
    session: Session, settings: Settings, inbox: Path, run_id: int, *, as_of: date,
    progress: Callable[[int], None] | None = None, pins: tuple[tuple[str, str], ...] = (),
) -> RunSummary:
    """The night's stages in order, each committed on its own; an error that stops the run says which were done."""
    summary = RunSummary(str(inbox), as_of)
    try:
        return _stages(session, settings, inbox, run_id, summary, as_of=as_of, progress=progress, pins=pins)
    except BaseException as e:
        if summary.stages:
            note_committed(e, f"the run's stage(s) {', '.join(summary.stages)}")
        raise


def _stages(
    session: Session, settings: Settings, inbox: Path, run_id: int, summary: RunSummary, *, as_of: date,
    progress: Callable[[int], None] | None, pins: tuple[tuple[str, str], ...],
) -> RunSummary:
    cdr_files, deletion_logs = inbox_files(inbox, cdr_name_globs(settings, pins))
    cdr_files, young_cdr = settled(cdr_files, settings.min_age_seconds, time.time())
    deletion_logs, young_logs = settled(deletion_logs, settings.min_age_seconds, time.time())
    pages = sorted(p for p in inbox.iterdir() if p.suffix.lower() == ".json" and p.is_file() and not p.name.startswith("."))
    pages, young_pages = settled(pages, settings.min_age_seconds, time.time())
    summary.young = [p.name for p in young_cdr + young_logs + young_pages]
    if summary.young:
        logs.info(f"left {len(summary.young)} file(s) younger than {settings.min_age_seconds}s for the next run: "
                  f"{', '.join(summary.young[:5])}", stage="run", young=summary.young)

    start = time.perf_counter()
    cdr = ingest_cdr_files(session.con, settings, cdr_files, run_id, progress=progress, log_unchanged=False, pins=pins)
    refused = [r for r in cdr if r.status in ("rejected", "conflict", "changed")]
    summary.rejected_files += [f"{r.file_name}: {r.message}" for r in refused]
    counts: dict[str, float] = {
        "files": len(cdr),
        "loaded": sum(r.status == "loaded" for r in cdr),
        "unchanged": sum(r.status == "unchanged" for r in cdr),
        "rejected": len(refused),
        "changed": sum(r.status == "changed" for r in cdr),
        "young": len(young_cdr),
        "rows": sum(r.rows for r in cdr),
        "rejectedRows": sum(r.rejected for r in cdr),
        "seconds": round(time.perf_counter() - start, 3),
    }
    summary.stages["ingest-cdr"] = counts
    logs.info(f"CDR files: {counts['loaded']} loaded, {counts['unchanged']} already known, {counts['rejected']} rejected",
              stage="ingest-cdr", **counts)

    # Ultravox pages (*.json) and webhook spools (*.jsonl told from deletion logs by content), before the
    # deletion logs: an entry may delete an Ultravox call.
    from deletedcalls.ingest.ultravox import ingest_ultravox_files
    from deletedcalls.ingest.ultravox_records import is_ultravox_file

    # only files old enough to be whole are opened to be told apart
    ultravox = [p for p in sorted(pages + [p for p in deletion_logs if p.is_file()]) if is_ultravox_file(p)]
    deletion_logs = [p for p in deletion_logs if p not in ultravox]
    start = time.perf_counter()
    uv = ingest_ultravox_files(session.con, settings, ultravox, run_id, log_unchanged=False)
    summary.rejected_files += [f"{r.file_name}: {r.message}" for r in uv if r.status == "rejected"]
    counts = {
        "files": len(uv), "loaded": sum(r.status == "loaded" for r in uv), "unchanged": sum(r.status == "unchanged" for r in uv),
        "rejected": sum(r.status == "rejected" for r in uv), "newCalls": sum(r.new_calls for r in uv),
        "updated": sum(r.updated for r in uv), "deleted": sum(r.deleted + r.new_deleted for r in uv),
        "rejectedRecords": sum(r.rejected for r in uv if r.status == "loaded"), "seconds": round(time.perf_counter() - start, 3),
    }
    summary.stages["ingest-ultravox"] = counts
    logs.info(f"Ultravox files: {counts['loaded']} loaded, {counts['unchanged']} already known, {counts['rejected']} rejected",
              stage="ingest-ultravox", **counts)

    start = time.perf_counter()
    logs_in = ingest_deletion_files(session.con, settings, deletion_logs, run_id, log_unchanged=False)
    summary.rejected_files += [
        f"{d.file_name}: {d.message}" if d.status in ("rejected", "changed")
        else f"{d.file_name}: conflicting entries not applied: {', '.join(d.conflicts[:5])}"
        for d in logs_in if d.conflicts or d.status in ("rejected", "changed")
    ]
    counts = {
        "files": len(logs_in),
        "unchanged": sum(d.status == "unchanged" for d in logs_in),
        "rejected": sum(d.status == "rejected" for d in logs_in),
        "changed": sum(d.status == "changed" for d in logs_in),
        "young": len(young_logs),
        "entries": sum(d.entries for d in logs_in),
        "duplicates": sum(d.duplicates for d in logs_in),
        "rejectedLines": sum(d.rejected for d in logs_in),
        "conflicts": sum(len(d.conflicts) for d in logs_in),
        "seconds": round(time.perf_counter() - start, 3),
    }
    summary.stages["ingest-deletions"] = counts
    crash_point("run-ingested")
    logs.info(f"deletion logs: {counts['entries']} new entries from {counts['files'] - counts['unchanged']} new file(s)",
              stage="ingest-deletions", **counts)

    start = time.perf_counter()
    m = materialise(session.con, run_id)
    mat = {**m.as_dict(), "seconds": round(time.perf_counter() - start, 3)}
    summary.stages["materialise"] = mat
    logs.info(f"materialised {m.deleted} deleted calls; {m.pending_items} items still pending", stage="materialise", **mat)
    crash_point("run-materialised")

    start = time.perf_counter()
    result, session.con = enforce_retention(session.con, settings, run_id, as_of=as_of, days=settings.retention_days)
    ret = {"partitions": len(result.archived), "rowsPurged": result.rows_purged, "shredded": len(result.shredded),
           "erased": result.erased, "retentionDays": settings.retention_days, "seconds": round(time.perf_counter() - start, 3)}
    summary.stages["retention"] = ret
    if result.postponed is not None:  # the night's work is committed: a warning, and the next night erases again
        logs.warning(str(result.postponed), stage="retention")
    logs.info(f"retention as of {as_of}: archived {len(result.archived)} partition(s), purged {result.rows_purged} rows",
              stage="retention", **ret)
    return summary


@dataclass(frozen=True)
class NightlyRun:
    """What ``run JOBFILE`` runs: the job, with its settings, inbox and as-of date settled."""

    job: Job
    settings: Settings
    inbox: Path
    as_of: date


def plan_run(job: Job, home: Path | None, *, inbox: Path | None, as_of: str | None, min_age_seconds: int | None) -> NightlyRun:
    """Settle a run of the job: settings with the job's overrides (an option given wins), the inbox, the date."""
    min_age = min_age_seconds if min_age_seconds is not None else job.min_age_seconds
    settings = load_settings(home, retention_days=job.retention_days, max_reject_ratio=job.max_reject_ratio, min_age_seconds=min_age)
    box = inbox or job.inbox
    if box is None:
        raise UsageError(f"{job.path} names no inbox ([job] inbox) and no --inbox was given")
    when = parse_date(as_of, "--as-of") if as_of else today_utc()
    return NightlyRun(job, settings, box, when)


@contextlib.contextmanager
def nightly_run(run: NightlyRun, bar: Callable[[int, str], AbstractContextManager[Callable[[int], None] | None]]) -> Iterator[tuple[int, RunSummary]]:
    """The run of a job in a recorded writer session, its progress shown by ``bar(total bytes, what)``.

    Yields (run id, summary) once the stages are done, for the caller to show
    them; then, still inside the run, raises InputRejected (exit 3) if any file
    was rejected, so the run's record says so.
    """
    job = run.job
    cdr, _ = inbox_files(run.inbox, cdr_name_globs(run.settings, job.cdr_profiles))
    total = total_size(cdr)
    started = datetime.now(UTC)
    with recorded_session(run.settings, f"run {job.name}") as (session, run_id, counts):
        logs.info(f"run {job.name}: inbox {run.inbox}, as of {run.as_of}", stage="run", job=job.name, inbox=str(run.inbox), run=run_id)
        with bar(total, "ingesting CDR files") as advance:
            summary = run_job(session, run.settings, run.inbox, run_id, as_of=run.as_of, progress=advance, pins=job.cdr_profiles)
        counts.update(summary.stages)
        seconds = (datetime.now(UTC) - started).total_seconds()
        logs.info(f"run {job.name} done in {seconds:.1f}s" + (f"; {len(summary.rejected_files)} rejected file(s)" if summary.rejected_files else ""),
                  stage="run", job=job.name, run=run_id, seconds=round(seconds, 3), rejected_files=len(summary.rejected_files))
        yield run_id, summary
        raise_for_run(summary)


def raise_for_run(summary: RunSummary) -> None:
    if summary.rejected_files:
        more = f" (and {len(summary.rejected_files) - 1} more)" if len(summary.rejected_files) > 1 else ""
        raise InputRejected(f"run finished with rejected input: {summary.rejected_files[0]}{more}")
