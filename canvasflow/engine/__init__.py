"""The engine: canvases in, typed events out. Knows nothing of HTTP or SSE bytes."""

from canvasflow.engine.context import RunContext
from canvasflow.engine.graph import CanvasError, Graph, parse
from canvasflow.engine.run import can_stream, run

__all__ = ["CanvasError", "Graph", "RunContext", "can_stream", "parse", "run"]
