"""Key-encryption keys of DR archives: a small KMS interface, and the file keyring built in (SPEC 11).

Each partition (one ``deletedMonth``) has its own key-encryption key (KEK); the
data keys of its archives are wrapped by it (``dr/encryption.py``). A key id
names the partition (``2026-01``; ``2026-01.2`` for a later key of a month whose
first key was destroyed). A key has versions: wrapping uses the newest,
unwrapping reads the version from the wrapped text (``dck1:<version>:<base64>``),
as Vault's transit engine does (``vault:v2:...``), so ``rotate`` adds a version,
the archives' key material is re-wrapped, and then the old versions are
dropped, without rewriting an archive.

``KeyService`` is what the rest of DR needs; ``FileKeyring`` implements it with
one JSON file outside the home, trusted like the home: a regular file (no
symbolic link) owned by the user running deletedcalls, readable and writable by
that user only (0600), in a folder nobody else can write, and not inside the
warehouse home. Anything else is refused with exit 4, before a byte is read.
Destroying a key (crypto-shredding) removes its material from the file; copies
of the file made before (backups, the file system's own free blocks) are
outside its reach (docs/DR.md).

Wrapping is AES-256-GCM from ``cryptography`` with the key id as associated
data: a wrapped key moved to another key id does not unwrap.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from deletedcalls.clock import utc_now
from deletedcalls.errors import IntegrityFailure, PermissionDenied
from deletedcalls.fsutil import fsync_path

FORMAT = "deletedcalls-keyring/1"
WRAP_PREFIX = "dck1"


class KeyringRefused(PermissionDenied):
    """The keyring file cannot be trusted or read (exit 4); nothing was read from it."""


class KeyUnavailable(IntegrityFailure):
    """An archive's key is not in the keyring, or was destroyed (exit 6): the archive cannot be read."""


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never its bytes."""

    key_id: str
    partition: str
    state: str  # "live" or "destroyed"
    versions: tuple[int, ...]  # versions whose material is held (none once destroyed)
    current: int
    created: str
    destroyed_at: str | None = None
    destroyed_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"keyId": self.key_id, "partition": self.partition, "state": self.state, "versions": list(self.versions),
                "current": self.current, "created": self.created, "destroyedAt": self.destroyed_at,
                "destroyedBy": self.destroyed_by}


class KeyService(Protocol):
    """What DR archives need of a key-management service: a file keyring, Vault transit, a cloud KMS.

    Key ids are chosen by the caller (one per partition). ``wrap`` uses the key's
    newest version and returns text that names the version; ``unwrap`` accepts any
    version still held. ``rotate`` adds a version; ``drop_old_versions`` removes the
    older ones once every archive is re-wrapped. ``destroy`` makes every version
    unusable for good and returns when. Failures: ``KeyringRefused`` (exit 4) for a
    service that cannot be used at all, ``KeyUnavailable`` (exit 6) for one key.
    """

    def key(self, key_id: str) -> KeyInfo | None: ...
    def keys(self) -> list[KeyInfo]: ...
    def create(self, key_id: str, partition: str) -> KeyInfo: ...
    def wrap(self, key_id: str, data_key: bytes) -> str: ...
    def unwrap(self, key_id: str, wrapped: str) -> bytes: ...
    def rotate(self, key_id: str) -> int: ...
    def drop_old_versions(self, key_id: str) -> None: ...
    def destroy(self, key_id: str, user: str) -> datetime: ...


def default_keyring_path(warehouse_id: str) -> Path:
    """$XDG_CONFIG_HOME (else ~/.config)/deletedcalls/keyrings/<warehouse id>.keyring."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "deletedcalls" / "keyrings" / f"{warehouse_id}.keyring"


def destroyed_message(key_id: str, destroyed_at: str | None, destroyed_by: str | None, what: str = "the archive") -> str:
    by = f" by {destroyed_by}" if destroyed_by else ""
    return f"{what} is shredded: its key {key_id} was destroyed on {(destroyed_at or '?')[:10]}{by}; it can no longer be read"


