"""The OpenAPI description of ``serve`` (served at /openapi.json), written out from the same parameter lists."""

from __future__ import annotations

from typing import Any

from deletedcalls.read.reading import FIELDS, MAX_LIMIT, MAX_POSITION

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
Param = tuple[str, dict[str, Any], str]
MAX_OFFSET = 10**9  # the largest offset the API takes (serve refuses more with a 400; idAfter pages deeper)

_SAFE_PARAMS: list[Param] = [
    ("minDate", {"type": "string", "format": "date"}, "startDate on or after (inclusive)"),
    ("maxDate", {"type": "string", "format": "date"}, "startDate on or before (inclusive)"),
    ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100}, "page size"),
    ("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, "skip this many (slower on deep pages than idAfter; not with idAfter)"),
    ("idAfter", {"type": "integer", "minimum": -MAX_POSITION, "maximum": MAX_POSITION}, "keyset pagination: ids greater than this (not with offset)"),
    ("createdSince", {"type": "string", "format": "date-time"}, "created on or after (UTC without an offset)"),
    ("updatedSince", {"type": "string", "format": "date-time"}, "updated on or after (UTC without an offset)"),
    ("cursor", _STR, "the cursor of a next/previous URL (carries the other parameters: with limit only)"),
]
_DATE_OR_INSTANT = {"type": "string", "anyOf": [{"format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                                                 {"format": "date-time"}]}
_TIME_OF_DAY = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "example": "22:00"}
_DURATION = {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,9})?s$", "example": "60s"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
_ULTRAVOX_PARAMS: list[Param] = [
    ("fromDate", _DATE_OR_INSTANT, "call created on or after: a date (its whole UTC day) or an instant (no offset: UTC); inclusive"),
    ("toDate", _DATE_OR_INSTANT, "call created on or before: a date (its whole UTC day) or an instant; inclusive; not before fromDate (400)"),
    ("timeOfDayStart", _TIME_OF_DAY, "call created at or after this UTC time of day (to the second)"),
    ("timeOfDayEnd", _TIME_OF_DAY, "call created at or before this UTC time of day; before timeOfDayStart, the window wraps midnight"),
    ("durationMin", _DURATION, "ended - joined at least"),
    ("durationMax", _DURATION, "ended - joined at most"),
    ("agentIds", {"type": "array", "items": _TEXT, "maxItems": 100}, "any of these agents (repeat the parameter)"),
    ("voiceId", _TEXT, "this voice (an empty value is refused, as for search)"),
    ("search", _TEXT, "case-insensitive substring of callId, agentId or a metadata value"),
    ("pageSize", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100}, "page size"),
    ("cursor", {"type": "string", "minLength": 1, "maxLength": 16384}, "the cursor of a next/previous URL; it carries the filters"),
]


def _params(spec: list[Param]) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": False, "schema": s, "description": d} for n, s, d in spec]


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "a bad parameter (named in the message)", 401: "no, unknown, revoked or expired token",
            403: "the token's user lacks data_protection", 404: "not found", 503: "nothing published, or the access log cannot be written"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}} for c in codes}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


_MONEY = {"type": "string", "pattern": r"^[0-9]{1,14}\.[0-9]{4}$", "description": "pence, exactly, as a decimal string"}
_INSTANT = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601 with Z"}
# every field of a deleted call, typed; every field is present, and null where the warehouse has no value
_DELETED_CALL_TYPES: dict[str, dict[str, Any]] = {
    "id": _INT, "CDRFileID": _nullable(_INT), "lineNumber": _nullable(_INT),
    "startDate": {"type": "string", "format": "date", "description": "the carrier's wall-clock date"},
    "startTime": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", "description": "the carrier's wall-clock time"},
    "startedAt": _nullable({**_INSTANT, "description": "the call's instant: startDate + startTime in the file's zone, in UTC"}),
    "duration": {"type": "integer", "minimum": 0}, "answerTime": _nullable({"type": "integer", "minimum": 0}),
    "costCDR": _nullable(_MONEY), "callId": _INT, "deletedAt": _INSTANT, "created": _INSTANT, "updated": _INSTANT,
    "deletedMonth": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    "callTypeDirectionFlag": {"type": ["string", "null"], "enum": ["A", "B", None]},
    "callTypeRecordingFlag": {"type": "string", "enum": ["Y", "N"]},
    "callTypeOriginationTypeFlag": {"type": ["string", "null"], "enum": ["M", "L", "P", None]},
    "tariffTime": {"type": ["string", "null"], "enum": ["day", "evening", "weekend", None]},
    **{f: _nullable(_MONEY) for f in FIELDS if f.startswith("cost") and f != "costCDR"},
    # an Ultravox call has no CDR file, numbers, direction or costs (null)
    **{f: _STR for f in ("carrier", "carrierCallID", "userActivityLog", "deletedBy")},
}


