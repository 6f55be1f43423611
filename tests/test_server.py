"""The HTTP API (SPEC 9): a real server process on a free loopback port, a real HTTP client."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from conftest import REPO, Warehouse, csv_text, good_row, run_cli

from deletedcalls.ingest.synthetic import write_cdr, write_deletions

DPO = "dpo"
LIST = "/backend/api/v1/deletedCalls/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, home: Path, preexec_fn: Callable[[], None] | None = None) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=str(REPO), DELETEDCALLS_USER="ops")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deletedcalls", "--home", str(home), "serve", "--port", str(self.port), "--workers", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec_fn,
        )
        self.http = httpx.Client(base_url=self.base, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.http.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            time.sleep(0.1)

    def get(self, path: str, token: str | None = None, header: str = "bearer", **params: object) -> httpx.Response:
        headers = {}
        if token is not None:
            headers = {"Authorization": f"Bearer {token}"} if header == "bearer" else {"X-API-Key": token}
        return self.http.get(path, params=params or None, headers=headers)

    def stop(self) -> str:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return err.decode()


@pytest.fixture
def api(wh: Warehouse, write) -> Iterator[tuple[Warehouse, Server, str]]:
    """25 deleted calls in two files, a running server and an officer's token."""
    rows = [good_row(i) for i in range(30)]
    wh.cli("ingest", "cdr", str(write("a.csv", csv_text(rows[:20]))), ok=True)
    wh.cli("ingest", "cdr", str(write("b.csv", csv_text(rows[20:]))), ok=True)
    entries = [{"id": f"U{k}", "user": "alice", "timestamp": "2026-03-05T10:00:00Z", "action": "delete_calls",
                "selector": {"callIds": list(range(k * 5 + 1, k * 5 + 6))}} for k in range(5)]
    wh.cli("ingest", "deletions", str(write("d.jsonl", "".join(json.dumps(e) + "\n" for e in entries))), ok=True)
    wh.cli("materialise", ok=True)
    token = wh.cli("tokens", "create", "--user", DPO, user=DPO, ok=True).stdout.strip()
    server = Server(wh.home)
    try:
        yield wh, server, token
    finally:
        err = server.stop()
        assert "Traceback" not in err, err


def _cli_json(wh: Warehouse, *args: str) -> object:
    return wh.json("deleted-calls", *args, user=DPO)


def test_bodies_equal_the_cli_json_with_urls_for_next_and_previous(api):
    wh, server, token = api
    r = server.get(LIST, token, limit=4, minDate="2026-03-05")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    cli = _cli_json(wh, "list", "--limit", "4", "--min-date", "2026-03-05")
    assert body["results"] == cli["results"] and body["total"] == cli["total"] == 25
    assert body["previous"] is None and cli["previous"] is None
    nxt = urlparse(body["next"])
    assert (nxt.scheme, nxt.netloc, nxt.path) == ("", "", LIST)  # relative: no [serve] public_url
    assert parse_qs(nxt.query) == {"cursor": [cli["next"]]}
    one = server.get(f"{LIST}7", token)
    assert one.status_code == 200 and one.json() == _cli_json(wh, "get", "7")
    per_file = server.get("/backend/api/v1/CDRFiles/2/deletedCalls/", token)
    assert per_file.json() == _cli_json(wh, "list", "--cdr-file", "2")
    assert {r["CDRFileID"] for r in per_file.json()["results"]} == {2} and per_file.json()["total"] == 5


def test_following_next_to_the_end_returns_each_deleted_call_once(api):
    wh, server, token = api
    seen, url, pages = [], f"{LIST}?limit=7", 0
    while url:
        r = server.http.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        seen += [row["id"] for row in r.json()["results"]]
        url, pages = r.json()["next"], pages + 1
    assert seen == list(range(1, 26)) and pages == 4
    back = server.http.get(r.json()["previous"], headers={"Authorization": f"Bearer {token}"}).json()
    assert [row["id"] for row in back["results"]] == list(range(15, 22))


