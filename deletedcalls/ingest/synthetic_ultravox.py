"""Realistic synthetic Ultravox call objects, tombstones and webhook events, for tests, benchmarks and demos.

Shaped like Ultravox's API objects (times ISO 8601 with Z, durations "3600s", metadata a
string map, a summary and a system prompt that deletedcalls must not keep). Deterministic
for a seed. Nothing in the product depends on this module.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

AGENTS = [f"agent-{name}" for name in ("billing", "support", "sales", "retention", "Returns", "night", "overflow")]
VOICES = ["Mark", "Jessica", "Emily-British", "Aaron", "Tanya"]
CAMPAIGNS = ["spring", "Summer", "autumn", "winter-offer"]
START = datetime(2026, 3, 1, tzinfo=UTC)


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def call_object(i: int, seed: int = 0, start: datetime = START) -> dict[str, Any]:
    """The i-th synthetic call object (the same i and seed give the same object)."""
    rng = random.Random(seed * 1_000_003 + i)  # noqa: S311 -- test data, not secrets
    created = start + timedelta(seconds=i * 37 + rng.randint(0, 30), microseconds=rng.randint(0, 999_999))
    joined = None if rng.random() < 0.1 else created + timedelta(seconds=rng.randint(1, 20))
    ended = None if joined is None else joined + timedelta(seconds=rng.randint(0, 1200), microseconds=rng.randint(0, 999_999))
    metadata = {"customer": f"C{rng.randint(0, 60):04d}", "campaign": rng.choice(CAMPAIGNS)}
    if rng.random() < 0.3:
        metadata["region"] = rng.choice(["north", "South", "east-Anglia"])
    return {
        "callId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "clientVersion": None,
        "created": iso(created),
        "joined": iso(joined),
        "ended": iso(ended),
        "endReason": "unjoined" if joined is None else rng.choice(["hangup", "agent_hangup", "timeout"]),
        "billedDuration": f"{0 if ended is None or joined is None else int((ended - joined).total_seconds())}s",
        "firstSpeaker": "FIRST_SPEAKER_AGENT",
        "joinTimeout": "30s",
        "maxDuration": rng.choice(["3600s", "1800s", "600.5s"]),
        "medium": {"twilio": {}},
        "model": "fixie-ai/ultravox",
        "recordingEnabled": rng.random() < 0.4,
        "systemPrompt": "You are the billing assistant of ACME Telecom. The caller is Jane Doe, 07700 900123.",
        "temperature": 0,
        "voice": rng.choice(VOICES),
        "summary": "Jane Doe asked about a charge on her March bill." if rng.random() < 0.5 else None,
        "shortSummary": None,
        "metadata": metadata,
        "agentId": None if rng.random() < 0.05 else rng.choice(AGENTS),
        "accountId": "acct-acme",
    }


def started(call: dict[str, Any]) -> dict[str, Any]:
    """The same call as a call.started webhook would carry it: not joined, not ended, no summary."""
    return {**call, "joined": None, "ended": None, "endReason": None, "summary": None}


def tombstone(call: dict[str, Any], deletion_time: datetime, account: str = "acct-acme") -> dict[str, Any]:
    """Ultravox's tombstone of a deleted call: exactly its ten fields."""
    return {
        "callId": call["callId"], "accountId": account, "created": call["created"], "deletionTime": iso(deletion_time),
        "joined": call["joined"], "ended": call["ended"], "maxDuration": call["maxDuration"],
        "endReason": call["endReason"], "recordingEnabled": call["recordingEnabled"],
        "hadSummary": bool(call.get("summary")),
    }


def event(name: str, call: dict[str, Any]) -> dict[str, Any]:
    return {"event": name, "call": call}


def write_page(path: Path, results: list[dict[str, Any]], total: int | None = None) -> Path:
    """A saved page of GET /api/calls or /api/deleted_calls."""
    path.write_text(json.dumps({"results": results, "next": None, "previous": None,
                                "total": len(results) if total is None else total}), encoding="utf-8")
    return path


def write_events(path: Path, events: Iterable[dict[str, Any]]) -> Path:
    """A webhook spool: one event a line."""
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def write_call_pages(folder: Path, calls: int, per_page: int = 1000, seed: int = 0) -> list[Path]:
    """``calls`` call objects in pages of ``per_page`` (the benchmark's input)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for page, first in enumerate(range(0, calls, per_page)):
        items = [call_object(i, seed) for i in range(first, min(first + per_page, calls))]
        paths.append(write_page(folder / f"calls-{page:05d}.json", items, total=calls))
    return paths
