"""An OpenAI-compatible door: ``POST /v1/chat/completions`` with a canvas id or slug as
``model``, and ``GET /v1/models`` listing canvases. Any OpenAI client can call a canvas."""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import Response

from canvasflow.events import Event
from canvasflow.server.deps import json_body, state
from canvasflow.server.errors import ApiError, JSONBody, describe_validation
from canvasflow.server.guards import check_canvas_access, client_id
from canvasflow.server.running import start_prediction, stream_response

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessageIn]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "canvasflow"


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


def openai_error(status: int, message: str, kind: str) -> JSONBody:
    return JSONBody(
        {"error": {"message": message, "type": kind, "code": status}}, status_code=status
    )


class OpenAIChunkEncoder:
    """Canvas events as ``chat.completion.chunk`` objects, then ``data: [DONE]``."""

    content_type = b"text/event-stream; charset=utf-8"
    heartbeat = b": ping\n\n"

    def __init__(self, completion_id: str, model: str, include_usage: bool) -> None:
        self.base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.include_usage = include_usage
        self.started = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            **self.base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def encode(self, event: Event) -> bytes | tuple[bytes, ...] | None:
        kind = event.kind
        if kind == "token":
            if not self.started:
                self.started = True
                return self._chunk({"role": "assistant", "content": event.data})
            return self._chunk({"content": event.data})
        if kind == "error":
            err = {"error": {"message": event.data["message"], "type": event.data["code"]}}
            return b"data: " + orjson.dumps(err) + b"\n\n"
        if kind == "metadata":
            frames = [
                self._chunk({} if self.started else {"role": "assistant", "content": ""}, "stop")
            ]
            if self.include_usage:
                frames.append(
                    b"data: "
                    + orjson.dumps({**self.base, "choices": [], "usage": event.data["usage"]})
                    + b"\n\n"
                )
            return tuple(frames)
        if kind == "end":
            return b"data: [DONE]\n\n"
        return None


@router.get("/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    """Canvases as models: the ones the caller's key may run (all of them while no
    keys are assigned)."""
    st = state(request)
    canvases = []
    for canvas in await st.store.list_canvases():
        try:
            await check_canvas_access(request, canvas)
        except ApiError:
            continue
        canvases.append(canvas)
    return ModelList(
        data=[ModelCard(id=c.slug, created=int(c.created_at.timestamp())) for c in canvases]
    )


@router.post("/chat/completions", summary="Run a canvas as an OpenAI chat model")
async def chat_completions(request: Request) -> Response:
    st = state(request)
    try:
        body = await json_body(request, st.settings.max_body_bytes)
        req = ChatCompletionRequest.model_validate(body)
    except ApiError as exc:
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
    except ApiError as exc:
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
            st, canvas, turns[-1].text(), chat_id=req.user, history=history, streaming=req.stream
        )  # type: ignore[arg-type]
    except ApiError as exc:
        return openai_error(exc.status, exc.message, "invalid_request_error")
    completion_id = "chatcmpl-" + prediction.id.replace("-", "")
    if req.stream:
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        return stream_response(
            st,
            prediction.log,
            OpenAIChunkEncoder(completion_id, req.model, include_usage),
            heartbeat=st.settings.ping_interval,
            on_disconnect=lambda: prediction.abort("disconnect"),
        )
    await prediction.wait()
    if prediction.status == "error" and prediction.error:
        status = 502 if prediction.error["code"].startswith("upstream") else 500
        return openai_error(status, prediction.error["message"], prediction.error["code"])
    return JSONBody(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": prediction.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": prediction.ctx.usage.as_dict(),
        }
    )
