"""Carrier profiles (SPEC 8): TOML files that map one CDR layout onto the call record.

Built-in profiles are TOML files shipped in the package (`builtin_profiles/`);
user profiles live in `<home>/profiles/NAME.toml` and may `extends` a built-in
(or another user profile): each section's keys override the parent's, and a
`[map]` entry replaces the parent's rule for that column. Every file is
checked before anything is read with it: an unknown key, an unknown
canonical column, a source column the layout does not have, or a bad format
is a usage error (exit 2) naming the file, the key and the nearest valid
name.

Choosing a profile for a file (`--profile`, a job's pin, detection) is
`detection.py`'s.

This module imports no polars, duckdb or pandera: the CLI uses it before the
warehouse opens.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import fnmatch
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deletedcalls.errors import ConfigError, UsageError
from deletedcalls.trust import check_entry

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_profiles"
BUILTIN_ORDER = ("canonical", "fcs", "asterisk", "asterisk-basic", "asterisk-newcdr", "asterisk-custom", "freeswitch",
                 "freepbx", "freepbx-tsv", "cucm", "3cx")

# The canonical columns (SPEC 2.1), in the calls table's order; kept here rather than
# imported from schemas so that this module stays light.
CANONICAL = (
    "target", "extension", "external", "terminationNumber", "locationCarrier", "callTypeDirectionFlag",
    "chargeBand", "callTypeOriginationTypeFlag", "callTypeRecordingFlag", "startDate", "startTime",
    "tariffTime", "duration", "answerTime", "costCDR", "costSuggestedRetail", "costCDRBasic",
    "costCDRAccessCharge", "costCDRSurchargeMobileOrigination", "costCDRSurchargePayphoneOrigination",
    "costCDRSurchargeCallRecording", "carrier", "callCarrier", "carrierCallID",
)
REQUIRED = ("target", "callTypeDirectionFlag", "callTypeRecordingFlag", "startDate", "startTime",
            "duration", "costCDR", "carrier", "carrierCallID")

KEYS: dict[str, set[str]] = {
    "": {"extends", "description", "read", "detect", "time", "map"},
    "read": {"header", "columns", "delimiter", "separator", "quote", "encoding", "skip_lines", "aliases", "grows",
             "null_values", "skip_records"},
    "detect": {"header", "filename", "rotated"},
    "time": {"zone", "ambiguous"},
}
RULE_KEYS = {"value", "column", "format", "part", "unit", "values", "default", "join", "sep", "first", "kind", "decimal"}
DEFAULT_READ: dict[str, Any] = {
    "header": True, "columns": [], "delimiter": ",", "quote": '"', "encoding": "utf-8", "skip_lines": 0, "aliases": {},
    "grows": False, "null_values": [], "skip_records": None,
}
AMBIGUOUS = ("earlier", "later", "reject")
# money: pounds (a currency's major unit: x 100) or pence (its minor unit); major and minor say it for any currency
UNITS = ("pounds", "pence", "major", "minor")
MAJOR_UNITS = ("pounds", "major")
PARTS = ("date", "time")
# instants as numbers: seconds or milliseconds since 1970-01-01 UTC (startDate and startTime show them in the zone)
EPOCH_FORMATS = ("epoch", "epoch_ms")
# how a duration is written: whole seconds (the default), or hours:minutes:seconds / minutes:seconds
DURATION_FORMATS = ("seconds", "%H:%M:%S", "%M:%S")
DURATION_COLUMNS = ("duration", "answerTime")
# the columns that hold a phone number (SPEC 2.1); a rule's kind = "text" keeps a PBX's value as text instead
NUMBER_COLUMNS = ("target", "external", "terminationNumber")
KINDS = ("phone", "text")
# separators a profile may name: one ASCII character that is not a letter, a digit, a quote or a line end
SEPARATOR_CHARS = {chr(c) for c in range(1, 128)} - set("\r\n\"'") - {chr(c) for c in range(48, 58)} - {
    chr(c) for c in range(65, 91)} - {chr(c) for c in range(97, 123)}
# strftime directives a date/time rule may use (what polars' parser understands)
DIRECTIVES = set("YymdbBhHIMSpjfaAeTDFR%") | {".f"}
DATE_DIRECTIVES = set("YymdbBhjeDFaA")
TIME_DIRECTIVES = set("HIMSpfTR")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# the longest chain of profiles that extend one another (each built at start-up: a chain costs its length squared)
MAX_EXTENDS = 16


@dataclass(frozen=True)
class Rule:
    """How one canonical column is made from a record (one [map] entry)."""

    spec: Any  # the entry as written: a source column name, or a table
    column: str | None = None
    value: str | None = None
    join: tuple[str, ...] = ()
    sep: str = ""
    format: str | None = None
    part: str | None = None
    unit: str | None = None
    values: tuple[tuple[str, str], ...] | None = None
    default: str | None = None
    first: tuple[str, ...] = ()  # the first of these columns that is not empty
    kind: str | None = None  # phone | text, for the number columns (None: phone)
    decimal: str = "."  # the decimal mark of an amount

    @property
    def sources(self) -> tuple[str, ...]:
        return self.join or self.first or ((self.column,) if self.column else ())

    def label(self, canonical: str) -> str:
        """How reasons name the column: `Salesprice → costCDR`, or just `costCDR`."""
        src = self.sources
        if not src or src == (canonical,):
            return canonical
        return f"{(' | ' if self.first else ' + ').join(src)} → {canonical}"


@dataclass(frozen=True)
class Profile:
    """One layout, fully resolved (extends applied)."""

    name: str
    origin: str  # "built-in" or the file it came from
    description: str
    extends: str | None
    header: bool
    columns: tuple[str, ...]
    delimiter: str
    quote: str
    encoding: str
    skip_lines: int
    aliases: dict[str, str]
    detect_header: tuple[str, ...]
    detect_filename: str | None
    zone: str | None  # None: the warehouse's [ingest] zone
    ambiguous: str
    rules: dict[str, Rule]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    detect_rotated: tuple[str, ...] = ()  # globs of the names a rotated copy of the file takes (Master.csv.1)
    grows: bool = False  # the switch appends to the file: a last line without its line end waits for the next run
    null_values: tuple[str, ...] = ()  # values that mean absent, besides an empty field (NULL, \N)
    skip_records: tuple[str, tuple[str, ...]] | None = None  # (column, values): records that are not calls

    @property
    def builtin(self) -> bool:
        return self.origin == "built-in"

    @property
    def identity(self) -> bool:
        """The canonical layout read as it is: the fast path of SPEC 2.1 applies unchanged."""
        return (
            self.header and self.delimiter == "," and self.quote == '"' and self.encoding in ("utf-8", "utf8")
            and self.skip_lines == 0 and not self.aliases and not self.null_values and self.skip_records is None
            and set(self.rules) == set(CANONICAL)
            and all(r.spec == c for c, r in self.rules.items())
        )

    @property
    def text_columns(self) -> frozenset[str]:
        """The number columns this profile keeps as text (kind = "text"): no phone-number rule for them."""
        return frozenset(c for c, r in self.rules.items() if r.kind == "text")

    @property
    def epoch(self) -> bool:
        """Whether the start instant comes as a number (epoch seconds or milliseconds, UTC)."""
        rule = self.rules.get("startDate")
        return rule is not None and rule.format in EPOCH_FORMATS

    def digest(self, zone: str) -> str:
        """A SHA-256 of everything that decides how a file reads with this profile (its resolved TOML and zone)."""
        import hashlib

        return hashlib.sha256((as_toml(self) + "\nzone=" + zone).encode("utf-8")).hexdigest()

    def matches_name(self, file_name: str) -> bool:
        """Whether [detect] filename, or one of the rotated names, matches the file name."""
        globs = ((self.detect_filename,) if self.detect_filename else ()) + self.detect_rotated
        return any(fnmatch.fnmatch(file_name, g) for g in globs)

    def rotated_name(self, file_name: str) -> bool:
        return any(fnmatch.fnmatch(file_name, g) for g in self.detect_rotated)

    def zone_for(self, warehouse_zone: str) -> str:
        return self.zone or warehouse_zone

    def source_columns(self) -> list[str]:
        """Every source column some rule reads, in first-use order."""
        seen: dict[str, None] = {}
        for rule in self.rules.values():
            for s in rule.sources:
                seen.setdefault(s, None)
        return list(seen)


# ---------------------------------------------------------------- loading and checking


def _nearest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _fail(where: str, key: str, message: str, choices: Any = (), word: str | None = None) -> ConfigError:
    """One line: the file, the key, what is wrong, and the nearest valid name (to `word`, else the key)."""
    near = _nearest(word if word is not None else key.rpartition(".")[2], choices) if choices else ""
    return ConfigError(f"{where}: {key}: {message}{near}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is no error
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    except RecursionError:  # arrays or tables nested thousands deep: Python's TOML parser recurses
        raise ConfigError(f"{path}: nested too deeply to be a profile (a profile's values are at most a table of strings)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot be read: {e}") from e


def _check_keys(where: str, raw: dict[str, Any]) -> None:
    """Unknown sections and keys, and the type of each value, of one file as written."""
    for key, value in raw.items():
        if key not in KEYS[""]:
            raise _fail(where, key, "unknown key", KEYS[""])
        if key in ("read", "detect", "time", "map") and not isinstance(value, dict):
            raise _fail(where, key, "must be a table ([" + key + "])")
        if key in ("extends", "description") and not isinstance(value, str):
            raise _fail(where, key, "must be a string")
    for section in ("read", "detect", "time"):
        for key in raw.get(section, {}):
            if key not in KEYS[section]:
                raise _fail(where, f"{section}.{key}", "unknown key", KEYS[section])
    if "delimiter" in raw.get("read", {}) and "separator" in raw.get("read", {}):
        raise _fail(where, "read.separator", "give separator or delimiter, not both (they are the same setting)")
    for column, spec in raw.get("map", {}).items():
        if column not in CANONICAL:
            raise _fail(where, f"map.{column}", "not a canonical column", CANONICAL)
        if isinstance(spec, dict):
            for key in spec:
                if key not in RULE_KEYS:
                    raise _fail(where, f"map.{column}.{key}", "unknown key", RULE_KEYS)
        elif spec is not False and not isinstance(spec, str):
            raise _fail(where, f"map.{column}", "must be a source column name, a table, or false (no rule: the column is absent)")


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in parent.items()}
    out.pop("description", None)
    for key, value in child.items():
        if key in ("read", "detect", "time", "map"):
            inherited = dict(out.get(key, {}))
            if key == "read":  # separator and delimiter are one setting: the child's replaces the parent's
                for a, b in (("separator", "delimiter"), ("delimiter", "separator")):
                    if a in value:
                        inherited.pop(b, None)
            out[key] = {**inherited, **value}
        else:
            out[key] = value
    return out


def _str_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, key, "must be a list of strings")
    return tuple(value)


def _check_format(where: str, key: str, fmt: Any, part: str) -> None:
    if not isinstance(fmt, str) or not fmt:
        raise _fail(where, key, "must be a strftime format such as '%d/%m/%Y'")
    found = re.findall(r"%(\.f|.)", fmt)
    for d in found:
        if d not in DIRECTIVES:
            raise _fail(where, key, f"bad format {fmt!r}: unknown directive %{d}")
    needs = DATE_DIRECTIVES if part == "date" else TIME_DIRECTIVES
    if not any(d in needs for d in found):
        raise _fail(where, key, f"bad format {fmt!r}: it holds no {part}")


def _rule(where: str, column: str, spec: Any, sources: tuple[str, ...]) -> Rule:
    key = f"map.{column}"
    if isinstance(spec, str):
        if sources and spec not in sources:
            raise _fail(where, key, f"no source column {spec!r} in [read] columns", sources, spec)
        return Rule(spec, column=spec)
    kinds = [k for k in ("value", "column", "join", "first") if k in spec]
    if len(kinds) != 1:
        raise _fail(where, key, "needs exactly one of column, value, join or first")
    for k in ("value", "column", "sep", "format", "part", "unit", "default", "kind", "decimal"):
        if k in spec and not isinstance(spec[k], str):
            raise _fail(where, f"{key}.{k}", "must be a string")
    if "value" in spec and set(spec) != {"value"}:
        raise _fail(where, key, "a constant { value = ... } takes no other key")
    join = _str_list(where, f"{key}.join", spec["join"]) if "join" in spec else ()
    first = _str_list(where, f"{key}.first", spec["first"]) if "first" in spec else ()
    if ("join" in spec and not join) or ("first" in spec and not first):
        raise _fail(where, f"{key}.{kinds[0]}", "must name at least one column")
    if "sep" in spec and "join" not in spec:
        raise _fail(where, f"{key}.sep", "only a join takes sep")
    for s in join or first or ((spec["column"],) if "column" in spec else ()):
        if sources and s not in sources:
            raise _fail(where, key, f"no source column {s!r} in [read] columns", sources, s)
    fmt, part = spec.get("format"), spec.get("part")
    if column in DURATION_COLUMNS and fmt is not None:
        if fmt not in DURATION_FORMATS or part is not None:
            raise _fail(where, f"{key}.format", f"a duration is written {', '.join(map(repr, DURATION_FORMATS))}, not {fmt!r}",
                        DURATION_FORMATS, fmt)
    elif part is not None or fmt is not None:
        if column not in ("startDate", "startTime"):
            raise _fail(where, f"{key}.format", "only startDate, startTime, duration and answerTime take a format")
        part = part or ("date" if column == "startDate" else "time")
        if part not in PARTS:
            raise _fail(where, f"{key}.part", f"must be date or time, not {part!r}", PARTS, part)
        if (part == "date") != (column == "startDate"):
            raise _fail(where, f"{key}.part", f"{column} takes part = {'date' if column == 'startDate' else 'time'}")
        if fmt not in EPOCH_FORMATS:
            _check_format(where, f"{key}.format", fmt, part)
    unit = spec.get("unit")
    if unit is not None:
        if unit not in UNITS:
            raise _fail(where, f"{key}.unit", f"must be one of {', '.join(UNITS)}, not {unit!r}", UNITS, unit)
        if not column.startswith("cost"):
            raise _fail(where, f"{key}.unit", "only cost columns take a unit")
    decimal = spec.get("decimal", ".")
    if decimal not in (".", ","):
        raise _fail(where, f"{key}.decimal", "must be \".\" or \",\" (the decimal mark)")
    if "decimal" in spec and not column.startswith("cost"):
        raise _fail(where, f"{key}.decimal", "only cost columns take a decimal mark")
    kind = spec.get("kind")
    if kind is not None:
        if kind not in KINDS:
            raise _fail(where, f"{key}.kind", f"must be phone or text, not {kind!r}", KINDS, kind)
        if column not in NUMBER_COLUMNS:
            raise _fail(where, f"{key}.kind", f"only {', '.join(NUMBER_COLUMNS)} take a kind (the other columns are text)")
    values = spec.get("values")
    if values is not None:
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise _fail(where, f"{key}.values", "must be a table of code = value strings")
        values = tuple((str(k), v) for k, v in values.items())
    return Rule(
        spec, column=spec.get("column"), value=spec.get("value"), join=join, sep=spec.get("sep", ""),
        format=fmt, part=part, unit=unit, values=values, default=spec.get("default"), first=first, kind=kind,
        decimal=decimal,
    )


def _separator(where: str, read: dict[str, Any]) -> str:
    key = "read.separator" if "separator" in read else "read.delimiter"
    sep = read.get("separator", read["delimiter"])
    if not isinstance(sep, str):
        raise _fail(where, key, "must be a string")
    if len(sep) != 1 or sep not in SEPARATOR_CHARS:
        raise _fail(where, key, f"must be one character such as \",\", \";\", \"|\" or \"\\t\" (tab), not {sep!r}")
    return sep


def _skip_records(where: str, spec: Any) -> tuple[str, tuple[str, ...]] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) != {"column", "values"} or not isinstance(spec["column"], str):
        raise _fail(where, "read.skip_records", 'must be { column = "NAME", values = ["...", ...] }')
    return spec["column"], _str_list(where, "read.skip_records.values", spec["values"])


def _build(name: str, origin: str, raw: dict[str, Any], where: str) -> Profile:
    read = {**DEFAULT_READ, **raw.get("read", {})}
    if not isinstance(read["header"], bool):
        raise _fail(where, "read.header", "must be true or false")
    columns = _str_list(where, "read.columns", read["columns"])
    separator = _separator(where, read)
    if not isinstance(read["quote"], str):
        raise _fail(where, "read.quote", "must be a string")
    if len(read["quote"]) > 1 or read["quote"] in ("\r", "\n") or (read["quote"] and read["quote"] == separator):
        raise _fail(where, "read.quote", "must be one character, or \"\" for none")
    if not isinstance(read["grows"], bool):
        raise _fail(where, "read.grows", "must be true or false")
    null_values = _str_list(where, "read.null_values", read["null_values"])
    skip_records = _skip_records(where, read["skip_records"])
    encoding = read["encoding"]
    try:
        if not isinstance(encoding, str) or codecs.lookup(encoding).name not in ("utf-8", "cp1252", "iso8859-1", "ascii", "iso8859-15"):
            raise LookupError
    except LookupError:
        raise _fail(where, "read.encoding", f"unsupported encoding {encoding!r}", ["utf-8", "cp1252", "latin-1"], str(encoding)) from None
    skip = read["skip_lines"]
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise _fail(where, "read.skip_lines", "must be a whole number >= 0")
    aliases = read["aliases"]
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise _fail(where, "read.aliases", "must be a table of alias = column name strings")
    if not read["header"] and not columns:
        raise _fail(where, "read.columns", "a profile with header = false must list its columns")
    if len(set(columns)) != len(columns):
        raise _fail(where, "read.columns", "names a column twice")
    detect = raw.get("detect", {})
    detect_header = _str_list(where, "detect.header", detect.get("header", []))
    filename = detect.get("filename")
    if filename is not None and not isinstance(filename, str):
        raise _fail(where, "detect.filename", "must be a glob string")
    rotated = detect.get("rotated", [])
    rotated = _str_list(where, "detect.rotated", [rotated] if isinstance(rotated, str) else rotated)
    time = raw.get("time", {})
    zone = time.get("zone")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise _fail(where, "time.zone", f"unknown time zone {zone!r}") from None
    ambiguous = time.get("ambiguous", "earlier")
    if ambiguous not in AMBIGUOUS:
        raise _fail(where, "time.ambiguous", f"must be earlier, later or reject, not {ambiguous!r}", AMBIGUOUS, str(ambiguous))
    sources = columns
    rules = {c: _rule(where, c, spec, sources) for c, spec in raw.get("map", {}).items() if spec is not False}
    d, t = rules.get("startDate"), rules.get("startTime")
    if d and t and (d.format in EPOCH_FORMATS) != (t.format in EPOCH_FORMATS):
        raise _fail(where, "map.startTime.format", "an epoch instant gives startDate and startTime both: "
                    "map both from one column with the same format")
    if d and t and d.format in EPOCH_FORMATS and (d.format != t.format or d.sources != t.sources):
        raise _fail(where, "map.startTime.format", "map startDate and startTime from one epoch column with one format")
    unmapped = [c for c in REQUIRED if c not in rules]
    if unmapped:
        raise _fail(where, f"map.{unmapped[0]}", "a required column has no rule")
    return Profile(
        name=name, origin=origin, description=raw.get("description", ""), extends=raw.get("extends"),
        header=read["header"], columns=columns, delimiter=separator, quote=read["quote"],
        encoding=encoding, skip_lines=skip, aliases=dict(aliases), detect_header=detect_header,
        detect_filename=filename, zone=zone, ambiguous=ambiguous, rules=rules, raw=raw, detect_rotated=rotated,
        grows=read["grows"], null_values=null_values, skip_records=skip_records,
    )


class Catalog:
    """Every profile a warehouse knows: the built-ins, then `<home>/profiles/*.toml`."""

    def __init__(self, home: Path | None) -> None:
        self._raw: dict[str, tuple[dict[str, Any], str]] = {}
        for name in BUILTIN_ORDER:
            path = BUILTIN_DIR / f"{name}.toml"
            raw = _read_toml(path)
            _check_keys(str(path), raw)
            self._raw[name] = (raw, "built-in")
        self.user_names: list[str] = []
        folder = home / "profiles" if home else None
        if folder is not None and folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                check_entry(path, regular=True)  # a profile decides what every matching delivery loads as (trust.py)
                name = path.stem
                if not NAME.match(name):
                    raise ConfigError(f"{path}: a profile's file name must be letters, digits, '.', '_' or '-'")
                if name in BUILTIN_ORDER:
                    raise ConfigError(f"{path}: {name!r} is a built-in profile; name yours otherwise and write extends = {name!r}")
                raw = _read_toml(path)
                _check_keys(str(path), raw)
                self._raw[name] = (raw, str(path))
                self.user_names.append(name)
        self._built: dict[str, Profile] = {}
        for name in self._raw:  # every profile is checked now, not when a file first needs it
            self.get(name)

    @property
    def names(self) -> list[str]:
        return [*BUILTIN_ORDER, *self.user_names]

    def _resolved(self, name: str) -> dict[str, Any]:
        """The profile as written, merged onto what it extends, and that onto what it extends, ..."""
        chain = [name]
        while (parent := self._raw[chain[-1]][0].get("extends")) is not None:
            origin = self._raw[chain[-1]][1]
            if parent not in self._raw:
                raise _fail(origin, "extends", f"no profile {parent!r}", self._raw, parent)
            if parent in chain:
                raise _fail(origin, "extends", f"profiles extend each other in a circle ({' → '.join((*chain, parent))})")
            if len(chain) > MAX_EXTENDS:
                raise _fail(self._raw[name][1], "extends", f"extends a chain of more than {MAX_EXTENDS} profiles; "
                            "extend a profile nearer a built-in one")
            chain.append(parent)
        merged = self._raw[chain[-1]][0]
        for child in reversed(chain[:-1]):
            merged = _merge(merged, self._raw[child][0])
        return merged

    def get(self, name: str) -> Profile:
        if name not in self._built:
            if name not in self._raw:
                raise UsageError(f"no profile {name!r} (profiles list shows them){_nearest(name, self._raw)}")
            origin = self._raw[name][1]
            self._built[name] = _build(name, origin, self._resolved(name), origin)
        return self._built[name]

    def all(self) -> list[Profile]:
        return [self.get(n) for n in self.names]


# ---------------------------------------------------------------- a file's first fields


def first_fields(head: bytes, profile: Profile) -> list[str]:
    """The fields of the first record after skip_lines (the header, for a header profile)."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    lines = head.split(b"\n", profile.skip_lines)
    rest = lines[-1] if len(lines) > profile.skip_lines else b""
    text = rest.decode(profile.encoding, errors="replace")
    opts: dict[str, Any] = {"delimiter": profile.delimiter}
    if profile.quote:
        opts["quotechar"] = profile.quote
    else:
        opts["quoting"] = csv.QUOTE_NONE
    try:
        row = next(csv.reader(io.StringIO(text, newline=""), **opts), [])
    except csv.Error:
        return []
    return [f.strip() for f in row]


