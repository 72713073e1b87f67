"""A canvas's MCP server, turned on and off (Flowise's ``/chatflows-mcp-server`` routes,
also as ``/mcp-server``), and the MCP endpoints themselves (``/mcp/{canvas}``, ``/mcp``:
Streamable HTTP, handled by :mod:`canvasflow.mcp.door`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from canvasflow.mcp import config
from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import McpServerConfig, McpServerCreate, McpServerUpdate
from canvasflow.store.models import Canvas

router = APIRouter(
    prefix="/api/v1", tags=["MCP server"], dependencies=[Depends(require_admin)], responses=ERRORS
)


def _answer(request: Request, canvas: Canvas, token: str = "") -> McpServerConfig:
    cfg = config.config_of(canvas)
    url = str(request.base_url).rstrip("/") + f"/api/v1/mcp/{canvas.id}"
    shown = token or "<your token>"
    paste = {
        "mcpServers": {
            config.tool_name(canvas): {
                "command": "npx",
                "args": ["-y", "mcp-remote", url, "--header", f"Authorization: Bearer {shown}"],
            }
        }
    }
    return McpServerConfig(
        enabled=config.enabled(canvas),
        toolName=str(cfg.get("toolName") or config.tool_name(canvas)),
        description=config.tool_description(canvas),
        token=token,
        url=url,
        config=paste,
    )


async def _save(request: Request, canvas: Canvas, cfg: dict[str, Any]) -> Canvas:
    st = state(request)
    settings = {**(canvas.settings or {}), config.KEY: cfg}
    saved = await st.store.update_canvas(canvas.id, settings=settings)
    st.forget_canvases()
    assert saved is not None
    return saved


async def get_config(canvas_id: str, request: Request) -> McpServerConfig:
    return _answer(request, await canvas_or_404(state(request), canvas_id))


async def enable(
    canvas_id: str, request: Request, body: McpServerCreate | None = None
) -> McpServerConfig:
    """Turn the canvas's MCP server on; its token is in this answer only."""
    body = body or McpServerCreate()
    canvas = await canvas_or_404(state(request), canvas_id)
    cfg = config.config_of(canvas)
    token = ""
    if not cfg.get("tokenHash"):
        token = config.new_token()
        cfg["tokenHash"] = config.token_hash(token)
    cfg.update(enabled=True)
    if body.toolName:
        cfg["toolName"] = body.toolName
    if body.description:
        cfg["description"] = body.description
    return _answer(request, await _save(request, canvas, cfg), token)


async def update(canvas_id: str, body: McpServerUpdate, request: Request) -> McpServerConfig:
    canvas = await canvas_or_404(state(request), canvas_id)
    cfg = config.config_of(canvas)
    for key, value in body.model_dump(exclude_none=True).items():
        cfg[key] = value
    token = ""
    if cfg.get("enabled") and not cfg.get("tokenHash"):
        token = config.new_token()
        cfg["tokenHash"] = config.token_hash(token)
    return _answer(request, await _save(request, canvas, cfg), token)


async def disable(canvas_id: str, request: Request) -> Response:
    canvas = await canvas_or_404(state(request), canvas_id)
    cfg = config.config_of(canvas)
    if cfg:
        cfg["enabled"] = False
        await _save(request, canvas, cfg)
    return Response(status_code=204)


async def refresh(canvas_id: str, request: Request) -> McpServerConfig:
    """A new token; the old one stops working at once, on every process."""
    canvas = await canvas_or_404(state(request), canvas_id)
    cfg = config.config_of(canvas)
    token = config.new_token()
    cfg["tokenHash"] = config.token_hash(token)
    return _answer(request, await _save(request, canvas, cfg), token)


ROUTES: list[tuple[str, Any, str]] = [
    ("", get_config, "GET"),
    ("", enable, "POST"),
    ("", update, "PUT"),
    ("/refresh", refresh, "POST"),
]
for prefix in ("/mcp-server", "/chatflows-mcp-server"):
    for tail, endpoint, method in ROUTES:
        path = prefix + "/{canvas_id}" + tail
        router.add_api_route(path, endpoint, methods=[method], response_model=McpServerConfig)
    router.add_api_route(prefix + "/{canvas_id}", disable, methods=["DELETE"], status_code=204)
