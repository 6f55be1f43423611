"""Choosing a CDR file's profile (SPEC 8): --profile, a job's pin, else detection by header names and file name.

Detection: the profiles whose `[detect] header` names are all in the file's
header line, then those whose `[detect] filename` (or `rotated`) glob matches
the file name (a headerless profile also needs the first record to have as
many fields as it lists, and its start time where the profile has it: this
tells an Asterisk `Master.csv` from a FreeSWITCH one, and cdr_csv's layouts
from cdr_custom's). User profiles win ties. No match is a rejected file
naming the closest profile, what it lacked, and the separator that would
split a header read as one field.

Like profiles.py, this module imports no polars, duckdb or pandera.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from deletedcalls import logs
from deletedcalls.ingest.profiles import (
    BUILTIN_ORDER,
    EPOCH_FORMATS,
    Catalog,
    Profile,
    first_fields,
    header_names,
)


@dataclass
class Detection:
    profile: Profile | None
    why: str  # how it was chosen, or (no match) the closest profile and what it lacked


def _unshaped_start(p: Profile, fields: list[str]) -> str | None:
    """Why the first record's start time is not in the profile's format (two headerless layouts of one field count
    are told apart by where their start time is), or None."""
    from datetime import datetime

    rule = p.rules.get("startDate")
    if rule is None or rule.column not in p.columns or not rule.format:
        return None
    value = fields[p.columns.index(rule.column)]
    if not value:
        return None
    if rule.format in EPOCH_FORMATS:
        ok = value.replace(".", "", 1).isdigit()
    else:
        try:
            datetime.strptime(value, rule.format)
            ok = True
        except ValueError:
            ok = False
    return None if ok else f"its first record's {rule.column} ({value!r}) is not a time in the format {rule.format}"


def separator_hint(head: bytes, profile: Profile | None = None) -> str:
    """For a header read as one field: the separator that would split it ("; ..."), or ""."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    skip = profile.skip_lines if profile else 0
    lines = head.split(b"\n", skip + 1)
    line = (lines[skip] if len(lines) > skip else b"").rstrip(b"\r").decode("utf-8", "replace")
    current = profile.delimiter if profile else ","
    if line.count(current) > 0:
        return ""
    for sep, name in ((";", "';'"), ("\t", "'\\t' (tab)"), ("|", "'|'")):
        n = line.count(sep)
        if n:
            return (f"; the header is one field with {current!r} as the separator, but splits into {n + 1} on {name}: "
                    f"a profile with [read] separator = {name.split()[0]} reads it (extends = the closest profile)")
    return ""


def _split_elsewhere(catalog: Catalog, head: bytes) -> tuple[float, Profile, str] | None:
    """For a header read as one field: the header profile whose names it holds when split on ';', tab or '|'.

    That profile, not one that merely counts fields, is the one to extend with the other separator.
    """
    from dataclasses import replace

    best: tuple[float, Profile, str] | None = None
    for p in [*(catalog.get(n) for n in catalog.user_names), *(catalog.get(n) for n in BUILTIN_ORDER)]:
        if not p.detect_header or len(first_fields(head, p)) > 1:
            continue
        for sep in (";", "\t", "|"):
            fields = header_names(head, replace(p, delimiter=sep))
            names = set(fields)
            if len(names) < 2:
                continue
            share = sum(n in names for n in p.detect_header) / len(p.detect_header)
            if share >= 0.5 and (best is None or share > best[0]):
                sep_text = "'\\t'" if sep == "\t" else repr(sep)
                best = (share, p, f"its header names are there when the header splits into {len(fields)} on {sep_text}, not on "
                        f"{p.delimiter!r}: a profile of yours with extends = {p.name!r} and [read] separator = "
                        f"{sep_text} reads it")
    return best


def detect(catalog: Catalog, head: bytes, file_name: str, *, warn: bool = True) -> Detection:
    """The profile whose [detect] matches a file (its first bytes and its name)."""
    if not head.replace(b"\xef\xbb\xbf", b"").strip():
        return Detection(None, "the file is empty")
    candidates: list[tuple[tuple[int, int, int, int], Profile, str]] = []
    misses: list[tuple[float, Profile, str]] = []
    for p in [*(catalog.get(n) for n in catalog.user_names), *(catalog.get(n) for n in BUILTIN_ORDER)]:
        user = 0 if p.builtin else 1
        name_ok = p.matches_name(file_name)
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
                fields = first_fields(head, p)
                if len(fields) != len(p.columns):
                    share = 0.1 if p.detect_filename == "*" else 0.5  # a profile for any name is rarely the closest
                    misses.append((share, p, f"its first record has {len(fields)} fields, not the {len(p.columns)} it lists"))
                    continue
                odd = _unshaped_start(p, fields)
                if odd:
                    misses.append((0.6, p, odd))
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
    elsewhere = _split_elsewhere(catalog, head)
    if elsewhere:
        return Detection(None, f"no profile matches; the closest is {elsewhere[1].name!r}: {elsewhere[2]}")
    share, p, lacked = max(misses, key=lambda m: m[0])
    return Detection(None, f"no profile matches; the closest is {p.name!r}: {lacked}{separator_hint(head, p)}")


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
