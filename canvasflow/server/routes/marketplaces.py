"""Templates saved from canvases ("My templates"), in the shape of Flowise's custom
templates (``/api/v1/marketplaces/custom``): a canvas's flow as it is when saved, its
credentials left out (a template is shared; a credential is this server's), to start
new canvases from."""

from __future__ import annotations

import asyncio
import functools
import re
from importlib import resources
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from canvasflow.engine.graph import load_flow_data
from canvasflow.errors import BadRequest, NotFound
from canvasflow.runtime.graphs import kind_of
from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import MarketplaceTemplate, TemplateIn, TemplateOut
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


# -- Flowise's marketplace (vendored by scripts/vendor-marketplaces.sh) ------------------

MARKETPLACE_KINDS = {"chatflows": "Chatflow", "agentflowsv2": "AgentflowV2"}
# the node a "not supported" problem names: "Flowise node 'gmail' (Gmail, ..."
UNSUPPORTED = re.compile(r"Flowise node '[^']+' \(([^,]+),")


@functools.cache
def flowise_templates(server_keys: frozenset[str]) -> tuple[MarketplaceTemplate, ...]:
    """Flowise's marketplace templates with what each needs, judged once per process (the
    files never change; ``server_keys``: the providers whose key the server has)."""
    from canvasflow import importer
    from canvasflow.engine.catalog import describe
    from canvasflow.engine.graph import check
    from canvasflow.runtime.node import REGISTRY, flowise_interface, load_all

    load_all()
    root = resources.files("canvasflow.data").joinpath("marketplaces")
    out: list[MarketplaceTemplate] = []
    for folder, kind in MARKETPLACE_KINDS.items():
        for entry in sorted(root.joinpath(folder).iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".json"):
                continue
            name = entry.name[: -len(".json")]
            doc = orjson.loads(entry.read_bytes())
            canvas = importer.normalise(doc, fallback_name=name)
            flow = orjson.loads(canvas["flowData"])
            _, problems = check(canvas["flowData"])
            needs: list[str] = []
            categories: set[str] = set()
            labels: list[str] = []
            for node in flow.get("nodes") or []:
                data = node.get("data") or {}
                cls = REGISTRY.get(str(data.get("name")))
                label = str(data.get("label") or (cls.label if cls else data.get("name")))
                labels.append(label)
                if cls is None:
                    continue
                categories.add(cls.category)
                # the node, and the models and tools an agentflow node names (its
                # ``...Config`` inputs configure them)
                inputs = data.get("inputs") or {}
                used = [(cls, label)] + [
                    (REGISTRY[str(v)], REGISTRY[str(v)].label)
                    for k, v in inputs.items()
                    if isinstance(v, str) and v in REGISTRY and f"{k}Config" in inputs
                ]
                for each, shown in used:
                    slot = describe(each).get("credential")
                    flowise_slot = flowise_interface().get(each.name, {}).get("credential") or {}
                    if slot and flowise_slot.get("optional"):  # a server of one's own (Ollama)
                        needs.append(f"a server: {shown}")
                    elif slot and not set(slot["credentialNames"]) & server_keys:
                        needs.append(f"a key: {shown}")
                    needs.extend(f"install canvasflow[{x}]" for x in each.missing_extras())
            for p in problems:
                if p.level != "error":
                    continue
                if "not supported" in p.message:
                    named = UNSUPPORTED.search(p.message)
                    what = named.group(1) if named else p.message.split(":")[0]
                    needs.append(f"not supported: {what.removeprefix('node ')}")
                    continue
                spec = _input_type(flow, p.node_id, p.input)
                needs.append("a file" if spec == "file" else f"to fill in: {p.message}")
            out.append(
                MarketplaceTemplate(
                    id=f"{folder}/{name}",
                    templateName=name,
                    type=kind,
                    description=str(doc.get("description") or ""),
                    usecases=[str(u) for u in doc.get("usecases") or []],
                    framework=[str(f) for f in doc.get("framework") or []],
                    categories=sorted(categories),
                    nodes=labels,
                    needs=list(dict.fromkeys(needs)),
                    runs=not needs,
                    flowData=canvas["flowData"],
                )
            )
    return tuple(out)


def _input_type(flow: dict[str, Any], node_id: str | None, name: str | None) -> str | None:
    """The type of a node's input, as its class declares it."""
    from canvasflow.runtime.node import REGISTRY

    for node in flow.get("nodes") or []:
        if node.get("id") == node_id:
            cls = REGISTRY.get(str((node.get("data") or {}).get("name")))
            spec = cls.input(name) if cls and name else None
            return spec.type if spec else None
    return None


@router.get("/marketplaces/templates", response_model=list[MarketplaceTemplate])
async def marketplace_templates(request: Request) -> list[MarketplaceTemplate]:
    """Flowise 3.1.2's marketplace chatflows and agentflows (shipped with canvasflow, with
    their licence), each with what canvasflow's validator says it needs on this server:
    a key the server lacks, a file, an input to fill in, a node canvasflow lacks."""
    from canvasflow.nodes.services import SERVICES

    settings = state(request).settings
    keys = frozenset(
        s.kind
        for s in SERVICES.values()
        if s.kind and s.key_env and settings.provider_env(s.key_env)
    )
    return list(await asyncio.to_thread(flowise_templates, keys))
