"""The engine: canvases in, typed events out. Knows nothing of HTTP or SSE bytes."""

from canvasflow.engine.graph import Graph, parse
from canvasflow.engine.run import can_stream, run
from canvasflow.errors import CanvasInvalid
from canvasflow.runtime.context import RunContext

__all__ = ["CanvasInvalid", "Graph", "RunContext", "can_stream", "parse", "run"]
