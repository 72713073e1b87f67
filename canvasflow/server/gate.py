"""The gate every request passes before a route reads its body.

- A management route (one that depends on ``require_admin``) checks its caller first:
  a request without the admin key is answered 401 before one byte of its body is read.
- Every body, on every route, is limited in size (``CANVASFLOW_MAX_BODY_BYTES``: a
  larger ``Content-Length`` is refused at once, a chunked body is cut when it passes the
  limit) and in time (``CANVASFLOW_BODY_TIMEOUT``: 408), then handed to the route whole.

FastAPI reads a route's body before it runs the route's dependencies, so neither rule
can live in a dependency."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from canvasflow.errors import (
    BadRequest,
    CanvasflowError,
    PayloadTooLarge,
    RequestTimeout,
)
from canvasflow.server.errors import envelope
from canvasflow.server.guards import require_admin

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _needs_admin(dependant: Any) -> bool:
    for dep in dependant.dependencies:
        if dep.call is require_admin or _needs_admin(dep):
            return True
    return False


def admin_routes(app: Any) -> list[tuple[frozenset[str], Any]]:
    """The (methods, path pattern) of every route of an app, through included routers,
    that needs the admin key."""
    from starlette.routing import compile_path

    found: list[tuple[frozenset[str], Any]] = []

    def walk(routes: Any, prefix: str, inherited: bool) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:  # a router included into the app
                context = route.include_context
                deps = any(
                    getattr(d, "dependency", None) is require_admin
                    for d in getattr(context, "dependencies", None) or ()
                )
                walk(inner.routes, prefix + context.prefix, inherited or deps)
                continue
            dependant = getattr(route, "dependant", None)
            methods = getattr(route, "methods", None)
            if dependant is None or not methods:
                continue
            if inherited or _needs_admin(dependant):
                regex, _, _ = compile_path(prefix + route.path)
                found.append((frozenset(methods), regex))

    walk(app.routes, "", False)
    return found


def admin_patterns(app: Any) -> dict[str, re.Pattern[str]]:
    """One pattern per method matching every path of :func:`admin_routes` it has (the
    routes' own patterns as alternatives, their named groups unnamed): one match a
    request, not one per route."""
    by_method: dict[str, list[str]] = {}
    for methods, regex in admin_routes(app):
        pattern = re.sub(r"\(\?P<[^>]+>", "(?:", regex.pattern)
        for method in methods:
            by_method.setdefault(method, []).append(f"(?:{pattern})")
    return {method: re.compile("|".join(found)) for method, found in by_method.items()}


class Gate:
    def __init__(self, app: ASGIApp, limit: int, seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.seconds = seconds
        self._admin: dict[str, re.Pattern[str]] | None = None

    def _is_admin_route(self, scope: Scope) -> bool:
        if self._admin is None:
            self._admin = admin_patterns(scope["app"])
        pattern = self._admin.get(scope["method"])
        return pattern is not None and pattern.match(scope["path"]) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            declared = self._declared(scope)
            if self._is_admin_route(scope):
                await require_admin(Request(scope))
            if declared == 0:
                await self.app(scope, receive, send)
                return
            body = await self._read(receive)
        except CanvasflowError as exc:
            await envelope(exc.status, exc.message, exc.headers)(scope, receive, send)
            return
        await self.app(scope, replay_body(body, receive), send)

    def _declared(self, scope: Scope) -> int | None:
        """The body's declared length (None for a chunked body); too large: 413 now."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise BadRequest("invalid Content-Length") from None
                if declared > self.limit:
                    raise PayloadTooLarge(f"request body is larger than {self.limit} bytes")
                return declared
        return None

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise BadRequest("the client went away while sending its body")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        raise PayloadTooLarge(f"request body is larger than {self.limit} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise RequestTimeout(
                f"the request body did not arrive within {self.seconds:g} s "
                "(CANVASFLOW_BODY_TIMEOUT)"
            ) from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the connection's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
