"""What the read-only ``dr`` commands show: the archives with their state and targets, verification on every
target, and the keys (ids and states, never bytes). The list comes from a published store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from deletedcalls import logs
from deletedcalls.dr.archives import VerifyResult, list_archives, select_archives, verify_archive
from deletedcalls.dr.context import DrContext, dr_context
from deletedcalls.dr.keys import KeyInfo
from deletedcalls.dr.targets import default_target
from deletedcalls.settings import Settings
from deletedcalls.sqlfiles import sql

LIST_COLUMNS = ["id", "partition", "rows", "state", "encrypted", "targets", "created"]


def warehouse_context(con: duckdb.DuckDBPyConnection, settings: Settings, keyring: Path | None = None) -> DrContext:
    from deletedcalls.dr.context import keyring_path

    wid = str(con.execute("SELECT warehouseId FROM warehouse_info").fetchall()[0][0])
    dr = dr_context(settings, wid)
    if keyring is not None:
        dr.keyring = keyring_path(settings, wid, keyring)
    return dr


def describe_archives(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[dict[str, Any]]:
    """Every archive: id, partition, rows, state (live / shredded), and per target its URI, whether it verified
    there, and whether it is off the machine. A plain archive (before SPEC 11) lies in the home's dr/ only."""
    dr = warehouse_context(con, settings)
    out = []
    for a in list_archives(con):
        targets = []
        for c in a.pop("copies"):
            t = dr.target(c["target"])
            targets.append({"uri": t.uri, "verified": True, "verifiedAt": c["verifiedAt"], "offMachine": t.off_machine,
                            "where": t.where, "lockMode": c["lockMode"], "lockUntil": c["lockUntil"],
                            "deletedAt": c["deletedAt"]})
        if not a["encrypted"]:
            home = default_target(settings.home)
            targets.append({"uri": home.uri, "verified": False, "verifiedAt": None, "offMachine": False,
                            "where": "plain (unencrypted) file in the home, written before SPEC 11: run `dr migrate`",
                            "lockMode": None, "lockUntil": None, "deletedAt": None})
        a["targets"] = targets
        a["plain"] = not a["encrypted"]
        out.append(a)
    return out


def list_warnings(archives: list[dict[str, Any]], settings: Settings) -> list[str]:
    """What an operator must know about the archives' safety: plain ones, targets not off the machine."""
    warnings = []
    plain = [a["id"] for a in archives if a["plain"]]
    if plain:
        warnings.append(f"{len(plain)} archive(s) are plain (unencrypted) files in the home, written before SPEC 11 "
                        f"(first: {plain[0]}): run `deletedcalls dr migrate`")
    seen = set()
    for a in archives:
        for t in a["targets"]:
            if not t["offMachine"] and t["uri"] not in seen and t["deletedAt"] is None:
                seen.add(t["uri"])
                warnings.append(f"target {t['uri']} is not off the machine ({t['where']}); set [dr] targets")
    if not archives and not settings.dr_targets:
        warnings.append(f"no [dr] targets set: archives will go to {settings.dr_dir}, which is not off the machine")
    return warnings


def table_rows(archives: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The list as a terminal table shows it: one line per archive, its targets joined."""
    rows = []
    for a in archives:
        state = a["state"] if a["state"] == "live" else f"shredded ({str(a['shreddedAt'])[:10]})"
        marks = [t["uri"] + ("" if t["offMachine"] else " (not off the machine)") + ("" if t["verified"] else " (unverified)")
                 for t in a["targets"] if t["deletedAt"] is None]
        rows.append({**a, "state": state, "targets": "\n".join(marks) or "(objects deleted)",
                     "encrypted": "yes" if a["encrypted"] else "NO (dr migrate)"})
    return rows


def verify_all(con: duckdb.DuckDBPyConnection, settings: Settings, ids: list[str] | None,
               keyring: Path | None = None) -> list[VerifyResult]:
    """``dr verify``: every copy of each archive (all, or the ids given), on every target it was written to."""
    dr = warehouse_context(con, settings, keyring)
    results = []
    for a in select_archives(describe_archives(con, settings), ids):
        copies = [(dr.target(t["uri"]), a["path"]) for t in a["targets"] if t["deletedAt"] is None]
        if a["plain"]:
            copies = [(default_target(settings.home), a["path"])]
        crypto = dr.crypto if a["encrypted"] and a["state"] == "live" else None
        results.append(verify_archive(a, copies, crypto))
    return results


def keys_list(con: duckdb.DuckDBPyConnection | None, dr: DrContext) -> list[dict[str, Any]]:
    """``dr keys list``: each key's id, partition, state, versions held and dates; never a key's bytes."""
    infos: list[KeyInfo] = dr.keys.keys()
    archives: dict[str, int] = {}
    if con is not None:
        for key_id, n in con.execute(sql("dr/archives_per_key")).fetchall():
            archives[key_id] = int(n)
    out = []
    for k in infos:
        d = k.as_dict()
        d["archives"] = archives.get(k.key_id)
        out.append(d)
    logs.debug(f"{len(out)} key(s) in {dr.keyring}", stage="dr-keys")
    return out
