"""Writing one DR archive part to every target and verifying it there (SPEC 4, 11).

The caller (``store/retention.py``, ``dr/migrate.py``) gives the rows as an
Arrow record-batch stream (for retention, the warehouse's SELECT of the
partition's rows) and the checksum the warehouse computes of them; nothing
here knows how the warehouse stores them. In this order:

1. **Stage** the encrypted archive once, in ``<staging>/deletedMonth=P/``
   (in the home's ``dr/.staging``, owner-only): the rows are streamed into a
   Parquet writer (zstd, row groups of ``ROW_GROUP_ROWS``) with Parquet Modular
   Encryption, under a temporary name, fsynced, renamed; its key material
   beside it; then a note of what it holds (checksum, SHA-256, manifest). No
   plaintext byte is written anywhere. A staged archive left by an earlier run
   is reused when its note matches the rows now (so every target gets the same
   bytes, whatever run wrote them) and written anew otherwise.
2. **Copy and verify on each target**: a target whose manifest is ours and whose
   object reads back right is left as it is (not rewritten). Otherwise the
   object and its key material are written (whole or not at all), locked where
   the bucket has Object Lock, **read back from the target** (SHA-256 streamed,
   then downloaded, decrypted and checksummed), and only then is the manifest
   written beside them.
3. Every target is tried; if one failed (down, full, refused, did not verify),
   the first failure is raised after the others were done: nothing may be
   purged, and the next run finishes the work.

A kill at any step leaves an encrypted staged file, temporary files in folder
targets (removed by the next run), or an object without its manifest: none of
them counts as written, and none holds plaintext.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deletedcalls import logs
from deletedcalls.clock import utc_now
from deletedcalls.dr.archives import (
    ROW_GROUP_ROWS,
    Checksum,
    check_copy,
    key_material_rel,
    manifest_bytes,
    manifest_rel,
)
from deletedcalls.dr.encryption import ALGORITHM
from deletedcalls.dr.targets import TargetFailure
from deletedcalls.errors import DeletedCallsError, IntegrityFailure
from deletedcalls.fsutil import crash_point, file_sha256, fsync_path, private_files, write_durably

if TYPE_CHECKING:
    import pyarrow as pa

    from deletedcalls.dr.encryption import Crypto
    from deletedcalls.dr.targets import Target


@dataclass(frozen=True)
class Part:
    """One archive part to write: what it is, its rows' checksum as the warehouse computes it, and its manifest."""

    archive_id: str
    partition: str
    rel: str  # deletedMonth=P/part-NNNN.parquet
    key_id: str
    expected: Checksum
    manifest_fields: dict[str, Any]  # schema, schemaVersion, policy, warehouse: no personal data
    lock_mode: str = ""
    lock_until: datetime | None = None


@dataclass
class Copy:
    target: Target
    verified_at: datetime
    lock_until: datetime | None
    written: bool  # False: it was already there and verified, not rewritten


@dataclass
class Written:
    sha256: str
    size: int
    manifest: dict[str, Any]
    manifest_sha256: str
    copies: list[Copy] = field(default_factory=list)


def write_archive(
    part: Part, rows: pa.RecordBatchReader | None, targets: list[Target], crypto: Crypto, staging: Path,
    *, rows_factory: Any = None,
) -> Written:
    """Stage the part encrypted, copy it to every target, verify it there; raises if any target failed.

    ``rows`` (or ``rows_factory()``, called only when the part must be staged anew)
    is the stream of the part's rows in id order, without the partition column.
    """
    try:
        staged = _stage(part, rows, rows_factory, crypto, staging)
    except OSError as e:  # the home's disk (full, read-only): name the staging folder, where the write failed
        from deletedcalls.environment import environment_failure

        where = staging / Path(part.rel).parent
        if e.filename is None:
            e.filename = str(where)
        failure = environment_failure(e, where)
        if failure is None:
            raise
        raise failure from e
    crash_point("archive-written")
    written = Written(staged["sha256"], staged["size"], staged["manifest"], staged["manifestSha256"])
    folder = staging / Path(part.rel).parent
    failures: list[DeletedCallsError] = []
    for target in targets:
        try:
            written.copies.append(_copy_to(target, part, folder, written, crypto))
        except DeletedCallsError as e:
            logs.warning(e.one_line(), stage="dr-archive", archive=part.archive_id, target=target.uri)
            failures.append(e)
    if failures:
        raise failures[0]
    crash_point("archive-verified")
    return written


def remove_staged(staging: Path, rel: str | None = None) -> None:
    """Remove a staged part (its three files), or the whole staging folder."""
    if rel is None:
        shutil.rmtree(staging, ignore_errors=True)
        return
    for name in _staged_names(staging, rel):
        name.unlink(missing_ok=True)


def _staged_names(staging: Path, rel: str) -> tuple[Path, Path, Path]:
    data = staging / rel
    return data, staging / key_material_rel(rel), data.with_name(f".{data.name}.staged.json")


