"""The HTTP API (SPEC 9): the seed APIs over the published protected store, behind tokens.

The server is a shell: each route parses its parameters into the call the CLI
makes (``reading.build_query`` + ``list_deleted_calls``, ``get_deleted_call``,
the Ultravox list) and renders the same JSON (``output.to_json``); only
``next``/``previous`` become URLs (``[serve] public_url`` + path, else relative;
never from the Host header). Headers are capped at 64 KiB (h11). It opens ``published/protected.duckdb``
read-only and nothing else of the warehouse: it never takes the writer's lock,
so it neither blocks the batch nor waits for it.

A new publish replaces the protected store by rename. Each request stats the
path; when it names a new file, the next requests get a connection to it
(``StoreHolder``), and the old connection is closed when its last request is
done. DuckDB's Python ``connect(path)`` caches database instances by path, so a
store is attached to a fresh in-memory instance instead, which always opens
the file the path names now.

Every request for deleted-call data, answered or refused (400, 401, 403, 404
included), is appended to the access spool before the response is sent, with
path, query, client address, rows and token id; a request that cannot be
logged gets a 503 and no data.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deletedcalls.catalog import Lake, attach, connection, data_uri, published_lake
from deletedcalls.clock import utc_now
from deletedcalls.errors import DeletedCallsError, NotFound, UsageError
from deletedcalls.http.openapi import MAX_OFFSET
from deletedcalls.output import to_json
from deletedcalls.published import MANIFEST, PAGES, attach_pages, store_path
from deletedcalls.read import reading
from deletedcalls.read.access import SpoolUnwritable, record_access
from deletedcalls.settings import Settings, load_settings
from deletedcalls.sqlfiles import current_version, schema_version_required

SAFE_LIST_PARAMS = {
    "minDate": "min_date", "maxDate": "max_date", "limit": "limit", "offset": "offset", "idAfter": "id_after",
    "createdSince": "created_since", "updatedSince": "updated_since", "cursor": "cursor",
}
MAX_ID = 2**53  # as far as a cursor may carry an id
_INTEGER = re.compile(r"^-?[0-9]{1,19}\Z")
_PATH_ID = re.compile(r"^[0-9]{1,16}\Z")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(data), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": status, "message": message}}, status, headers)


# ---------------------------------------------------------------- the store, reopened on publish


@dataclass
class _Generation:
    """One published protected store: its connection, its tokens, a cursor per thread, and its listings' counts and
    id bounds by filters (``reading.list_deleted_calls``'s ``totals``: a store never changes, a new one is a new
    generation)."""

    con: duckdb.DuckDBPyConnection
    key: tuple[int, ...]
    tokens: dict[str, Any]
    users: int = 0
    retired: bool = False
    local: threading.local = field(default_factory=threading.local)
    cursors: list[duckdb.DuckDBPyConnection] = field(default_factory=list)
    totals: dict[tuple, Any] = field(default_factory=dict)
    pages_view: str | None = None  # the page store's view, for each cursor (published.attach_pages)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the store (a DuckDB connection is used by one thread at a time)."""
        cur = getattr(self.local, "cursor", None)
        if cur is None:
            cur = self.con.cursor()
            cur.execute("USE store")
            if self.pages_view:
                cur.execute(self.pages_view)
            self.local.cursor = cur
            self.cursors.append(cur)
        return cur

    def close(self) -> None:
        for cur in self.cursors:
            cur.close()
        self.con.close()


