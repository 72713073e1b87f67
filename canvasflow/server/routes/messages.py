"""Chat history of a canvas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    ChatMessageOut,
    ConversationOut,
    ConversationPage,
    DeleteResult,
)
from canvasflow.server.uploads import remove_uploads
from canvasflow.store.models import ChatMessage, Feedback
from canvasflow.store.repo import HistoryFilter

router = APIRouter(prefix="/api/v1", tags=["chat messages"], dependencies=[Depends(require_admin)])


def _out(m: ChatMessage, feedback: Feedback | None = None) -> ChatMessageOut:
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
        feedback={"rating": feedback.rating, "content": feedback.content} if feedback else None,
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
    message_id: str | None = Query(None, alias="messageId"),
    feedback: bool = Query(False, description="Only answers that were rated"),
    feedback_type: Literal["THUMBS_UP", "THUMBS_DOWN"] | None = Query(None, alias="feedbackType"),
    text: str | None = Query(None, max_length=500, description="Messages holding this text"),
    page: int | None = Query(None, ge=1, description="With pageSize: that page, from 1"),
    page_size: int = Query(100, ge=1, le=1000, alias="pageSize"),
    conversations: bool = Query(
        False, description="Whole conversations: every message of the sessions selected"
    ),
) -> list[ChatMessageOut]:
    """A canvas's messages, with Flowise's filters (and its page/pageSize), each answer
    with the feedback given on it."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    f = HistoryFilter(
        chat_id, session_id, start_date, end_date, order, message_id, feedback_type, feedback, text
    )
    offset, limit = ((page - 1) * page_size, page_size) if page else (0, None)
    rows = await st.store.messages(canvas.id, f, offset, limit, whole=conversations)
    rated = await st.store.feedback_of([m.id for m in rows if m.role == "apiMessage"])
    return [_out(m, rated.get(m.id)) for m in rows]


@router.get(
    "/chatmessage/{canvas_id}/conversations", response_model=ConversationPage, responses=ERRORS
)
async def list_conversations(
    canvas_id: str,
    request: Request,
    start_date: datetime | None = Query(None, alias="startDate"),
    end_date: datetime | None = Query(None, alias="endDate"),
    session_id: str | None = Query(None, alias="sessionId"),
    feedback_type: Literal["THUMBS_UP", "THUMBS_DOWN"] | None = Query(None, alias="feedbackType"),
    text: str | None = Query(None, max_length=500),
    page: int = Query(1, ge=1),
    page_size: int = Query(50, ge=1, le=500, alias="pageSize"),
) -> ConversationPage:
    """A page of a canvas's conversations (one per session), latest first: dates, how
    many messages, the first question, tokens, thumbs up and down, what started it and
    the version that answered. Filters keep the conversations with a matching message."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    f = HistoryFilter(session_id=session_id, start=start_date, end=end_date)
    f.feedback_type, f.text = feedback_type, text
    total, rows = await st.store.conversations(canvas.id, f, (page - 1) * page_size, page_size)
    return ConversationPage(total=total, conversations=[ConversationOut(**r) for r in rows])


@router.delete("/chatmessage/{canvas_id}", response_model=DeleteResult, responses=ERRORS)
async def delete_messages(
    canvas_id: str,
    request: Request,
    chat_id: str | None = Query(None, alias="chatId"),
    session_id: str | None = Query(None, alias="sessionId"),
    start_date: datetime | None = Query(None, alias="startDate"),
    end_date: datetime | None = Query(None, alias="endDate"),
) -> DeleteResult:
    """Delete a canvas's messages: all of them, or a chat's, a session's, a period's."""
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
