"""Predictions: run a canvas (JSON or a stream), re-attach to a stream, abort."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from canvasflow.bus.base import EventLog
from canvasflow.bus.memory import MemoryEventLog
from canvasflow.engine.prediction import replay_stored
from canvasflow.errors import BadRequest, NotFound, PayloadTooLarge, from_event
from canvasflow.server.deps import canvas_or_404, json_body, state
from canvasflow.server.errors import JSONBody, describe_validation
from canvasflow.server.formats import encoder_for
from canvasflow.server.guards import check_canvas_access, client_id, is_admin
from canvasflow.server.running import Running, start_prediction, stream_response
from canvasflow.server.schemas import (
    AbortResponse,
    ErrorResponse,
    PredictionRequest,
    PredictionResponse,
    StreamEvent,
    inline_refs,
)
from canvasflow.values import to_bool

router = APIRouter(prefix="/api/v1", tags=["predictions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse}
    for code in (400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500, 502, 503, 504)
}
STREAM_DOC: dict[str, Any] = {
    "description": "The answer as JSON, or a server-sent event stream when streaming: in "
    "the canvasflow format, each event's data line is one of these (PROTOCOL.md)",
    "content": {"text/event-stream": {"schema": inline_refs(StreamEvent.model_json_schema())}},
}


def _request_body_doc() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_refs(PredictionRequest.model_json_schema())}
            },
        }
    }


@router.post(
    "/prediction/{canvas_id}",
    response_model=PredictionResponse,
    responses={200: STREAM_DOC, **ERRORS},
    openapi_extra=_request_body_doc(),
    summary="Run a canvas once",
)
async def predict(canvas_id: str, request: Request) -> Response:
    st = state(request)
    settings = st.settings
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        req = PredictionRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation(list(exc.errors()))) from None

    if req.history is not None and len(req.history) > settings.max_history:
        raise PayloadTooLarge(
            f"history has {len(req.history)} messages; at most {settings.max_history} are "
            "taken (CANVASFLOW_MAX_HISTORY)"
        )
    canvas = await canvas_or_404(st, canvas_id)
    caller = await check_canvas_access(request, canvas)
    await st.limiter.check(canvas, client_id(request, caller, settings.trusted_proxy_header))
    overrides = dict(req.overrideConfig or {})
    encoder = None
    if req.streaming:  # an unknown format is refused before anything runs
        # the request's choice, else Flowise's when a Flowise SDK asks, else the canvas's
        # (settings.streamFormat: "flowise" for Flowise's chat widget), else the server's
        fmt = (
            req.streamFormat
            or ("flowise" if "chatflowId" in body else None)
            or (canvas.settings or {}).get("streamFormat")
            or settings.stream_format
        )
        encoder = encoder_for(str(fmt))
    prediction = await start_prediction(
        st,
        canvas,
        req.question or "",
        chat_id=req.chatId,
        overrides=overrides,
        history=[h.as_chat() for h in req.history] if req.history else None,
        streaming=req.streaming,
        uploads=req.uploads,
        human_input=req.humanInput.model_dump() if req.humanInput else None,
        form=req.form,
        trigger=trigger_of(request),
        # the studio's test panel runs the draft, not the version the canvas serves
        draft=request.headers.get("x-canvasflow-version", "").lower() == "draft"
        and await is_admin(request),
    )

    if encoder is not None:
        keep_going = to_bool(overrides.get("continueOnDisconnect"), False)
        return stream_response(
            st,
            prediction.log,
            encoder,
            on_disconnect=None if keep_going else lambda: prediction.abort("disconnect"),
        )

    keep_going = to_bool(overrides.get("continueOnDisconnect"), False)
    await wait_or_leave(request, prediction, keep_going)
    if prediction.status == "error" and prediction.error is not None:
        raise from_event(prediction.error)
    return JSONBody(prediction.answer())


async def predict_route(request: Request) -> Response:
    """:func:`predict` as the app dispatches it (server/app.py): a plain route."""
    return await predict(request.path_params["canvas_id"], request)


# what a client may say it is (X-Canvasflow-Trigger), for the record of the run only
CLIENT_TRIGGERS = frozenset({"studio", "chat", "widget", "sdk"})


def trigger_of(request: Request) -> str:
    said = request.headers.get("x-canvasflow-trigger", "").strip().lower()
    return said if said in CLIENT_TRIGGERS else "prediction"


async def wait_or_leave(request: Request, prediction: Running, keep_going: bool) -> None:
    """Wait for a JSON answer; a client that goes away first cancels the generation
    (unless it asked for ``continueOnDisconnect``)."""
    done = prediction.finished()
    while True:
        finished, _ = await asyncio.wait({done}, timeout=0.25)
        if finished:
            done.result()
            return
        if await request.is_disconnected():
            if not keep_going:
                prediction.abort("disconnect")
            await asyncio.wait({done})  # not ``await done``: a cancel here must not reach it
            return


@router.get(
    "/prediction/{canvas_id}/stream/{chat_message_id}",
    responses={200: STREAM_DOC, **ERRORS},
    summary="Re-attach to a running or recently finished stream",
)
async def resume(
    canvas_id: str,
    chat_message_id: str,
    request: Request,
    last_event_id_header: str | None = Header(None, alias="Last-Event-ID"),
    last_event_id: str | None = Query(None, alias="lastEventId"),
    stream_format: str | None = Query(None, alias="streamFormat"),
) -> Response:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await check_canvas_access(request, canvas)
    log = await st.bus.get_log(chat_message_id)
    if log is None:
        # the events are gone (retention, a restart): the stored answer stands in for them
        row = await st.store.get_message(chat_message_id)
        if row is None or row.role != "apiMessage" or row.canvas_id != canvas.id:
            raise NotFound(f"no stream {chat_message_id} is running or kept")
        log = MemoryEventLog()
        replay_stored(row, log)
    elif await log_canvas(log) != canvas.id:
        # the log of another canvas's answer: never readable through this canvas's URL
        # (a public canvas must not open a locked one's stream)
        raise NotFound(f"no stream {chat_message_id} is running or kept")
    raw = last_event_id_header if last_event_id_header is not None else last_event_id
    raw = (raw or "").strip()
    if raw and (not raw.isdigit() or len(raw) > 15):
        raise BadRequest(f"Last-Event-ID must be an event id (a whole number), not {raw[:40]!r}")
    after = int(raw) if raw else 0
    last = await log.current_last_id()
    if after > last:
        raise BadRequest(f"Last-Event-ID {after} is beyond this stream's last event ({last})")
    encoder = encoder_for(stream_format or st.settings.stream_format)
    return stream_response(st, log, encoder, after=after)


async def log_canvas(log: EventLog) -> str | None:
    """The canvas whose answer a log holds: its first event, ``start``, says."""
    events = log.follow(0, ping=None)
    try:
        async with asyncio.timeout(5):
            async for event in events:
                if event is not None:
                    return event.data.get("canvasId") if event.kind == "start" else None
    except TimeoutError:
        return None
    finally:
        await events.aclose()  # type: ignore[attr-defined]  # an async generator's
    return None


async def _abort(canvas_id: str, chat_id: str, request: Request) -> AbortResponse:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await check_canvas_access(request, canvas)
    if not await st.bus.abort(canvas.id, chat_id):
        raise NotFound(f"no prediction is running for chat {chat_id}")
    return AbortResponse()


router.add_api_route(
    "/chatmessage/abort/{canvas_id}/{chat_id}",
    _abort,
    methods=["PUT"],
    response_model=AbortResponse,
    responses=ERRORS,
    summary="Stop the generation running for a chat",
)
router.add_api_route(
    "/canvas-messages/abort/{canvas_id}/{chat_id}",
    _abort,
    methods=["PUT"],
    response_model=AbortResponse,
    responses=ERRORS,
    summary="Stop the generation running for a chat (alias)",
)
