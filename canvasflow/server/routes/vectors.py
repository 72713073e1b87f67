"""Loading documents into a canvas's persistent vector store (Flowise's vector upsert)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from canvasflow.engine.graph import allowed_overrides
from canvasflow.engine.run import upsert
from canvasflow.runtime.context import RunContext
from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import check_canvas_access
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import UpsertResult

router = APIRouter(prefix="/api/v1", tags=["vector store"])


@router.post("/vector/upsert/{canvas_id}", response_model=UpsertResult, responses=ERRORS)
async def vector_upsert(canvas_id: str, request: Request) -> UpsertResult:
    """Embed and store the documents connected to the canvas's document stores (those
    already stored are skipped)."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await check_canvas_access(request, canvas)
    graph = st.graph_for(canvas)
    ctx = RunContext(
        question="",
        canvas_id=canvas.id,
        chat_message_id=str(uuid.uuid4()),
        store=st.store,
        settings=st.settings,
        credentials=st.credentials,
    )
    # canvasflow's typed errors answer with their own status (422, 502, 504...)
    totals = await upsert(graph, ctx, allowed_overrides(canvas.settings))
    return UpsertResult(**totals)