def document() -> dict[str, Any]:
    types = {f: _DELETED_CALL_TYPES.get(f, _nullable(_STR)) for f in FIELDS}
    deleted_call = {"type": "object", "additionalProperties": False, "properties": types,
                    "required": list(FIELDS)}
    page: dict[str, Any] = {"type": "object", "required": ["results", "next", "previous", "total"], "properties": {
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/DeletedCall"}},
        "next": {"type": ["string", "null"], "format": "uri-reference"},
        "previous": {"type": ["string", "null"], "format": "uri-reference"},
        "total": {"type": "integer"}}}
    tombstone_fields = ["callId", "accountId", "created", "deletionTime", "joined", "ended", "maxDuration",
                        "endReason", "recordingEnabled", "hadSummary"]
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    api_key: list[dict[str, list[str]]] = [{"apiKey": []}]

    def ok(schema: str) -> dict[str, Any]:
        return {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "deletedcalls", "version": "1",
                 "description": "Deleted call records (the billing platform's seed API and Ultravox's), read from the published protected store. "
                                "Every request is written to the access log."},
        "paths": {
            "/backend/api/v1/deletedCalls/": {"get": {"summary": "List deleted calls by id", "security": bearer,
                                                      "parameters": _params(_SAFE_PARAMS),
                                                      "responses": ok("DeletedCallPage") | _errors(400, 401, 403, 503)}},
            "/backend/api/v1/deletedCalls/{id}": {"get": {"summary": "One deleted call", "security": bearer,
                                                          "parameters": [_path("id", _INT)],
                                                          "responses": ok("DeletedCall") | _errors(401, 403, 404, 503)}},
            "/backend/api/v1/CDRFiles/{id}/deletedCalls/": {"get": {
                "summary": "Deleted calls of one CDR file", "security": bearer,
                "parameters": [_path("id", _INT), *[p for p in _params(_SAFE_PARAMS)]],
                "responses": ok("DeletedCallPage") | _errors(400, 401, 403, 404, 503)}},
            "/api/deleted_calls": {"get": {"summary": "Ultravox: list deleted calls (tombstones)", "security": api_key,
                                           "parameters": _params(_ULTRAVOX_PARAMS) + [{
                                               "name": "metadata", "in": "query", "required": False,
                                               "style": "deepObject", "explode": True,
                                               "schema": {"type": "object", "maxProperties": 20, "propertyNames": {"minLength": 1},
                                                          "additionalProperties": {"type": "string", "maxLength": 200}},
                                               "description": "metadata[KEY]=VALUE: the call's metadata KEY equals VALUE (several "
                                                              "keys: all must match). Ultravox's spelling metadata.KEY=VALUE "
                                                              "is the same filter"}],
                                           "responses": ok("TombstonePage") | _errors(400, 401, 403, 503)}},
            "/api/deleted_calls/{callId}": {"get": {"summary": "Ultravox: one tombstone", "security": api_key,
                                                    "parameters": [_path("callId", _STR)],
                                                    "responses": ok("Tombstone") | _errors(401, 403, 404, 503)}},
            "/health": {"get": {"summary": "The published state being served (no token)", "responses": {
                "200": {"description": "publishedAt, runId, schemaVersion"}, "503": {"description": "nothing published"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {
                "DeletedCall": deleted_call,
                "DeletedCallPage": page,
                "Tombstone": {"type": "object", "additionalProperties": False, "required": tombstone_fields, "properties": {
                    "callId": _STR, "accountId": _STR, "created": _INSTANT, "deletionTime": _INSTANT,
                    "joined": _nullable(_INSTANT), "ended": _nullable(_INSTANT),
                    "maxDuration": _nullable({"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?s$"}),
                    "endReason": _nullable(_STR), "recordingEnabled": {"type": "boolean"}, "hadSummary": {"type": "boolean"}}},
                "TombstonePage": page | {"properties": page["properties"] | {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Tombstone"}}}},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "integer"}, "message": {"type": "string"}}}}},
            },
        },
    }
