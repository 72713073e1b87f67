"""The canvasflow Python SDK, with the streaming guide's names."""

from canvasflow.sdk._base import Retry
from canvasflow.sdk.client import AsyncFlowise, AsyncPredictionStream, Flowise, PredictionStream
from canvasflow.sdk.errors import (
    BadRequest,
    CanvasNotFound,
    FlowiseError,
    RateLimited,
    ServerError,
    StreamError,
    Unauthorized,
)
from canvasflow.sdk.helpers import StreamBuffer, awrite_stream, write_stream
from canvasflow.sdk.models import PredictionData, StreamEvent

__all__ = [
    "AsyncFlowise",
    "AsyncPredictionStream",
    "BadRequest",
    "CanvasNotFound",
    "Flowise",
    "FlowiseError",
    "PredictionData",
    "PredictionStream",
    "RateLimited",
    "Retry",
    "ServerError",
    "StreamBuffer",
    "StreamError",
    "StreamEvent",
    "Unauthorized",
    "awrite_stream",
    "write_stream",
]
