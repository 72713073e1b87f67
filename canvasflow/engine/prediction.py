"""One prediction from start to end: runs the engine into an event log, frames it with
``start`` / ``metadata`` / ``end``, stores the exchange, and can be aborted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from canvasflow.engine.context import RunContext
from canvasflow.engine.graph import Graph
from canvasflow.engine.run import run as run_engine
from canvasflow.events import Event
from canvasflow.models.base import ModelError
from canvasflow.observability.tracing import set_attributes, span

if TYPE_CHECKING:
    from canvasflow.bus.base import Bus, EventLog
    from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.prediction")


# aborts the client did not ask for are announced with an error event
STOP_NOTICES = {
    "timeout": "the prediction ran longer than the job timeout and was stopped",
    "shutdown": "the server is shutting down; the answer so far is kept",
}


class Observer(Protocol):
    """Told when a prediction starts, sends its first token, and finishes (metrics,
    logs). Called on the event loop; must not block."""

    def started(self, prediction: Prediction) -> None: ...

    def finished(self, prediction: Prediction) -> None: ...


class Prediction:
    def __init__(
        self,
        *,
        graph: Graph,
        ctx: RunContext,
        allowed_overrides: frozenset[str],
        bus: Bus,
        store: Store | None,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.graph = graph
        self.ctx = ctx
        self.allowed = allowed_overrides
        self.bus = bus
        self.store = store
        self.log: EventLog = bus.open_log(ctx.chat_message_id)
        self.status = "running"
        self.error: dict[str, str] | None = None
        self.text = ""
        self.latency_ms = 0
        self.ttft_ms: int | None = None
        self.tokens = 0
        self.observers = observers
        self.aborted_by: str | None = None
        self._inner: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self.task: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.ctx.chat_message_id

    def start(self) -> asyncio.Task[None]:
        self.bus.add_running(self.ctx.canvas_id, self.ctx.chat_id, self.abort)
        self.task = asyncio.create_task(self._main(), name=f"prediction {self.id}")
        return self.task

    def abort(self, reason: str = "abort") -> None:
        """Stop generating; the partial answer is stored with status ``aborted``."""
        if self.aborted_by is None:
            self.aborted_by = reason
        if self._inner is not None and not self._inner.done():
            self._inner.cancel()

    async def wait(self) -> None:
        assert self.task is not None
        await asyncio.shield(self.task)

    async def _main(self) -> None:
        ctx = self.ctx
        with span("prediction", canvas=ctx.canvas_id, chat_id=ctx.chat_id) as current:
            try:
                await self._run()
            finally:
                set_attributes(
                    current,
                    status=self.status,
                    tokens=self.tokens,
                    ttft_ms=self.ttft_ms,
                    latency_ms=self.latency_ms,
                )

    async def _run(self) -> None:
        ctx = self.ctx
        started = self._t0 = time.perf_counter()
        for observer in self.observers:
            observer.started(self)
        self.log.append(
            Event(
                "start",
                {
                    "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "chatId": ctx.chat_id,
                    "chatMessageId": ctx.chat_message_id,
                    "sessionId": ctx.session_id,
                    "canvasId": ctx.canvas_id,
                },
            )
        )
        pieces: list[str] = []
        self._inner = asyncio.create_task(self._generate(pieces))
        if self.aborted_by is not None:  # aborted before it began
            self._inner.cancel()
        outer_cancelled = False
        try:
            await self._inner
            self.status = "completed"
        except asyncio.CancelledError:
            task = asyncio.current_task()
            outer_cancelled = bool(task and task.cancelling())
            if outer_cancelled:
                self._inner.cancel()
                self.aborted_by = self.aborted_by or "shutdown"
            self.status = "aborted"
            if self.aborted_by in STOP_NOTICES:
                self.log.append(
                    Event(
                        "error", {"message": STOP_NOTICES[self.aborted_by], "code": self.aborted_by}
                    )
                )
        except ModelError as exc:
            self._fail(exc.message, exc.code)
        except Exception as exc:
            log.exception("prediction %s failed", self.id)
            self._fail(f"{type(exc).__name__}: {exc}", "internal_error")
        self.text = "".join(pieces)
        self.tokens = len(pieces)
        self.latency_ms = round((time.perf_counter() - started) * 1000)
        try:
            await asyncio.shield(self._finish())
        finally:
            self.bus.remove_running(ctx.canvas_id, ctx.chat_id)
            for observer in self.observers:
                try:
                    observer.finished(self)
                except Exception:
                    log.exception("observer failed")
        if outer_cancelled:
            raise asyncio.CancelledError

    def _fail(self, message: str, code: str) -> None:
        self.status = "error"
        self.error = {"message": message, "code": code}
        self.log.append(Event("error", self.error))

    async def _generate(self, pieces: list[str]) -> None:
        ctx = self.ctx
        append = self.log.append
        async for event in run_engine(self.graph, ctx, self.allowed):
            kind = event.kind
            if kind == "token":
                if not pieces:
                    self.ttft_ms = round((time.perf_counter() - self._t0) * 1000)
                pieces.append(event.data)
            elif kind == "source":
                ctx.source_documents = event.data
                if not ctx.return_source_documents:
                    continue
            elif kind == "step":
                data = event.data
                if data.get("type") == "tool":
                    ctx.used_tools.append(
                        {
                            "tool": data["step"],
                            "toolInput": data["input"],
                            "toolOutput": data["output"],
                        }
                    )
                if not ctx.return_intermediate_steps:
                    continue
            append(event)

    async def _finish(self) -> None:
        ctx = self.ctx
        if self.store is not None:
            try:
                await self.store.save_exchange(
                    canvas_id=ctx.canvas_id,
                    chat_id=ctx.chat_id,
                    session_id=ctx.session_id,
                    question=ctx.question,
                    answer=self.text,
                    answer_id=ctx.chat_message_id,
                    status=self.status,
                    usage=ctx.usage.as_dict(),
                    source_documents=ctx.source_documents,
                    used_tools=ctx.used_tools,
                )
            except Exception as exc:
                log.exception("storing prediction %s failed", self.id)
                if self.status != "error":
                    self._fail(f"could not store the answer: {exc}", "storage_error")
        self.log.append(Event("metadata", self.metadata()))
        self.log.append(Event("end", "[DONE]"))
        self.log.close()

    def metadata(self) -> dict[str, Any]:
        ctx = self.ctx
        meta = {
            "chatId": ctx.chat_id,
            "chatMessageId": ctx.chat_message_id,
            "sessionId": ctx.session_id,
            "question": ctx.question,
            "memoryType": ctx.memory_type,
            "model": ctx.model,
            "tokens_used": ctx.usage.total_tokens,
            "usage": ctx.usage.as_dict(),
            "latency_ms": self.latency_ms,
            "status": self.status,
        }
        if ctx.used_tools:
            meta["usedTools"] = ctx.used_tools
        return meta
