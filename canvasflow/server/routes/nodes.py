"""The node catalogue: every node the server can run, in Flowise's descriptor shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from canvasflow.engine.catalog import catalogue, describe, icon_svg
from canvasflow.engine.checks import provider_models
from canvasflow.errors import BadRequest, NotFound
from canvasflow.runtime.node import REGISTRY, load_all
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import LoadMethodRequest, NodeDesc, NodeOption

router = APIRouter(prefix="/api/v1", tags=["nodes"], responses=ERRORS)


@router.get(
    "/nodes",
    dependencies=[Depends(require_admin)],
    response_model=list[NodeDesc],
    response_model_exclude_unset=True,
)
async def list_nodes() -> list[dict[str, Any]]:
    """Every node: name, label, version, category, description, baseClasses, inputs
    (name, label, type, description, default, optional, options, list,
    additionalParams...), credential, outputs, icon."""
    return catalogue()


@router.get(
    "/nodes/{name}",
    dependencies=[Depends(require_admin)],
    response_model=NodeDesc,
    response_model_exclude_unset=True,
)
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


async def _model_names(cls: Any, name: str, values: dict[str, Any], ctx: Any) -> list[NodeOption]:
    """The models a chat model or embeddings node's provider lists (with the key and
    address a run would use): Flowise's ``listModels``, asked live."""
    names = await provider_models(cls(f"{name}_options", values), ctx)
    if names is None:
        raise BadRequest(f"{cls.label} has no model list to ask (type the model's name)")
    return [NodeOption(label=n, name=n, description="") for n in names]


@router.post(
    "/node-load-method/{name}",
    dependencies=[Depends(require_admin)],
    response_model=list[NodeOption],
)
async def load_method(name: str, body: LoadMethodRequest, request: Request) -> list[NodeOption]:
    """Options a node's form loads from outside (Flowise's route): for an MCP node,
    ``listActions`` connects to its server (the operator's rules apply) and lists its
    tools, to pick from in ``mcpActions``; for a chat model or embeddings node,
    ``listModels`` asks its provider for its models, with the key a run would use."""
    from canvasflow.nodes.mcp_tools import McpNode
    from canvasflow.runtime.context import RunContext
    from canvasflow.server.deps import state

    load_all()
    cls = REGISTRY.get(name)
    if cls is None:
        raise NotFound(f"no node {name!r}")
    st = state(request)
    values = dict(body.inputs)
    if body.credential:
        values["credential"] = body.credential
    ctx = RunContext(question="", settings=st.settings, credentials=st.credentials, store=st.store)
    if body.loadMethod == "listModels" and cls.category in ("Chat Models", "Embeddings", "LLMs"):
        return await _model_names(cls, name, values, ctx)
    if body.loadMethod == "listTools" and name == "customTool":  # the tools library
        from canvasflow.store.models import Tool

        return [
            NodeOption(label=t.name, name=t.id, description=t.description)
            for t in await st.store.library(Tool)
        ]
    if body.loadMethod != "listActions" or not issubclass(cls, McpNode):
        raise BadRequest(f"node {name} has no load method {body.loadMethod!r}")
    pooled = await cls(f"{name}_options", values).connect(ctx)
    return [
        NodeOption(label=str(t.name), name=str(t.name), description=str(t.description or ""))
        for t in pooled.tools
    ]
