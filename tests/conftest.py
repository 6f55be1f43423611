"""Shared fixtures: a real warehouse in tmp_path, the real CLI, CSV writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from deletedcalls.cli import cli
from deletedcalls.ingest.schemas import CDR_COLUMNS

REPO = Path(__file__).resolve().parent.parent
HEADER = list(CDR_COLUMNS)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own warehouse and user out of the tests."""
    for var in ("DELETEDCALLS_HOME", "DELETEDCALLS_USER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DELETEDCALLS_USER", "analyst")


def good_row(i: int = 0, **overrides: str) -> dict[str, str]:
    row = {c: "" for c in HEADER}
    row.update(
        target=f"0{7700900000 + i}",
        external="+441632960000",
        callTypeDirectionFlag="A",
        callTypeRecordingFlag="N",
        startDate="2026-03-05",
        startTime="10:22:01",
        duration="61",
        costCDR="1.2345",
        carrier="BT",
        carrierCallID=f"BT-{i:012d}",
    )
    row.update(overrides)
    return row


def csv_text(rows: list[dict[str, str]], header: list[str] | None = None, eol: str = "\n") -> str:
    """CSV text; values are written as given (quote them yourself where a test needs it)."""
    header = header or HEADER
    lines = [",".join(header)] + [",".join(r.get(c, "") for c in header) for r in rows]
    return eol.join(lines) + eol


class Warehouse:
    """A real warehouse in tmp_path driven through the real CLI."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def cli(self, *args: str, user: str = "analyst", ok: bool | None = None) -> Result:
        result = self.runner.invoke(
            cli, ["--home", str(self.home), *args], env={"DELETEDCALLS_USER": user}, catch_exceptions=False
        )
        if ok is True:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    def query(self, q: str, params: Any = None) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.home / "deletedcalls.duckdb"), read_only=True)
        try:
            return con.execute(q, params).fetchall() if params else con.sql(q).fetchall()
        finally:
            con.close()

    def scalar(self, q: str, params: Any = None) -> Any:
        return self.query(q, params)[0][0]

    def access_log(self, *columns: str) -> list[tuple[Any, ...]]:
        """access_log as an officer sees it now (folded entries plus the spool), in time order,
        without the officer reads this helper makes itself."""
        cols = columns or ("user", "allowed")
        rows = self.json("sql", 'SELECT * FROM access_log ORDER BY "at", entryId -- the access_log helper', user="dpo")
        return [tuple(r[c] for c in cols) for r in rows if "the access_log helper" not in (r["filters"] or "")]

    def json(self, *args: str, user: str = "analyst") -> Any:
        result = self.cli(*args, "--json", user=user)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "warehouse")
    w.cli("init", ok=True)
    return w


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a file under tmp_path/in: text (str, encoded UTF-8) or bytes as given."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return _write


def run_cli(home: Path, *args: str, user: str = "analyst", **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start the real CLI in a subprocess (for kills and concurrency)."""
    env = dict(os.environ, DELETEDCALLS_USER=user, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "deletedcalls", "--home", str(home), *args],
        env=env, **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs},
    )


def months_ago(k: int) -> date:
    """The first day of the month k months before this one (UTC)."""
    from deletedcalls.clock import today_utc

    today = today_utc()
    y, m = divmod(today.year * 12 + today.month - 1 - k, 12)
    return date(y, m + 1, 1)


def deletion(entry_id: str, user: str, at: date, selector: dict[str, Any]) -> str:
    return json.dumps({"id": entry_id, "user": user, "timestamp": f"{at}T10:00:00Z", "action": "delete_calls",
                       "selector": selector}) + "\n"


@pytest.fixture
def reviewed(wh: Warehouse, write: Callable[..., Path]) -> Warehouse:
    """A warehouse with something in every section of the review report, dated relative to today (UTC):

    bt.csv: 20 calls and one record rejected (a negative duration; loaded with a 10 % limit); ee.csv rejected whole (2 of 3 records bad);
    UAL-1 (alice) deletes calls 1-6 six months ago, UAL-2 (bob) 7-10 five months ago (both partitions archived
    and purged by retention as of today), UAL-4 (alice) 11-12 last month (kept); UAL-3 (carol, 40 days ago) names
    a call never delivered (pending); a second log repeats UAL-1 with other content (a conflict). dpo reads
    deleted calls once, and analyst is refused once.
    """
    from deletedcalls.clock import today_utc

    rows = [good_row(i) for i in range(20)] + [good_row(20, duration="-12")]
    wh.cli("ingest", "cdr", "--max-reject-ratio", "0.1", str(write("bt.csv", csv_text(rows))), ok=True)
    bad = [good_row(100, carrier="EE", carrierCallID="EE-1"), good_row(101, carrier="EE", carrierCallID="EE-2", startDate="2026-02-30"),
           good_row(102, carrier="EE", carrierCallID="EE-3", target="not-a-number")]
    assert wh.cli("ingest", "cdr", str(write("ee.csv", csv_text(bad)))).exit_code == 3
    log = (deletion("UAL-1", "alice", months_ago(6) + timedelta(days=14), {"callIds": [1, 2, 3, 4, 5, 6]})
           + deletion("UAL-2", "bob", months_ago(5) + timedelta(days=20), {"callIds": [7, 8, 9, 10]})
           + deletion("UAL-3", "carol", today_utc() - timedelta(days=40), {"carrierCallIds": ["BT-999999999999"]})
           + deletion("UAL-4", "alice", months_ago(1) + timedelta(days=1), {"callIds": [11, 12]}))
    wh.cli("ingest", "deletions", str(write("d1.jsonl", log)), ok=True)
    conflict = deletion("UAL-1", "alice", months_ago(6) + timedelta(days=14), {"callIds": [13]})
    assert wh.cli("ingest", "deletions", str(write("d2.jsonl", conflict))).exit_code == 3
    wh.cli("materialise", ok=True)
    wh.cli("retention", "enforce", "--as-of", str(today_utc()), ok=True)
    wh.cli("deleted-calls", "list", "--limit", "2", "--format", "json", user="dpo", ok=True)
    assert wh.cli("deleted-calls", "list", user="analyst").exit_code == 4
    return wh
