"""The served responses against the served OpenAPI description (issue 26): every body of the seed and the Ultravox
routes, answered or refused, is valid by the schema /openapi.json gives for its status (jsonschema, draft 2020-12)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO
from jsonschema import Draft202012Validator
from test_server import DPO, LIST, Server


@pytest.fixture
def served(wh, write):
    wh.cli("ingest", "cdr", str(REPO / "data" / "gamma-fcs-2026-03-29.csv"), ok=True)
    wh.cli("ingest", "ultravox", str(REPO / "data" / "ultravox-calls-2026-03.json"),
           str(REPO / "data" / "ultravox-deleted-2026-03.json"), ok=True)
    entry = {"id": "U-fcs", "user": "alice", "timestamp": "2026-03-30T10:00:00Z", "action": "delete_calls",
             "selector": {"cdrFile": "gamma-fcs-2026-03-29.csv"}}
    wh.cli("ingest", "deletions", str(write("d.jsonl", json.dumps(entry) + "\n")), ok=True)
    wh.cli("materialise", ok=True)
    token = wh.cli("tokens", "create", "--user", DPO, user=DPO, ok=True).stdout.strip()
    server = Server(wh.home)
    try:
        yield server, token
    finally:
        assert "Traceback" not in server.stop()


def _validator(spec: dict, path: str, status: int) -> Draft202012Validator:
    schema = spec["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_response_body_is_valid_by_the_served_schema(served):
    server, token = served
    spec = server.get("/openapi.json").json()
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    calls = server.get(LIST, token, limit=1000).json()["results"]
    tombstones = server.get("/api/deleted_calls", token, header="api-key", pageSize=1000).json()["results"]
    assert calls and tombstones and any(c["carrier"] == "ultravox" for c in calls)
    checks = [
        (LIST, LIST, {"limit": 3}, "bearer", 200),
        (LIST, LIST, {"minDate": "2026-03-29", "maxDate": "2026-03-29"}, "bearer", 200),
        (LIST, LIST, {"limit": 0}, "bearer", 400),
        (LIST, LIST, {}, None, 401),
        (LIST + "{id}", f"{LIST}{calls[0]['id']}", {}, "bearer", 200),
        (LIST + "{id}", f"{LIST}{calls[-1]['id']}", {}, "bearer", 200),
        (LIST + "{id}", f"{LIST}999999", {}, "bearer", 404),
        ("/backend/api/v1/CDRFiles/{id}/deletedCalls/", "/backend/api/v1/CDRFiles/1/deletedCalls/", {"limit": 2}, "bearer", 200),
        ("/api/deleted_calls", "/api/deleted_calls", {"pageSize": 2}, "api-key", 200),
        ("/api/deleted_calls", "/api/deleted_calls", {"pageSize": 0}, "api-key", 400),
        ("/api/deleted_calls/{callId}", f"/api/deleted_calls/{tombstones[0]['callId']}", {}, "api-key", 200),
        ("/api/deleted_calls/{callId}", "/api/deleted_calls/no-such-call", {}, "api-key", 404),
    ]
    for template, path, params, header, status in checks:
        r = server.get(path, token if header else None, header=header or "bearer", **params)
        assert r.status_code == status, (path, params, r.text)
        errors = [e.message for e in _validator(spec, template, status).iter_errors(r.json())]
        assert not errors, (path, params, errors[:3])
    # the whole listing too: CDR calls (with a startedAt) and Ultravox calls (no numbers, no costs)
    whole = server.get(LIST, token, limit=1000).json()
    assert not [e.message for e in _validator(spec, LIST, 200).iter_errors(whole)][:3]
