"""One prediction from start to end: runs the engine, feeds every event to the
:class:`Outcome` reducer and the wire events to the event log, frames them with
``start`` / ``metadata`` / ``end``, stores the exchange, and can be aborted.

Web processes (local mode) and workers (queue mode) run this same class."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from canvasflow.engine.finishing import finished
from canvasflow.engine.outcome import Identity, Outcome, OutcomeView
from canvasflow.engine.record import end_row, start_row
from canvasflow.engine.run import run as run_engine
from canvasflow.errors import CanvasflowError
from canvasflow.events import REPORT_KINDS, Event
from canvasflow.observability import analytic, llm_spans
from canvasflow.observability.tracing import ROUTES, recording, set_attributes, span
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.graphs import CanvasGraph
from canvasflow.store.repo import question_id_for

if TYPE_CHECKING:
    from canvasflow.bus.base import Bus, EventLog
    from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.prediction")


# aborts the client did not ask for are announced with an error event
STOP_NOTICES = {
    "timeout": "the prediction ran longer than the job timeout and was stopped",
    "shutdown": "the server is shutting down; the answer so far is kept",
}


# -- framing: the one place that writes start, metadata and end -------------------------


def start_event(who: Identity, agentflow: bool = False) -> Event:
    data: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "chatId": who.chat_id,
        "chatMessageId": who.chat_message_id,
        "sessionId": who.session_id,
        "canvasId": who.canvas_id,
    }
    if agentflow:
        data["agentflow"] = True
    return Event("start", data)


async def store_outcome(store: Store | None, outcome: Outcome) -> None:
    """Store the exchange; a storage failure becomes the outcome's error."""
    if store is None:
        return
    write = asyncio.ensure_future(store.save_exchange(**outcome.message()))
    try:
        # a database that went away holds the write (the store retries it, in order, when
        # the database is back): the answer is not failed for that, nor made to wait
        done, _ = await asyncio.wait({write}, timeout=OUTAGE_WAIT)
        if not done:
            log.warning(
                "prediction %s: the database is unreachable; its answer is kept and written "
                "when the database is back",
                outcome.who.chat_message_id,
            )
            write.add_done_callback(_log_late_failure)
            return
        write.result()
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception(
            "error %s: storing prediction %s failed", error_id, outcome.who.chat_message_id
        )
        if outcome.status != "error":
            outcome.fail(
                {
                    "message": f"could not store the answer (error {error_id}, in the server log)",
                    "code": "storage_error",
                }
            )


OUTAGE_WAIT = 3.0  # seconds an ending prediction waits for its write before it goes on


def _log_late_failure(write: asyncio.Future[None]) -> None:
    if not write.cancelled() and write.exception() is not None:
        log.error("a held write failed after the database outage", exc_info=write.exception())


def _log_record_failure(write: asyncio.Future[None]) -> None:
    if not write.cancelled() and write.exception() is not None:
        log.error("writing an execution record failed", exc_info=write.exception())


def close_log(log_: EventLog, outcome: Outcome) -> None:
    """``metadata`` and ``end``, then no more events."""
    log_.append(Event("metadata", outcome.metadata()))
    log_.append(Event("end", "[DONE]"))
    log_.close()


async def recover_interrupted(store: Store, bus: Bus) -> int:
    """At start-up: answers left ``running`` by a process that died become
    ``interrupted``, with what the event log still keeps of them (Redis), so nothing is
    lost silently and a resume finds them."""
    count = await repair_running(store, bus, set(), older_than=None)
    if count:
        log.warning("%d answers were interrupted by a stop of the server", count)
    return count


REPAIR_AFTER = 120.0  # seconds a `running` answer must be old before a sweep looks at it


async def repair_running(
    store: Store, bus: Bus, running_here: set[str], older_than: float | None = REPAIR_AFTER
) -> int:
    """Answers still ``running`` that no process runs any more become ``interrupted``,
    with what the event log still keeps. At start-up all of them; while serving, now and
    then, those older than ``older_than`` (their end was never written: a database
    outage that outlasted the held writes, a process that died while another kept
    serving), never this process's own."""
    from datetime import UTC, datetime, timedelta

    limit = datetime.now(UTC) - timedelta(seconds=older_than or 0)
    count = 0
    for row in await store.running_answers():
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        if (older_than is not None and created > limit) or row.id in running_here:
            continue
        if await bus.running_elsewhere(row.id):
            continue
        await store.mark_interrupted(row.id, await bus.kept_text(row.id))
        count += 1
    if count and older_than is not None:
        log.warning("%d answers left running by no process were marked interrupted", count)
    return count


def replay_stored(row: Any, log_: EventLog) -> None:
    """A stored answer whose events are gone, as a stream: what was kept, then (if it
    was interrupted) an ``interrupted`` error, ``metadata`` and ``end``."""
    who = Identity(row.chat_id, row.id, row.session_id, None, row.canvas_id)
    outcome = Outcome(who, status=row.status)
    log_.append(start_event(who))
    if row.content:
        log_.append(Event("token", row.content))
        outcome.apply(Event("token", row.content))
    if row.usage:
        outcome.usage.add(row.usage.get("prompt_tokens", 0), row.usage.get("completion_tokens", 0))
    if row.status in ("interrupted", "running"):
        log_.append(
            outcome.fail(
                {
                    "message": "the server stopped while this answer was being written; "
                    "this is what was kept of it",
                    "code": "interrupted",
                }
            )
        )
        outcome.status = "interrupted"
    close_log(log_, outcome)


class Observer(Protocol):
    """Told when a prediction starts and finishes (metrics, logs). Called on the event
    loop; must not block."""

    def started(self, prediction: Prediction) -> None: ...

    def finished(self, prediction: Prediction) -> None: ...


