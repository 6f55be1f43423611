"""``dr drill``: prove that recovery works, once a month, for a scheduler (SPEC 11).

For each target: take its newest archive (with a warehouse, the newest one the
warehouse recorded on that target, so a missing object is found; without, the
newest manifest on the target), restore it into a temporary DuckDB file in a
private temporary folder (as ``dr restore`` does: SHA-256 against the
manifest and the record, decrypt with the keyring, rows, id range and content
checksum against the manifest), then remove it. The report has one line per
target. Memory stays at about a row group or two whatever the archive's size:
the rows are streamed and DuckDB spills to the temporary folder.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deletedcalls import logs
from deletedcalls.dr.archives import MANIFEST_NAME, archive_names
from deletedcalls.dr.restore import Source, restore
from deletedcalls.errors import DeletedCallsError, EnvironmentFailure, IntegrityFailure

if TYPE_CHECKING:
    from deletedcalls.dr.encryption import Crypto
    from deletedcalls.dr.targets import Target


@dataclass
class DrillLine:
    target: str
    archive: str | None
    rows: int | None
    seconds: float
    ok: bool
    problem: str | None = None
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def newest_on_target(target: Target) -> tuple[str, str] | None:
    """(archive id, object path) of the newest archive whose manifest is on the target, by partition and part."""
    found = []
    for rel in target.objects():
        m = MANIFEST_NAME.match(rel)
        if m:
            found.append((m.group(1), int(m.group(2))))
    if not found:
        return None
    partition, part = max(found)
    return archive_names(partition, part)


def drill_target(
    target: Target, crypto: Crypto, *, user: str, newest: tuple[str, str, str | None, str | None] | None = None,
    before_write: Callable[[int], None] = lambda _rows: None,
) -> DrillLine:
    """Restore a target's newest archive into a temporary file, check it, remove it. ``newest``: (archive id,
    object path, recorded SHA-256, recorded manifest SHA-256) from the warehouse; else the target's own newest
    manifest. ``before_write`` logs the read before a row is written."""
    import hashlib

    from deletedcalls.dr.archives import read_manifest

    start = time.perf_counter()
    archive = newest[0] if newest else None
    folder = Path(tempfile.mkdtemp(prefix="deletedcalls-drill-"))  # 0700, outside any home
    try:
        if newest is None:
            found = newest_on_target(target)
            if found is None:
                return DrillLine(target.uri, None, None, time.perf_counter() - start, True, "no archive on this target yet")
            archive, rel, sha, manifest_sha = found[0], found[1], None, None
        else:
            archive, rel, sha, manifest_sha = newest
        manifest, raw = read_manifest(target, rel)
        if manifest is None or (manifest_sha and hashlib.sha256(raw or b"").hexdigest() != manifest_sha):
            what = ("manifest missing" if raw is None else "manifest is not valid JSON" if manifest is None
                    else "manifest was changed since it was written")
            return DrillLine(target.uri, archive, None, round(time.perf_counter() - start, 3), False, what, 6)
        done = restore(Source(archive, target, rel, manifest), crypto, folder / "drill.duckdb", user=user,
                       before_write=before_write, sha256=sha)
        return DrillLine(target.uri, archive, done.rows, round(time.perf_counter() - start, 3), True)
    except DeletedCallsError as e:
        code = 7 if isinstance(e, EnvironmentFailure) else int(e.exit_code)
        return DrillLine(target.uri, archive, None, round(time.perf_counter() - start, 3), False, e.one_line(), code)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def raise_for_drill(lines: list[DrillLine]) -> None:
    """Exit 6 when an archive failed its drill (it is named), else 7 when a target could not be reached, else 0."""
    bad = [line for line in lines if not line.ok]
    archive = next((line for line in bad if line.exit_code != 7), None)
    if archive is not None:
        raise IntegrityFailure(f"DR drill failed: {archive.archive or 'no archive'} on {archive.target}: {archive.problem}")
    if bad:
        raise EnvironmentFailure(f"DR drill could not reach {bad[0].target}: {bad[0].problem}")
    logs.info(f"DR drill passed on {len(lines)} target(s)", stage="dr-drill")
