"""What the server holds while it runs: settings, store, bus, running predictions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from canvasflow.auth import KeyRing
from canvasflow.bus.base import Bus
from canvasflow.config import Settings
from canvasflow.credentials import Credentials
from canvasflow.engine.graph import Graph, parse
from canvasflow.engine.prediction import Observer, Prediction
from canvasflow.observability.memory import Trimmer
from canvasflow.observability.metrics import Metrics
from canvasflow.store.models import Canvas
from canvasflow.store.repo import Store

if TYPE_CHECKING:
    from canvasflow.queue import JobQueue
    from canvasflow.server.guards import RateLimiter


CANVAS_TTL = 2.0


@dataclass
class ServerState:
    settings: Settings
    store: Store
    bus: Bus
    metrics: Metrics
    keys: KeyRing
    limiter: RateLimiter
    credentials: Credentials
    secret: bytes = b""
    observers: list[Observer] = field(default_factory=list)
    queue: JobQueue | None = None
    shutting_down: bool = False
    predictions: set[Prediction] = field(default_factory=set)
    _graphs: dict[str, tuple[datetime, Graph]] = field(default_factory=dict)
    _canvases: dict[str, tuple[float, Canvas]] = field(default_factory=dict)
    trimmer: Trimmer = field(init=False)

    def __post_init__(self) -> None:
        self.trimmer = Trimmer(lambda: len(self.predictions))

    async def canvas(self, ref: str) -> Canvas | None:
        """A canvas by id or slug. Remembered for CANVAS_TTL seconds, so a prediction
        does not pay a database read; writes through this process forget at once,
        writes through another process show within CANVAS_TTL."""
        now = time.monotonic()
        hit = self._canvases.get(ref)
        if hit is not None and hit[0] > now:
            return hit[1]
        canvas = await self.store.get_canvas(ref)
        if canvas is not None:
            if len(self._canvases) > 10_000:
                self._canvases.clear()
            self._canvases[ref] = (now + CANVAS_TTL, canvas)
        return canvas

    def forget_canvases(self) -> None:
        self._canvases.clear()

    def graph_for(self, canvas: Canvas) -> Graph:
        """The parsed graph of a canvas, parsed once per version."""
        cached = self._graphs.get(canvas.id)
        if cached is not None and cached[0] == canvas.updated_at:
            return cached[1]
        graph = parse(canvas.flow_data)
        self._graphs[canvas.id] = (canvas.updated_at, graph)
        return graph

    def begin_shutdown(self, grace: float) -> None:
        """SIGTERM: refuse new predictions; cut the ones still running a little before
        the grace period ends, so their streams get error and end and their messages
        are stored."""
        if self.shutting_down:
            return
        self.shutting_down = True
        loop = asyncio.get_running_loop()

        def cut() -> None:
            for prediction in list(self.predictions):
                prediction.abort("shutdown")

        loop.call_later(max(0.0, grace - 2.0), cut)

    def track(self, prediction: Prediction) -> None:
        self.predictions.add(prediction)
        assert prediction.task is not None
        prediction.task.add_done_callback(lambda _t: self._finished(prediction))

    def _finished(self, prediction: Prediction) -> None:
        self.predictions.discard(prediction)
        if not self.predictions:  # idle: give back what a burst left (observability/memory)
            self.trimmer.idle()