def _stage(part: Part, rows: Any, rows_factory: Any, crypto: Crypto, staging: Path) -> dict[str, Any]:
    data, material, note_path = _staged_names(staging, part.rel)
    note = _read_note(note_path)
    if (note and note.get("expected") == list(part.expected) and note.get("keyId") == part.key_id and data.exists()
            and material.exists() and file_sha256(data) == note.get("sha256")):
        logs.debug(f"reusing the staged archive of {part.archive_id}", stage="dr-archive")
        return note
    remove_staged(staging, part.rel)
    if rows is None:
        rows = rows_factory()
    for parent in reversed([data.parent, *data.parent.parents]):
        if not parent.exists():
            os.mkdir(parent, 0o700)
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    tmp = data.with_name(f".{data.name}.tmp")
    tmp.unlink(missing_ok=True)
    with private_files():
        props = crypto.encryption_properties(part.key_id, str(data), pafs.LocalFileSystem())
        with crypto.guarded(f"encrypting {part.archive_id}"):
            try:
                writer = pq.ParquetWriter(str(tmp), rows.schema, compression="zstd", encryption_properties=props)
                try:
                    for batch in rows:
                        writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
                finally:
                    writer.close()
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            finally:
                rows.close()  # a stream from the warehouse's connection holds it until drained or closed
    fsync_path(tmp)
    fsync_path(material)
    os.replace(tmp, data)
    fsync_path(data.parent)
    sha, size = file_sha256(data), data.stat().st_size
    manifest = {
        **part.manifest_fields,
        "format": "deletedcalls-dr-archive/2",
        "archiveId": part.archive_id,
        "partition": part.partition,
        "file": Path(part.rel).name,
        "keyMaterial": Path(key_material_rel(part.rel)).name,
        "rows": part.expected.rows,
        "minId": part.expected.min_id,
        "maxId": part.expected.max_id,
        "contentChecksum": part.expected.checksum,
        "sha256": sha,
        "sizeBytes": size,
        "encryption": {"scheme": "parquet-modular-encryption", "algorithm": ALGORITHM, "footerEncrypted": True,
                       "keyId": part.key_id, "dataKeysWrappedBy": "the partition's key-encryption key (external key material)"},
        "compression": "zstd",
        "rowGroupRows": ROW_GROUP_ROWS,
        "created": utc_now().isoformat(timespec="seconds") + "Z",
    }
    raw = manifest_bytes(manifest)
    note = {"expected": list(part.expected), "keyId": part.key_id, "sha256": sha, "size": size, "manifest": manifest,
            "manifestSha256": hashlib.sha256(raw).hexdigest()}
    write_durably(note_path, json.dumps(note).encode())
    return note


def _read_note(path: Path) -> dict[str, Any] | None:
    try:
        note = json.loads(path.read_bytes())
        return note if isinstance(note, dict) else None
    except (OSError, ValueError, RecursionError):
        return None


def _copy_to(target: Target, part: Part, folder: Path, written: Written, crypto: Crypto) -> Copy:
    raw = manifest_bytes(written.manifest)
    rel, mat_rel, man_rel = part.rel, key_material_rel(part.rel), manifest_rel(part.rel)
    if target.exists(man_rel) and target.read_bytes(man_rel) == raw:
        problems = check_copy(target, rel, crypto, expected=part.expected, sha256=written.sha256,
                              manifest_sha256=written.manifest_sha256)
        if not problems:
            logs.info(f"{part.archive_id} is already on {target.uri} and verifies; not rewritten", stage="dr-archive")
            return Copy(target, utc_now(), None, written=False)
        target.delete(man_rel)  # what is there is not what the manifest says: write it again
    target.put_file(folder / Path(rel).name, rel)
    target.put_file(folder / Path(mat_rel).name, mat_rel)
    locked = None
    if part.lock_mode and part.lock_until:
        for r in (rel, mat_rel):
            locked = target.lock_object(r, part.lock_mode, part.lock_until)
    problems = check_copy_object(target, part, written, crypto)
    if problems:
        raise IntegrityFailure(f"DR target {target.uri}: {part.archive_id} read back from the target does not match "
                               f"the warehouse rows ({'; '.join(problems)}); nothing was purged")
    target.put_bytes(raw, man_rel)
    if locked:
        target.lock_object(man_rel, part.lock_mode, part.lock_until)  # type: ignore[arg-type]
    logs.info(f"{part.archive_id} written to {target.uri} and verified there", stage="dr-archive", rows=part.expected.rows)
    return Copy(target, utc_now(), locked, written=True)


def check_copy_object(target: Target, part: Part, written: Written, crypto: Crypto) -> list[str]:
    """Read an object just written back from its target: SHA-256, then decrypted rows against the warehouse's."""
    from deletedcalls.dr.archives import read_back

    got_sha, size = target.sha256(part.rel)
    if got_sha != written.sha256 or size != written.size:
        return [f"sha256 {got_sha[:12]}… ({size} bytes) read back, {written.sha256[:12]}… ({written.size} bytes) written"]
    try:
        got = read_back(target, part.rel, crypto)
    except TargetFailure:
        raise
    except IntegrityFailure as e:
        return [e.one_line()]
    return [] if got == part.expected else [f"read back {tuple(got)}, the warehouse has {tuple(part.expected)}"]
