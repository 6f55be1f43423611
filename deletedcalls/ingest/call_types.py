"""A call as the warehouse types it: validated text cast to the warehouse's types, and the Arrow schema of a
batch of calls as the CDR load hands it to DuckDB.

The load (``cdr.py``) and ``profiles check`` (``profile_check.py``) cast the same way.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from deletedcalls.ingest.schemas import CDR_COLUMNS, COST_COLUMNS

# Arrow as polars holds it: text as string_view, which DuckDB reads as it is. At the
# default (oldest) level, to_arrow copies every string into a large_string buffer
# first: 0.2 CPU-s per million rows (docs/BENCHMARKS.md).
ARROW_LEVEL = pl.CompatLevel.newest()


def typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast validated text to the warehouse types (exact: Decimal, not float).

    `startedAt` comes with the frame when the reader computed it (a zone other than
    UTC); in UTC it is the wall clock itself, computed here by arithmetic.
    """
    time = pl.col("startTime")  # checked HH:MM:SS; slicing it is twice as fast as str.to_time
    seconds = time.str.slice(0, 2).cast(pl.Int64) * 3600 + time.str.slice(3, 2).cast(pl.Int64) * 60 + time.str.slice(6, 2).cast(pl.Int64)
    date = pl.col("startDate").str.to_date("%Y-%m-%d")
    instant = []
    if "startedAt" not in frame.columns:
        utc = date.cast(pl.Datetime("us")) + pl.duration(microseconds=seconds * 1_000_000)
        instant = [utc.dt.replace_time_zone("UTC").alias("startedAt")]
    return frame.with_columns(
        date,
        (seconds * 1_000_000_000).cast(pl.Time).alias("startTime"),
        pl.col("duration").cast(pl.Int64),
        pl.col("answerTime").cast(pl.Int64),
        *[pl.col(c).cast(pl.Decimal(18, 4)) for c in COST_COLUMNS],
        *instant,
    ).select(*CDR_COLUMNS, "lineNumber", "startedAt")


def _call_batch_schema() -> pa.Schema:
    empty = pl.DataFrame(schema={**{c: pl.String for c in CDR_COLUMNS}, "lineNumber": pl.Int64})
    frame = typed(empty).with_columns(id=pl.lit(0, pl.Int64), CDRFileID=pl.lit(0, pl.Int64))
    return frame.to_arrow(compat_level=ARROW_LEVEL).schema


CALL_BATCH_SCHEMA = _call_batch_schema()