@pytest.mark.parametrize(("path", "params", "status", "named"), [
    (LIST, {"limit": "0"}, 400, "limit"),
    (LIST, {"limit": "abc"}, 400, "limit"),
    (LIST, {"minDate": "2026-13-01"}, 400, "minDate"),
    (LIST, {"minDate": "20260301"}, 400, "minDate"),
    (LIST, {"colour": "red"}, 400, "colour"),
    (LIST, {"offset": "99999999999999999999"}, 400, "offset"),
    (LIST, {"cursor": "forged"}, 400, "cursor"),
    (LIST, {"cursor": "x", "minDate": "2026-01-01"}, 400, "minDate"),
    (LIST, {"createdSince": "yesterday"}, 400, "createdSince"),
    (LIST, {"offset": "5", "idAfter": "3"}, 400, "idAfter"),
    (LIST, {"cursor": "eyJ2IjoxLCJsaW1pdCI6MH0"}, 400, "cursor"),  # a cursor carrying limit 0
    (f"{LIST}999", {}, 404, "999"),
    (f"{LIST}abc", {}, 404, "abc"),
    ("/backend/api/v1/CDRFiles/99/deletedCalls/", {}, 404, "99"),
    ("/backend/api/v1/nothing", {}, 404, "no such endpoint"),
])
def test_errors_are_json_name_the_parameter_and_carry_no_data(api, path, params, status, named):
    wh, server, token = api
    r = server.get(path, token, **params)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == status and named in body["error"]["message"]
    assert "Traceback" not in r.text and "0770090" not in r.text
    assert "--" not in body["error"]["message"], "an HTTP client is told about parameters, not CLI options"


def test_tokens_decide_401_and_403_and_every_refusal_is_logged(api):
    wh, server, token = api
    assert server.get(LIST).status_code == 401
    assert "Bearer" in server.get(LIST).headers["www-authenticate"]
    assert server.get(LIST, "dct_000000000000_" + "x" * 43).status_code == 401
    assert server.get(LIST, token[:-1] + ("A" if token[-1] != "A" else "B")).status_code == 401
    assert server.get(LIST, token, header="api-key").status_code == 401  # the seed API wants Bearer
    analyst = wh.cli("tokens", "create", "--user", "analyst", user=DPO, ok=True).stdout.strip()
    forbidden = server.get(LIST, analyst)
    assert forbidden.status_code == 403 and "results" not in forbidden.text
    post = server.http.post(LIST, headers={"Authorization": f"Bearer {token}"})
    assert post.status_code == 405 and post.json()["error"]["code"] == 405
    assert server.get(LIST, token, limit=3).status_code == 200
    log = wh.access_log("user", "command", "allowed", "rowsReturned", "client", "tokenId", "reason")
    http = [e for e in log if e[1].startswith("GET ")]
    assert [(e[0], e[2], e[3]) for e in http] == [("(no valid token)", False, None)] * 5 + [
        ("analyst", False, None), (DPO, True, 3)]
    assert all(e[1] == f"GET {LIST}" and e[4] == "127.0.0.1" for e in http)
    assert http[-1][5] == token.split("_")[1] and http[5][5] == analyst.split("_")[1]
    assert "401" in http[0][6] and "403" in http[5][6]


def test_a_revoked_or_expired_token_stops_working_without_a_restart(api):
    wh, server, token = api
    other = wh.cli("tokens", "create", "--user", DPO, "--expires", "30d", "--json", user=DPO, ok=True)
    second = json.loads(other.stdout)
    assert server.get(LIST, second["token"]).status_code == 200
    listed = {t["id"]: t for t in wh.json("tokens", "list", user=DPO)}
    assert listed[second["id"]]["lastUsed"] is not None and "token" not in listed[second["id"]]
    assert all(token.split("_")[2] not in json.dumps(t) for t in listed.values())
    assert wh.cli("tokens", "revoke", second["id"], user=DPO).exit_code == 0
    assert server.get(LIST, second["token"]).status_code == 401
    assert server.get(LIST, token).status_code == 200
    # expire the first token in the warehouse; the next writer command publishes it
    import duckdb

    con = duckdb.connect(str(wh.home / "deletedcalls.duckdb"))
    con.execute("UPDATE api_tokens SET expires = TIMESTAMP '2026-01-01' WHERE id = $id", {"id": token.split("_")[1]})
    con.close()
    wh.cli("materialise", ok=True)
    assert server.get(LIST, token).status_code == 401


def test_a_new_publish_is_served_without_a_restart(api, write):
    wh, server, token = api
    assert server.get(LIST, token).json()["total"] == 25
    health = server.get("/health").json()
    log = write("more.jsonl", json.dumps({"id": "U9", "user": "bob", "timestamp": "2026-03-06T00:00:00Z",
                                          "action": "delete_calls", "selector": {"callIds": [26, 27]}}) + "\n")
    wh.cli("ingest", "deletions", str(log), ok=True)
    wh.cli("materialise", ok=True)
    assert server.get(LIST, token).json()["total"] == 27
    assert server.get("/health").json()["runId"] > health["runId"]