class StoreHolder:
    """The current published protected store; a request holds one generation from start to end.

    A watcher thread looks at the path every ``WATCH_SECONDS`` and lets go of a
    replaced store even when no request comes: after a purge, the superseded
    file (which still holds the purged rows) must not stay alive, unlinked but
    open, through an idle night.
    """

    WATCH_SECONDS = 1.0

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        self.path = path
        # a shared warehouse (docs/SCALE.md): no published copy; the catalog itself, a generation per snapshot
        self.shared = settings if settings is not None and settings.shared else None
        self._probe: duckdb.DuckDBPyConnection | None = None
        self._probe_lock = threading.Lock()
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        self._watcher: threading.Thread | None = None

    def _snapshot(self, settings: Settings) -> tuple[int, ...] | None:
        """The shared catalog's current snapshot id, read by a connection of its own (one query to PostgreSQL)."""
        with self._probe_lock:
            try:
                if self._probe is None:
                    self._probe = connection(settings)
                    attach(self._probe, published_lake(settings), "probe", read_only=True)
                rows = self._probe.execute("SELECT * FROM ducklake_current_snapshot('probe')").fetchall()
            except duckdb.Error:
                if self._probe is not None:
                    self._probe.close()
                self._probe = None
                return None
        return (int(rows[0][0]), 0, 0) if rows else None

    def _key(self) -> tuple[int, ...] | None:
        if self.shared is not None:
            return self._snapshot(self.shared)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        try:  # a publish replaces the page store's manifest, then the protected store: either is a new generation
            pages = os.stat(self.path.parent / PAGES / MANIFEST)
            page_key = (pages.st_ino, pages.st_mtime_ns)
        except FileNotFoundError:
            page_key = (0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size, *page_key)

    def _watch(self) -> None:
        import time

        while True:
            time.sleep(self.WATCH_SECONDS)
            key = self._key()
            with self._lock:
                gen = self._current
                if gen is not None and gen.key != key:
                    self._current = None
                    gen.retired = True
                    if gen.users == 0:
                        gen.close()

    def acquire(self) -> _Generation:
        if self._watcher is None:  # started in the worker that serves, not in a parent that only checked the app
            self._watcher = threading.Thread(target=self._watch, name="store-watcher", daemon=True)
            self._watcher.start()
        key = self._key()
        if key is None:
            raise ApiError(503, "nothing is published yet; run a writer command (deletedcalls init) first")
        with self._lock:
            gen = self._current
            if gen is None or gen.key != key:
                con, pages_view = self._open()
                from deletedcalls.read.tokens import token_table

                new = _Generation(con, key, token_table(con), pages_view=pages_view)
                if gen is not None:
                    gen.retired = True
                    if gen.users == 0:
                        gen.close()
                self._current = gen = new
            gen.users += 1
            return gen

    def release(self, gen: _Generation) -> None:
        with self._lock:
            gen.users -= 1
            if gen.retired and gen.users == 0:
                gen.close()

    def _open(self) -> tuple[duckdb.DuckDBPyConnection, str | None]:
        pages_view = None
        if self.shared is not None:
            con = connection(self.shared)
            attach(con, published_lake(self.shared), "store", read_only=True)
            con.execute("USE store")
        else:
            con = connection()
            attach(con, Lake(self.path, data_uri(self.path.parent.parent)), "store", read_only=True)
            con.execute("USE store")
            pages_view = attach_pages(con, self.path.parent)
        if current_version(con) != schema_version_required():
            con.close()
            raise ApiError(503, "the published store's schema differs from this server's; restart serve after the upgrade")
        return con, pages_view


