"""DR archives: names, manifests, checksums, reading one back, and the list and verification of them (SPEC 4, 11).

An archive is one encrypted Parquet object of a part of a partition of
deleted_calls, the same bytes on every target, under
``deletedMonth=YYYY-MM/part-NNNN.parquet`` of the target's root, with its key
material (``_KEY_MATERIAL_FOR_part-NNNN.parquet.json``) and its manifest
(``_part-NNNN.manifest.json``) beside it; the leading ``_`` keeps dataset readers
from taking them for data. The warehouse records each archive
(``dr_archives``), each verified copy (``dr_copies``) and each key event
(``dr_key_events``); the ``dr`` commands read those from a published store and
need nothing of the writer.

A manifest holds no personal data: counts, the id range, a content checksum
(a 64-bit xor of row hashes), the SHA-256 of the encrypted object, the key id,
the schema (names and types), the policy and times.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb

from deletedcalls import logs
from deletedcalls.dr.encryption import key_material_name
from deletedcalls.dr.keys import KeyUnavailable
from deletedcalls.errors import EnvironmentFailure, IntegrityFailure, NotFound
from deletedcalls.sqlfiles import sql

if TYPE_CHECKING:
    import pyarrow as pa

    from deletedcalls.dr.encryption import Crypto
    from deletedcalls.dr.targets import Target

MANIFEST_FORMAT = "deletedcalls-dr-archive/2"
ROW_GROUP_ROWS = 65_536  # rows per Parquet row group: what a restore or drill holds in memory at a time
OBJECT_NAME = re.compile(r"^deletedMonth=(\d{4}-\d{2})/part-(\d{4})\.parquet$")
MANIFEST_NAME = re.compile(r"^deletedMonth=(\d{4}-\d{2})/_part-(\d{4})\.manifest\.json$")


class Checksum(NamedTuple):
    """Row count, id range and content checksum (bit_xor of row hashes) of a set of archived rows."""

    rows: int
    min_id: int
    max_id: int
    checksum: str


def archive_names(partition: str, part: int) -> tuple[str, str]:
    """(archive id, object path relative to a target's root) of a part of a partition."""
    return f"{partition}-part-{part:04d}", f"deletedMonth={partition}/part-{part:04d}.parquet"


def part_number(name: str) -> int:
    """The part number in an archive id or file name (...part-0002...)."""
    return int(name.rsplit("part-", 1)[1][:4])


def manifest_rel(rel: str) -> str:
    folder, name = rel.rsplit("/", 1)
    return f"{folder}/_{name.removesuffix('.parquet')}.manifest.json"


def key_material_rel(rel: str) -> str:
    folder, name = rel.rsplit("/", 1)
    return f"{folder}/{key_material_name(name)}"


def object_rels(rel: str) -> tuple[str, str, str]:
    """The three objects of an archive on a target: data, key material, manifest."""
    return rel, key_material_rel(rel), manifest_rel(rel)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


# ---- checksums


def checksum_of(reader: pa.RecordBatchReader) -> Checksum:
    """The checksum of a stream of archived rows, computed by DuckDB as the warehouse computes it (streamed)."""
    con = duckdb.connect()
    try:
        con.execute("SET memory_limit = '512MB'")
        con.register("batches", reader)
        r = con.execute(sql("dr/checksum")).fetchall()[0]
    finally:
        con.close()
    return Checksum(int(r[0]), int(r[1] or 0), int(r[2] or 0), str(r[3]))


def manifest_checksum(manifest: dict[str, Any]) -> Checksum:
    return Checksum(int(manifest["rows"]), int(manifest["minId"]), int(manifest["maxId"]), str(manifest["contentChecksum"]))


# ---- reading an archive back


def read_batches(target: Target, rel: str, crypto: Crypto | None, batch_rows: int = ROW_GROUP_ROWS) -> pa.RecordBatchReader:
    """The rows of an archive on a target, decrypted, as a stream of record batches (one row group at a time).

    ``crypto`` None reads a plain archive written before SPEC 11.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if crypto is not None:
        check_key_material(target, rel)
    with target.failing(f"reading {rel}"):
        if crypto is None:
            pf = pq.ParquetFile(target.open_input_file(rel), pre_buffer=False)
        else:
            with crypto.guarded(f"{target.uri}/{rel}"):
                try:
                    props = crypto.decryption_properties(target.path(rel), target.fs)
                except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowTypeError) as e:  # what it read is wrong, not how
                    raise IntegrityFailure(f"{target.uri}/{key_material_rel(rel)}: the archive's key material cannot "
                                           f"be used ({' '.join(str(e).split())[:160]})") from e
                pf = pq.ParquetFile(target.open_input_file(rel), decryption_properties=props, pre_buffer=False)

    def batches() -> Any:
        with target.failing(f"reading {rel}"):
            if crypto is None:
                yield from pf.iter_batches(batch_size=batch_rows)
                return
            with crypto.guarded(f"{target.uri}/{rel}"):
                yield from pf.iter_batches(batch_size=batch_rows)

    return pa.RecordBatchReader.from_batches(pf.schema_arrow, batches())


def check_key_material(target: Target, rel: str) -> None:
    """The archive's key material is on the target and is pyarrow's JSON (IntegrityFailure naming it otherwise): a
    missing or damaged one is a damaged archive (exit 6), never a target that cannot be reached (exit 7)."""
    mrel = key_material_rel(rel)
    if not target.exists(mrel):
        raise IntegrityFailure(f"{target.uri}/{mrel} is missing: the archive's wrapped data keys are gone, so it cannot "
                               "be decrypted from this target (restore it from another target: --from)")
    try:
        material = json.loads(target.read_bytes(mrel))
        if not isinstance(material, dict) or not isinstance(material.get("footerKey"), str):
            raise ValueError("no footerKey")
        inner = json.loads(material["footerKey"])
        if not isinstance(inner, dict) or not all(isinstance(inner.get(k), str) for k in ("masterKeyID", "wrappedDEK")):
            raise ValueError("no wrapped key")
    except (ValueError, RecursionError) as e:
        raise IntegrityFailure(f"{target.uri}/{mrel} is not the archive's key material ({str(e)[:80]}): it was "
                               "changed or damaged (restore it from another target: --from)") from None


def read_back(target: Target, rel: str, crypto: Crypto | None) -> Checksum:
    """Download, decrypt and checksum an archive's rows (an unreadable or undecryptable object: IntegrityFailure)."""
    import pyarrow as pa

    try:
        return checksum_of(read_batches(target, rel, crypto))
    except (pa.ArrowException, duckdb.Error, OSError) as e:
        if isinstance(e, OSError) and not isinstance(e, pa.ArrowException) and e.errno is not None:
            raise
        raise IntegrityFailure(f"{target.uri}/{rel} cannot be read back: {' '.join(str(e).split())[:200]}") from e


def read_manifest(target: Target, rel: str) -> tuple[dict[str, Any] | None, bytes | None]:
    """(manifest, its bytes) of an archive on a target; (None, None) when it has none; a bad one: (None, bytes)."""
    mrel = manifest_rel(rel)
    if not target.exists(mrel):
        return None, None
    data = target.read_bytes(mrel)
    try:
        manifest = json.loads(data)
        return (manifest if isinstance(manifest, dict) else None), data
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth: not a manifest of ours
        return None, data


def check_copy(
    target: Target, rel: str, crypto: Crypto | None, *, expected: Checksum, sha256: str | None,
    manifest_sha256: str | None = None,
) -> list[str]:
    """What is wrong with one copy of an archive (empty: it verifies): manifest, SHA-256, rows read back."""
    import hashlib

    problems: list[str] = []
    manifest, raw = read_manifest(target, rel)
    if raw is None:
        problems.append("manifest missing")
    elif manifest is None:
        problems.append("manifest is not valid JSON")
    else:
        if manifest_sha256 and hashlib.sha256(raw).hexdigest() != manifest_sha256:
            problems.append("manifest was changed since it was written")
        try:
            if manifest_checksum(manifest) != expected or (sha256 and manifest.get("sha256") != sha256):
                problems.append("manifest does not match the archive's record")
        except (KeyError, TypeError, ValueError):
            problems.append("manifest lacks the archive's counts")
    if not target.exists(rel):
        return [*problems, "object missing"]
    got_sha, _ = target.sha256(rel)
    want = sha256 or (manifest or {}).get("sha256")
    if got_sha != want:
        problems.append(f"sha256 {got_sha[:12]}… differs from the recorded {str(want)[:12]}…")
        return problems  # a changed object is not decrypted: the record already says it is wrong
    try:
        got = read_back(target, rel, crypto)
    except KeyUnavailable:
        raise
    except IntegrityFailure as e:
        return [*problems, e.one_line()]
    if got.rows != expected.rows:
        problems.append(f"{got.rows} rows, {expected.rows} recorded")
    elif (got.min_id, got.max_id) != (expected.min_id, expected.max_id):
        problems.append("id range differs from the record")
    elif got.checksum != expected.checksum:
        problems.append("content checksum differs from the record")
    return problems


# ---- the list and verification, from a published store


def list_archives(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every archive with its state and copies, from a published store (the rows of sql/dr/list_archives.sql)."""
    rel = con.sql(sql("dr/list_archives"))
    archives = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    copies: dict[str, list[dict[str, Any]]] = {}
    crel = con.sql(sql("dr/list_copies"))
    for r in crel.fetchall():
        c = dict(zip(crel.columns, r, strict=True))
        copies.setdefault(c.pop("archiveId"), []).append(c)
    for a in archives:
        a["copies"] = copies.get(a["id"], [])
    return archives


@dataclass
class VerifyResult:
    id: str
    ok: bool
    problems: list[str]
    state: str = "live"
    targets: list[dict[str, Any]] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # targets that could not be read: not checked, not wrong


def verify_archive(archive: dict[str, Any], copies: list[tuple[Target, str]], crypto: Crypto | None) -> VerifyResult:
    """Check every copy of one archive against its record (a shredded archive is not read: its key is gone)."""
    if archive["state"] == "shredded":
        return VerifyResult(archive["id"], True, [], "shredded")
    expected = Checksum(archive["rows"], archive["minId"], archive["maxId"], archive["contentChecksum"])
    problems: list[str] = []
    targets: list[dict[str, Any]] = []
    unreachable: list[str] = []
    for target, rel in copies:
        try:
            found = check_copy(target, rel, crypto if archive.get("keyId") else None, expected=expected,
                               sha256=archive["sha256"], manifest_sha256=archive.get("manifestSha256"))
        except KeyUnavailable as e:
            found = [e.one_line()]
        except EnvironmentFailure as e:  # a target down must not hide what is wrong on the others
            unreachable.append(e.one_line())
            targets.append({"uri": target.uri, "ok": False, "reachable": False, "problems": [e.one_line()]})
            continue
        targets.append({"uri": target.uri, "ok": not found, "reachable": True, "problems": found})
        problems += [f"{target.uri}: {p}" for p in found]
    if not copies:
        problems.append("no copy on any target")
    return VerifyResult(archive["id"], not problems and not unreachable, problems, archive["state"], targets, unreachable)


def select_archives(archives: list[dict[str, Any]], ids: list[str] | None) -> list[dict[str, Any]]:
    if not ids:
        return archives
    known = {a["id"]: a for a in archives}
    missing = [i for i in ids if i not in known]
    if missing:
        raise NotFound(f"no DR archive {missing[0]!r}; `deletedcalls dr list` shows the archive ids")
    return [known[i] for i in ids]


def log_verified(results: list[VerifyResult]) -> None:
    """One log line per archive checked: ok, shredded, or what is wrong with it."""
    for r in results:
        if r.state == "shredded":
            logs.info(f"{r.id}: shredded (its key was destroyed); not read", stage="dr-verify", archive=r.id)
        elif r.ok:
            logs.info(f"{r.id}: ok on {len(r.targets)} target(s)", stage="dr-verify", archive=r.id)
        else:
            for problem in r.problems:
                logs.warning(f"{r.id}: {problem}", stage="dr-verify", archive=r.id)
            for down in r.unreachable:
                logs.warning(f"{r.id}: not checked: {down}", stage="dr-verify", archive=r.id)


def raise_for_failures(results: list[VerifyResult]) -> None:
    """IntegrityFailure (exit 6) when an archive checked does not verify; else EnvironmentFailure (exit 7) when a
    target could not be read, so an archive was not checked everywhere."""
    bad = [r for r in results if r.problems]
    if bad:
        raise IntegrityFailure(f"{len(bad)} of {len(results)} DR archive(s) do not verify: {bad[0].id}: {'; '.join(bad[0].problems)}")
    down = [r for r in results if r.unreachable]
    if down:
        raise EnvironmentFailure(f"{len(down)} of {len(results)} DR archive(s) could not be checked on every target: "
                                 f"{down[0].id}: {down[0].unreachable[0]}")
