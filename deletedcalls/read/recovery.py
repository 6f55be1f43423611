"""``dr restore`` and ``dr drill`` as the command line runs them: with a warehouse, or on a machine without one.

With a warehouse (a home holding one): ``dr restore`` needs ``data_protection``;
the archive's record (a published store) says where its copies are, its
SHA-256 and whether it is shredded; the read is logged in the access spool
**before** a row is written (``dr/restore.py`` calls back), and a restore that
then fails removes what it wrote. Without one (``--from URI --keyring PATH``,
nothing else): possession of the keyring is the authority, and the act is
logged into the restored file's ``restore_log`` only.

``dr drill`` restores the newest archive of each target into a temporary
file, checks it, removes it; with a warehouse each drill is logged like a
restore (its rows are read, though nobody sees them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deletedcalls.dr.archives import select_archives
from deletedcalls.dr.context import DrContext, standalone_context
from deletedcalls.dr.drill import DrillLine, drill_target
from deletedcalls.dr.inventory import describe_archives, warehouse_context
from deletedcalls.dr.keys import KeyUnavailable, destroyed_message
from deletedcalls.dr.restore import Restored, find_source, restore
from deletedcalls.errors import UsageError
from deletedcalls.published import reading
from deletedcalls.read.access import record_access, require_data_protection
from deletedcalls.settings import Settings


def has_warehouse(settings: Settings) -> bool:
    return settings.database.exists()


def _standalone(settings: Settings, command: str, from_uri: str | None, keyring: Path | None) -> DrContext:
    if not from_uri or keyring is None:
        raise UsageError(
            f"no warehouse at {settings.home}: to {command} without one, give --from URI (the target) and "
            "--keyring PATH (the keyring file); else name the warehouse with --home")
    return standalone_context(from_uri, keyring)


def restore_archive(settings: Settings, archive_id: str, into: Path, *, from_uri: str | None = None,
                    keyring: Path | None = None) -> Restored:
    """``dr restore ID --into FILE [--from URI] [--keyring PATH]``."""
    if not has_warehouse(settings):
        dr = _standalone(settings, "restore", from_uri, keyring)
        source = find_source(archive_id, dr.targets)
        crypto = dr.crypto if source.manifest.get("encryption") else None
        return restore(source, crypto, into, user=settings.user, before_write=lambda _rows: None)
    what = {"archive": archive_id, "into": str(into), "from": from_uri}
    require_data_protection(settings, "dr restore", what)
    with reading(settings, "analyst") as con:
        recorded = [a for a in describe_archives(con, settings) if a["id"] == archive_id]
        dr = warehouse_context(con, settings, keyring)
    if not recorded and from_uri:  # an archive of another warehouse (a new home on a new machine): the target's word
        foreign = _foreign(settings, dr, from_uri)
        source = find_source(archive_id, foreign.targets)
        crypto = foreign.crypto if source.manifest.get("encryption") else None

        def log_foreign(rows: int) -> None:
            record_access(settings, "dr restore", {**what, "recorded": False}, rows, allowed=True)

        return restore(source, crypto, into, user=settings.user, before_write=log_foreign, home=settings.home)
    [archive] = recorded or select_archives([], [archive_id])
    if archive["state"] == "shredded":
        raise KeyUnavailable(destroyed_message(archive["keyId"], str(archive["shreddedAt"]), None, f"archive {archive_id}"))
    targets = [dr.target(from_uri)] if from_uri else [dr.target(t["uri"]) for t in archive["targets"] if t["deletedAt"] is None]
    source = find_source(archive_id, targets)
    crypto = dr.crypto if archive["encrypted"] else None

    def log_first(rows: int) -> None:
        record_access(settings, "dr restore", {**what, "from": source.target.uri}, rows, allowed=True)

    return restore(source, crypto, into, user=settings.user, before_write=log_first, sha256=archive["sha256"],
                   home=settings.home)


def drill(settings: Settings, *, from_uri: str | None = None, keyring: Path | None = None) -> list[DrillLine]:
    """``dr drill [--from URI]``: one line per target."""
    if not has_warehouse(settings):
        dr = _standalone(settings, "drill", from_uri, keyring)
        return [drill_target(t, dr.crypto, user=settings.user) for t in dr.targets]
    with reading(settings, "analyst") as con:
        archives = describe_archives(con, settings)
        dr = warehouse_context(con, settings, keyring)
    targets = [dr.target(from_uri)] if from_uri else dr.targets
    lines = []
    for target in targets:
        newest = _newest_recorded(archives, target.uri)
        if newest is None and from_uri:  # a target this warehouse never wrote to: its own newest manifest

            def log_found(rows: int, uri: str = target.uri) -> None:
                record_access(settings, "dr drill", {"from": uri, "recorded": False}, rows, allowed=True)

            lines.append(drill_target(target, _foreign(settings, dr, target.uri).crypto, user=settings.user,
                                      before_write=log_found))
            continue
        if newest is None:
            lines.append(DrillLine(target.uri, None, None, 0.0, True, "no archive recorded on this target yet"))
            continue

        def log_first(rows: int, archive: dict[str, Any] = newest, uri: str = target.uri) -> None:
            record_access(settings, "dr drill", {"archive": archive["id"], "from": uri}, rows, allowed=True)

        lines.append(drill_target(target, dr.crypto, user=settings.user, before_write=log_first,
                                  newest=(newest["id"], newest["path"], newest["sha256"], newest["manifestSha256"])))
    return lines


def _foreign(settings: Settings, dr: DrContext, uri: str) -> DrContext:
    """For archives this warehouse did not write (another warehouse's, read from a new home): one target, and the
    keyring given (trusted like any keyring, but not bound to this warehouse: holding it is the authority)."""
    return DrContext(settings, None, [dr.target(uri)], dr.keyring)


def _newest_recorded(archives: list[dict[str, Any]], uri: str) -> dict[str, Any] | None:
    live = [a for a in archives if a["state"] == "live" and a["encrypted"]
            and any(t["uri"] == uri and t["verified"] and t["deletedAt"] is None for t in a["targets"])]
    return max(live, key=lambda a: (a["partition"], a["part"])) if live else None


def keys_of_warehouse(settings: Settings, keyring: Path | None = None) -> list[dict[str, Any]]:
    """``dr keys list``: the keyring's keys (with how many archives each protects, when there is a warehouse)."""
    from deletedcalls.dr.context import DrContext, keyring_path
    from deletedcalls.dr.inventory import keys_list

    if not has_warehouse(settings):
        if keyring is None:
            raise UsageError(f"no warehouse at {settings.home}: name the keyring with --keyring PATH")
        return keys_list(None, DrContext(None, None, [], keyring_path(None, None, keyring)))
    with reading(settings, "analyst") as con:
        return keys_list(con, warehouse_context(con, settings, keyring))