class FileKeyring:
    """The built-in KeyService: one JSON file, checked before every read, rewritten whole (atomically) on change."""

    def __init__(self, path: Path, *, home: Path | None = None, warehouse_id: str | None = None, create: bool = False) -> None:
        self.path = Path(path)
        self.home = home
        self.warehouse_id = warehouse_id
        self._data = self._load(create)

    # ---- trust and files

    def _check_place(self) -> None:
        path = self.path
        if not path.is_absolute():
            raise KeyringRefused(f"keyring {path} must be an absolute path; name it in full")
        if self.home is not None:
            home = self.home.resolve()
            real = Path(os.path.realpath(path))
            if real == home or home in real.parents or home in path.absolute().parents:
                raise KeyringRefused(
                    f"keyring {path} is inside the warehouse home {self.home}: a key must never sit beside what it "
                    "protects; move it out (e.g. to ~/.config/deletedcalls/keyrings/) and set [dr] keyring")
        folder = path.parent
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            return
        if st.st_uid not in (os.geteuid(), 0) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise KeyringRefused(
                f"the keyring's folder {folder} is writable by others or owned by another user (mode "
                f"{stat.S_IMODE(st.st_mode):04o}, uid {st.st_uid}): someone could swap the keyring; run `chmod go-w {folder}`")

    def _check_file(self, st: os.stat_result) -> None:
        path = self.path
        if stat.S_ISLNK(st.st_mode):
            raise KeyringRefused(f"keyring {path} is a symbolic link; put the keyring file itself there")
        if not stat.S_ISREG(st.st_mode):
            raise KeyringRefused(f"keyring {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise KeyringRefused(
                f"keyring {path} is owned by uid {st.st_uid}, not by the user running this command (uid {os.geteuid()}); "
                "run deletedcalls as the keyring's owner")
        if st.st_mode & 0o077:
            raise KeyringRefused(
                f"keyring {path} can be read or written by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
                f"run `chmod 600 {path}`, and treat the keys as exposed")

    def _load(self, create: bool) -> dict[str, Any]:
        self._check_place()
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            if not create:
                raise KeyringRefused(
                    f"no keyring at {self.path}: restore it from its backup, or name it with --keyring "
                    "(or [dr] keyring in config.toml)") from None
            return self._create()
        except OSError as e:
            raise KeyringRefused(f"keyring {self.path} cannot be examined: {e.strerror or e}") from e
        self._check_file(st)
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            raise KeyringRefused(f"keyring {self.path} cannot be read: {e.strerror or e}; run as its owner") from e
        with os.fdopen(fd, "rb") as f:
            self._check_file(os.fstat(f.fileno()))  # the file opened is the file checked
            raw = f.read()
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT or not isinstance(data.get("keys"), dict):
                raise ValueError("not a deletedcalls keyring")
            for key_id, entry in data["keys"].items():
                _check_entry(key_id, entry)
        except (ValueError, AttributeError, RecursionError) as e:
            raise KeyringRefused(f"keyring {self.path} is not a deletedcalls keyring ({str(e)[:120]}); restore it from "
                                 "its backup") from None
        theirs = data.get("warehouseId")
        if self.warehouse_id and theirs and theirs != self.warehouse_id:
            raise KeyringRefused(
                f"keyring {self.path} belongs to warehouse {theirs}, not to this one ({self.warehouse_id}); "
                "give each warehouse its own keyring")
        return dict(data)

    def _create(self) -> dict[str, Any]:
        folder = self.path.parent
        for parent in reversed([folder, *folder.parents]):
            if not parent.exists():
                os.mkdir(parent, 0o700)
        data: dict[str, Any] = {"format": FORMAT, "warehouseId": self.warehouse_id, "created": _now(), "keys": {}}
        self._write(data, exclusive=True)
        return data

    def _write(self, data: dict[str, Any], *, exclusive: bool = False) -> None:
        """Write the whole keyring under a temporary name (0600 from creation), fsync, rename, fsync the folder."""
        body = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            if exclusive:
                os.link(tmp, self.path)  # fails if someone made the file meanwhile
                os.unlink(tmp)
            else:
                os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_path(self.path.parent)

    # ---- KeyService

    def _entry(self, key_id: str) -> dict[str, Any]:
        entry = self._data["keys"].get(key_id)
        if entry is None:
            raise KeyUnavailable(f"keyring {self.path} has no key {key_id}; is it the keyring of this warehouse?")
        return dict(entry)

    def key(self, key_id: str) -> KeyInfo | None:
        entry = self._data["keys"].get(key_id)
        return None if entry is None else _info(key_id, entry)

    def keys(self) -> list[KeyInfo]:
        return [_info(k, v) for k, v in sorted(self._data["keys"].items())]

    def create(self, key_id: str, partition: str) -> KeyInfo:
        if key_id in self._data["keys"]:
            raise IntegrityFailure(f"keyring {self.path} already has a key {key_id}")
        entry = {"partition": partition, "state": "live", "created": _now(), "current": 1,
                 "versions": {"1": {"material": _b64(secrets.token_bytes(32)), "created": _now()}}}
        self._save_key(key_id, entry)
        return _info(key_id, entry)

    def wrap(self, key_id: str, data_key: bytes) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        entry = self._live(key_id)
        version = int(entry["current"])
        kek = base64.b64decode(entry["versions"][str(version)]["material"])
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(kek).encrypt(nonce, data_key, key_id.encode())
        return f"{WRAP_PREFIX}:{version}:{_b64(nonce + sealed)}"

    def unwrap(self, key_id: str, wrapped: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        entry = self._live(key_id)
        try:
            prefix, version, body = wrapped.split(":", 2)
            blob = base64.b64decode(body, validate=True)
            if prefix != WRAP_PREFIX:
                raise ValueError(prefix)
        except ValueError:
            raise KeyUnavailable(f"a data key wrapped by {key_id} is not in this keyring's format") from None
        held = entry["versions"].get(version)
        if held is None:
            raise KeyUnavailable(f"keyring {self.path} no longer holds version {version} of key {key_id} "
                                 "(a rotation dropped it before this archive was re-wrapped)")
        try:
            return AESGCM(base64.b64decode(held["material"])).decrypt(blob[:12], blob[12:], key_id.encode())
        except InvalidTag:
            raise KeyUnavailable(f"the data key of an archive does not unwrap with key {key_id} "
                                 "(the key material was changed, or it is not this archive's key)") from None

    def rotate(self, key_id: str) -> int:
        entry = self._live(key_id)
        version = max(int(v) for v in entry["versions"]) + 1
        entry["versions"] = {**entry["versions"], str(version): {"material": _b64(secrets.token_bytes(32)), "created": _now()}}
        entry["current"] = version
        self._save_key(key_id, entry)
        return version

    def drop_old_versions(self, key_id: str) -> None:
        entry = self._live(key_id)
        current = str(entry["current"])
        entry["versions"] = {current: entry["versions"][current]}
        self._save_key(key_id, entry)

    def destroy(self, key_id: str, user: str) -> datetime:
        entry = self._entry(key_id)
        if entry["state"] == "destroyed":
            return datetime.fromisoformat(entry["destroyedAt"])
        when = utc_now()
        entry.update(state="destroyed", versions={}, destroyedAt=when.isoformat(timespec="seconds"), destroyedBy=user)
        self._save_key(key_id, entry)
        return when

    # ---- helpers

    def _live(self, key_id: str) -> dict[str, Any]:
        entry = self._entry(key_id)
        if entry["state"] == "destroyed":
            raise KeyUnavailable(destroyed_message(key_id, entry.get("destroyedAt"), entry.get("destroyedBy")))
        return entry

    def _save_key(self, key_id: str, entry: dict[str, Any]) -> None:
        data = {**self._data, "keys": {**self._data["keys"], key_id: entry}}
        if not data.get("warehouseId") and self.warehouse_id:
            data["warehouseId"] = self.warehouse_id
        self._write(data)
        self._data = data


def _check_entry(key_id: str, entry: Any) -> None:
    """A key's entry has the shape this module writes; a hand-edited or damaged one is refused as a whole keyring."""
    if not isinstance(entry, dict) or not isinstance(entry.get("partition"), str):
        raise ValueError(f"key {key_id} is not a key entry")
    if entry.get("state") not in ("live", "destroyed"):
        raise ValueError(f"key {key_id} has no valid state")
    versions = entry.get("versions")
    if not isinstance(versions, dict) or (entry["state"] == "live" and str(entry.get("current")) not in versions):
        raise ValueError(f"key {key_id} lacks its current version")
    for version, held in versions.items():
        try:
            material = base64.b64decode(held["material"], validate=True)
        except (TypeError, KeyError, ValueError):
            material = b""
        if not version.isdigit() or len(material) != 32:
            raise ValueError(f"key {key_id} version {version} is not a 256-bit key")


def _info(key_id: str, entry: dict[str, Any]) -> KeyInfo:
    return KeyInfo(key_id=key_id, partition=entry["partition"], state=entry["state"],
                   versions=tuple(sorted(int(v) for v in entry.get("versions", {}))), current=int(entry.get("current", 0)),
                   created=entry.get("created", ""), destroyed_at=entry.get("destroyedAt"), destroyed_by=entry.get("destroyedBy"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _now() -> str:
    return utc_now().isoformat(timespec="seconds")
