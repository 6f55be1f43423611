"""A profile's [map] as polars expressions, and the wall clock → UTC step.

`map_frame` turns a frame of source columns (text, as the file has them) into
the canonical columns as text, so that the pandera schema of SPEC 2.1 checks
the mapped record exactly as it checks a canonical file. A rule that cannot
map a value (a code missing from a value table, money not exact at 4
decimal places of pence, a date not in its format, bytes that are not valid
in the profile's encoding) leaves the value absent and gives a reason naming
the source column and the canonical one; pandera's own reason for that
column of that row is then dropped as a consequence, not a second fault.

Money is moved from pounds to pence by shifting the decimal point in the
text: exact decimal arithmetic, no float and no rounding.

`zoned` gives each call its instant: startDate + startTime in the profile's
zone, converted to UTC, with the spring-forward gap (a time that does not
exist) rejected and the autumn hour (a time that occurs twice) resolved by
`ambiguous`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from deletedcalls.ingest.profiles import (
    CANONICAL,
    DURATION_COLUMNS,
    EPOCH_FORMATS,
    MAJOR_UNITS,
    Profile,
    Rule,
)

UTC_ZONES = ("UTC", "Etc/UTC")
REPLACEMENT = "\ufffd"  # what polars' utf8-lossy reading (and our transcoding) puts for invalid bytes
ERR = "__err_"


def _err(rule: Rule, canonical: str, message: str) -> str:
    return f"{rule.label(canonical)}: {message}"


def _money(src: pl.Expr, rule: Rule, canonical: str) -> tuple[pl.Expr, pl.Expr]:
    """Pounds or pence as text → pence as text, exactly; (value, error).

    A value is exact when nothing but zeros follows the 4th decimal place of pence
    (the 6th of pounds): checked on the text, then the text is read as a decimal of
    that scale (which holds it exactly) and multiplied. Never a float, never rounded.
    A decimal comma (`decimal = ","`) is read as the point; a thousands separator is not
    an amount.
    """
    shown = src
    if rule.decimal == ",":
        src = pl.when(src.str.contains(".", literal=True)).then(pl.lit("x")).otherwise(src.str.replace(",", ".", literal=True))
    shift = 2 if rule.unit in MAJOR_UNITS else 0
    places = 4 + shift
    number = src.str.contains(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
    exact = src.str.contains(rf"^[0-9]*(\.[0-9]{{0,{places}}}0*)?$")
    amount = src.cast(pl.Decimal(38, places), strict=False)
    if shift:
        amount = amount * 10**shift
    value = amount.cast(pl.Decimal(38, 4)).cast(pl.String)
    unit = rule.unit or "pence"
    error = (
        pl.when(src.is_null()).then(None)
        .when(~number | amount.is_null()).then(pl.format(_err(rule, canonical, f"not an amount of {unit} >= 0 (got '{{}}')"), shown))
        .when(~exact).then(pl.format(
            _err(rule, canonical, f"{{}} {unit} cannot be held exactly at 4 decimal places of pence (not rounded)"), shown))
    )
    return pl.when(number & exact).then(value), error


def _duration(src: pl.Expr, rule: Rule, canonical: str) -> tuple[pl.Expr, pl.Expr]:
    """H:MM:SS or M:SS → whole seconds as text; (value, error)."""
    if rule.format == "%H:%M:%S":
        pattern, fmt = r"^([0-9]{1,7}):([0-5][0-9]):([0-5][0-9])$", "H:MM:SS"
    else:
        pattern, fmt = r"^()([0-9]{1,9}):([0-5][0-9])$", "M:SS"
    parts = src.str.extract_groups(pattern)
    hours = parts.struct.field("1").replace("", "0").cast(pl.Int64, strict=False)
    seconds = hours * 3600 + parts.struct.field("2").cast(pl.Int64, strict=False) * 60 + parts.struct.field("3").cast(pl.Int64, strict=False)
    error = pl.when(src.is_not_null() & seconds.is_null()).then(
        pl.format(_err(rule, canonical, f"not a duration {fmt} (got '{{}}')"), src))
    return seconds.cast(pl.String), error


def _epoch(src: pl.Expr, rule: Rule, canonical: str, zone: str) -> tuple[pl.Expr, pl.Expr]:
    """Seconds (or milliseconds) since 1970 UTC → the wall clock in `zone`, as canonical text; (value, error)."""
    whole = src.str.extract(r"^([0-9]{1,15})(\.[0-9]*)?$", 1).cast(pl.Int64, strict=False)
    if rule.format == "epoch_ms":
        whole = whole // 1000
    sane = whole.is_between(0, 253_402_300_799)  # up to 9999-12-31 23:59:59
    local = pl.from_epoch(pl.when(sane).then(whole), time_unit="s").dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    value = local.dt.strftime("%Y-%m-%d" if rule.part == "date" else "%H:%M:%S")
    unit = "milliseconds" if rule.format == "epoch_ms" else "seconds"
    error = pl.when(src.is_not_null() & value.is_null()).then(
        pl.format(_err(rule, canonical, f"not an instant in {unit} since 1970-01-01 UTC (got '{{}}')"), src))
    return value, error


def instant(src: pl.Expr, rule: Rule) -> pl.Expr:
    """The UTC instant of an epoch column (whole seconds), as startedAt."""
    whole = src.str.extract(r"^([0-9]{1,15})(\.[0-9]*)?$", 1).cast(pl.Int64, strict=False)
    if rule.format == "epoch_ms":
        whole = whole // 1000
    sane = whole.is_between(0, 253_402_300_799)
    return pl.from_epoch(pl.when(sane).then(whole), time_unit="s").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _datetime_part(src: pl.Expr, rule: Rule, canonical: str) -> tuple[pl.Expr, pl.Expr | None]:
    fmt = rule.format or ""
    if fmt in ("%Y-%m-%d", "%H:%M:%S"):  # the canonical text already: pandera checks it as it is
        return src, None
    if fmt == "%Y-%m-%d %H:%M:%S":  # slices of a checked shape (Asterisk, FreeSWITCH): no parsing
        shaped = src.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
        part = src.str.slice(0, 10) if rule.part == "date" else src.str.slice(11, 8)
        error = pl.when(src.is_not_null() & ~shaped).then(
            pl.format(_err(rule, canonical, f"not a {rule.part} in the format {fmt} (got '{{}}')"), src))
        return pl.when(shaped).then(part), error
    has_date = any(f"%{d}" in fmt for d in "YymdbBjeDF")
    has_time = any(f"%{d}" in fmt for d in "HIMSTR")
    if has_date and has_time:
        parsed = src.str.to_datetime(fmt, strict=False, time_unit="us")
        value = (parsed.dt.date() if rule.part == "date" else parsed.dt.time()).cast(pl.String)
    elif rule.part == "date":
        value = src.str.to_date(fmt, strict=False).cast(pl.String)
    else:
        value = src.str.to_time(fmt, strict=False).cast(pl.String)
    if rule.part == "time":  # whole seconds, as the canonical record has them
        value = value.str.slice(0, 8)
    error = pl.when(src.is_not_null() & value.is_null()).then(
        pl.format(_err(rule, canonical, f"not a {rule.part} in the format {fmt} (got '{{}}')"), src)
    )
    return value, error


def _codes(src: pl.Expr, rule: Rule, canonical: str) -> tuple[pl.Expr, pl.Expr]:
    table = dict(rule.values or ())
    value = src.replace_strict(table, default=None, return_dtype=pl.String)
    known = ", ".join(table)
    error = pl.when(src.is_not_null() & ~src.is_in(list(table))).then(
        pl.format(_err(rule, canonical, f"unknown code '{{}}' (known: {known})"), src)
    )
    return value, error


def rule_exprs(
    rule: Rule, canonical: str, present: set[str], encoding: str, check_bytes: bool = True, zone: str = "UTC"
) -> tuple[pl.Expr, pl.Expr | None]:
    """(the canonical value as text, an error message or null) for one column of every row.

    `check_bytes` False: the text is known to hold no replaced bytes (it was ASCII).
    `zone`: where an epoch instant's wall clock is shown.
    """
    if rule.value is not None:
        return pl.lit(rule.value, pl.String), None
    if rule.join or rule.first:
        parts = [pl.col(c) for c in (rule.join or rule.first) if c in present]
        if not parts:
            return pl.lit(None, pl.String), None
        if rule.first:
            joined = pl.coalesce(parts)
        else:
            joined = pl.concat_str(parts, separator=rule.sep, ignore_nulls=True)
        whole = pl.when(joined == "").then(None).otherwise(joined)
        if not check_bytes:
            return whole, None
        garbled = pl.any_horizontal(p.str.contains(REPLACEMENT, literal=True) for p in parts)
        message = pl.when(garbled).then(pl.lit(_err(rule, canonical, f"bytes that are not valid {encoding} text")))
        return pl.when(~garbled).then(whole), message
    assert rule.column is not None
    if rule.column not in present:  # an optional column the file lacks: absent
        return pl.lit(rule.default, pl.String), None
    src: pl.Expr = pl.col(rule.column)
    value: pl.Expr
    if rule.default is not None:
        src = src.fill_null(pl.lit(rule.default))
    error: pl.Expr | None = None
    if rule.unit is not None or rule.decimal != ".":
        value, error = _money(src, rule, canonical)
    elif canonical in DURATION_COLUMNS and rule.format not in (None, "seconds"):
        value, error = _duration(src, rule, canonical)
    elif rule.format in EPOCH_FORMATS:
        value, error = _epoch(src, rule, canonical, zone)
    elif rule.format is not None and canonical not in DURATION_COLUMNS:
        value, error = _datetime_part(src, rule, canonical)
    elif rule.values is not None:
        value, error = _codes(src, rule, canonical)
    else:
        value = src
    if not check_bytes:
        return value, error
    bad = pl.col(rule.column).str.contains(REPLACEMENT, literal=True)
    enc = pl.when(bad).then(pl.lit(_err(rule, canonical, f"bytes that are not valid {encoding} text")))
    error = enc if error is None else pl.coalesce(enc, error)
    return pl.when(~bad.fill_null(False)).then(value), error


@dataclass
class Mapped:
    frame: pl.DataFrame  # the canonical columns as text (+ lineNumber when given)
    errors: dict[int, list[tuple[str, str]]]  # row -> [(canonical column, reason)]


def map_frame(frame: pl.DataFrame, profile: Profile, check_bytes: bool = True, zone: str = "UTC") -> Mapped:
    """Map source columns to canonical text columns, with each row's mapping errors.

    `check_bytes` False skips the search for replaced bytes (the caller saw only ASCII).
    A profile whose start comes as an epoch number also gets `startedAt` (the instant
    itself, UTC), and its startDate/startTime are that instant's wall clock in `zone`.
    """
    present = set(frame.columns)
    values, errors = [], []
    for c in CANONICAL:
        rule = profile.rules.get(c)
        if rule is None:
            values.append(pl.lit(None, pl.String).alias(c))
            continue
        value, error = rule_exprs(rule, c, present, profile.encoding, check_bytes, zone)
        values.append(value.alias(c))
        if error is not None:
            errors.append(error.alias(ERR + c))
    if profile.epoch:
        rule = profile.rules["startDate"]
        values.append(instant(pl.col(rule.column), rule).alias("startedAt") if rule.column in present
                      else pl.lit(None, pl.Datetime("us", "UTC")).alias("startedAt"))
    extra = [pl.col("lineNumber")] if "lineNumber" in present else []
    out = frame.lazy().select(*values, *extra, *errors).collect()  # lazy: common subexpressions once
    found: dict[int, list[tuple[str, str]]] = {}
    if errors:
        err_cols = [e.meta.output_name() for e in errors]
        flagged = out.select(pl.any_horizontal(pl.col(err_cols).is_not_null()).alias("bad"))["bad"]
        if flagged.any():
            rows = out.with_row_index("__row").filter(flagged).select("__row", *err_cols)
            for rec in rows.iter_rows(named=True):
                found[int(rec["__row"])] = [(k[len(ERR):], v) for k, v in rec.items() if k != "__row" and v is not None]
        out = out.drop(err_cols)
    return Mapped(out, found)


@dataclass
class Zoned:
    started_at: pl.Series  # UTC instants (null where rejected)
    gap: list[int]  # rows whose wall-clock time does not exist in the zone
    ambiguous: list[int]  # rows whose wall-clock time occurs twice


def zoned(frame: pl.DataFrame, zone: str, ambiguous: str) -> Zoned:
    """startDate + startTime (checked text) in `zone` → UTC instants; the gap and the autumn hour."""
    time = pl.col("startTime")  # checked HH:MM:SS: slices and arithmetic, not a parse
    seconds = time.str.slice(0, 2).cast(pl.Int64) * 3600 + time.str.slice(3, 2).cast(pl.Int64) * 60 + time.str.slice(6, 2).cast(pl.Int64)
    local = pl.col("startDate").str.to_date("%Y-%m-%d").cast(pl.Datetime("us")) + pl.duration(seconds=seconds)
    early = local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    late = local.dt.replace_time_zone(zone, ambiguous="latest", non_existent="null")
    both = frame.lazy().select(early.dt.convert_time_zone("UTC").alias("e"), late.dt.convert_time_zone("UTC").alias("l")).collect()
    gap = both["e"].is_null()
    twice = (both["e"] != both["l"]).fill_null(False)
    chosen = both["l"] if ambiguous == "later" else both["e"]
    if ambiguous == "reject":
        chosen = pl.select(pl.when(pl.lit(twice)).then(None).otherwise(pl.lit(chosen))).to_series()
    return Zoned(
        chosen.alias("startedAt"),
        gap.arg_true().to_list() if gap.any() else [],
        twice.arg_true().to_list() if twice.any() else [],
    )


def gap_reason(date: str, time: str, zone: str, label: str) -> str:
    return f"{label}: {date} {time} does not exist in {zone} (the clocks went forward over it)"


def ambiguous_reason(date: str, time: str, zone: str, label: str) -> str:
    return (f"{label}: {date} {time} occurs twice in {zone} (the clocks went back) "
            "and the profile says ambiguous = \"reject\"")


def time_label(profile: Profile | None) -> str:
    if profile is None:
        return "startDate, startTime"
    d, t = profile.rules["startDate"], profile.rules["startTime"]
    src = [s for s in (*d.sources, *t.sources)]
    uniq = list(dict.fromkeys(src))
    if not uniq or uniq == ["startDate", "startTime"]:
        return "startDate, startTime"
    return f"{', '.join(uniq)} → startDate, startTime"
