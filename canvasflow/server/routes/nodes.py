"""The node catalogue: every node the server can run, in Flowise's descriptor shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from canvasflow.engine.catalog import catalogue, describe, icon_svg
from canvasflow.errors import NotFound
from canvasflow.nodes import REGISTRY, load_all
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS

router = APIRouter(prefix="/api/v1", tags=["nodes"], responses=ERRORS)


@router.get("/nodes", dependencies=[Depends(require_admin)])
async def list_nodes() -> list[dict[str, Any]]:
    """Every node: name, label, version, category, description, baseClasses, inputs
    (name, label, type, description, default, optional, options, list,
    additionalParams...), credential, outputs, icon."""
    return catalogue()


@router.get("/nodes/{name}", dependencies=[Depends(require_admin)])
async def get_node(name: str) -> dict[str, Any]:
    load_all()
    cls = REGISTRY.get(name)
    if cls is None:
        raise NotFound(f"no node {name!r}")
    return describe(cls)


@router.get("/node-icon/{name}", response_class=Response)
async def node_icon(name: str) -> Response:
    """A node's icon (its category's colour, its initials)."""
    return Response(
        icon_svg(name),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )
