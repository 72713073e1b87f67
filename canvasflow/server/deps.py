"""Helpers shared by the routes: the server state, canvases by id or slug, bodies."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from canvasflow.errors import (
    BadRequest,
    NotFound,
    UnsupportedMediaType,
)
from canvasflow.server.state import ServerState
from canvasflow.store.models import Canvas


def state(request: Request) -> ServerState:
    return request.app.state.canvasflow


async def canvas_or_404(st: ServerState, ref: str) -> Canvas:
    canvas = await st.canvas(ref)
    if canvas is None:
        raise NotFound(f"Canvas {ref} not found")
    return canvas


def nul_in(value: Any, where: str = "body") -> str | None:
    """Where a NUL character hides in a JSON value (PostgreSQL refuses them), or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return f"{where} (a key)"
            found = nul_in(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_in(item, f"{where}[{i}]")
            if found:
                return found
    return None


async def json_body(request: Request) -> Any:
    """The request body as JSON, with clear 4xx answers. Its size and the time it may
    take are the gate's (``server/gate.py``), on every route, before any route reads it."""
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype.split(";")[0].lower():
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {ctype}")
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "utf-8" in str(exc).lower() or "surrogate" in str(exc).lower():
            raise BadRequest("request body is not valid UTF-8") from None
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    found = nul_in(body)
    if found:
        raise BadRequest(f"{found} contains a NUL character, which cannot be stored")
    return body


def canvas_admin_routes(
    router: Any, tag: str, routes: list[tuple[str, Any, str, Any]], responses: Any
) -> None:
    """Management routes under a canvas, at ``/canvases/{canvas_id}...`` and at Flowise's
    ``/chatflows/{canvas_id}...``: each ``(path, endpoint, method, response model or a
    status code for an empty answer)``, all needing the admin key."""
    from fastapi import Depends

    from canvasflow.server.guards import require_admin

    for prefix in ("/canvases", "/chatflows"):
        tags = [tag if prefix == "/canvases" else f"{tag} (Flowise alias)"]
        for path, endpoint, method, answer in routes:
            shape: dict[str, Any] = (
                {"status_code": answer} if isinstance(answer, int) else {"response_model": answer}
            )
            router.add_api_route(
                prefix + "/{canvas_id}" + path,
                endpoint,
                methods=[method],
                responses=responses,
                tags=tags,
                dependencies=[Depends(require_admin)],
                **shape,
            )
