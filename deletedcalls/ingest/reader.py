"""The reader thread of a CDR load: a file's batches, canonical or mapped, read in a thread ahead of the insert.

``start_reading`` picks the walk by the file's profile: the canonical layout
as it is (``cdr_reading.batches``) or a carrier's layout
(``profile_reading.mapped_batches``). ``read_ahead`` starts the first file of
``ingest cdr`` before the warehouse opens. Like both readers, this module
imports numpy and polars, not duckdb or pyarrow.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from deletedcalls.errors import DeletedCallsError
from deletedcalls.ingest.batches import GROUP_ROWS, Prefetch
from deletedcalls.ingest.cdr_reading import batches
from deletedcalls.ingest.csvscan import DEFAULT_CHUNK
from deletedcalls.ingest.delivery import Delivery, NotReadable, open_delivery
from deletedcalls.ingest.detection import early_layout
from deletedcalls.ingest.profile_reading import mapped_batches
from deletedcalls.ingest.profiles import Profile
from deletedcalls.settings import load_settings

# Python's GIL switch interval while a file loads (the default is 5 ms; see loading)
SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Interpreter settings for loading a file, restored afterwards (they nest).

    The cyclic garbage collector found nothing to free while a file loads but cost
    about 4 % of the CPU time of a 1M-row ingest (its many short-lived objects keep
    triggering it). The reader thread, the main thread and DuckDB's threads (which
    pull batches from a Python generator) each hold the GIL only briefly, between
    long calls into polars, numpy and DuckDB that release it. At the default 5 ms
    switch interval, a thread back from such a call could wait up to 5 ms for a thread
    running Python (at the start, imports), so the reader, the slowest stage,
    stalled: 0.5 ms took 4-8 % off a 1M-row ingest (docs/DECISIONS.md).
    """
    collecting = gc.isenabled()
    gc.disable()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()


class Reading(Prefetch):
    """A reader thread over one opened delivery; finish() after the last batch gives the hash of what was read."""

    def __init__(
        self, delivery: Delivery, chunk_size: int, profile: Profile | None = None, zone: str = "UTC", start: int = 0,
        start_line: int = 1,
    ) -> None:
        self.delivery = delivery
        self.start, self.start_line = start, start_line
        if profile is not None and profile.grows:  # a switch's log: a half-written last line waits for the next run
            delivery.hold_back_partial_line()
        stop = threading.Event()
        if profile is None or profile.identity:
            ambiguous = profile.ambiguous if profile else "earlier"
            stream = batches(delivery, chunk_size, GROUP_ROWS, stop, zone, ambiguous, start, start_line)
        else:
            stream = mapped_batches(delivery, profile, zone, chunk_size, GROUP_ROWS, stop, start, start_line)
        super().__init__(stream, stop=stop)

    def stop_reading(self) -> None:
        """Stop the thread (at its next chunk) and wait for it; the delivery stays open for finish()."""
        super().close()

    def close(self) -> None:
        super().close()
        self.delivery.close()


def start_reading(path: Path, chunk_size: int = DEFAULT_CHUNK, profile: Profile | None = None, zone: str = "UTC") -> Reading:
    """A reader thread over the file's batches, started now; its close() stops it at the next chunk.

    The file is opened here (NotReadable when it is not a readable regular file). The
    canonical layout as it is (no profile, or one that maps every column to itself)
    takes `batches`; any other profile `profile_reading.mapped_batches`.
    """
    return Reading(open_delivery(path), chunk_size, profile, zone)


class ReadAhead:
    """A file whose reading started before the warehouse was open (see read_ahead)."""

    def __init__(self, path: Path, chunk_size: int = DEFAULT_CHUNK, profile: Profile | None = None, zone: str = "UTC") -> None:
        self.path = path
        self.chunk_size = chunk_size
        self.layout = (profile.name if profile else "canonical", profile, zone)
        self._stream: Reading | None = None
        with contextlib.suppress(NotReadable):  # the load opens it again and records why
            self._stream = start_reading(path, chunk_size, profile, zone)

    def take(self, path: Path, chunk_size: int, profile: Profile | None = None, zone: str = "UTC") -> Reading | None:
        """The started stream, once, if it reads this path in chunks of this size, with this profile and zone."""
        if self._stream is None or path != self.path or chunk_size != self.chunk_size:
            return None
        name, started_with, started_zone = self.layout
        if (profile.name if profile else "canonical") != name or zone != started_zone:
            return None
        if profile is not None and started_with is not None and profile != started_with:
            return None
        stream, self._stream = self._stream, None
        return stream

    def opened_as(self) -> tuple[int, int] | None:
        """(size, mtime_ns) of the file when the reading ahead opened it, or None (nothing started)."""
        return None if self._stream is None else self._stream.delivery.opened_as

    def close(self) -> None:
        """Stop the reading if nobody took it (the file was known, or the command failed)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


@contextlib.contextmanager
def read_ahead(path: Path, profile: Profile | None = None, zone: str = "UTC") -> Iterator[ReadAhead]:
    """Start reading a CDR file now, under the load's settings; stopped on exit if not taken.

    The CLI starts the first file of `ingest cdr` before it imports duckdb and
    pandera and opens the warehouse (0.3-0.4 s of a 1M-row ingest, on one core):
    the reader thread scans and parses meanwhile, on the other core. If the file
    turns out to be known, the reading is stopped and thrown away; nothing of it
    reaches the warehouse unless `ingest_cdr_file` takes it for a load.
    """
    with loading():
        ahead = ReadAhead(path, DEFAULT_CHUNK, profile, zone)
        try:
            yield ahead
        finally:
            ahead.close()


@contextlib.contextmanager
def reading_ahead(home: Path | None, path: Path, profile: str | None) -> Iterator[ReadAhead | None]:
    """``ingest cdr``'s start: the first file read ahead (when its profile and zone are known before the
    warehouse opens), then pandera imported while the reader runs; on exit, a reading nobody took is stopped.

    The first file is scanned and parsed from now on, on the other core, while the
    caller's thread imports pandera and duckdb and opens the warehouse (0.3-0.4 s on
    one core). A file that turns out to be known is not loaded: its reading is stopped.
    It is read with the profile it will be loaded with (chosen before the warehouse opens).
    """
    early = _early_layout(home, path, profile)
    with (read_ahead(path, *early) if early else contextlib.nullcontext()) as ahead:
        from deletedcalls.ingest.schemas import cdr_schema

        cdr_schema()  # pandera first: the reader needs it to validate, DuckDB comes later
        yield ahead


def _early_layout(home: Path | None, path: Path, profile: str | None) -> tuple[Profile, str] | None:
    """The profile and zone of the first file, when known before the warehouse opens (see read_ahead)."""
    try:
        settings = load_settings(home)
    except DeletedCallsError:
        return None  # reported properly by the ingest itself
    return early_layout(settings.home, path, profile, settings.zone)
