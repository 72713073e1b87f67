"""Starting a prediction from an HTTP request: the checks every door shares (the
prediction route, the OpenAI-compatible route), then the running task."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from canvasflow.bus.base import EventLog
from canvasflow.engine.finishing import finishing_of
from canvasflow.engine.graph import allowed_overrides
from canvasflow.engine.prediction import Prediction
from canvasflow.errors import BadRequest, CanvasInvalid, PayloadTooLarge, Unavailable
from canvasflow.models.base import Message
from canvasflow.observability.analytic import analytic_of
from canvasflow.runtime.context import RunContext
from canvasflow.server.formats import Encoder
from canvasflow.server.sse import EventStreamResponse
from canvasflow.server.state import ServerState
from canvasflow.server.uploads import take_uploads
from canvasflow.store.models import Canvas
from canvasflow.values import to_bool


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

    @property
    def log(self) -> EventLog: ...

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def error(self) -> dict[str, str] | None: ...

    def answer(self) -> dict[str, Any]:
        """The JSON answer (once ``wait`` has returned)."""

    def abort(self, reason: str = "abort") -> None: ...

    async def wait(self) -> None: ...

    def finished(self) -> asyncio.Future[None]:
        """Done when the answer is; awaiting it from elsewhere does not start a run, and
        ``asyncio.wait`` on it leaves it running when the waiter is cancelled."""


async def start_prediction(
    st: ServerState,
    canvas: Canvas,
    question: str,
    *,
    chat_id: str | None = None,
    overrides: dict[str, Any] | None = None,
    history: list[Message] | None = None,
    streaming: bool = True,
    uploads: list[Any] | None = None,
    human_input: dict[str, Any] | None = None,
    form: dict[str, Any] | None = None,
    trigger: str = "prediction",
    webhook: dict[str, Any] | None = None,
    message_id: str | None = None,
    draft: bool = False,
    version: int | None = None,
) -> Running:
    """Check the question and the canvas (4xx before anything starts), then start it
    here, or put it on the queue for a worker."""
    if st.shutting_down:
        raise Unavailable("the server is shutting down", headers={"Retry-After": "5"})
    if not await st.bus.healthy():
        raise Unavailable(
            "the event log (Redis) is unreachable; try again shortly", headers={"Retry-After": "5"}
        )
    try:
        graph, number = await st.served_graph(canvas, draft, version)
    except CanvasInvalid as exc:
        err = CanvasInvalid(f"Canvas {canvas.slug} cannot run: {exc.message}", exc.node_id)
        err.problems = exc.problems
        raise err from None
    agentflow = graph.takes_forms
    if (human_input or form) and not agentflow:
        raise BadRequest("humanInput and form are for agentflows; this canvas is a chatflow")
    # a trigger may run a canvas with nothing to ask (Flowise's "no input": one space)
    nothing_asked = trigger in ("schedule", "webhook")
    if (
        not question.strip()
        and not nothing_asked
        and not (agentflow and (human_input or form is not None))
    ):
        raise BadRequest("question is required")
    limit = st.settings.max_question_chars
    if len(question) > limit:
        raise PayloadTooLarge(f"question is longer than {limit} characters")

    overrides = overrides or {}
    session_override = overrides.get("sessionId")
    for name, value in (("chatId", chat_id), ("overrideConfig.sessionId", session_override)):
        if value is not None and len(str(value)) > 200:
            raise BadRequest(f"{name} is longer than 200 characters")
    chat_id = chat_id or (str(session_override) if session_override else None) or str(uuid.uuid4())
    allowed = allowed_overrides(canvas.settings)
    images, attachments = (
        await asyncio.to_thread(take_uploads, st.settings, canvas, chat_id, uploads)
        if uploads
        else ((), ())
    )
    ctx = RunContext(
        question=question,
        canvas_id=canvas.id,
        chat_id=chat_id,
        session_id=str(session_override) if session_override else chat_id,
        chat_message_id=message_id or str(uuid.uuid4()),
        history=history,
        streaming=streaming,
        overrides=overrides,
        store=st.store,
        settings=st.settings,
        credentials=st.credentials,
        images=images,
        attachments=attachments,
        human_input=human_input,
        form=form,
        trigger=trigger,
        webhook=webhook,
        version=str(number),
        return_source_documents=_flag(overrides, canvas.settings, "returnSourceDocuments", allowed)
        or graph.wants_sources(),
        return_intermediate_steps=_flag(
            overrides, canvas.settings, "returnIntermediateSteps", allowed
        ),
        return_node_events=_flag(overrides, canvas.settings, "returnNodeEvents", allowed),
        finishing=finishing_of(canvas.settings),
        analytic=analytic_of(canvas.settings),
        variables=await st.variables() or None,
    )
    if st.queue is not None and st.settings.mode == "queue":
        from canvasflow.queue import Job, QueueFull, RemotePrediction

        pid = ctx.chat_message_id
        try:
            await st.queue.submit(Job(pid, ctx.request))
        except QueueFull as exc:
            raise Unavailable(f"overloaded: {exc}", headers={"Retry-After": "2"}) from None
        return RemotePrediction(st.bus, ctx, st.bus.remote_log(pid))
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
    on_disconnect: Callable[[], None] | None = None,
    after: int = 0,
) -> EventStreamResponse:
    """A prediction's event stream for one client, with the server's limits."""
    return EventStreamResponse(
        log,
        encoder,
        after=after,
        heartbeat=getattr(st.settings, encoder.heartbeat_setting),
        on_disconnect=on_disconnect,
        max_lag=st.settings.max_lag_events,
        metrics=st.metrics,
    )
