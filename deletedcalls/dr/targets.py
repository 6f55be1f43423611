"""DR targets: where archives go, as URIs, opened through ``pyarrow.fs`` (SPEC 11).

- ``file:///absolute/path``: a local or mounted folder (an NFS/SMB share). The
  path after ``file://`` is taken literally after %-decoding (``?``, ``*``, ``[``
  are characters, never a query or a glob). Objects are written under a
  temporary name, fsynced and renamed into place, owner-only.
- ``s3://bucket/prefix``: S3-compatible object storage through
  ``pyarrow.fs.S3FileSystem``, with ``[dr.s3] endpoint`` and ``region`` (else
  ``$AWS_ENDPOINT_URL``, else AWS) and the standard AWS credential chain
  (environment, shared files, instance roles): never a secret in config.toml.
  An upload is one object that appears whole or not at all.
- The default, when ``[dr] targets`` is not set, is ``dr/`` in the home.

Whether a target is *off the machine* is judged, not assumed: a folder inside
the home or on a local file system is not; a network file system (nfs, cifs,
sshfs, ...) is; S3 is, unless its endpoint is this machine (loopback).

S3 Object Lock retention cannot be set through ``pyarrow.fs`` (its output
streams take no object-lock headers), so ``lock_object`` uses boto3 for that
call and for reading the retention back; nothing else here needs it.

Every failure of a target (unreachable, refused, full, no such bucket) becomes
``TargetFailure`` (exit 7) naming the target's URI.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from deletedcalls.errors import ConfigError, DeletedCallsError, EnvironmentFailure
from deletedcalls.settings import Settings

CHUNK = 1 << 20
NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse",
                        "glusterfs", "fuse.glusterfs", "ceph", "fuse.ceph", "lustre", "afs", "davfs", "fuse.davfs2", "9p")


class TargetFailure(EnvironmentFailure):
    """A DR target could not be reached, refused a request, or is full (exit 7); it names the target."""

    def __init__(self, uri: str, what: str, reason: str) -> None:
        super().__init__(f"DR target {uri}: {what} failed: {reason}", target=uri)
        self.uri, self.what, self.reason = uri, what, reason


@dataclass(frozen=True)
class Target:
    uri: str
    kind: str  # "file" or "s3"
    root: str  # an absolute local path, or "bucket/prefix" for S3
    off_machine: bool
    where: str  # why it is (not) off the machine, for dr list
    endpoint: str = ""  # S3: "http(s)://host:port", or "" for AWS
    region: str = ""
    _fs: list[Any] = field(default_factory=list, compare=False, repr=False)

    # ---- names

    def path(self, rel: str) -> str:
        """The object's path on the target's file system."""
        return f"{self.root.rstrip('/')}/{rel}"

    @property
    def fs(self) -> pafs.FileSystem:
        if not self._fs:
            self._fs.append(pafs.LocalFileSystem() if self.kind == "file" else _s3_filesystem(self.endpoint, self.region))
        return self._fs[0]

    @contextlib.contextmanager
    def failing(self, what: str) -> Iterator[None]:
        """Turn a file-system or network error into TargetFailure naming this target."""
        try:
            yield
        except DeletedCallsError:
            raise
        except (OSError, pa.ArrowException) as e:
            raise TargetFailure(self.uri, what, _reason(e)) from e

    # ---- reading

    def exists(self, rel: str) -> bool:
        with self.failing(f"looking up {rel}"):
            return bool(self.fs.get_file_info(self.path(rel)).type == pafs.FileType.File)

    def read_bytes(self, rel: str) -> bytes:
        with self.failing(f"reading {rel}"), self.fs.open_input_stream(self.path(rel)) as f:
            return bytes(f.read())

    def sha256(self, rel: str) -> tuple[str, int]:
        """SHA-256 and size of an object, streamed."""
        digest, size = hashlib.sha256(), 0
        with self.failing(f"reading {rel}"), self.fs.open_input_stream(self.path(rel)) as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def open_input_file(self, rel: str) -> Any:
        with self.failing(f"opening {rel}"):
            return self.fs.open_input_file(self.path(rel))

    def objects(self) -> list[str]:
        """Every object's path relative to the root (empty when the root does not exist yet)."""
        with self.failing("listing the archives"):
            infos = self.fs.get_file_info(pafs.FileSelector(self.root.rstrip("/"), recursive=True, allow_not_found=True))
        base = self.root.rstrip("/") + "/"
        return sorted(i.path[len(base):] for i in infos if i.type == pafs.FileType.File and i.path.startswith(base))

    # ---- writing

    def put_file(self, local: Path, rel: str) -> None:
        """Copy a local file to the target: whole or not at all."""
        if self.kind == "file":
            with self.failing(f"writing {rel}"):
                _put_local(local, Path(self.path(rel)))
            return
        with self.failing(f"writing {rel}"), open(local, "rb") as src, self.fs.open_output_stream(self.path(rel)) as out:
            from deletedcalls.fsutil import crash_point

            first = True
            while chunk := src.read(CHUNK * 8):
                out.write(chunk)
                if first:
                    crash_point("dr-upload")
                    first = False

    def put_bytes(self, data: bytes, rel: str) -> None:
        if self.kind == "file":
            with self.failing(f"writing {rel}"):
                _write_local(Path(self.path(rel)), [data])
            return
        with self.failing(f"writing {rel}"), self.fs.open_output_stream(self.path(rel)) as out:
            out.write(data)

    def delete(self, rel: str) -> bool:
        """Delete an object; False when there was none. (On a versioned bucket this adds a delete marker.)"""
        with self.failing(f"deleting {rel}"):
            if self.fs.get_file_info(self.path(rel)).type != pafs.FileType.File:
                return False
            self.fs.delete_file(self.path(rel))
            return True

    def remove_temporaries(self) -> list[str]:
        """Temporary files a killed run left in a folder target (S3 leaves none: an upload is all or nothing)."""
        if self.kind != "file" or not Path(self.root).is_dir():
            return []
        gone = []
        for tmp in Path(self.root).glob("deletedMonth=*/.*.tmp"):
            tmp.unlink(missing_ok=True)
            gone.append(str(tmp.relative_to(self.root)))
        return gone

    # ---- S3 Object Lock (boto3)

    def lock_object(self, rel: str, mode: str, until: datetime) -> datetime | None:
        """Set an object's Object Lock retention and read it back; None when the bucket has no Object Lock."""
        if self.kind != "s3" or not mode:
            return None
        client = self._boto()
        bucket, key = self.path(rel).split("/", 1)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            try:
                conf = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
            except ClientError as e:
                if "ObjectLockConfigurationNotFound" in str(e):
                    return None
                raise
            if conf.get("ObjectLockEnabled") != "Enabled":
                return None
            until = until.replace(tzinfo=UTC) if until.tzinfo is None else until
            client.put_object_retention(Bucket=bucket, Key=key, Retention={"Mode": mode, "RetainUntilDate": until})
            head = client.head_object(Bucket=bucket, Key=key)
        except (BotoCoreError, ClientError) as e:
            raise TargetFailure(self.uri, f"setting Object Lock retention on {rel}", _reason(e)) from e
        got_mode, got_until = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
        if got_mode != mode or got_until is None or abs((got_until - until).total_seconds()) > 1:
            raise TargetFailure(self.uri, f"setting Object Lock retention on {rel}",
                                f"read back {got_mode} until {got_until}, not {mode} until {until:%Y-%m-%d}")
        return until.replace(tzinfo=None)

    def _boto(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigError("[dr] lock_mode needs boto3 for S3 Object Lock: pip install 'deletedcalls[objectlock]'") from None
        endpoint = self.endpoint or None
        return boto3.client("s3", endpoint_url=endpoint, region_name=self.region or None,
                            config=Config(retries={"max_attempts": 3}, connect_timeout=10, read_timeout=30))


# ---- which targets


def default_target(home: Path) -> Target:
    root = str((home / "dr").absolute())
    return Target(uri=f"file://{root}", kind="file", root=root, off_machine=False,
                  where="dr/ inside the warehouse home: not off the machine")


def configured_targets(settings: Settings) -> list[Target]:
    """The targets of ``[dr] targets``, else dr/ in the home."""
    if not settings.dr_targets:
        return [default_target(settings.home)]
    return [parse_target(uri, home=settings.home, endpoint=settings.s3_endpoint, region=settings.s3_region)
            for uri in settings.dr_targets]


def parse_target(uri: str, *, home: Path | None, endpoint: str = "", region: str = "") -> Target:
    """A Target from its URI (file:///path or s3://bucket/prefix); a usage error names a bad one."""
    if uri.startswith("file://"):
        raw = unquote(uri[len("file://"):])
        if not raw.startswith("/"):
            raise ConfigError(f"DR target {uri!r}: a file URI needs an absolute path (file:///mnt/offsite/deletedcalls)")
        root = os.path.normpath(raw)
        off, where = _local_place(Path(root), home)
        return Target(uri=f"file://{root}", kind="file", root=root, off_machine=off, where=where)
    if uri.startswith("s3://"):
        bucket_prefix = uri[len("s3://"):].strip("/")
        if not bucket_prefix or not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^?#]*)?", bucket_prefix):
            raise ConfigError(f"DR target {uri!r}: not s3://bucket/prefix with a valid bucket name")
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        host = urlsplit(endpoint).hostname if endpoint else ""
        local = host in ("127.0.0.1", "localhost", "::1") or (host or "").startswith("127.")
        where = (f"an S3 endpoint on this machine ({host}): not off the machine" if local
                 else f"S3 object storage{' at ' + endpoint if endpoint else ''}")
        return Target(uri=f"s3://{bucket_prefix}", kind="s3", root=bucket_prefix, off_machine=not local, where=where,
                      endpoint=endpoint, region=region)
    raise ConfigError(f"DR target {uri!r}: use file:///absolute/path or s3://bucket/prefix")


def _s3_filesystem(endpoint: str, region: str) -> pafs.S3FileSystem:
    options: dict[str, Any] = dict(connect_timeout=10, request_timeout=60,
                                   retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3))
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options.update(endpoint_override=parts.netloc, scheme=parts.scheme or "https")
    if region:
        options["region"] = region
    return pafs.S3FileSystem(**options)


