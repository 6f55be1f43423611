"""The time: now in UTC as stored, today in UTC, ISO 8601 text read as a stored time, and a partition's expiry.

Every stored time is UTC, as a naive ``TIMESTAMP``. Library code that judges
dates takes them as arguments (``as_of``); only the callers read the clock.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any


def utc_now() -> datetime:
    """The current time, UTC, as a naive timestamp (every stored time is UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def today_utc() -> date:
    """Today's date in UTC (the default as-of date of retention and the nightly run)."""
    return datetime.now(UTC).date()


def parse_timestamp(text: Any) -> datetime | None:
    """ISO 8601 to a naive UTC datetime; no offset means UTC; None if it is not one."""
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        ts = datetime.fromisoformat(text)
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-01:00 is past the last representable time
        return None
    return ts


def partition_expiry(partition: str, days: int) -> date:
    """The last day a partition (``YYYY-MM``) is kept: its month's last day plus the retention days.

    It expires when this date is before the as-of date (2026-01 with 90 days: 2026-05-01). The one
    statement of the rule: retention (``store/retention.py``) and the review report (``report/``) use it.
    """
    year, month = int(partition[:4]), int(partition[5:7])
    try:
        return date(year, month, calendar.monthrange(year, month)[1]) + timedelta(days=days)
    except OverflowError:  # past year 9999: never expires (deletions dated in the future are refused at ingestion)
        return date.max