class Prediction(OutcomeView):
    def __init__(
        self,
        *,
        graph: CanvasGraph,
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
        self.outcome = Outcome(ctx.identity())
        self.ttft_ms: int | None = None
        self.observers = observers
        self.aborted_by: str | None = None
        self._inner: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._stored: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        # the run's record (engine/record.py): its first row, and the node events seen
        self._record: dict[str, Any] | None = None
        self._nodes: list[dict[str, Any]] = []
        # the node events with their times, for the trace's spans (when one records)
        self.node_times: list[dict[str, Any]] = []
        self.started_ns = time.time_ns()
        self._tracing = False

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

    def finished(self) -> asyncio.Future[None]:
        """Its own task: waiting for a JSON answer costs no other."""
        assert self.task is not None
        return self.task

    async def _main(self) -> None:
        ctx = self.ctx
        if ctx.analytic:  # its canvas's analytic providers get its spans (this task's)
            try:
                ROUTES.set(await analytic.routes(ctx))
            except Exception:
                log.exception("the analytic providers of %s could not be read", ctx.canvas_id)
        # its canvas, chat and session are in its LLM attributes (llm_spans.record)
        with span("prediction") as current:
            self._tracing = current is not None and recording()
            try:
                await self._run()
            finally:
                set_attributes(
                    current,
                    status=self.status,
                    ttft_ms=self.ttft_ms,
                    latency_ms=self.latency_ms,
                )
                if self._tracing:  # the LLM view of the run, made once it has ended
                    try:
                        llm_spans.record(current, self)
                    except Exception:
                        log.exception("the trace's spans of %s could not be made", self.id)

    async def _run(self) -> None:
        outcome = self.outcome
        self._t0 = time.perf_counter()
        for observer in self.observers:
            observer.started(self)
        self.log.append(start_event(outcome.who, self.graph.takes_forms))
        if self.store is not None:  # the question and a running answer: one write, aside
            who = outcome.who
            self._stored = self.store.start_exchange(
                who.canvas_id,
                who.chat_id or "",
                who.session_id or "",
                who.question or "",
                question_id_for(who.chat_message_id),
                who.chat_message_id,
            )
            if self.ctx.settings.record_executions:
                self._record = start_row(self.ctx)
                self.store.record_run(self._record).add_done_callback(_log_record_failure)
        self._inner = asyncio.create_task(self._generate())
        if self.aborted_by is not None:  # aborted before it began
            self._inner.cancel()
        outer_cancelled = False
        try:
            await self._inner
            outcome.status = "completed"
        except asyncio.CancelledError:
            task = asyncio.current_task()
            outer_cancelled = bool(task and task.cancelling())
            if outer_cancelled:
                self._inner.cancel()
                self.aborted_by = self.aborted_by or "shutdown"
            outcome.status = "aborted"
            if self.aborted_by in STOP_NOTICES:
                notice = {"message": STOP_NOTICES[self.aborted_by], "code": self.aborted_by}
                self.log.append(Event("error", notice))
        except CanvasflowError as exc:
            self.log.append(outcome.fail(exc.event_data()))
        except Exception as exc:
            log.exception("prediction %s failed", self.id)
            self.log.append(
                outcome.fail({"message": f"{type(exc).__name__}: {exc}", "code": "internal_error"})
            )
        outcome.latency_ms = round((time.perf_counter() - self._t0) * 1000)
        try:
            await asyncio.shield(self._finish())
        finally:
            self.bus.remove_running(self.ctx.canvas_id, self.ctx.chat_id)
            for observer in self.observers:
                try:
                    observer.finished(self)
                except Exception:
                    log.exception("observer failed")
        if outer_cancelled:
            raise asyncio.CancelledError

    async def _generate(self) -> None:
        ctx = self.ctx
        apply = self.outcome.apply
        append = self.log.append
        steps, sources = ctx.return_intermediate_steps, ctx.return_source_documents
        nodes = ctx.return_node_events
        events = run_engine(self.graph, ctx, self.allowed)
        if ctx.finishing:
            events = finished(events, ctx, ctx.finishing, self.outcome)
        async for event in events:
            kind = event.kind
            apply(event)
            if kind == "token":
                if self.ttft_ms is None:
                    self.ttft_ms = round((time.perf_counter() - self._t0) * 1000)
            elif kind in REPORT_KINDS:
                continue
            elif kind == "step" and not steps and event.data.get("type") != "agentflow":
                continue
            elif kind == "source" and not sources:
                continue
            elif kind == "node":
                self._nodes.append(event.data)
                if self._tracing:
                    self.node_times.append({**event.data, "at": time.time_ns()})
                if not nodes:
                    continue
            append(event)

    async def _finish(self) -> None:
        before = self.outcome.error
        if self._record is not None and self.store is not None:  # with the exchange's end
            row = end_row(
                self.ctx, self.graph, self.outcome, self._nodes, self.ttft_ms, self._record
            )
            self.store.finish_run(row).add_done_callback(_log_record_failure)
        # the end first: it wakes the store's writer, and a start still waiting for it
        # goes in the same transaction (then both are done)
        await store_outcome(self.store, self.outcome)
        if self._stored is not None:
            try:
                # held by an outage (then written when the database is back): go on
                done, _ = await asyncio.wait({self._stored}, timeout=OUTAGE_WAIT)
                if done:
                    self._stored.result()
            except Exception:
                log.exception("storing the start of %s failed", self.id)
        if self.outcome.error is not before and self.outcome.error is not None:
            self.log.append(Event("error", self.outcome.error))
        close_log(self.log, self.outcome)
