"""Typed exceptions carrying the server's message and status."""

from __future__ import annotations


class FlowiseError(Exception):
    """Base of every SDK error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message if status is None else f"{status}: {message}")
        self.message = message
        self.status = status


class BadRequest(FlowiseError):
    """400, 413, 415, 422: the request or the canvas is at fault."""


class Unauthorized(FlowiseError):
    """401 or 403: missing or wrong API key, or an origin not allowed."""


class CanvasNotFound(FlowiseError):
    """404: no such canvas (or no such stream to resume)."""


class RateLimited(FlowiseError):
    """429, after the retries ran out. ``retry_after`` is in seconds."""

    def __init__(self, message: str, status: int = 429, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class ServerError(FlowiseError):
    """5xx, after the retries ran out."""


class StreamError(FlowiseError):
    """The stream broke and could not be resumed."""


def error_for(status: int, message: str, retry_after: float | None = None) -> FlowiseError:
    if status == 404:
        return CanvasNotFound(message, status)
    if status in (401, 403):
        return Unauthorized(message, status)
    if status == 429:
        return RateLimited(message, status, retry_after)
    if status >= 500:
        return ServerError(message, status)
    return BadRequest(message, status)
