"""What Flowise's chat widget (npm ``flowise-embed``) calls besides predictions: the
canvas's public chatbot settings, feedback on answers, leads, the files a chat
uploaded. These are public (a website's visitors call them); the lists of feedback and
leads are the admin's. What canvasflow does not offer (text to speech, attachments for
full-file upload, OpenAI assistants' files) answers a clear 501."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from canvasflow.engine.finishing import follow_up_config
from canvasflow.errors import CanvasflowError, NotFound, Unauthorized
from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import check_canvas_access, require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    ChatStats,
    FeedbackIn,
    FeedbackOut,
    FeedbackUpdate,
    LeadIn,
    LeadOut,
    PublicCanvas,
)
from canvasflow.server.uploads import (
    FILE_TYPES,
    IMAGE_TYPES,
    safe_name,
    upload_dir,
    uploads_allowed,
)
from canvasflow.store.models import Feedback, Lead, utcnow

router = APIRouter(prefix="/api/v1", tags=["chat widget"], responses=ERRORS)


class NotOffered(CanvasflowError):
    status, code = 501, "not_offered"


@router.get("/public-chatbotConfig/{canvas_id}")
async def public_chatbot_config(canvas_id: str, request: Request) -> dict[str, Any]:
    """The widget's settings of a canvas: title, welcome message, starter prompts,
    colours, feedback, leads, uploads (the canvas's ``settings.chatbotConfig``)."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await check_canvas_access(request, canvas)
    cfg = dict((canvas.settings or {}).get("chatbotConfig") or {})
    # the author's post-processing code and origins are not the public's
    for private in ("postProcessing", "allowedOrigins", "allowedOriginsError"):
        cfg.pop(private, None)
    if follow_up_config(canvas.settings) is not None:  # the widget shows them when on
        cfg["followUpPrompts"] = {"status": True}
    images, files = uploads_allowed(canvas)
    limit_mb = st.settings.max_upload_bytes // (1024 * 1024)
    cfg["uploads"] = {
        "isImageUploadAllowed": images,
        "imgUploadSizeAndTypes": [{"fileTypes": IMAGE_TYPES, "maxUploadSize": limit_mb}]
        if images
        else [],
        "isRAGFileUploadAllowed": files,
        "fileUploadSizeAndTypes": [{"fileTypes": FILE_TYPES, "maxUploadSize": limit_mb}]
        if files
        else [],
        "isSpeechToTextEnabled": False,
    }
    cfg["isTTSEnabled"] = False
    return cfg


def feedback_out(row: Feedback) -> FeedbackOut:
    return FeedbackOut(
        id=row.id,
        chatflowid=row.canvas_id,
        chatId=row.chat_id,
        messageId=row.message_id,
        rating=row.rating,
        content=row.content,
        createdDate=row.created_at,
    )


@router.post("/feedback/{canvas_id}", response_model=FeedbackOut, status_code=201)
async def give_feedback(canvas_id: str, body: FeedbackIn, request: Request) -> FeedbackOut:
    """A thumbs up or down on an answer of this chat, stored with the message."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await check_canvas_access(request, canvas)
    message = await st.store.get_message(body.messageId)
    if message is None or message.canvas_id != canvas.id or message.chat_id != body.chatId:
        raise NotFound(f"no answer {body.messageId} in chat {body.chatId}")
    row = Feedback(
        id=str(uuid.uuid4()),
        canvas_id=canvas.id,
        chat_id=body.chatId,
        message_id=body.messageId,
        rating=body.rating,
        content=body.content,
        created_at=utcnow(),
    )
    return feedback_out(await st.store.add_row(row))


@router.put("/feedback/{feedback_id}", response_model=FeedbackOut)
async def update_feedback(feedback_id: str, body: FeedbackUpdate, request: Request) -> FeedbackOut:
    """Change a rating or add its comment (the widget asks for one after a thumbs down)."""
    st = state(request)
    found = await st.store.get_row(Feedback, feedback_id)
    if found is None:
        raise NotFound(f"no feedback {feedback_id}")
    await check_canvas_access(request, await canvas_or_404(st, found.canvas_id))
    changes = {k: v for k, v in body.model_dump().items() if v is not None}
    row = await st.store.update_feedback(feedback_id, **changes)
    if row is None:
        raise NotFound(f"no feedback {feedback_id}")
    return feedback_out(row)


@router.get(
    "/feedback/{canvas_id}",
    response_model=list[FeedbackOut],
    dependencies=[Depends(require_admin)],
)
async def list_feedback(canvas_id: str, request: Request) -> list[FeedbackOut]:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    return [feedback_out(r) for r in await st.store.rows_of(Feedback, canvas.id)]


def lead_out(row: Lead) -> LeadOut:
    return LeadOut(
        id=row.id,
        chatflowid=row.canvas_id,
        chatId=row.chat_id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        createdDate=row.created_at,
    )


@router.post("/leads", response_model=LeadOut, status_code=201)
async def add_lead(body: LeadIn, request: Request) -> LeadOut:
    st = state(request)
    canvas = await canvas_or_404(st, body.chatflowid)
    await check_canvas_access(request, canvas)
    row = Lead(
        id=str(uuid.uuid4()),
        canvas_id=canvas.id,
        chat_id=body.chatId,
        name=body.name,
        email=body.email,
        phone=body.phone,
        created_at=utcnow(),
    )
    return lead_out(await st.store.add_row(row))


@router.get(
    "/leads/{canvas_id}", response_model=list[LeadOut], dependencies=[Depends(require_admin)]
)
async def list_leads(canvas_id: str, request: Request) -> list[LeadOut]:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    return [lead_out(r) for r in await st.store.rows_of(Lead, canvas.id)]


@router.get("/public-chatflows/{canvas_id}", response_model=PublicCanvas)
async def public_canvas(canvas_id: str, request: Request) -> PublicCanvas:
    """A public canvas's name (the chatbot page asks it first); 401 when the canvas is
    not public (``settings.isPublic``), as Flowise answers."""
    canvas = await canvas_or_404(state(request), canvas_id)
    if (canvas.settings or {}).get("isPublic") is not True:
        raise Unauthorized(f"canvas {canvas.slug} is not public")
    return PublicCanvas(id=canvas.id, name=canvas.name, isPublic=True)


@router.get("/stats/{canvas_id}", response_model=ChatStats, dependencies=[Depends(require_admin)])
async def chat_stats(
    canvas_id: str,
    request: Request,
    start_date: datetime | None = Query(None, alias="startDate"),
    end_date: datetime | None = Query(None, alias="endDate"),
) -> ChatStats:
    """Flowise's statistics of a canvas's conversations: messages, sessions, and the
    feedback given on its answers (thumbs up among them)."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    return ChatStats(**await st.store.chat_stats(canvas.id, start_date, end_date))


@router.get("/get-upload-file", response_class=FileResponse)
async def get_upload_file(
    request: Request,
    chatflow_id: str = Query(..., alias="chatflowId"),
    chat_id: str = Query(..., alias="chatId"),
    file_name: str = Query(..., alias="fileName"),
) -> Response:
    """A file a chat uploaded, to that chat only (its id is in the path to it)."""
    st = state(request)
    canvas = await canvas_or_404(st, chatflow_id)
    await check_canvas_access(request, canvas)
    folder = upload_dir(st.settings.data_dir, canvas.id, chat_id).resolve()
    path = (folder / safe_name(file_name)).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise NotFound("no such file in this chat")
    return FileResponse(path, headers={"Cache-Control": "private, no-store"})


@router.post("/attachments/{canvas_id}/{chat_id}", status_code=501)
async def attachments(canvas_id: str, chat_id: str) -> Response:
    raise NotOffered(
        "full-file attachments are not offered by canvasflow: send files in the "
        "prediction's uploads"
    )


@router.post("/text-to-speech/generate", status_code=501)
@router.post("/text-to-speech/abort", status_code=501)
async def text_to_speech() -> Response:
    raise NotOffered("text to speech is not offered by canvasflow (no provider)")


@router.get("/openai-assistants-file/download", status_code=501)
@router.post("/openai-assistants-file/download", status_code=501)
async def assistants_file() -> Response:
    raise NotOffered("OpenAI assistants' files are not offered by canvasflow")
