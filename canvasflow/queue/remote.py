"""A prediction running on a worker, seen from the web process that took the request."""

from __future__ import annotations

import asyncio
from typing import Any

from canvasflow.bus.base import Bus, EventLog
from canvasflow.engine.outcome import Outcome, OutcomeView
from canvasflow.runtime.context import RunContext


class RemotePrediction(OutcomeView):
    """Its event log, its abort, and (for JSON answers) its outcome, reduced from the
    worker's events by the same :class:`Outcome` a local prediction uses."""

    def __init__(self, bus: Bus, ctx: RunContext, log_: EventLog) -> None:
        self.bus = bus
        self.ctx = ctx
        self.log = log_
        self.outcome = Outcome(ctx.identity())
        self._tasks: set[asyncio.Task[Any]] = set()

    def abort(self, reason: str = "abort") -> None:
        task = asyncio.ensure_future(self.bus.abort(self.ctx.canvas_id, self.ctx.chat_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def finished(self) -> asyncio.Future[None]:
        return asyncio.ensure_future(self.wait())

    async def wait(self) -> None:
        async for event in self.log.follow(0, None):
            if event is not None:
                self.outcome.apply(event)
        if self.outcome.status == "running":
            self.outcome.status = "error" if self.outcome.error else "completed"
