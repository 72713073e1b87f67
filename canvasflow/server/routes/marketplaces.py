"""Templates saved from canvases ("My templates"), in the shape of Flowise's custom
templates (``/api/v1/marketplaces/custom``): a canvas's flow as it is when saved, its
credentials left out (a template is shared; a credential is this server's), to start
new canvases from."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from canvasflow.engine.graph import load_flow_data
from canvasflow.errors import BadRequest, NotFound
from canvasflow.runtime.graphs import kind_of
from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import TemplateIn, TemplateOut
from canvasflow.store.models import CustomTemplate

router = APIRouter(
    prefix="/api/v1", tags=["templates"], dependencies=[Depends(require_admin)], responses=ERRORS
)


def _without_credentials(flow: dict[str, Any]) -> dict[str, Any]:
    """A flow with no credential in it: not a node's, not in a model's configuration (an
    agentflow's ``...Config`` inputs)."""
    nodes = []
    for node in flow.get("nodes") or []:
        data = {k: v for k, v in (node.get("data") or {}).items() if k != "credential"}
        inputs: dict[str, Any] = {}
        for name, value in (data.get("inputs") or {}).items():
            if name == "credential":
                continue
            if name.endswith("Config") and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "credential"}
            inputs[name] = value
        data["inputs"] = inputs
        nodes.append({**node, "data": data, "selected": False})
    return {"nodes": nodes, "edges": flow.get("edges") or []}


def _out(row: CustomTemplate) -> TemplateOut:
    return TemplateOut(
        id=row.id,
        name=row.name,
        description=row.description,
        type=row.type,
        flowData=row.flow_data,
        usecases=row.usecases,
        createdDate=row.created_at,
    )


@router.get("/marketplaces/custom", response_model=list[TemplateOut])
async def list_templates(request: Request) -> list[TemplateOut]:
    """The templates saved from canvases, oldest first."""
    return [_out(t) for t in await state(request).store.templates()]


@router.post("/marketplaces/custom", response_model=TemplateOut, status_code=201)
async def save_template(body: TemplateIn, request: Request) -> TemplateOut:
    """Save a canvas as a template (its flow now; later edits to the canvas do not
    change it), credentials left out."""
    ref = body.canvasId or body.chatflowId
    if not ref:
        raise BadRequest("canvasId (or chatflowId) names the canvas to save")
    st = state(request)
    canvas = await canvas_or_404(st, ref)
    flow = _without_credentials(load_flow_data(canvas.flow_data))
    kind = "AgentflowV2" if kind_of(flow) is not None else "Chatflow"
    row = await st.store.add_template(
        body.name, body.description, kind, orjson.dumps(flow).decode(), body.usecases
    )
    return _out(row)


@router.delete("/marketplaces/custom/{template_id}", status_code=204)
async def delete_template(template_id: str, request: Request) -> Response:
    if not await state(request).store.delete_template(template_id):
        raise NotFound(f"no template {template_id}")
    return Response(status_code=204)
