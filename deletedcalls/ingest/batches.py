"""What both CDR readers share: the validated Batch they yield, its size, a chunk's records as text, and the
thread that runs a reader ahead of its consumer (Prefetch).

The canonical layout (``cdr_reading``) and a carrier's mapped layout
(``profile_reading``) each import this module; neither imports the other.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from deletedcalls.ingest.csvscan import Chunk

# records validated at once (see cdr_reading.batches)
GROUP_ROWS = 250_000


@dataclass
class Batch:
    """One validated batch: the good records and the rejected ones."""

    good: pl.DataFrame  # CDR columns as checked text + lineNumber
    rejected: list[tuple[int, list[str], str]]  # (line, reasons, raw text)
    records: int
    carriers: set[str]
    nbytes: int
    ambiguous: int = 0  # records whose wall-clock time occurs twice in the zone (the autumn hour)
    # (line, carrier, carrierCallID) of the rejected records whose key could be read: a rejected line may be a
    # copy of a call that is deleted, or purged (cdr.py protects it as such)
    keys: list[tuple[int, str, str]] = field(default_factory=list)


def records_with_nul(chunk: Chunk) -> np.ndarray:
    """Indexes of the chunk's records that hold a NUL byte."""
    nul = np.flatnonzero(np.frombuffer(chunk.data, dtype=np.uint8) == 0)
    rec = np.searchsorted(chunk.starts, nul, side="right") - 1
    inside = (rec >= 0) & (nul < chunk.ends[np.maximum(rec, 0)])
    return np.unique(rec[inside])


def records_text(chunk: Chunk, idx: np.ndarray) -> bytes:
    """The text of the chunk's records idx (ascending), one per line: a few slices of runs."""
    if len(idx) == 0:
        return b""
    # runs of consecutive records are copied as one slice, line ends and all
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    firsts, lasts = idx[np.r_[0, breaks]], idx[np.r_[breaks - 1, len(idx) - 1]]
    data, starts, ends = memoryview(chunk.data), chunk.starts, chunk.ends
    parts: list[memoryview | bytes] = []
    for a, b in zip(firsts, lasts, strict=True):
        parts += (data[starts[a] : ends[b]], b"\n")
    return b"".join(parts)  # the one copy


class Prefetch:
    """Run an iterator in a thread, started at once, up to `depth` items ahead.

    polars, numpy and DuckDB release the GIL, so the thread's work overlaps the
    consumer's. close() stops the thread; an error in it is raised to the consumer.
    """

    def __init__(self, it: Iterator[Any], depth: int = 2, stop: threading.Event | None = None) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = stop or threading.Event()  # an iterator that also watches it stops sooner
        self._thread = threading.Thread(target=self._work, args=(it,), daemon=True, name="cdr-reader")
        self._thread.start()

    def _work(self, it: Iterator[Any]) -> None:
        try:
            for item in it:
                while not self._stop.is_set():
                    try:
                        self._queue.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put(("done", None))
        except BaseException as e:  # handed to the consumer
            self._queue.put(("error", e))

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        kind, item = self._queue.get()
        if kind == "done":
            self._queue.put((kind, item))  # stays exhausted
            raise StopIteration
        if kind == "error":
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()
