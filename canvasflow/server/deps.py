"""Helpers shared by the routes: the server state, canvases by id or slug, bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import Request

from canvasflow.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from canvasflow.server.state import ServerState
from canvasflow.store.models import Canvas


def state(request: Request) -> ServerState:
    return request.app.state.canvasflow  # type: ignore[no-any-return]


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


async def json_body(request: Request, limit: int, time_limit: float = 30.0) -> Any:
    """The request body as JSON, with a size limit and clear 4xx answers."""
    ctype = request.headers.get("content-type", "")
    if ctype and "json" not in ctype.split(";")[0].lower():
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {ctype}")
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise BadRequest("invalid Content-Length") from None
        if declared > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(time_limit):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {time_limit:g} s (CANVASFLOW_BODY_TIMEOUT)"
        ) from None
    raw = b"".join(chunks)
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