def test_the_server_answers_while_a_writer_is_stopped_mid_run(api, tmp_path):
    wh, server, token = api
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_cdr(inbox / "big.csv", 150_000, seed=5, carrier="VF")
    write_deletions(inbox / "d.jsonl", [{"id": "V1", "user": "u", "timestamp": "2026-03-10T00:00:00Z",
                                         "action": "delete_calls", "selector": {"callIds": list(range(40, 60))}}])
    job = tmp_path / "job.toml"
    job.write_text(f'[job]\nname = "night"\ninbox = "{inbox}"\n\n[inbox]\nmin_age_seconds = 0\n')
    writer = run_cli(wh.home, "run", str(job), "--as-of", "2026-04-01")
    assert writer.stderr is not None and b"run=" in writer.stderr.readline()
    writer.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = server.get(LIST, token, limit=5)
        assert r.status_code == 200 and r.json()["total"] == 25
        assert time.monotonic() - started < 10
    finally:
        writer.send_signal(signal.SIGCONT)
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    assert server.get(LIST, token, limit=5).json()["total"] == 45
    assert wh.query("SELECT count(*) FROM access_log WHERE command = $c AND rowsReturned = 5", {"c": f"GET {LIST}"}) == [(1,)]


def test_health_and_openapi_need_no_token(api):
    wh, server, token = api
    health = server.get("/health").json()
    assert health["status"] == "ok" and health["runId"] == wh.scalar("SELECT max(id) FROM runs")
    spec = server.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and {LIST, "/api/deleted_calls", "/health"} <= set(spec["paths"])


def test_a_cdr_files_listing_pages_to_its_end_and_keeps_to_its_file(api):
    wh, server, token = api
    auth = {"Authorization": f"Bearer {token}"}
    seen, url = [], "/backend/api/v1/CDRFiles/1/deletedCalls/?limit=6"
    while url:
        r = server.http.get(url, headers=auth)
        assert r.status_code == 200, r.text
        seen += [row["id"] for row in r.json()["results"]]
        url = r.json()["next"]
    assert seen == list(range(1, 21))
    file1_cursor = parse_qs(urlparse(server.get("/backend/api/v1/CDRFiles/1/deletedCalls/", token, limit=6).json()["next"]).query)["cursor"][0]
    other = server.get("/backend/api/v1/CDRFiles/2/deletedCalls/", token, cursor=file1_cursor)
    assert other.status_code == 400 and "cursor" in other.json()["error"]["message"]


def test_only_get_is_answered_and_paths_are_exact(api):
    wh, server, token = api
    head = server.http.head(LIST, headers={"Authorization": f"Bearer {token}"})
    assert head.status_code == 405 and head.headers["allow"] == "GET"
    no_slash = server.get("/backend/api/v1/deletedCalls", token)
    assert no_slash.status_code == 404 and no_slash.json()["error"]["code"] == 404
    for odd in ("%C2%B2", "9" * 5000, "050x", "-1"):
        r = server.get(f"{LIST}{odd}", token)
        assert r.status_code == 404, (odd, r.text)
    assert server.get(LIST, token, limit="+5").status_code == 400
    logged = [e for e in wh.access_log("command", "allowed") if not e[0].startswith("GET /backend/api/v1/deletedCalls/")]
    assert ("HEAD /backend/api/v1/deletedCalls/", False) in logged and ("GET /backend/api/v1/deletedCalls", False) in logged


def test_an_idle_server_lets_go_of_a_superseded_store(api):
    wh, server, token = api
    assert server.get(LIST, token).status_code == 200  # the store is open now
    wh.cli("materialise", ok=True)  # publishes: the old file is unlinked
    deadline = time.monotonic() + 15
    while True:
        held = [os.readlink(f) for f in Path(f"/proc/{server.proc.pid}/fd").iterdir() if "protected.duckdb" in os.readlink(f)]
        if held and all("(deleted)" not in h for h in held) or not held:
            break
        assert time.monotonic() < deadline, held
        time.sleep(0.2)


