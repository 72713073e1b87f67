"""canvasflow's errors (``canvasflow.errors``) as HTTP answers: always the error's own
status and Flowise's JSON envelope. The one place errors become responses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from canvasflow.errors import CanvasflowError

log = logging.getLogger("canvasflow.errors")


class RefuseNul:
    """A NUL character in the path or the query is refused before any route sees it
    (PostgreSQL would refuse it later, with the SQL in the message)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            query = scope.get("query_string") or b""
            where = None
            if b"%00" in raw.lower() or "\x00" in scope["path"]:
                where = "the path"
            elif b"%00" in query.lower() or b"\x00" in query:
                where = "the query"
            if where:
                response = envelope(400, f"{where} contains a NUL character")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TrustedHosts:
    """Only the server's own host names in ``Host`` (a DNS-rebinding page cannot reach
    it); any other is a 400 in the JSON envelope every error has. The answer for each
    ``Host`` value is kept (a few hundred at most): a request pays one lookup."""

    KEEP = 256  # Host values whose answer is kept

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = [h.lower() for h in allowed_hosts]
        self.any = "*" in self.allowed
        self._known: dict[bytes | None, bool] = {}

    def _allows(self, raw: bytes | None) -> bool:
        from starlette.middleware.trustedhost import parse_host_header

        parsed = parse_host_header(raw.decode("latin-1") if raw is not None else None)
        host = parsed.host.lower() if parsed is not None else ""
        return bool(host) and any(
            host == p or (p.startswith("*") and host.endswith(p[1:])) for p in self.allowed
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == b"host":
                raw = value
                break
        allowed = self._known.get(raw)
        if allowed is None:
            allowed = self._allows(raw)
            if len(self._known) >= self.KEEP:
                self._known.clear()
            self._known[raw] = allowed
        if allowed:
            await self.app(scope, receive, send)
            return
        response = envelope(400, "Invalid host header: this server is not known by that name")
        await response(scope, receive, send)


class JSONBody(Response):
    """A JSON response rendered with orjson."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def envelope(status: int, message: str, headers: dict[str, str] | None = None) -> JSONBody:
    return JSONBody(
        {"statusCode": status, "success": False, "message": message},
        status_code=status,
        headers=headers,
    )


def allowed_methods(app: Any, scope: Any) -> list[str]:
    """The methods some route of the app takes for this path."""
    from starlette.routing import Match

    found: set[str] = set()

    def walk(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
                continue
            methods = getattr(route, "methods", None)
            if methods and route.matches({**scope, "method": next(iter(methods))})[0] == Match.FULL:
                found.update(methods)

    walk(app.routes)
    return sorted(found)


def describe_validation(errors: Sequence[Any]) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(CanvasflowError)
    async def _error(request: Request, exc: CanvasflowError) -> JSONBody:
        response = envelope(exc.status, exc.message, exc.headers)
        problems = getattr(exc, "problems", None)
        if problems:  # a canvas that cannot run: every problem, where it is
            body = {
                "statusCode": exc.status,
                "success": False,
                "message": exc.message,
                "problems": [p.as_dict() for p in problems],
            }
            response = JSONBody(body, status_code=exc.status, headers=exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONBody:
        from canvasflow.store.outage import RETRY_AFTER, is_outage

        if is_outage(exc):  # the database went away: a 503 to retry, not a 500
            log.warning("the database is unreachable (%s %s)", request.method, request.url.path)
            return envelope(
                503,
                "the database is unreachable right now; try again shortly",
                {"Retry-After": RETRY_AFTER},
            )
        # never a plain-text 500, never SQL or parameters: an id to find it in the log
        error_id = uuid.uuid4().hex[:12]
        log.error("error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        return envelope(500, f"internal error {error_id} (the details are in the server log)")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method the path takes, not the first route's
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return envelope(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONBody:
        return envelope(400, describe_validation(list(exc.errors())))