class SettingsHolder:
    """Settings, reloaded when config.toml changes (permissions apply at the time of the request)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._key: tuple[int, int] | None = None
        self._settings = load_settings(home)
        self._lock = threading.Lock()

    def get(self) -> Settings:
        try:
            st = os.stat(self._settings.config_path)
            key = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            key = (0, 0)
        with self._lock:
            if key != self._key:
                self._settings, self._key = load_settings(self.home), key
            return self._settings


# ---------------------------------------------------------------- parameters


def _single(request: Request, allowed: dict[str, str]) -> dict[str, str]:
    """The query parameters as one value each; unknown or repeated ones are 400s naming them."""
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise ApiError(400, f"unknown parameter {name!r}; this endpoint takes {', '.join(sorted(allowed))}")
        if name in values:
            raise ApiError(400, f"parameter {name!r} given more than once")
        values[name] = value
    return values


def _int(values: dict[str, str], name: str, low: int, high: int) -> int | None:
    if name not in values:
        return None
    text = values[name]
    if not _INTEGER.match(text):
        raise ApiError(400, f"parameter {name!r} must be a whole number, not {text[:40]!r}")
    n = int(text)
    if not low <= n <= high:
        raise ApiError(400, f"parameter {name!r} must be between {low} and {high}")
    return n


def _date(values: dict[str, str], name: str) -> date | None:
    if name not in values:
        return None
    text = values[name]
    try:
        if len(text) != 10:  # fromisoformat also takes 20260305
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as e:
        raise ApiError(400, f"parameter {name!r} must be a date YYYY-MM-DD, not {text[:40]!r}") from e


def _timestamp(values: dict[str, str], name: str) -> datetime | None:
    if name not in values:
        return None
    from deletedcalls.clock import parse_timestamp

    ts = parse_timestamp(values[name])
    if ts is None:
        raise ApiError(400, f"parameter {name!r} must be an ISO 8601 date or time (no offset = UTC), not {values[name][:40]!r}")
    return ts


def safe_list_query(request: Request, cdr_file: int | None = None) -> reading.ListQuery:
    """The SAFE list's query parameters as the ListQuery the CLI builds from its options.

    On a CDR file's route, the file is the path's; a cursor there must be one of that file's listings.
    """
    values = _single(request, SAFE_LIST_PARAMS)
    if cdr_file is not None and "cursor" in values:
        try:
            q = reading.build_query(cursor=values["cursor"], limit=_int(values, "limit", 1, reading.MAX_LIMIT),
                                    names={v: k for k, v in SAFE_LIST_PARAMS.items()})
        except UsageError as e:
            raise ApiError(400, e.one_line()) from e
        if q.cdr_file != cdr_file or len(values) > (2 if "limit" in values else 1):
            raise ApiError(400, "parameter 'cursor' belongs to another listing, or is combined with filters; follow next/previous as given")
        return q
    try:
        return reading.build_query(
            cdr_file=cdr_file, min_date=_date(values, "minDate"), max_date=_date(values, "maxDate"),
            created_since=_timestamp(values, "createdSince"), updated_since=_timestamp(values, "updatedSince"),
            limit=_int(values, "limit", 1, reading.MAX_LIMIT), offset=_int(values, "offset", 0, MAX_OFFSET),
            id_after=_int(values, "idAfter", -MAX_ID, MAX_ID), cursor=values.get("cursor"),
            names={v: k for k, v in SAFE_LIST_PARAMS.items()},
        )
    except UsageError as e:
        raise ApiError(400, e.one_line()) from e


def _page_urls(request: Request, page: dict[str, Any]) -> dict[str, Any]:
    """A page with its next/previous cursors as URLs (the cursor carries every other parameter): ``[serve] public_url``
    followed by the route's path when it is set, else relative (the path alone). Never from the request's Host
    header: a crafted Host would make a paging client send its token to another server."""
    api: Api = request.app.state.api
    base = api.settings.get().public_url
    out = dict(page)
    for key in ("next", "previous"):
        if out.get(key):
            out[key] = f"{base}{request.url.path}?{urlencode({'cursor': out[key]})}"
    return out


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Caller:
    settings: Settings
    token_id: str | None
    client: str


class Api:
    def __init__(self, home: Path) -> None:
        self.settings = SettingsHolder(home)
        self.store = StoreHolder(store_path(self.settings.get(), "protected"), self.settings.get())

    def handle(self, request: Request, header: str, work: Callable[[duckdb.DuckDBPyConnection, Request], tuple[Any, int]]) -> Response:
        """Authenticate, authorise, run ``work`` on the current store, log, render; errors are JSON."""
        path_query = {"path": request.url.path, "query": request.url.query}
        client = request.client.host if request.client else "-"
        settings = self.settings.get()
        caller = Caller(replace(settings, user="(no valid token)"), None, client)
        rows: int | None = None
        try:
            gen = self.store.acquire()
            try:
                caller = self._authenticate(gen.tokens, request, header, settings, client)
                if not caller.settings.may_read_deleted_calls:
                    raise ApiError(403, f"{caller.settings.user!r} lacks the data_protection permission")
                request.state.totals = gen.totals
                data, rows = work(gen.cursor(), request)
            finally:
                self.store.release(gen)
            self._log(caller, request, path_query, rows, allowed=True)
            return _json(data)
        except ApiError as e:
            # a permitted read that found nothing is a read (0 rows); every other error is a refusal
            found_nothing = e.status == 404 and caller.token_id is not None and caller.settings.may_read_deleted_calls
            try:
                self._log(caller, request, path_query, 0 if found_nothing else None, allowed=found_nothing,
                          reason=None if found_nothing else f"{e.status}: {e.message}")
            except SpoolUnwritable:
                return _error(503, "the access log cannot be written; nothing is returned")
            return _error(e.status, e.message, e.headers)
        except SpoolUnwritable:
            return _error(503, "the access log cannot be written; nothing is returned")
        except Exception as e:  # a bug or an unusable home: logged as a refusal, answered without detail
            import logging

            status, message = (503, e.one_line()) if isinstance(e, DeletedCallsError) else (500, "internal error; the server log has the details")
            logging.getLogger("deletedcalls.server").error("%s on %s: %s", status, request.url.path, type(e).__name__)
            try:
                self._log(caller, request, path_query, None, allowed=False, reason=f"{status}: {type(e).__name__}")
            except Exception:
                return _error(503, "the access log cannot be written; nothing is returned")
            return _error(status, message)

    def _authenticate(self, tokens: dict[str, Any], request: Request, header: str, settings: Settings, client: str) -> Caller:
        from deletedcalls.read.tokens import authenticate

        if header == "authorization":
            raw = request.headers.get("authorization", "")
            scheme, _, token = raw.partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else ""
            challenge = {"WWW-Authenticate": 'Bearer realm="deletedcalls"'}
            how = "an Authorization: Bearer TOKEN header"
        else:
            token = request.headers.get("x-api-key", "").strip()
            challenge = {}
            how = "an X-API-Key: TOKEN header"
        if not token:
            raise ApiError(401, f"no token: send {how} (`deletedcalls tokens create` makes one)", challenge)
        who = authenticate(tokens, token, utc_now())
        if who is None:
            raise ApiError(401, "unknown, revoked or expired token", challenge)
        return Caller(replace(settings, user=who.user), who.token_id, client)

    def _log(self, caller: Caller, request: Request, what: dict[str, str], rows: int | None, *, allowed: bool,
             reason: str | None = None) -> None:
        record_access(caller.settings, f"GET {request.scope['route_template']}", what, rows, allowed=allowed,
                      reason=reason, client=caller.client, token_id=caller.token_id)


def _route(template: str, header: str, work: Callable[[duckdb.DuckDBPyConnection, Request], tuple[Any, int]]) -> Route:
    def endpoint(request: Request) -> Response:
        request.scope["route_template"] = template
        api: Api = request.app.state.api
        return api.handle(request, header, work)

    return _get_only(Route(template, endpoint, methods=["GET"]))


def _get_only(route: Route) -> Route:
    """Starlette answers HEAD on every GET route (running the query and logging a read): GET only."""
    route.methods = {"GET"}
    return route


# ---------------------------------------------------------------- the endpoints' work


def _safe_list(cur: duckdb.DuckDBPyConnection, request: Request) -> tuple[Any, int]:
    page = reading.list_deleted_calls(cur, safe_list_query(request), request.state.totals)
    return _page_urls(request, page.as_dict()), len(page.results)


def _safe_get(cur: duckdb.DuckDBPyConnection, request: Request) -> tuple[Any, int]:
    _single(request, {})
    raw = request.path_params["id"]
    if not _PATH_ID.match(raw):
        raise ApiError(404, f"no deleted call with id {raw[:40]!r}")
    try:
        return reading.get_deleted_call(cur, int(raw)), 1
    except NotFound as e:
        raise ApiError(404, e.one_line()) from e


def _file_list(cur: duckdb.DuckDBPyConnection, request: Request) -> tuple[Any, int]:
    raw = request.path_params["id"]
    if not _PATH_ID.match(raw) or not cur.execute("SELECT 1 FROM cdr_files WHERE id = $id", {"id": int(raw)}).fetchall():
        raise ApiError(404, f"no CDR file with id {raw[:40]!r}")
    page = reading.list_deleted_calls(cur, safe_list_query(request, cdr_file=int(raw)), request.state.totals)
    return _page_urls(request, page.as_dict()), len(page.results)


def _ultravox_list(cur: duckdb.DuckDBPyConnection, request: Request) -> tuple[Any, int]:
    from deletedcalls.read import ultravox_list
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    try:
        q = ultravox_list.parse_query(params)
        page = ultravox_list.list_tombstones(cur, q)
    except UsageError as e:
        raise ApiError(400, e.one_line()) from e
    return _page_urls(request, page), len(page["results"])


def _ultravox_get(cur: duckdb.DuckDBPyConnection, request: Request) -> tuple[Any, int]:
    from deletedcalls.read import ultravox_list
    _single(request, {})
    try:
        return ultravox_list.get_tombstone(cur, request.path_params["callId"]), 1
    except NotFound as e:
        raise ApiError(404, e.one_line()) from e


def _health(request: Request) -> Response:
    api: Api = request.app.state.api
    try:
        gen = api.store.acquire()
    except ApiError as e:
        return _json({"status": "unavailable", "message": e.message}, 503)
    try:
        at, run, version = gen.cursor().execute("SELECT publishedAt, runId, schemaVersion FROM published_info").fetchall()[0]
    finally:
        api.store.release(gen)
    return _json({"status": "ok", "publishedAt": at, "runId": run, "schemaVersion": version})


def _openapi(request: Request) -> Response:
    from deletedcalls.http.openapi import document

    return _json(document())


# ---------------------------------------------------------------- the app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods: JSON, and logged as refusals like every other request."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "no such endpoint", 405: "method not allowed: this API is read-only (GET)"}.get(status, "error")
    headers = {"Allow": "GET"} if status == 405 else None
    api: Api = request.app.state.api
    try:
        settings = replace(api.settings.get(), user="(no valid token)")
        record_access(settings, f"{request.method} {request.url.path[:200]}", {"path": request.url.path, "query": request.url.query},
                      None, allowed=False, reason=f"{status}: {message}",
                      client=request.client.host if request.client else "-")
    except Exception:
        return _error(503, "the access log cannot be written; nothing is returned")
    return _error(status, message, headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    import logging

    logging.getLogger("deletedcalls.server").error("internal error on %s: %s", request.url.path, type(exc).__name__)
    return _error(500, "internal error; the server log has the details")


def create_app(home: Path | str | None = None) -> Starlette:
    """The ASGI app for a warehouse home (default: $DELETEDCALLS_HOME, as ``serve`` sets it for its workers)."""
    settings = load_settings(home)
    app = Starlette(
        routes=[
            _route("/backend/api/v1/deletedCalls/", "authorization", _safe_list),
            _route("/backend/api/v1/deletedCalls/{id}", "authorization", _safe_get),
            _route("/backend/api/v1/CDRFiles/{id}/deletedCalls/", "authorization", _file_list),
            _route("/api/deleted_calls", "x-api-key", _ultravox_list),
            _route("/api/deleted_calls/{callId}", "x-api-key", _ultravox_get),
            _get_only(Route("/health", _health, methods=["GET"])),
            _get_only(Route("/openapi.json", _openapi, methods=["GET"])),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.router.redirect_slashes = False  # a path without its slash is a 404 like any unknown path, not a redirect
    app.state.api = Api(settings.home)
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn's workers."""
    return create_app(os.environ.get("DELETEDCALLS_HOME"))


# A request line and headers larger than this are refused (400) before they are buffered whole (SPEC 8). httptools
# has no such bound, so the server speaks HTTP/1.1 through h11, whose buffer is capped at this size.
MAX_HEADER_BYTES = 64 * 1024


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run the API on uvicorn (a production ASGI server) until SIGINT/SIGTERM."""
    import uvicorn

    os.environ["DELETEDCALLS_HOME"] = str(settings.home.resolve())
    create_app(settings.home)  # fail here, once, with a clear error, not in every worker
    uvicorn.run("deletedcalls.http.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=False, server_header=False,
                http="h11", h11_max_incomplete_event_size=MAX_HEADER_BYTES)
