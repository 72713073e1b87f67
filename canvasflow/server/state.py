"""What the server holds while it runs: settings, store, bus, running predictions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from canvasflow.auth import KeyRing
from canvasflow.bus.base import Bus
from canvasflow.config import Settings
from canvasflow.credentials import Credentials
from canvasflow.engine.graph import parse
from canvasflow.engine.prediction import Observer, Prediction
from canvasflow.errors import NotFound
from canvasflow.observability.collector import CollectorPause
from canvasflow.observability.memory import Trimmer
from canvasflow.observability.metrics import Metrics
from canvasflow.remembered import Remembered
from canvasflow.runtime.graphs import CanvasGraph
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
    # evaluations running in this process (canvasflow/evals), by id
    evaluations: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _graphs: dict[str, tuple[datetime, CanvasGraph]] = field(default_factory=dict)
    # pinned versions' graphs: a version never changes, so they are kept as long as asked
    _pinned: dict[tuple[str, int], CanvasGraph] = field(default_factory=dict)
    _canvases: Remembered[str, Canvas] = field(init=False)
    _variables: Remembered[str, dict[str, str]] = field(init=False)
    trimmer: Trimmer = field(init=False)
    collector: CollectorPause = field(init=False)

    def __post_init__(self) -> None:
        self._canvases = Remembered(self.store.get_canvas, CANVAS_TTL)
        self._variables = Remembered(self._read_variables, CANVAS_TTL)
        self.trimmer = Trimmer(lambda: len(self.predictions), self._burst_tables, self._release)
        self.collector = CollectorPause(self.settings.gc_pause_limit)

    async def _release(self) -> None:
        """What is filled again on demand, dropped after a quiet spell: the store's
        connections (SQLite's page caches)."""
        await self.store.release_memory()

    def _burst_tables(self) -> list[object]:
        """What holds tables a burst grows: this state (running predictions, parsed
        graphs), the bus (event logs, aborts), canvases remembered, connection pools."""
        from canvasflow.models.upstream import connectors

        return [self, self.bus, self._canvases, *connectors()]

    async def canvas(self, ref: str) -> Canvas | None:
        """A canvas by id or slug, remembered for CANVAS_TTL seconds (see
        :class:`Remembered`), so a prediction does not pay a database read: writes
        through this process forget at once, writes through another process show within
        twice CANVAS_TTL. Requests that miss together share one read, and one just past
        the time is answered while a read refreshes it: a burst of thousands of
        predictions never queues reads for the store's connections, or waits behind one."""
        return await self._canvases.get(ref)

    def forget_canvases(self) -> None:
        self._canvases.forget()

    async def variables(self) -> dict[str, str]:
        """The global variables' values ($vars), remembered as canvases are: a static
        one's value, a runtime one's from the environment variable it names."""
        return await self._variables.get("") or {}

    def forget_variables(self) -> None:
        self._variables.forget()

    async def _read_variables(self, _: str) -> dict[str, str]:
        from canvasflow.store.models import Variable

        out: dict[str, str] = {}
        for row in await self.store.library(Variable):
            if row.type == "runtime":
                out[row.name] = self.settings.environ.get(row.value.strip() or row.name, "")
            else:
                out[row.name] = row.value
        return out

    def graph_for(self, canvas: Canvas) -> CanvasGraph:
        """The parsed graph of a canvas's latest version (its draft), parsed once per
        version."""
        cached = self._graphs.get(canvas.id)
        if cached is not None and cached[0] == canvas.updated_at:
            return cached[1]
        graph = parse(canvas.flow_data)
        self._graphs[canvas.id] = (canvas.updated_at, graph)
        return graph

    async def served_graph(
        self, canvas: Canvas, draft: bool = False, number: int | None = None
    ) -> tuple[CanvasGraph, int]:
        """The graph a prediction runs, and its version's number: the version the canvas
        pins (``published``), else its latest; the latest when asked for the draft; the
        version ``number`` when one is named (an evaluation's)."""
        pinned = number if number is not None else canvas.published
        if (draft and number is None) or pinned is None or pinned == canvas.version:
            return self.graph_for(canvas), canvas.version
        key = (canvas.id, pinned)
        graph = self._pinned.get(key)
        if graph is None:
            row = await self.store.version(canvas.id, pinned)
            if row is None:  # a pin to a version that is gone: the latest serves
                if number is not None:
                    raise NotFound(f"Canvas {canvas.slug} has no version {number}")
                return self.graph_for(canvas), canvas.version
            graph = self._pinned[key] = parse(row.flow_data)
        return graph, pinned

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
        self.collector.started()
        assert prediction.task is not None
        prediction.task.add_done_callback(lambda _t: self._finished(prediction))

    def _finished(self, prediction: Prediction) -> None:
        self.predictions.discard(prediction)
        if not self.predictions:  # idle: give back what a burst left (observability/memory)
            self.collector.idle()
            self.trimmer.idle()
