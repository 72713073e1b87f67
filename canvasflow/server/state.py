"""What the server holds while it runs: settings, store, bus, running predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from canvasflow.bus.base import Bus
from canvasflow.config import Settings
from canvasflow.engine.graph import Graph, parse
from canvasflow.engine.prediction import Observer, Prediction
from canvasflow.observability.metrics import Metrics
from canvasflow.store.models import Canvas
from canvasflow.store.repo import Store


@dataclass
class ServerState:
    settings: Settings
    store: Store
    bus: Bus
    metrics: Metrics
    observers: list[Observer] = field(default_factory=list)
    predictions: set[Prediction] = field(default_factory=set)
    _graphs: dict[str, tuple[datetime, Graph]] = field(default_factory=dict)

    def graph_for(self, canvas: Canvas) -> Graph:
        """The parsed graph of a canvas, parsed once per version."""
        cached = self._graphs.get(canvas.id)
        if cached is not None and cached[0] == canvas.updated_at:
            return cached[1]
        graph = parse(canvas.flow_data)
        self._graphs[canvas.id] = (canvas.updated_at, graph)
        return graph

    def track(self, prediction: Prediction) -> None:
        self.predictions.add(prediction)
        assert prediction.task is not None
        prediction.task.add_done_callback(lambda _t: self.predictions.discard(prediction))