def _local_place(root: Path, home: Path | None) -> tuple[bool, str]:
    if home is not None:
        h = Path(os.path.realpath(home))
        real = Path(os.path.realpath(root))
        if real == h or h in real.parents:
            return False, "inside the warehouse home: not off the machine"
    fstype = _fs_type(root)
    if fstype in NETWORK_FILE_SYSTEMS:
        return True, f"a {fstype} network file system"
    return False, f"a local {fstype or 'file'} file system: not off the machine unless it is a mounted share"


def _fs_type(path: Path) -> str:
    """The file-system type of the mount holding path (Linux /proc/self/mountinfo); '' when unknown."""
    probe = Path(os.path.realpath(path))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    best, kind = "", ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            mount = left.split()[4].replace("\\040", " ")
            if (str(probe) == mount or str(probe).startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                best, kind = mount, right.split()[0]
    return kind


def _put_local(local: Path, final: Path) -> None:
    """Copy into a folder target; on the staging folder's own file system (dr/ in the home), a hard link of the
    staged (fsynced, never again changed) file instead: no second copy of the archive on the home's disk."""
    folder = final.parent
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            os.mkdir(parent, 0o700)
    if os.stat(local).st_dev == os.stat(folder).st_dev:
        tmp = folder / f".{final.name}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(local, tmp)
        except OSError:
            pass  # a file system without hard links: copy below
        else:
            from deletedcalls.fsutil import crash_point, fsync_path

            crash_point("dr-upload")
            os.replace(tmp, final)
            fsync_path(folder)
            return

    def chunks() -> Iterator[bytes]:
        from deletedcalls.fsutil import crash_point

        with open(local, "rb") as src:
            first = True
            while chunk := src.read(CHUNK * 8):
                yield chunk
                if first:
                    crash_point("dr-upload")
                    first = False

    _write_local(final, chunks())


def _write_local(final: Path, chunks: Any) -> None:
    """Write a new file under a temporary name (0600 from creation), fsync, rename into place, fsync the folder."""
    folder = final.parent
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            os.mkdir(parent, 0o700)
    tmp = folder / f".{final.name}.tmp"
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    from deletedcalls.fsutil import fsync_path

    fsync_path(folder)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, OSError) and error.errno is not None and error.strerror:
        text = error.strerror + (f" ({error.filename})" if error.filename else "")
    m = re.search(r"AWS Error \[?([A-Z_]+)\]?[^:]*:? ?(.*)", text)
    if m:
        text = f"{m.group(1)}: {m.group(2)}"
    return text[:240]
