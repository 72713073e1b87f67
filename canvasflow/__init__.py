"""canvasflow: run LLM flows (canvases) and stream their answers over HTTP."""

__version__ = "0.1.0"
