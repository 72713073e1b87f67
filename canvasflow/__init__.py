"""canvasflow: run LLM flows (canvases) and stream their answers over HTTP.

``from canvasflow import Flowise, PredictionData`` gives the Python SDK."""

from typing import Any

__version__ = "0.1.0"

_SDK_NAMES = {"Flowise", "AsyncFlowise", "PredictionData", "StreamBuffer", "StreamEvent"}


def __getattr__(name: str) -> Any:
    # the SDK is imported lazily so the server does not load it
    if name in _SDK_NAMES:
        from canvasflow import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'canvasflow' has no attribute {name!r}")
