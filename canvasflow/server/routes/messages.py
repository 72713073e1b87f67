"""Chat history of a canvas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import ChatMessageOut, DeleteResult
from canvasflow.server.uploads import remove_uploads
from canvasflow.store.models import ChatMessage
from canvasflow.store.repo import HistoryFilter

router = APIRouter(prefix="/api/v1", tags=["chat messages"], dependencies=[Depends(require_admin)])


def _out(m: ChatMessage) -> ChatMessageOut:
    return ChatMessageOut(
        id=m.id,
        canvasId=m.canvas_id,
        chatflowid=m.canvas_id,
        chatId=m.chat_id,
        sessionId=m.session_id,
        role=m.role,
        content=m.content,
        sourceDocuments=m.source_documents,
        usedTools=m.used_tools,
        usage=m.usage,
        status=m.status,
        createdDate=m.created_at,
    )


@router.get("/chatmessage/{canvas_id}", response_model=list[ChatMessageOut], responses=ERRORS)
async def list_messages(
    canvas_id: str,
    request: Request,
    chat_id: str | None = Query(None, alias="chatId"),
    session_id: str | None = Query(None, alias="sessionId"),
    order: Literal["ASC", "DESC", "asc", "desc"] = Query("ASC"),
    start_date: datetime | None = Query(None, alias="startDate"),
    end_date: datetime | None = Query(None, alias="endDate"),
) -> list[ChatMessageOut]:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    f = HistoryFilter(chat_id, session_id, start_date, end_date, order)
    return [_out(m) for m in await st.store.messages(canvas.id, f)]


@router.delete("/chatmessage/{canvas_id}", response_model=DeleteResult, responses=ERRORS)
async def delete_messages(
    canvas_id: str,
    request: Request,
    chat_id: str | None = Query(None, alias="chatId"),
    session_id: str | None = Query(None, alias="sessionId"),
    start_date: datetime | None = Query(None, alias="startDate"),
    end_date: datetime | None = Query(None, alias="endDate"),
) -> DeleteResult:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    f = HistoryFilter(chat_id, session_id, start_date, end_date)
    everything = not (chat_id or session_id or start_date or end_date)
    chats = None if everything else await st.store.chats_of(canvas.id, f)
    deleted = await st.store.delete_messages(canvas.id, f)
    if chats:  # chats with no message left lose their uploads too
        chats -= await st.store.chats_of(canvas.id)
    remove_uploads(st.settings.data_dir, canvas.id, chats)
    return DeleteResult(deleted=deleted)
