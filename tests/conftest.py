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

from deletedcalls.catalog import attach, connection, published_lake, writer_lake
from deletedcalls.cli import cli
from deletedcalls.ingest.schemas import CDR_COLUMNS
from deletedcalls.settings import load_settings

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
        """A query on the writer's lake, attached read-only (no writer may be running)."""
        con = lake_connection(self.home)
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


def lake_connection(home: Path, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """The warehouse's lake attached (read-only unless asked) as ``lake`` and in use, as the writer sees it."""
    settings = load_settings(home)  # a home of its own or a shared warehouse (issue 30): the lake its config names
    con = connection(settings)
    attach(con, writer_lake(settings), "lake", read_only=read_only)
    con.execute("USE lake")
    return con


def uncompressed(home: Path) -> None:
    """Make the lake write plain Parquet (no writer is running), so that raw bytes can be scanned for values."""
    settings = load_settings(home)
    con = connection(settings)
    try:
        attach(con, writer_lake(settings), "lake")
        con.execute("CALL lake.set_option('parquet_compression', 'uncompressed')")
    finally:
        con.close()


def protected_connection(home: Path) -> duckdb.DuckDBPyConnection:
    """The published protected store (a copy of the lake's catalog) attached read-only and in use, as officers' reads open it."""
    con = connection()
    attach(con, published_lake(home), "protected", read_only=True)
    con.execute("USE protected")
    return con


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


@pytest.fixture(autouse=True)
def _keyring_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DR keyring's default place ($XDG_CONFIG_HOME/deletedcalls/keyrings) under tmp_path: never the real home;
    and no S3 settings of the developer's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------- DR: a real S3 API server, config, keyrings

S3_KEYS = {"AWS_ACCESS_KEY_ID": "deletedcalls-test", "AWS_SECRET_ACCESS_KEY": "deletedcalls-test-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """moto's S3 API server on 127.0.0.1, spoken to over HTTP exactly as AWS (the product uses pyarrow.fs)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"])

    def bucket(self, *, lock: bool = False) -> str:
        """A new, empty bucket (with Object Lock when asked)."""
        import uuid

        name = f"dr-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, **({"ObjectLockEnabledForBucket": True} if lock else {}))
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        c = self.client()
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {k: c.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def start_s3_server(**env: str) -> tuple[subprocess.Popen[bytes], S3Server]:
    """moto's server in a process of its own on a free port of 127.0.0.1 (in a thread of the test process, a
    pyarrow call that holds the GIL while it waits for the server, CryptoFactory.rotate_master_keys, would
    wait forever)."""
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the moto S3 server did not start") from None
            time.sleep(0.1)
    return proc, S3Server(port)


@pytest.fixture(scope="session")
def s3_server() -> Any:
    proc, server = start_s3_server()
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server, with test credentials in the environment (the standard AWS chain reads them)."""
    for k, v in S3_KEYS.items():
        monkeypatch.setenv(k, v)
    return s3_server


def configure_dr(home: Path, *, targets: list[str] | None = None, keyring: Path | None = None, endpoint: str = "",
                 lock_mode: str = "", retention_days: int = 2555) -> None:
    """Rewrite config.toml's [dr] and [dr.s3] (init writes them last)."""
    config = home / "config.toml"
    text = config.read_text()
    text = text[: text.index("[dr]")]
    lines = ["[dr]"]
    if targets is not None:
        lines.append("targets = [" + ", ".join(json.dumps(t) for t in targets) + "]")
    if keyring is not None:
        lines.append(f"keyring = {json.dumps(str(keyring))}")
    lines += [f"retention_days = {retention_days}", f"lock_mode = {json.dumps(lock_mode)}", "", "[dr.s3]",
              f"endpoint = {json.dumps(endpoint)}", 'region = "us-east-1"', ""]
    config.write_text(text + "\n".join(lines))


def keyring_file(home: Path) -> Path:
    """The default keyring of the warehouse at home (under the test's XDG_CONFIG_HOME)."""
    con = lake_connection(home)
    try:
        wid = con.execute("SELECT warehouseId FROM warehouse_info").fetchall()[0][0]
    finally:
        con.close()
    return Path(os.environ["XDG_CONFIG_HOME"]) / "deletedcalls" / "keyrings" / f"{wid}.keyring"


def decrypted_rows(path: Path, keyring: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """An archive's rows, decrypted with a keyring (the test reads what a restore would read)."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    from deletedcalls.dr.encryption import Crypto
    from deletedcalls.dr.keys import FileKeyring

    crypto = Crypto(FileKeyring(keyring))
    props = crypto.decryption_properties(str(path), pafs.LocalFileSystem())
    return pq.read_table(str(path), columns=columns, decryption_properties=props).to_pylist()


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


# ---------------------------------------------------------------- deleted calls over three months (retention, DR)


def entry(i: str, call_ids: list[int], ts: str) -> str:
    """One deletion-log line: alice deletes the calls of these ids."""
    return json.dumps({"id": i, "user": "alice", "timestamp": ts, "action": "delete_calls", "selector": {"callIds": call_ids}}) + "\n"


def number(i: int) -> str:
    """Distinctive, high-entropy phone numbers, so that a byte scan can find them."""
    return f"+4479{(i * 7919 + 104729) % 10**8:08d}"


@pytest.fixture
def deleted(wh: Warehouse, write: Callable[..., Path]) -> Warehouse:
    """20 calls: 1-6 deleted in Jan 2026, 7-10 in Feb 2026, 11-12 in Jun 2026; 13-20 live."""
    uncompressed(wh.home)  # raw bytes of the lake's files can be scanned for numbers
    rows = [good_row(i, target=number(i + 1), external=number(i + 1001)) for i in range(20)]  # call id i+1 has number(i+1)
    wh.cli("ingest", "cdr", str(write("bt.csv", csv_text(rows))), ok=True)
    log = (entry("UAL-1", [1, 2, 3, 4, 5, 6], "2026-01-15T10:00:00Z") + entry("UAL-2", [7, 8, 9, 10], "2026-02-28T23:59:59Z")
           + entry("UAL-3", [11, 12], "2026-06-01T00:00:00Z"))
    wh.cli("ingest", "deletions", str(write("d.jsonl", log)), ok=True)
    wh.cli("materialise", ok=True)
    return wh
