"""A canvas's API dialog (Flowise's "API endpoint"): its prediction URL, whether a key
is needed, code to call it in each client people use (``server/snippets.py``), and the
inputs a request may change with ``overrideConfig`` (the canvas's allow-list)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from canvasflow.engine.catalog import describe
from canvasflow.engine.graph import allowed_overrides
from canvasflow.mcp import config as mcp_config
from canvasflow.runtime.node import REGISTRY, load_all
from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import ApiDialog, OverridableInput, SnippetOut
from canvasflow.server.snippets import snippets

router = APIRouter(
    prefix="/api/v1", tags=["canvases"], dependencies=[Depends(require_admin)], responses=ERRORS
)

# what a request may sensibly change: values, not keys, files or wiring
OVERRIDABLE_TYPES = {"string", "number", "boolean", "options", "json", "code"}


def overridable(flow_data: str, allowed: frozenset[str]) -> list[OverridableInput]:
    load_all()
    try:
        nodes = orjson.loads(flow_data).get("nodes") or []
    except (orjson.JSONDecodeError, AttributeError):
        return []
    out: list[OverridableInput] = []
    for node in nodes:
        data = node.get("data") if isinstance(node, dict) else None
        cls = REGISTRY.get(str((data or {}).get("name")))
        if not data or cls is None:
            continue
        label = str(data.get("label") or cls.label)
        for inp in describe(cls)["inputs"]:
            if inp["type"] not in OVERRIDABLE_TYPES:
                continue
            out.append(
                OverridableInput(
                    nodeId=str(node.get("id")),
                    nodeLabel=label,
                    input=inp["name"],
                    label=inp["label"],
                    type=inp["type"],
                    allowed=inp["name"] in allowed,
                )
            )
    return out


def example_override(inputs: list[OverridableInput], flow_data: str) -> dict[str, Any]:
    """An overrideConfig a request could send: the first allowed input's current value."""
    values: dict[tuple[str, str], Any] = {}
    for node in orjson.loads(flow_data).get("nodes") or []:
        for key, value in ((node.get("data") or {}).get("inputs") or {}).items():
            values[(str(node.get("id")), key)] = value
    for inp in inputs:
        value = values.get((inp.nodeId, inp.input))
        if inp.allowed and isinstance(value, str | int | float | bool) and value != "":
            return {inp.input: value}
    return {}


@router.get("/canvases/{canvas_id}/api-dialog", response_model=ApiDialog)
@router.get("/chatflows/{canvas_id}/api-dialog", response_model=ApiDialog)
async def api_dialog(
    canvas_id: str,
    request: Request,
    override: bool = Query(False, description="Put an overrideConfig in the code"),
) -> ApiDialog:
    """The canvas's API dialog: its URL, the code for each client (filled in, runnable
    as shown), and what a request's overrideConfig may change."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    base = str(request.base_url).rstrip("/")
    locked = await st.keys.canvas_locked(canvas.id)
    allowed = allowed_overrides(canvas.settings)
    inputs = overridable(canvas.flow_data, allowed)
    mcp_url = f"{base}/api/v1/mcp/{canvas.id}" if mcp_config.enabled(canvas) else None
    made = snippets(
        base,
        canvas.id,
        canvas.slug,
        locked,
        example_override(inputs, canvas.flow_data) if override else None,
        mcp_url,
    )
    return ApiDialog(
        predictionUrl=f"{base}/api/v1/prediction/{canvas.id}",
        locked=locked,
        snippets=[SnippetOut(**s.__dict__) for s in made],
        inputs=inputs,
        allowedOverrides=sorted(allowed),
    )
