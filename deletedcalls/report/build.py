"""Writing the review report: ``deletedcalls report`` (an officer's) and ``report --analyst``.

In this order:

1. the permission (not for ``--analyst``): a user without data_protection is
   refused, and the refusal is logged in the access spool (exit 4);
2. ``--out`` is checked: an existing file, a symbolic link, a folder that is
   not empty, a folder inside the warehouse home are refused (exit 2);
3. the published store is opened read-only (``published.py``): the protected
   one, with the access log's spooled entries, for an officer; the analyst one
   for ``--analyst``. The sections' aggregates are read and the store closed;
4. an officer's read is logged (the access spool, fsynced) before anything is
   written. ``--analyst`` reads only the analyst store, as any analyst may, and
   is not logged, like an analyst's ``sql``;
5. the charts are drawn and the page rendered, in memory;
6. a private folder (0700, created so) is made beside ``--out``, the files are
   written into it (0600, created so) and fsynced, and the folder is renamed
   to ``--out`` (onto nothing, or onto an empty folder): the report appears
   whole or not at all.

A failure before step 6 writes nothing. A failure in it removes the private
folder. A process killed in it leaves a hidden owner-only folder beside
``--out`` (``.NAME.writing-PID``), which may be removed.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from deletedcalls import __version__
from deletedcalls.clock import utc_now
from deletedcalls.errors import PermissionDenied, UsageError
from deletedcalls.fsutil import fsync_path
from deletedcalls.published import Store, published_state, reading
from deletedcalls.read.access import record_access, require_data_protection
from deletedcalls.read.analyst import with_spooled_access_log
from deletedcalls.report import sections, timeline
from deletedcalls.report.model import Section, Window, unavailable
from deletedcalls.settings import Settings

MAX_MONTHS = 120
MAX_RUNS = 1000
PAGE = "report.html"


@dataclass(frozen=True)
class ReportRequest:
    """What the command asked for."""

    as_of: date
    months: int = 12
    runs: int = 30
    out: Path | None = None
    analyst: bool = False

    def describe(self) -> dict[str, Any]:
        return {"asOf": self.as_of.isoformat(), "months": self.months, "runs": self.runs, "out": str(self.folder())}

    def folder(self) -> Path:
        """--out, else ``./deletedcalls-report-<as-of>`` (``deletedcalls-analyst-report-<as-of>`` for --analyst)."""
        return self.out or Path(f"deletedcalls-{'analyst-' if self.analyst else ''}report-{self.as_of}")


@dataclass(frozen=True)
class Written:
    """What a report wrote."""

    folder: Path
    page: Path
    charts: list[Path] = field(default_factory=list)
    empty_sections: list[str] = field(default_factory=list)


def write_report(settings: Settings, request: ReportRequest) -> Written:
    """Read the sections from the store the user may read, log the read, and write the report (the steps above)."""
    _check_range(request)
    if not request.analyst:
        _require_permission(settings, request)
    out = check_out(settings, request.folder())
    window = Window(request.as_of, request.months, request.runs, settings.retention_days, settings.min_cell, request.analyst,
                    str(settings.home), settings.s3_endpoint)
    store: Store = "analyst" if request.analyst else "protected"
    with reading(settings, store) as con:
        state = published_state(con)
        if not request.analyst:
            with_spooled_access_log(con, settings)
        parts = gather(con, window)
    if not request.analyst:
        record_access(settings, "report", request.describe(), sum(s.rows() for s in parts), allowed=True)
    from deletedcalls.report.charts import draw
    from deletedcalls.report.page import Header, render

    images = {chart.name: draw(chart) for s in parts for chart in s.charts}
    header = Header(str(settings.home.resolve()), f"published/{store}.duckdb", state["publishedAt"],  # type: ignore[arg-type]
                    state["runId"], utc_now(), settings.user, __version__)  # type: ignore[arg-type]
    files = {PAGE: render(parts, images, window, header).encode("utf-8")}
    files.update({f"{name}.png": data for name, data in images.items()})
    write_folder(out, files)
    return Written(out, out / PAGE, [out / f"{name}.png" for name in images], [s.key for s in parts if s.empty])


def gather(con: duckdb.DuckDBPyConnection, w: Window) -> list[Section]:
    """The sections in page order; the analysts' report leaves out what its store does not hold."""
    if w.analyst:
        return [
            sections.deletions(con, w),
            unavailable("pending", "Pending deletion requests", "pending requests name the calls to delete and who asked"),
            sections.rejects(con, w, ultravox_files=False),
            timeline.retention(con, w),
            sections.nightly(con, w),
            unavailable("reads", "Who read deleted calls", "the access log is in the protected store only"),
        ]
    return [sections.deletions(con, w), sections.pending(con, w), sections.rejects(con, w, ultravox_files=True),
            timeline.retention(con, w), sections.nightly(con, w), sections.reads(con, w)]


def _check_range(request: ReportRequest) -> None:
    if not 1 <= request.months <= MAX_MONTHS:
        raise UsageError(f"--months must be between 1 and {MAX_MONTHS}, not {request.months}")
    if not 1 <= request.runs <= MAX_RUNS:
        raise UsageError(f"--runs must be between 1 and {MAX_RUNS}, not {request.runs}")


def _require_permission(settings: Settings, request: ReportRequest) -> None:
    try:
        require_data_protection(settings, "report", request.describe())
    except PermissionDenied as e:
        raise PermissionDenied(f"{e.one_line()}; `deletedcalls report --analyst` writes the analysts' report "
                               "(counts only) without it") from None


def check_out(settings: Settings, out: Path) -> Path:
    """The folder to write, as an absolute path: it must not exist, or be an empty folder, outside the home."""
    out = Path(os.path.abspath(out))
    if out.is_symlink():
        raise UsageError(f"--out {out} is a symbolic link; name a new folder (nothing was written)")
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--out {out} exists and is not a folder; name a new folder (nothing was overwritten)")
        if any(out.iterdir()):
            raise UsageError(f"--out {out} exists and is not empty; name a new folder (nothing was overwritten)")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    home = settings.home.resolve()
    target = out.resolve()
    if target == home or home in target.parents:
        raise UsageError(f"--out {out} is inside the warehouse home; write the report outside it")
    return out


def write_folder(out: Path, files: dict[str, bytes]) -> None:
    """Write files into a new owner-only folder `out`, whole or not at all (step 6 above)."""
    staging = out.with_name(f".{out.name}.writing-{os.getpid()}")
    os.mkdir(staging, 0o700)
    try:
        for name, data in files.items():
            fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        fsync_path(staging)
        try:
            os.rename(staging, out)  # onto nothing, or onto an empty folder: atomic
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EBUSY):
                raise UsageError(f"--out {out} appeared or filled while the report was written; nothing was "
                                 "overwritten, name a new folder") from e
            raise
        fsync_path(out.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
