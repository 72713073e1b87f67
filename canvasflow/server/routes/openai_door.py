"""An OpenAI-compatible door: ``POST /v1/chat/completions`` with a canvas id or slug as
``model``, and ``GET /v1/models`` listing canvases. Any OpenAI client can call a canvas."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from canvasflow.errors import CanvasflowError, from_event
from canvasflow.server.deps import json_body, state
from canvasflow.server.errors import JSONBody, describe_validation
from canvasflow.server.formats import encoder_for
from canvasflow.server.guards import check_canvas_access, client_id, identify
from canvasflow.server.routes.predictions import wait_or_leave
from canvasflow.server.running import start_prediction, stream_response
from canvasflow.server.schemas import (
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    OpenAIError,
)

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


def openai_error(status: int, message: str, kind: str) -> JSONBody:
    return JSONBody(
        {"error": {"message": message, "type": kind, "code": status}}, status_code=status
    )


OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIError}
    for code in (400, 401, 403, 404, 408, 413, 415, 422, 429, 500, 502, 503, 504)
}


@router.get("/models", response_model=ModelList, responses=OPENAI_ERRORS)
async def list_models(request: Request) -> Response:
    """Canvases as models, for a key: the admin key lists all, a canvas key its own
    (everything without a key only when the server runs with --no-auth)."""
    st = state(request)
    try:
        caller = await identify(request)
    except CanvasflowError as exc:
        return openai_error(exc.status, exc.message, "rate_limit_error")
    if caller is None and not st.settings.no_auth:
        return openai_error(401, "an API key is needed to list models", "authentication_error")
    canvases = [
        c
        for c in await st.store.list_canvases()
        if caller is None or caller.is_admin or c.id in caller.canvas_ids
    ]
    listed = ModelList(
        data=[ModelCard(id=c.slug, created=int(c.created_at.timestamp())) for c in canvases]
    )
    return JSONBody(listed.model_dump())


@router.post(
    "/chat/completions",
    summary="Run a canvas as an OpenAI chat model",
    responses={
        200: {
            "description": "A chat.completion, or chat.completion.chunk events when streaming",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **OPENAI_ERRORS,
    },
)
async def chat_completions(request: Request) -> Response:
    st = state(request)
    try:
        body = await json_body(request)
        req = ChatCompletionRequest.model_validate(body)
    except CanvasflowError as exc:
        return openai_error(exc.status, exc.message, "invalid_request_error")
    except ValidationError as exc:
        return openai_error(400, describe_validation(list(exc.errors())), "invalid_request_error")
    canvas = await st.canvas(req.model)
    if canvas is None:
        return openai_error(
            404, f"The model {req.model!r} does not exist (no such canvas)", "invalid_request_error"
        )
    try:
        caller = await check_canvas_access(request, canvas)
        await st.limiter.check(canvas, client_id(request, caller, st.settings.trusted_proxy_header))
    except CanvasflowError as exc:
        kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
        response = openai_error(exc.status, exc.message, kind.get(exc.status, "error"))
        response.headers.update(exc.headers or {})
        return response
    turns = [m for m in req.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        return openai_error(400, "the last message must be the user's", "invalid_request_error")
    history = [{"role": m.role, "content": m.text()} for m in turns[:-1]]
    try:
        prediction = await start_prediction(
            st,
            canvas,
            turns[-1].text(),
            chat_id=req.user,
            history=history,  # type: ignore[arg-type]  # chat messages as the model layer takes them
            streaming=req.stream,
            trigger="openai",
        )
    except CanvasflowError as exc:
        return openai_error(exc.status, exc.message, "invalid_request_error")
    completion_id = "chatcmpl-" + prediction.id.replace("-", "")
    if req.stream:
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        return stream_response(
            st,
            prediction.log,
            encoder_for(
                "openai",
                completion_id=completion_id,
                model=req.model,
                include_usage=include_usage,
            ),
            on_disconnect=lambda: prediction.abort("disconnect"),
        )
    await wait_or_leave(request, prediction, keep_going=False)
    if prediction.status == "error" and prediction.error:
        err = from_event(prediction.error)
        return openai_error(err.status, err.message, err.code)
    answer = prediction.answer()
    return JSONBody(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer["text"]},
                    "finish_reason": "stop",
                }
            ],
            "usage": answer["usage"],
        }
    )
