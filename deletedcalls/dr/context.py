"""What a DR command works with: the targets, the keyring (opened when first needed) and the staging folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deletedcalls.dr.encryption import Crypto
from deletedcalls.dr.keys import FileKeyring, KeyService, default_keyring_path
from deletedcalls.dr.targets import Target, configured_targets, parse_target
from deletedcalls.settings import Settings


def keyring_path(settings: Settings | None, warehouse_id: str | None, given: Path | None = None) -> Path:
    """--keyring, else [dr] keyring, else the default for the warehouse id."""
    if given is not None:
        return Path(given).expanduser().absolute()
    if settings is not None and settings.dr_keyring:
        return Path(settings.dr_keyring).expanduser()
    if not warehouse_id:
        from deletedcalls.errors import UsageError

        raise UsageError("name the keyring with --keyring (there is no warehouse to find it from)")
    return default_keyring_path(warehouse_id)


@dataclass
class DrContext:
    """Targets and keys of one command; the keyring is opened (and trusted) at its first use."""

    settings: Settings | None
    warehouse_id: str | None
    targets: list[Target]
    keyring: Path
    may_create_keyring: bool = False
    _keys: list[KeyService] = field(default_factory=list)
    _crypto: list[Crypto] = field(default_factory=list)
    _others: dict[str, Target] = field(default_factory=dict)

    @property
    def keys(self) -> KeyService:
        if not self._keys:
            home = self.settings.home if self.settings is not None else None
            self._keys.append(FileKeyring(self.keyring, home=home, warehouse_id=self.warehouse_id,
                                          create=self.may_create_keyring))
        return self._keys[0]

    @property
    def crypto(self) -> Crypto:
        if not self._crypto:
            self._crypto.append(Crypto(self.keys, self.warehouse_id or "deletedcalls"))
        return self._crypto[0]

    @property
    def staging(self) -> Path:
        assert self.settings is not None
        return self.settings.dr_dir / ".staging"

    def target(self, uri: str) -> Target:
        """A target by its URI: one of the configured ones, else parsed (a copy made before [dr] targets changed)."""
        for t in self.targets:
            if t.uri == uri:
                return t
        if uri not in self._others:
            s = self.settings
            self._others[uri] = parse_target(uri, home=s.home if s else None, endpoint=s.s3_endpoint if s else "",
                                             region=s.s3_region if s else "")
        return self._others[uri]


def dr_context(settings: Settings, warehouse_id: str, *, may_create_keyring: bool = False) -> DrContext:
    return DrContext(settings, warehouse_id, configured_targets(settings), keyring_path(settings, warehouse_id),
                     may_create_keyring)


def standalone_context(from_uri: str, keyring: Path) -> DrContext:
    """For a machine without the warehouse: one target (an S3 endpoint from $AWS_ENDPOINT_URL), one keyring."""
    return DrContext(None, None, [parse_target(from_uri, home=None)], keyring_path(None, None, keyring))
