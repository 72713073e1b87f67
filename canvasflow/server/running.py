"""Starting a prediction from an HTTP request: the checks every door shares (the
prediction route, the OpenAI-compatible route), then the running task."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from canvasflow.bus.base import EventLog
from canvasflow.bus.queue import JobSpec, QueueFull, RemotePrediction
from canvasflow.bus.redis import RedisEventLog
from canvasflow.engine.context import RunContext
from canvasflow.engine.graph import CanvasError, allowed_overrides
from canvasflow.engine.prediction import Prediction
from canvasflow.models.base import Message
from canvasflow.nodes.base import to_bool
from canvasflow.server.errors import ApiError
from canvasflow.server.sse import Encoder, EventStreamResponse
from canvasflow.server.state import ServerState
from canvasflow.store.models import Canvas


def _flag(
    overrides: dict[str, Any], settings: dict[str, Any], key: str, allowed: frozenset[str]
) -> bool:
    if key in overrides and key in allowed:
        return to_bool(overrides[key])
    return to_bool((settings or {}).get(key), False)


class Running(Protocol):
    """A prediction as the routes see it: run here (:class:`Prediction`) or on a worker
    (:class:`RemotePrediction`)."""

    ctx: RunContext
    log: EventLog
    status: str
    error: dict[str, str] | None
    text: str

    @property
    def id(self) -> str: ...

    def abort(self, reason: str = "abort") -> None: ...

    async def wait(self) -> None: ...


async def start_prediction(
    st: ServerState,
    canvas: Canvas,
    question: str,
    *,
    chat_id: str | None = None,
    overrides: dict[str, Any] | None = None,
    history: list[Message] | None = None,
    streaming: bool = True,
) -> Running:
    """Check the question and the canvas (4xx before anything starts), then start it
    here, or put it on the queue for a worker."""
    if st.shutting_down:
        raise ApiError(503, "the server is shutting down", {"Retry-After": "5"})
    try:
        graph = st.graph_for(canvas)
    except CanvasError as exc:
        raise ApiError(422, f"Canvas {canvas.slug} cannot run: {exc.message}") from None
    if not question.strip():
        raise ApiError(400, "question is required")
    limit = st.settings.max_question_chars
    if len(question) > limit:
        raise ApiError(413, f"question is longer than {limit} characters")

    overrides = overrides or {}
    session_override = overrides.get("sessionId")
    chat_id = chat_id or (str(session_override) if session_override else None) or str(uuid.uuid4())
    allowed = allowed_overrides(canvas.settings)
    ctx = RunContext(
        question=question,
        canvas_id=canvas.id,
        chat_id=chat_id,
        session_id=str(session_override) if session_override else chat_id,
        chat_message_id=str(uuid.uuid4()),
        history=history,
        streaming=streaming,
        overrides=overrides,
        store=st.store,
        return_source_documents=_flag(overrides, canvas.settings, "returnSourceDocuments", allowed),
        return_intermediate_steps=_flag(
            overrides, canvas.settings, "returnIntermediateSteps", allowed
        ),
    )
    if st.queue is not None and st.settings.mode == "queue":
        try:
            await st.queue.submit(JobSpec.from_ctx(ctx))
        except QueueFull as exc:
            raise ApiError(503, f"overloaded: {exc}", {"Retry-After": "2"}) from None
        return RemotePrediction(st.queue.bus, ctx, RedisEventLog(st.queue.bus, ctx.chat_message_id))
    prediction = Prediction(
        graph=graph,
        ctx=ctx,
        allowed_overrides=allowed,
        bus=st.bus,
        store=st.store,
        observers=st.observers,
    )
    prediction.start()
    st.track(prediction)
    return prediction


def stream_response(
    st: ServerState,
    log: EventLog,
    encoder: Encoder,
    *,
    heartbeat: float,
    on_disconnect: Callable[[], None] | None = None,
    after: int = 0,
) -> EventStreamResponse:
    """A prediction's event stream for one client, with the server's limits."""
    return EventStreamResponse(
        log,
        encoder,
        after=after,
        heartbeat=heartbeat,
        on_disconnect=on_disconnect,
        max_lag=st.settings.max_lag_events,
        metrics=st.metrics,
    )
