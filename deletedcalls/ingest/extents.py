"""What a CDR delivery is to the files already seen: the same, a longer copy of one, a conflict, or new (issue 26).

A switch appends to one file for ever (Asterisk's and FreeSWITCH's ``Master.csv``)
and rotates it now and then (``Master.csv.1``, ``Master.csv-20130612``,
``Master.csv.1.gz``, ``cdr-20130612000000.csv``: a profile's ``[detect] rotated``).
Each load of such a file is one ``cdr_files`` row, an *extent*: the bytes and lines
of the text it read, and ``textSha256``, the SHA-256 of the text from its start to
the extent's end. A delivery is planned against the rows it may relate to
(``sql/ingest/file_history.sql``), in one read of its text from the start that
hashes as it goes (``Delivery.prefix_digests``), so the known part is verified by
its hash, never parsed again, and the load goes on reading from there:

1. Its content was loaded before (under any name): nothing to do. Its content was
   *rejected* before: loaded again when something that decided the rejection changed
   (the profile it would be read with, or that profile's content, or a higher reject
   limit), or with ``--retry``; else nothing to do, saying how to retry.
2. It starts with exactly the bytes of a loaded extent that no later load continues
   (a *head*) of its name, or, for a rotated name, of its profile, and that extent
   ended with a line end: only the records after it load, with their true line
   numbers, as a new extent that continues the head.
3. A head bears its name and it is none of the above: refused, nothing changes.
   (A name is taken only while a head bears it: once ``Master.csv``'s content went on
   under ``Master.csv.1``, a new ``Master.csv`` starts a new file.)
4. Anything else loads whole, as a new file.

``rotation_order`` puts rotated copies before the live file in one command, oldest
first, so that the live file's new content is seen after its old content moved on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from deletedcalls.ingest.delivery import Delivery, inner_name
from deletedcalls.ingest.profiles import Catalog
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import sql


@dataclass(frozen=True)
class Seen:
    """One cdr_files row a delivery may relate to."""

    id: int
    file_name: str
    sha256: str
    text_sha256: str | None
    status: str
    end_byte: int | None
    last_line: int | None
    profile: str | None
    profile_sha256: str | None
    max_reject_ratio: float | None
    reason: str | None
    size: int
    is_head: bool


@dataclass
class Plan:
    """What to do with a delivery: unchanged | conflict | append | load (whole)."""

    kind: str
    message: str = ""
    seen: Seen | None = None  # the row it repeats or conflicts with, or the head it continues
    digest: str | None = None  # the SHA-256 of its whole text, when the plan needed it


def rotating_profiles(catalog: Catalog, path: Path) -> list[str]:
    """The profiles whose [detect] rotated globs the file's name matches (it may continue their growing files)."""
    name = inner_name(path)
    return [p.name for p in catalog.all() if p.rotated_name(name)]


def history(con: duckdb.DuckDBPyConnection, name: str, size: int, profiles: list[str]) -> list[Seen]:
    rows = con.execute(sql("ingest/file_history"), {"name": name, "size": size, "profiles": profiles}).fetchall()
    return [Seen(*r) for r in rows]


def plan(
    seen: list[Seen], text: Delivery, name: str, delivered_sha: str | None, rotating: list[str],
    retry_reason: Callable[[Seen], str | None],
) -> Plan:
    """Decide, reading the text (a Delivery, hashed as read) from its start only as far as the decision needs.

    `delivered_sha`: a compressed delivery's own hash (known already); `rotating`: the
    profiles whose rotated names the file has; `retry_reason(row)`: why a rejected
    row's content should load again now, or None.
    """
    size = text.size
    heads = [s for s in seen if s.status == "loaded" and s.is_head and s.text_sha256 and s.end_byte
             and s.end_byte < size and (s.file_name == name or s.profile in rotating)]
    whole = delivered_sha is None and any(s.size == size or s.end_byte == size for s in seen)
    digests = text.prefix_digests({s.end_byte for s in heads if s.end_byte} | ({size} if whole else set()))
    digest = delivered_sha or digests.get(size)
    text_digest = digests.get(size)
    if digest is not None:
        same = [s for s in seen if s.sha256 == digest or (text_digest and s.text_sha256 == text_digest and s.end_byte == size)]
        loaded = [s for s in same if s.status == "loaded"]
        if loaded:
            s = loaded[-1]
            as_name = "" if s.file_name == name else f" as {s.file_name!r}"
            return Plan("unchanged", f"already ingested{as_name} (loaded, file id {s.id}); nothing to do", s, digest)
        if same:
            s = same[-1]
            why = retry_reason(s)
            if why is None:
                return Plan("unchanged", f"already ingested (rejected: {s.reason}); nothing to do. It loads again with "
                            "--retry, a higher --max-reject-ratio, or another profile (or a changed one)", s, digest)
            return Plan("load", why, s, digest)
    matching = [h for h in heads if h.end_byte and digests.get(h.end_byte) == h.text_sha256]
    if matching:
        head = max(matching, key=lambda h: (h.end_byte or 0, h.id))
        if text.peek(1, (head.end_byte or 1) - 1) == b"\n":
            return Plan("append", f"continues file id {head.id} ({head.file_name}) after byte {head.end_byte}", head, digest)
    for s in seen:
        if s.file_name == name and s.status == "loaded" and s.is_head:
            return Plan(
                "conflict",
                f"a different file of this name was already loaded (id {s.id}, sha256 {s.sha256[:12]}…), and this one does "
                "not start with what was loaded from it; refused, nothing changed. Send corrections under a new file name "
                "(a switch's rotated copy, delivered first, frees the live file's name)",
                s, digest,
            )
    return Plan("load", "", None, digest)


def retry_reason(
    settings: Settings, retry: bool, now: Callable[[], tuple[str | None, str | None]],
) -> Callable[[Seen], str | None]:
    """Why a rejected file's same content should load again now (None: nothing that decided it changed).

    `now()`: the profile the file would be read with now, and its digest.
    """

    def why(s: Seen) -> str | None:
        if retry:
            return "ingested again (--retry)"
        if settings.max_reject_ratio > (0.01 if s.max_reject_ratio is None else s.max_reject_ratio):
            return f"ingested again with a higher reject limit ({settings.max_reject_ratio:.2%}, was {s.max_reject_ratio or 0.01:.2%})"
        profile, profile_sha256 = now()
        if profile != s.profile:
            return f"ingested again with profile {profile} (was {s.profile or 'none'})"
        if profile_sha256 and s.profile_sha256 and profile_sha256 != s.profile_sha256:
            return f"ingested again: profile {profile} changed since"
        return None

    return why


_NUMBERED = re.compile(r"\.([0-9]{1,4})(\.gz|\.zip)?$", re.IGNORECASE)


def rotation_order(paths: list[Path], catalog: Catalog) -> list[Path]:
    """The paths with every rotated copy first (numbered ones oldest first: .2 before .1; others by name), then
    the rest in their given order: a live file's new content comes after its old content moved to a rotated name."""
    globs = [g for p in catalog.all() for g in p.detect_rotated]
    if not globs:
        return paths
    import fnmatch

    def rotated(p: Path) -> bool:
        return any(fnmatch.fnmatch(inner_name(p), g) for g in globs)

    def key(item: tuple[int, Path]) -> tuple[int, int, str, int]:
        i, p = item
        if not rotated(p):
            return (1, 0, "", i)
        m = _NUMBERED.search(p.name)
        return (0, 0, "", -int(m.group(1))) if m else (0, 1, p.name, i)

    return [p for _, p in sorted(enumerate(paths), key=key)]
