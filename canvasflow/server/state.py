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
    _loading: dict[str, asyncio.Future[Canvas | None]] = field(default_factory=dict)
    _canvas_generation: int = 0
    trimmer: Trimmer = field(init=False)

    def __post_init__(self) -> None:
        self.trimmer = Trimmer(lambda: len(self.predictions))

    async def canvas(self, ref: str) -> Canvas | None:
        """A canvas by id or slug. Remembered for CANVAS_TTL seconds, so a prediction
        does not pay a database read; writes through this process forget at once,
        writes through another process show within twice CANVAS_TTL. Requests that miss
        together share one read: a burst of thousands of predictions arriving as the
        entry expires would otherwise each queue a read for the store's connections.
        Once an entry has expired (for less than CANVAS_TTL), the next request starts
        that read and every request goes on with the entry meanwhile: a burst does not
        wait in line behind it."""
        hit = self._canvases.get(ref)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        loading = self._loading.get(ref)
        if loading is None:
            loading = asyncio.ensure_future(self._load_canvas(ref, self._canvas_generation))
            self._loading[ref] = loading
            loading.add_done_callback(lambda f: self._loaded(ref, f))
        if hit is not None and hit[0] + CANVAS_TTL > now:
            return hit[1]
        # shielded: a caller that goes away does not cancel the read the others wait for
        return await asyncio.shield(loading)

    async def _load_canvas(self, ref: str, generation: int) -> Canvas | None:
        canvas = await self.store.get_canvas(ref)
        if generation != self._canvas_generation:
            return canvas
        if canvas is None:
            self._canvases.pop(ref, None)  # deleted elsewhere: not served stale any more
        else:
            if len(self._canvases) > 10_000:
                self._canvases.clear()
            self._canvases[ref] = (time.monotonic() + CANVAS_TTL, canvas)
        return canvas

    def _loaded(self, ref: str, future: asyncio.Future[Canvas | None]) -> None:
        if self._loading.get(ref) is future:
            del self._loading[ref]
        if not future.cancelled() and future.exception() is not None:
            self._canvases.pop(ref, None)  # the next request reads, and sees the error

    def forget_canvases(self) -> None:
        self._canvases.clear()
        self._loading.clear()  # later callers read again
        self._canvas_generation += 1  # and a read still in flight is not remembered

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
