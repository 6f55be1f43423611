"""Carrier profiles (SPEC 8): TOML files that map one CDR layout onto the call record.

Built-in profiles are TOML files shipped in the package (`builtin_profiles/`);
user profiles live in `<home>/profiles/NAME.toml` and may `extends` a built-in
(or another user profile): each section's keys override the parent's, and a
`[map]` entry replaces the parent's rule for that column. Every file is
checked before anything is read with it: an unknown key, an unknown
canonical column, a source column the layout does not have, or a bad format
is a usage error (exit 2) naming the file, the key and the nearest valid
name.

Choosing a profile for a file: `--profile NAME`, else a job file's pin
(`[[cdr]] glob`, `profile`), else detection: the profiles whose `[detect]
header` names are all in the file's header line, then those whose
`[detect] filename` glob matches (a headerless profile also needs the first
record to have as many fields as it has columns, which tells an Asterisk
`Master.csv` from a FreeSWITCH one). User profiles win ties. No match is a
rejected file naming the closest profile and what it lacked.

This module imports no polars, duckdb or pandera: the CLI uses it before the
warehouse opens.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import fnmatch
import io
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deletedcalls import logs
from deletedcalls.errors import ConfigError, UsageError
from deletedcalls.trust import check_entry

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_profiles"
BUILTIN_ORDER = ("canonical", "fcs", "asterisk", "freeswitch")

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
    "read": {"header", "columns", "delimiter", "quote", "encoding", "skip_lines", "aliases"},
    "detect": {"header", "filename"},
    "time": {"zone", "ambiguous"},
}
RULE_KEYS = {"value", "column", "format", "part", "unit", "values", "default", "join", "sep"}
DEFAULT_READ: dict[str, Any] = {
    "header": True, "columns": [], "delimiter": ",", "quote": '"', "encoding": "utf-8", "skip_lines": 0, "aliases": {},
}
AMBIGUOUS = ("earlier", "later", "reject")
UNITS = ("pounds", "pence")
PARTS = ("date", "time")
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

    @property
    def sources(self) -> tuple[str, ...]:
        return self.join if self.join else (self.column,) if self.column else ()

    def label(self, canonical: str) -> str:
        """How reasons name the column: `Salesprice → costCDR`, or just `costCDR`."""
        src = self.sources
        if not src or src == (canonical,):
            return canonical
        return f"{' + '.join(src)} → {canonical}"


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

    @property
    def builtin(self) -> bool:
        return self.origin == "built-in"

    @property
    def identity(self) -> bool:
        """The canonical layout read as it is: the fast path of SPEC 2.1 applies unchanged."""
        return (
            self.header and self.delimiter == "," and self.quote == '"' and self.encoding in ("utf-8", "utf8")
            and self.skip_lines == 0 and not self.aliases
            and set(self.rules) == set(CANONICAL)
            and all(r.spec == c for c, r in self.rules.items())
        )

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
    for column, spec in raw.get("map", {}).items():
        if column not in CANONICAL:
            raise _fail(where, f"map.{column}", "not a canonical column", CANONICAL)
        if isinstance(spec, dict):
            for key in spec:
                if key not in RULE_KEYS:
                    raise _fail(where, f"map.{column}.{key}", "unknown key", RULE_KEYS)
        elif not isinstance(spec, str):
            raise _fail(where, f"map.{column}", "must be a source column name or a table")


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in parent.items()}
    out.pop("description", None)
    for key, value in child.items():
        if key in ("read", "detect", "time", "map"):
            out[key] = {**out.get(key, {}), **value}
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
    kinds = [k for k in ("value", "column", "join") if k in spec]
    if len(kinds) != 1:
        raise _fail(where, key, "needs exactly one of column, value or join")
    for k in ("value", "column", "sep", "format", "part", "unit", "default"):
        if k in spec and not isinstance(spec[k], str):
            raise _fail(where, f"{key}.{k}", "must be a string")
    if "value" in spec and set(spec) != {"value"}:
        raise _fail(where, key, "a constant { value = ... } takes no other key")
    join = _str_list(where, f"{key}.join", spec["join"]) if "join" in spec else ()
    if "join" in spec and not join:
        raise _fail(where, f"{key}.join", "must name at least one column")
    if "sep" in spec and "join" not in spec:
        raise _fail(where, f"{key}.sep", "only a join takes sep")
    for s in join or ((spec["column"],) if "column" in spec else ()):
        if sources and s not in sources:
            raise _fail(where, key, f"no source column {s!r} in [read] columns", sources, s)
    fmt, part = spec.get("format"), spec.get("part")
    if part is not None or fmt is not None:
        if column not in ("startDate", "startTime"):
            raise _fail(where, f"{key}.format", "only startDate and startTime take a format")
        part = part or ("date" if column == "startDate" else "time")
        if part not in PARTS:
            raise _fail(where, f"{key}.part", f"must be date or time, not {part!r}", PARTS, part)
        if (part == "date") != (column == "startDate"):
            raise _fail(where, f"{key}.part", f"{column} takes part = {'date' if column == 'startDate' else 'time'}")
        _check_format(where, f"{key}.format", fmt, part)
    unit = spec.get("unit")
    if unit is not None:
        if unit not in UNITS:
            raise _fail(where, f"{key}.unit", f"must be pounds or pence, not {unit!r}", UNITS, unit)
        if not column.startswith("cost"):
            raise _fail(where, f"{key}.unit", "only cost columns take a unit")
    values = spec.get("values")
    if values is not None:
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise _fail(where, f"{key}.values", "must be a table of code = value strings")
        values = tuple((str(k), v) for k, v in values.items())
    return Rule(
        spec, column=spec.get("column"), value=spec.get("value"), join=join, sep=spec.get("sep", ""),
        format=fmt, part=part, unit=unit, values=values, default=spec.get("default"),
    )


def _build(name: str, origin: str, raw: dict[str, Any], where: str) -> Profile:
    read = {**DEFAULT_READ, **raw.get("read", {})}
    if not isinstance(read["header"], bool):
        raise _fail(where, "read.header", "must be true or false")
    columns = _str_list(where, "read.columns", read["columns"])
    for k in ("delimiter", "quote"):
        if not isinstance(read[k], str):
            raise _fail(where, f"read.{k}", "must be a string")
    if len(read["delimiter"]) != 1 or read["delimiter"] in "\r\n":
        raise _fail(where, "read.delimiter", "must be one character")
    if len(read["quote"]) > 1 or read["quote"] in ("\r", "\n") or (read["quote"] and read["quote"] == read["delimiter"]):
        raise _fail(where, "read.quote", "must be one character, or \"\" for none")
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
    rules = {c: _rule(where, c, spec, sources) for c, spec in raw.get("map", {}).items()}
    unmapped = [c for c in REQUIRED if c not in rules]
    if unmapped:
        raise _fail(where, f"map.{unmapped[0]}", "a required column has no rule")
    return Profile(
        name=name, origin=origin, description=raw.get("description", ""), extends=raw.get("extends"),
        header=read["header"], columns=columns, delimiter=read["delimiter"], quote=read["quote"],
        encoding=encoding, skip_lines=skip, aliases=dict(aliases), detect_header=detect_header,
        detect_filename=filename, zone=zone, ambiguous=ambiguous, rules=rules, raw=raw,
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


# ---------------------------------------------------------------- detection


@dataclass
class Detection:
    profile: Profile | None
    why: str  # how it was chosen, or (no match) the closest profile and what it lacked


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


def detect(catalog: Catalog, head: bytes, file_name: str, *, warn: bool = True) -> Detection:
    """The profile whose [detect] matches a file (its first bytes and its name)."""
    if not head.replace(b"\xef\xbb\xbf", b"").strip():
        return Detection(None, "the file is empty")
    candidates: list[tuple[tuple[int, int, int, int], Profile, str]] = []
    misses: list[tuple[float, Profile, str]] = []
    for p in [*(catalog.get(n) for n in catalog.user_names), *(catalog.get(n) for n in BUILTIN_ORDER)]:
        user = 0 if p.builtin else 1
        name_ok = p.detect_filename is not None and fnmatch.fnmatch(file_name, p.detect_filename)
        if p.detect_header:
            names = set(header_names(head, p))
            lacking = [n for n in p.detect_header if n not in names]
            if not lacking and (p.detect_filename is None or name_ok):
                candidates.append(((1, int(name_ok), len(p.detect_header), user), p, "its header names"))
                continue
            if lacking:
                share = 1 - len(lacking) / len(p.detect_header)
                misses.append((share, p, f"the header lacks {', '.join(repr(n) for n in lacking)}"))
            else:
                misses.append((0.9, p, f"the file name does not match {p.detect_filename!r}"))
        elif p.detect_filename is not None:
            if not name_ok:
                misses.append((0.0, p, f"the file name does not match {p.detect_filename!r}"))
                continue
            if not p.header and p.columns:
                found = len(first_fields(head, p))
                if found != len(p.columns):
                    misses.append((0.5, p, f"its first record has {found} fields, not the {len(p.columns)} it lists"))
                    continue
            candidates.append(((0, 1, 0, user), p, f"its file name ({p.detect_filename})"))
    if candidates:
        candidates.sort(key=lambda c: c[0], reverse=True)  # stable: of equals, the first by name
        rank, p, why = candidates[0]
        tied = [c[1].name for c in candidates[1:] if c[0] == rank]
        if tied and warn:
            logs.warning(f"{file_name}: profiles {', '.join(repr(n) for n in [p.name, *tied])} tie: they match it equally ({why}); "
                         f"{p.name!r} was chosen, the first by name: give their [detect] sections something that tells them "
                         "apart, or pin one (--profile, a job's [[cdr]])", stage="profiles", profiles=[p.name, *tied])
        return Detection(p, f"detected by {why}")
    if not misses:
        return Detection(None, "no profile matches and none has a [detect] section")
    share, p, lacked = max(misses, key=lambda m: m[0])
    return Detection(None, f"no profile matches; the closest is {p.name!r}: {lacked}")


def choose(
    catalog: Catalog, head: bytes, file_name: str, *, profile: str | None = None,
    pins: tuple[tuple[str, str], ...] = (), warn: bool = True,
) -> Detection:
    """--profile, else the first job pin whose glob matches the file name, else detection (`warn`: of a tie)."""
    if profile:
        return Detection(catalog.get(profile), "named by --profile")
    for glob, name in pins:
        if fnmatch.fnmatch(file_name, glob):
            return Detection(catalog.get(name), f"pinned by the job to {glob!r}")
    return detect(catalog, head, file_name, warn=warn)


def early_layout(home: Path | None, path: Path, profile: str | None, zone: str) -> tuple[Profile, str] | None:
    """The profile and zone a file will be read with, if known before the warehouse opens.

    The CLI starts reading the first file with it while it imports and opens the
    warehouse; the load takes that reading only if it chose the same. Anything
    unusual (an error, a compressed file, no match) says None: the ingest itself
    then reports it properly.
    """
    try:
        import stat

        if path.name.lower().endswith((".gz", ".zip")) or not stat.S_ISREG(os.stat(path).st_mode):
            return None  # a FIFO or device is never opened here (it could block): the load refuses it
        catalog = Catalog(home)
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
        p = choose(catalog, head, path.name, profile=profile, warn=False).profile  # the load warns
        return None if p is None else (p, p.zone_for(zone))
    except Exception:
        return None


# ---------------------------------------------------------------- showing


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
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
    out += [f"delimiter = {_toml_value(p.delimiter)}", f"quote = {_toml_value(p.quote)}",
            f"encoding = {_toml_value(p.encoding)}", f"skip_lines = {p.skip_lines}"]
    if p.aliases:
        out.append(f"aliases = {_toml_value(p.aliases)}")
    out += ["", "[detect]"]
    if p.detect_header:
        out.append(f"header = {_toml_value(list(p.detect_header))}")
    if p.detect_filename:
        out.append(f"filename = {_toml_value(p.detect_filename)}")
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
