"""What the sync and async clients share: configuration, retry policy, parsing."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from canvasflow.sdk.errors import FlowiseError, StreamError, error_for
from canvasflow.sdk.models import StreamEvent

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
)
# what may break a stream that is already flowing
STREAM_BREAKS: tuple[type[Exception], ...] = (
    httpx.TransportError,
    httpx.StreamError,
)


def retryable(exc: BaseException) -> bool:
    """Worth another try: the connection failed, or the server said "later"."""
    if isinstance(exc, RETRY_EXCEPTIONS):
        return True
    return isinstance(exc, FlowiseError) and exc.status in RETRY_STATUSES


@dataclass
class Retry:
    """The one retry policy of the sync and async clients (run by tenacity's
    ``Retrying`` and ``AsyncRetrying``): exponential backoff with full jitter, or the
    server's ``Retry-After``, for connection failures and 429/502/503/504, before a
    stream has started."""

    attempts: int = 4  # tries in all, the first one included
    base: float = 0.25
    cap: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.delay(state.attempt_number - 1, getattr(exc, "retry_after", None))

    def policy(self) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``."""
        return {
            "stop": stop_after_attempt(max(1, self.attempts)),
            "wait": self._wait,
            "retry": retry_if_exception(retryable),
            "reraise": True,
        }


NO_RETRY = Retry(attempts=1)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(response: httpx.Response, body: bytes) -> FlowiseError:
    message = body.decode("utf-8", "replace")[:2000] or response.reason_phrase
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict) and parsed.get("message"):
            message = str(parsed["message"])
    except orjson.JSONDecodeError:
        pass
    return error_for(
        response.status_code, message, parse_retry_after(response.headers.get("retry-after"))
    )


def answer_of(response: httpx.Response, body: bytes) -> Any:
    """A JSON answer, or the typed error of a failed one."""
    if response.status_code < 400:
        return orjson.loads(body) if body else None
    raise error_from_response(response, body)


def parse_event(data: str, sse_id: str | None) -> StreamEvent | None:
    """One SSE ``data`` payload as an event; None for the bare ``[DONE]`` line, and for
    no data at all: httpx-sse dispatches an empty event at every blank line once an
    ``id`` was seen (the server's heartbeat comment ends with one), which the SSE
    specification says not to dispatch."""
    if data == "[DONE]" or not data:
        return None
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise StreamError(f"the server sent a line that is not JSON: {data[:200]!r}") from None
    if not isinstance(raw, dict) or "event" not in raw:
        raise StreamError(f"the server sent an event without a name: {data[:200]!r}")
    event_id = int(sse_id) if sse_id and sse_id.isdigit() else None
    return StreamEvent(str(raw["event"]), raw.get("data"), event_id, raw)


@dataclass
class StreamState:
    """Where a stream is, so that it can be re-attached after a drop."""

    canvas_id: str
    chat_id: str | None = None
    chat_message_id: str | None = None
    last_id: int = 0
    ended: bool = False
    resumes: int = 0

    def seen(self, event: StreamEvent) -> bool:
        """Record an event; False if it was already delivered (a replay overlap)."""
        if event.id is not None:
            if event.id <= self.last_id:
                return False
            self.last_id = event.id
        if event.event == "start" and isinstance(event.data, dict):
            self.chat_id = event.data.get("chatId") or self.chat_id
            self.chat_message_id = event.data.get("chatMessageId") or self.chat_message_id
        elif event.event == "metadata" and isinstance(event.data, dict):
            self.chat_id = self.chat_id or event.data.get("chatId")
            self.chat_message_id = self.chat_message_id or event.data.get("chatMessageId")
        elif event.event == "end":
            self.ended = True
        return True


def default_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json, text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def stream_body(body: dict[str, Any], resume: bool) -> dict[str, Any]:
    """A streaming body; with resume on, ask the server to keep generating if the
    connection drops, so the SDK can re-attach."""
    if resume:
        override = dict(body.get("overrideConfig") or {})
        override.setdefault("continueOnDisconnect", True)
        body = {**body, "overrideConfig": override}
    return body