def test_the_ultravox_routes_answer_with_an_api_key_like_the_cli(wh, tmp_path):
    wh.cli("ingest", "ultravox", str(REPO / "data" / "ultravox-calls-2026-03.json"),
           str(REPO / "data" / "ultravox-deleted-2026-03.json"), ok=True)
    token = wh.cli("tokens", "create", "--user", DPO, user=DPO, ok=True).stdout.strip()
    server = Server(wh.home)
    try:
        cli = wh.json("deleted-calls", "list", "--api", "ultravox", "--page-size", "2", user=DPO)
        r = server.get("/api/deleted_calls", token, header="api-key", pageSize=2)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["results"] == cli["results"] and body["total"] == cli["total"] >= 3
        assert set(body["results"][0]) == {"callId", "accountId", "created", "deletionTime", "joined", "ended",
                                           "maxDuration", "endReason", "recordingEnabled", "hadSummary"}
        seen, url = [], "/api/deleted_calls?pageSize=2"
        while url:
            page = server.http.get(url, headers={"X-API-Key": token}).json()
            seen += [t["callId"] for t in page["results"]]
            url = page["next"]
        assert len(seen) == len(set(seen)) == body["total"]
        one = server.get(f"/api/deleted_calls/{seen[0]}", token, header="api-key")
        assert one.status_code == 200 and one.json()["callId"] == seen[0]
        assert server.get("/api/deleted_calls/no-such-call", token, header="api-key").status_code == 404
        bad = server.get("/api/deleted_calls", token, header="api-key", colour="red")
        assert bad.status_code == 400 and "colour" in bad.json()["error"]["message"]
        assert server.get("/api/deleted_calls", token).status_code == 401  # Ultravox's API wants X-API-Key
        assert server.get("/api/deleted_calls", header="api-key").status_code == 401
    finally:
        assert "Traceback" not in server.stop()


# ---------------------------------------------------------------- issue 25: links, headers, whole log entries


def test_links_never_come_from_the_host_header(api):
    """A crafted Host made a paging client send its token to that host (issue 25 item 9)."""
    wh, server, token = api
    auth = {"Authorization": f"Bearer {token}"}
    r = server.http.get(LIST, params={"limit": 4}, headers=auth | {"Host": "evil.example:9999"})
    assert r.status_code == 200
    body = r.json()
    assert body["next"].startswith(LIST + "?cursor=") and "evil" not in json.dumps(body)
    config = wh.home / "config.toml"
    config.write_text(config.read_text().replace('public_url = ""', 'public_url = "https://calls.example.org/"'))
    body = server.http.get(LIST, params={"limit": 4}, headers=auth | {"Host": "evil.example:9999"}).json()
    assert body["next"].startswith(f"https://calls.example.org{LIST}?cursor=") and "evil" not in json.dumps(body)
    assert server.http.get(body["next"].removeprefix("https://calls.example.org"), headers=auth).json()["results"]


def test_request_headers_over_64_kib_are_refused_and_the_server_goes_on(api):
    wh, server, token = api
    auth = {"Authorization": f"Bearer {token}"}
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(f"GET {LIST} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n".encode())
        sent, answer = 0, b""
        try:
            while sent < 16 * 1024 * 1024:  # 16 MiB of headers: the server must stop reading long before
                s.sendall(b"X-Pad: " + b"a" * 8000 + b"\r\n")
                sent += 8009
        except OSError:
            pass  # the server closed the connection
        with contextlib.suppress(OSError):
            answer = s.recv(4096)
    assert sent < 16 * 1024 * 1024 or answer.startswith(b"HTTP/1.1 4"), answer[:100]
    assert b'"results"' not in answer
    assert server.http.get(LIST, params={"limit": 1}, headers=auth | {"X-Pad": "a" * 30_000}).status_code == 200
    assert server.http.get("/health").status_code == 200


def test_a_request_whose_log_entry_cannot_be_written_whole_gets_503_and_no_rows(api):
    """A nearly full disk (a file size limit on the server, for real short writes): every request answered with rows
    has a whole entry in access_log (before: 12 reads returned, 11 logged, the torn one skipped by the fold)."""
    import resource

    wh, first, token = api
    first.stop()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2500, 2500))

    server = Server(wh.home, preexec_fn=limit)
    try:
        statuses = []
        for i in range(1, 26):
            r = server.get(f"{LIST}{i}", token)
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert "results" not in r.text and '"id"' not in r.text and "access log" in r.text
        answered = statuses.count(200)
        assert 0 < answered < 25 and set(statuses) == {200, 503}, statuses
    finally:
        server.stop()
    folded = wh.cli("materialise", ok=True)
    assert "torn" not in folded.stderr
    logged = [e for e in wh.access_log("command", "allowed", "rowsReturned", "reason") if e[0].startswith("GET ")]
    assert len([e for e in logged if e[1] and e[2] == 1]) == answered and not [e for e in logged if (e[3] or "").startswith("torn")]