def header_names(head: bytes, profile: Profile) -> list[str]:
    return [profile.aliases.get(n, n) for n in first_fields(head, profile)]




# ---------------------------------------------------------------- showing


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        text = v.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
        # other control characters (a separator may be one) are not allowed raw in a TOML string
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 32 or ord(c) == 127 else c for c in text) + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def _toml_key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else _toml_value(k)


def as_toml(p: Profile) -> str:
    """The profile, resolved (extends applied), in the TOML format of SPEC 8."""
    out = [f"# profile {p.name} ({'built-in' if p.builtin else p.origin})"]
    if p.extends:
        out.append(f"extends = {_toml_value(p.extends)}")
    out.append(f"description = {_toml_value(p.description)}")
    out += ["", "[read]", f"header = {_toml_value(p.header)}"]
    if p.columns:
        out.append(f"columns = {_toml_value(list(p.columns))}")
    out += [f"separator = {_toml_value(p.delimiter)}", f"quote = {_toml_value(p.quote)}",
            f"encoding = {_toml_value(p.encoding)}", f"skip_lines = {p.skip_lines}"]
    if p.aliases:
        out.append(f"aliases = {_toml_value(p.aliases)}")
    if p.grows:
        out.append("grows = true")
    if p.null_values:
        out.append(f"null_values = {_toml_value(list(p.null_values))}")
    if p.skip_records:
        out.append(f"skip_records = {_toml_value({'column': p.skip_records[0], 'values': list(p.skip_records[1])})}")
    out += ["", "[detect]"]
    if p.detect_header:
        out.append(f"header = {_toml_value(list(p.detect_header))}")
    if p.detect_filename:
        out.append(f"filename = {_toml_value(p.detect_filename)}")
    if p.detect_rotated:
        out.append(f"rotated = {_toml_value(list(p.detect_rotated))}")
    out += ["", "[time]"]
    if p.zone:
        out.append(f"zone = {_toml_value(p.zone)}")
    else:
        out.append("# zone: the warehouse's [ingest] zone (config.toml), default UTC")
    out += [f"ambiguous = {_toml_value(p.ambiguous)}", "", "[map]"]
    for c in CANONICAL:
        if c in p.rules:
            out.append(f"{c} = {_toml_value(p.rules[c].spec)}")
    return "\n".join(out) + "\n"
