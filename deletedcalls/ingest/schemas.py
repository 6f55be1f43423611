"""The pandera schemas: the single statement of what a valid input row is.

CDR rows are validated as text, exactly as the file has them (an empty field
is null), so that every broken rule of every row is reported at once and the
checked text is then cast losslessly by DuckDB (DECIMAL, DATE, TIME, BIGINT).
Checks are vectorised polars expressions; the check name is the reason a
rejected row carries.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, TypeVar

import polars as pl

if TYPE_CHECKING:
    import types

    import pandera.polars as pandera_types

T = TypeVar("T")

PHONE = r"^[+0-9][0-9]{2,19}$"
# pence, >= 0, at most 4 decimal places; to fit DECIMAL(18, 4), at most MONEY_DIGITS before the point
MONEY = r"^[0-9]+(\.[0-9]{1,4})?$"
MONEY_DIGITS = 14
# seconds, >= 0; to fit BIGINT comfortably, at most SECONDS_DIGITS digits
SECONDS = r"^[0-9]+$"
SECONDS_DIGITS = 15
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# the calendar a call may be dated in (as option dates, settings.parse_date): year 0000 would load and print as 0001 BC
FIRST_YEAR, LAST_YEAR = "1900", "2999"
# the carrier Ultravox calls are stored under (SPEC 10): a CDR file may not use it, or its row would take an
# Ultravox call's key (carrier, carrierCallID) and stay live when the call's tombstone arrives
RESERVED_CARRIER = "ultravox"
TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"

# Every CDR column, in the order of the calls table, with whether it is required.
CDR_COLUMNS: dict[str, bool] = {
    "target": True,
    "extension": False,
    "external": False,
    "terminationNumber": False,
    "locationCarrier": False,
    "callTypeDirectionFlag": True,
    "chargeBand": False,
    "callTypeOriginationTypeFlag": False,
    "callTypeRecordingFlag": True,
    "startDate": True,
    "startTime": True,
    "tariffTime": False,
    "duration": True,
    "answerTime": False,
    "costCDR": True,
    "costSuggestedRetail": False,
    "costCDRBasic": False,
    "costCDRAccessCharge": False,
    "costCDRSurchargeMobileOrigination": False,
    "costCDRSurchargePayphoneOrigination": False,
    "costCDRSurchargeCallRecording": False,
    "carrier": True,
    "callCarrier": False,
    "carrierCallID": True,
}
COST_COLUMNS = [c for c in CDR_COLUMNS if c.startswith("cost")]
REQUIRED_COLUMNS = [c for c, required in CDR_COLUMNS.items() if required]


# a PBX's own values in a number column (kind = "text"): extensions, feature codes, SIP users, contexts
TEXT = r"^[^\x00-\x1f\x7f]+$"


def _real_date(data):
    """YYYY-MM-DD names a day of the calendar; a value of another shape fails the shape check alone (once)."""
    col = pl.col(data.key)
    shaped = col.str.contains(DATE)
    return data.lazyframe.select(~shaped | col.str.strptime(pl.Date, "%Y-%m-%d", strict=False).is_not_null())


def _built_once(fn: Callable[[], T]) -> Callable[[], T]:
    """A zero-argument builder run once, even when threads ask at the same time."""
    lock = threading.Lock()
    cached = cache(fn)

    def once() -> T:
        with lock:
            return cached()

    return once


@_built_once
def pandera_polars() -> types.ModuleType:
    """``pandera.polars``, imported and readied as in a polars-only install.

    pandera imports pandas whenever it is installed, and hypothesis on its first
    validation, although its polars backend uses neither. They are hidden from
    pandera while it is imported and first used, which takes pandera's own branch
    for installs without them: import and first validation went from 1.3 s to
    0.5 s of a ~4.5 s 1M-row ingest (docs/BENCHMARKS.md). Modules already imported
    are not affected, and both import normally afterwards. No other thread may
    import them meanwhile (the CDR reader thread imports neither).
    """
    sys.meta_path.insert(0, _Hidden)
    try:
        import pandera.errors
        import pandera.polars

        # the first validation of a check registers pandera's backends (and looks for pandas)
        check = pandera.polars.Check(lambda data: data.lazyframe.select(pl.col(data.key) == "1"))
        schema = pandera.polars.DataFrameSchema({"x": pandera.polars.Column(pl.String, checks=check)})
        with contextlib.suppress(pandera.errors.SchemaErrors):
            schema.validate(pl.DataFrame({"x": ["1", "2"]}), lazy=True)
    finally:
        sys.meta_path.remove(_Hidden)
    return pandera.polars


class _Hidden:
    """An import finder that answers for pandas and hypothesis as if they were not installed."""

    names = ("pandas", "hypothesis")

    @classmethod
    def find_spec(cls, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in cls.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def cdr_schema(text_columns: frozenset[str] = frozenset()):
    """The CDR row schema (SPEC 2.1), built once per set of number columns kept as text (a profile's kind = "text").

    pandera is imported lazily (it is slow to import).
    """
    if not text_columns:
        return _canonical_schema()
    with _SCHEMAS_LOCK:
        if text_columns not in _SCHEMAS:
            _SCHEMAS[text_columns] = _build_schema(text_columns)
        return _SCHEMAS[text_columns]


_SCHEMAS: dict[frozenset[str], object] = {}
_SCHEMAS_LOCK = threading.Lock()


@_built_once
def _canonical_schema():
    return _build_schema(frozenset())


def _build_schema(text_columns: frozenset[str]):
    pa = pandera_polars()

    # Custom checks rather than the built-ins, so that the check name, which
    # failure_cases reports, is the reason a person reads.
    def matches(pattern: str, message: str) -> pandera_types.Check:
        return pa.Check(
            lambda data: data.lazyframe.select(pl.col(data.key).str.contains(pattern)), name=message
        )

    def one_of(values: list[str], message: str) -> pandera_types.Check:
        return pa.Check(lambda data: data.lazyframe.select(pl.col(data.key).is_in(values)), name=message)

    def digits_at_most(pattern: str, digits: int, message: str) -> pandera_types.Check:
        """Values of the right form (`pattern`) with at most `digits` digits before any point (leading zeros aside)."""
        def check(data: pandera_types.PolarsData) -> pl.LazyFrame:
            col = pl.col(data.key)
            whole = col.str.split(".").list.first().str.strip_chars_start("0")
            return data.lazyframe.select(~col.str.contains(pattern) | (whole.str.len_chars() <= digits))
        return pa.Check(check, name=message)

    def year_in_range(data: pandera_types.PolarsData) -> pl.LazyFrame:
        col = pl.col(data.key)
        return data.lazyframe.select(~col.str.contains(DATE) | col.str.slice(0, 4).is_between(pl.lit(FIRST_YEAR), pl.lit(LAST_YEAR)))

    def not_blank(data: pandera_types.PolarsData) -> pl.LazyFrame:  # the call's key: spaces name no carrier or call
        return data.lazyframe.select(pl.col(data.key).str.strip_chars().str.len_chars() > 0)

    def not_reserved(data: pandera_types.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).str.strip_chars().str.to_lowercase() != RESERVED_CARRIER)

    phone = "must be + or a digit, then digits, 3-20 characters"
    checks: dict[str, list[pandera_types.Check]] = {
        "target": [matches(PHONE, phone)],
        "external": [matches(PHONE, phone)],
        "terminationNumber": [matches(PHONE, phone)],
        "callTypeDirectionFlag": [one_of(["A", "B"], "must be A (outbound) or B (inbound)")],
        "callTypeOriginationTypeFlag": [one_of(["M", "L", "P"], "must be M, L, P or empty")],
        "callTypeRecordingFlag": [one_of(["Y", "N"], "must be Y or N")],
        "startDate": [
            matches(DATE, "must be a date YYYY-MM-DD"),
            pa.Check(_real_date, name="must be a real calendar date"),
            pa.Check(year_in_range, name=f"must be a date from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"),
        ],
        "startTime": [matches(TIME, "must be a 24-hour time HH:MM:SS")],
        "tariffTime": [one_of(["day", "evening", "weekend"], "must be day, evening, weekend or empty")],
        "carrierCallID": [pa.Check(not_blank, name="must not be only spaces")],
        "carrier": [pa.Check(not_blank, name="must not be only spaces"),
                    pa.Check(not_reserved, name=f"{RESERVED_CARRIER} is reserved for Ultravox calls "
                             "(`deletedcalls ingest ultravox`); a CDR file may not use it")],
    }
    for c in ("duration", "answerTime"):
        checks[c] = [matches(SECONDS, "must be whole seconds >= 0"),
                     digits_at_most(SECONDS, SECONDS_DIGITS, f"too large: at most {SECONDS_DIGITS} digits")]
    money = "must be pence >= 0 with at most 4 decimal places"
    for c in COST_COLUMNS:
        checks[c] = [matches(MONEY, money),
                     digits_at_most(MONEY, MONEY_DIGITS, f"too large: at most {MONEY_DIGITS} digits before the point")]
    for c in text_columns:
        checks[c] = [matches(TEXT, "must be text without control characters")]
    columns = {
        name: pa.Column(pl.String, checks=checks.get(name, []), nullable=not required)
        for name, required in CDR_COLUMNS.items()
    }
    return pa.DataFrameSchema(columns, strict=False, coerce=False, name="CDR record")


def rejection_reasons(frame: pl.DataFrame, text_columns: frozenset[str] = frozenset()) -> dict[int, list[str]]:
    """Validate a text frame; the reasons of each failing row, by 0-based row position.

    `text_columns`: number columns a profile keeps as text (no phone-number rule).
    """
    # The schema first: it imports pandera the one way (pandas hidden, one thread at a
    # time). Importing pandera.errors first, as this did, imported pandera with pandas
    # in this thread while another hid pandas from it: a broken pandas import.
    schema = cdr_schema(text_columns)
    import pandera.errors

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as e:
        return _reasons_by_row(e.failure_cases)
    return {}


def raise_for_broken_checks(failure_cases: pl.DataFrame) -> None:
    """A check that could not run is reported by pandera as a failure of no row, which would let every row
    pass it: raise instead (a bug in the check; the file is rejected with it, never loaded unchecked)."""
    broken = failure_cases.filter(
        pl.col("index").is_null() & (pl.col("schema_context") == "Column") & ~pl.col("check").str.starts_with("dtype(")
    )
    if broken.height:
        column, check, case = broken.row(0)[2], broken.row(0)[3], broken.row(0)[0]
        raise RuntimeError(f"the check {check!r} of {column} could not run: {case}")


def _reasons_by_row(failure_cases: pl.DataFrame) -> dict[int, list[str]]:
    raise_for_broken_checks(failure_cases)
    reasons: dict[int, list[str]] = {}
    cases = failure_cases.filter(pl.col("index").is_not_null())
    for index, column, check, value in cases.select("index", "column", "check", "failure_case").iter_rows():
        if check == "not_nullable":
            text = f"{column}: required"
        else:
            text = f"{column}: {check} (got {value!r})"
        reasons.setdefault(int(index), []).append(text)
    for row_reasons in reasons.values():
        row_reasons.sort(key=lambda r: list(CDR_COLUMNS).index(r.split(":")[0]) if r.split(":")[0] in CDR_COLUMNS else 99)
    return reasons
