"""API tokens for ``serve`` (SPEC 9): a token stands for a user; only a hash of its secret is stored.

A token reads ``dct_<id>_<secret>``: the id is public (``tokens list`` shows it,
access_log records it), the secret is 32 random bytes shown once by
``tokens create``. ``api_tokens`` keeps the SHA-256 of the secret: the secret
has 256 bits of entropy, so a plain hash is as good as a slow one, and a
request is checked in microseconds. Creating and revoking are writer commands
(they publish), so the server sees a new or revoked token at the next request
after the command returns. A token acts with its user's permission, as that
user is listed in config.toml at the time of the request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from deletedcalls.clock import utc_now
from deletedcalls.errors import NotFound, UsageError

PREFIX = "dct"
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
_DAYS = re.compile(r"^(\d{1,5})d$")


@dataclass(frozen=True)
class NewToken:
    id: str
    user: str
    token: str
    created: datetime
    expires: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "token": self.token, "created": self.created, "expires": self.expires}


def parse_expiry(value: str | None, now: datetime) -> datetime | None:
    """``--expires``: ``30d`` (days from now) or a date ``YYYY-MM-DD`` (the token ends at 00:00 UTC that day)."""
    if value is None:
        return None
    m = _DAYS.match(value)
    if m:
        days = int(m.group(1))
        if not 1 <= days <= 3660:
            raise UsageError(f"--expires {value}: give 1 to 3660 days")
        return now + timedelta(days=days)
    try:
        day = date.fromisoformat(value)
    except ValueError as e:
        raise UsageError(f"--expires must be a number of days (30d) or a date (YYYY-MM-DD), not {value!r}") from e
    when = datetime(day.year, day.month, day.day)
    if when <= now or when > now + timedelta(days=3660):
        raise UsageError(f"--expires {value}: give a date after today and within ten years")
    return when


def create_token(con: duckdb.DuckDBPyConnection, user: str, created_by: str, expires: datetime | None, run_id: int) -> NewToken:
    if not user.strip():
        raise UsageError("--user must name a user")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = utc_now()
    con.execute(
        "INSERT INTO api_tokens VALUES ($id, $u, $h, $t, $e, NULL, $by, $run)",
        {"id": token_id, "u": user, "h": _digest(secret), "t": now, "e": expires, "by": created_by, "run": run_id},
    )
    return NewToken(token_id, user, f"{PREFIX}_{token_id}_{secret}", now, expires)


def revoke_token(con: duckdb.DuckDBPyConnection, token_id: str) -> bool:
    """Revoke a token; False when it was revoked already."""
    rows = con.execute('SELECT revokedAt FROM api_tokens WHERE id = $id', {"id": token_id}).fetchall()
    if not rows:
        raise NotFound(f"no token {token_id!r}; `deletedcalls tokens list` shows the ids")
    if rows[0][0] is not None:
        return False
    con.execute("UPDATE api_tokens SET revokedAt = $t WHERE id = $id", {"t": utc_now(), "id": token_id})
    return True


def list_tokens(con: duckdb.DuckDBPyConnection, spooled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every token (never a secret) with when it was last used, from access_log and the spool."""
    last: dict[str, str] = {}
    for entry in spooled:
        if entry.get("tokenId") and entry.get("at"):
            last[entry["tokenId"]] = max(last.get(entry["tokenId"], ""), entry["at"])
    rel = con.sql(
        'SELECT t.id, t."user", t.created, t.expires, t.revokedAt, t.createdBy, max(a."at") AS lastUsed '
        'FROM api_tokens t LEFT JOIN access_log a ON a.tokenId = t.id GROUP BY ALL ORDER BY t.created, t.id'
    )
    tokens = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
    for t in tokens:
        spooled_at = last.get(t["id"])
        if spooled_at and (t["lastUsed"] is None or datetime.fromisoformat(spooled_at) > t["lastUsed"]):
            t["lastUsed"] = datetime.fromisoformat(spooled_at)
    return tokens


@dataclass(frozen=True)
class TokenUser:
    token_id: str
    user: str


def token_table(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str, datetime | None, datetime | None]]:
    """Every token by id: (user, secret hash, expires, revokedAt); read once per published store."""
    rows = con.execute('SELECT id, "user", secretSha256, expires, revokedAt FROM api_tokens').fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def authenticate(tokens: dict[str, tuple[str, str, datetime | None, datetime | None]], token: str, now: datetime) -> TokenUser | None:
    """The user a presented token stands for, or None (unknown, malformed, revoked or expired)."""
    m = _TOKEN.match(token.strip())
    if not m:
        return None
    token_id, secret = m.groups()
    if token_id not in tokens:
        return None
    user, digest, expires, revoked = tokens[token_id]
    if not hmac.compare_digest(digest, _digest(secret)):
        return None
    if revoked is not None or (expires is not None and expires <= now):
        return None
    return TokenUser(token_id, user)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
