"""Flowise's "Generate Agentflow": a draft agentflow from a description, drafted by a
chat model the author picks (``/api/v1/agentflowv2-generator/generate``), checked and
returned with its problems, never saved or run here."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from canvasflow.agentflow.generate import generate
from canvasflow.engine.graph import check
from canvasflow.runtime.context import RunContext
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import GeneratedFlow, GenerateIn

router = APIRouter(
    prefix="/api/v1/agentflowv2-generator",
    tags=["agentflows"],
    dependencies=[Depends(require_admin)],
    responses=ERRORS,
)


@router.post("/generate", response_model=GeneratedFlow)
async def generate_agentflow(body: GenerateIn, request: Request) -> GeneratedFlow:
    """A draft agentflow (nodes and edges in Flowise's Agentflow v2 shape) for the
    description in ``question``, drafted by ``selectedChatModel`` (a chat model node:
    its name and inputs, credential included); its model nodes use the same model. The
    problems are the validator's: fill them in, then save."""
    st = state(request)
    chosen = body.selectedChatModel
    inputs = dict(chosen.inputs or {})
    if chosen.credential and not inputs.get("credential"):
        inputs["credential"] = chosen.credential
    ctx = RunContext(
        question=body.question,
        settings=st.settings,
        credentials=st.credentials,
        store=st.store,
    )
    flow = await generate(body.question, chosen.name, inputs, ctx)
    _, problems = check(flow)
    return GeneratedFlow(
        nodes=flow["nodes"], edges=flow["edges"], problems=[p.as_dict() for p in problems]
    )
