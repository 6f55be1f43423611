"""``dr migrate``: plain archives written before SPEC 11, encrypted to the targets (the warehouse's side:
``store/dr_upkeep.py``).

A plain archive is ``dr/deletedMonth=P/part-NNNN.parquet`` in the home, unencrypted,
recorded in ``dr_archives`` with no key. Migrating one: check its SHA-256
against the record, stream its rows into a staged encrypted archive, copy that
to every target and verify it there against the *recorded* checksum (the
warehouse rows are gone: the record is what they were), then the caller records
the copies and only then is the plaintext removed. Where the home's ``dr/`` is
itself a target, the encrypted object replaces the plaintext file under the
same name (an atomic rename). A run killed half-way is finished by the next:
the staged archive is reused, verified copies are not rewritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from deletedcalls.dr.archive import Part, Written, write_archive
from deletedcalls.dr.archives import manifest_rel
from deletedcalls.errors import IntegrityFailure
from deletedcalls.fsutil import file_sha256, fsync_path

if TYPE_CHECKING:
    from deletedcalls.dr.encryption import Crypto
    from deletedcalls.dr.targets import Target


def is_plain_parquet(path: Path) -> bool:
    """A Parquet file whose footer is not encrypted ends in PAR1 (an encrypted footer ends in PARE)."""
    try:
        with open(path, "rb") as f:
            f.seek(-4, 2)
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def migrate_archive(home: Path, archive: dict[str, Any], part: Part, targets: list[Target], crypto: Crypto,
                    staging: Path) -> Written:
    """Encrypt one plain archive to every target and verify it there; the plaintext stays until ``remove_plaintext``."""
    plain = home / "dr" / archive["path"]

    def rows() -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not is_plain_parquet(plain):
            raise IntegrityFailure(f"plain archive {archive['id']} is no longer at {plain} and no staged copy of it is "
                                   "left; restore it from a backup of the home, then run dr migrate again")
        if file_sha256(plain) != archive["sha256"]:
            raise IntegrityFailure(f"plain archive {archive['id']} at {plain} differs from its record (sha256); not migrated")
        pf = pq.ParquetFile(plain, pre_buffer=False)
        return pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=65_536))

    return write_archive(part, None, targets, crypto, staging, rows_factory=rows)


def remove_plaintext(home: Path, rel: str, targets: list[Target]) -> list[str]:
    """Remove a migrated archive's plaintext file and old manifest from the home, unless the encrypted copy took
    their place (the home's dr/ is a target). Returns what was removed."""
    dr = (home / "dr").absolute()
    if any(t.kind == "file" and Path(t.root) == dr for t in targets):
        return []
    removed = []
    for path in (dr / rel, dr / manifest_rel(rel)):
        if path.exists():
            path.unlink()
            removed.append(str(path))
    if removed:
        folder = (dr / rel).parent
        fsync_path(folder)
        if not any(folder.iterdir()):  # the partition's folder held only this part: no empty folder is left
            folder.rmdir()
            fsync_path(dr)
    return removed
