"""The two wire formats, and the ASGI response that streams one prediction's events.

An encoder turns one :class:`Event` into the bytes of one write. The response follows
the prediction's event log (so a slow client never slows the generation), sends a
heartbeat when idle, and reports a client that goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import anyio
import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from canvasflow.bus.base import EventLog, EventsExpired
from canvasflow.events import Event

LAG_CHECK_SECONDS = 0.5

SSE_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


class CanvasflowEncoder:
    """``id: n`` / ``data: {json}`` frames; ``data: [DONE]`` after ``end``."""

    content_type = b"text/event-stream; charset=utf-8"
    heartbeat = b": ping\n\n"

    def encode(self, event: Event) -> bytes | None:
        body = orjson.dumps(event.as_dict())
        if not event.id:  # not from the log (a server notice): no id, so resume is unaffected
            return b"data: %s\n\n" % body
        if event.kind == "end":
            return b"id: %d\ndata: %s\n\ndata: [DONE]\n\n" % (event.id, body)
        return b"id: %d\ndata: %s\n\n" % (event.id, body)


class FlowiseEncoder:
    """Flowise 3.1's frames: ``message:`` / ``data:{json}``, no ids, no bare [DONE].

    Sources and tool steps are held back and sent just before ``metadata``, where
    Flowise sends ``sourceDocuments`` and ``usedTools``. After an ``error`` Flowise
    sends only ``end``, so ``metadata`` is left out then."""

    content_type = b"text/event-stream"
    heartbeat = b":heartbeat\n\n"

    def __init__(self) -> None:
        self._sources: list[Any] | None = None
        self._reasoning: list[dict[str, Any]] = []
        self._failed = False

    @staticmethod
    def frame(name: str, data: Any) -> bytes:
        body = orjson.dumps({"event": name, "data": data})
        if b"data:" in body:  # FlowisePy deletes every "data:" it sees in a line
            body = body.replace(b"data:", b"data\\u003a")
        return b"message:\ndata:" + body + b"\n\n"

    def encode(self, event: Event) -> bytes | tuple[bytes, ...] | None:
        kind = event.kind
        if kind == "token":
            return self.frame("token", event.data)
        if kind == "start":
            return self.frame("start", "")
        if kind == "source":
            self._sources = event.data
            return None
        if kind == "step":
            data = event.data
            # tool calls come with metadata (usedTools), whether steps were asked for or not
            if data.get("type") != "tool":
                self._reasoning.append(
                    {"agentName": data["step"], "messages": [data.get("output")], **data}
                )
            return None
        if kind == "metadata":
            if self._failed:
                return None
            frames = []
            if self._sources is not None:
                frames.append(self.frame("sourceDocuments", self._sources))
            if event.data.get("usedTools"):
                frames.append(self.frame("usedTools", event.data["usedTools"]))
            if self._reasoning:
                frames.append(self.frame("agentReasoning", self._reasoning))
            meta = event.data
            data = {
                "chatId": meta["chatId"],
                "chatMessageId": meta["chatMessageId"],
                "question": meta["question"],
                "sessionId": meta["sessionId"],
            }
            if meta.get("memoryType"):
                data["memoryType"] = meta["memoryType"]
            frames.append(self.frame("metadata", data))
            return tuple(frames)
        if kind == "error":
            self._failed = True
            return self.frame("error", event.data.get("message", "error"))
        if kind == "end":
            return self.frame("end", "[DONE]")
        return None


class Encoder(Protocol):
    """Turns events into the bytes of one wire format."""

    content_type: bytes
    heartbeat: bytes

    def encode(self, event: Event) -> bytes | tuple[bytes, ...] | None: ...


def encoder_for(fmt: str) -> CanvasflowEncoder | FlowiseEncoder:
    return FlowiseEncoder() if fmt == "flowise" else CanvasflowEncoder()


class StreamMetrics(Protocol):
    def stream_opened(self) -> None: ...

    def stream_closed(self, events_sent: int, cut: bool) -> None: ...


class EventStreamResponse(Response):
    """Streams an event log to one client, one write per event."""

    def __init__(
        self,
        log: EventLog,
        encoder: Encoder,
        *,
        after: int = 0,
        heartbeat: float | None = 15.0,
        on_disconnect: Callable[[], None] | None = None,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        max_lag: int | None = None,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.log = log
        self.encoder = encoder
        self.after = after
        self.heartbeat = heartbeat
        self.on_disconnect = on_disconnect
        self.max_lag = max_lag
        self.metrics = metrics
        self.sent = 0
        self.cut = False
        self.position = after  # id of the last event written
        self.raw_headers = [
            (b"content-type", encoder.content_type),
            *SSE_HEADERS,
            *(extra_headers or []),
        ]

    async def _frames(self) -> AsyncIterator[bytes]:
        encode = self.encoder.encode
        ping = self.encoder.heartbeat
        try:
            async for event in self.log.follow(self.after, self.heartbeat):
                if event is None:
                    yield ping
                    continue
                frame = encode(event)
                if type(frame) is bytes:
                    yield frame
                elif frame:  # several events held back until now, one write each
                    for part in frame:
                        yield part
                self.position = event.id
        except EventsExpired as exc:
            fallback = Event("error", {"message": str(exc), "code": "events_expired"})
            frame = encode(fallback)
            if isinstance(frame, bytes):
                yield frame

    def _cut_frame(self) -> bytes | None:
        behind = self.log.last_id - self.position
        frame = self.encoder.encode(
            Event(
                "error",
                {
                    "message": f"client too slow: {behind} events behind; the answer goes on "
                    f"and can be resumed with Last-Event-ID {self.position}",
                    "code": "slow_client",
                },
            )
        )
        return frame if isinstance(frame, bytes) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.metrics is not None:
            self.metrics.stream_opened()
        try:
            await self._stream(receive, send)
        finally:
            if self.metrics is not None:
                self.metrics.stream_closed(self.sent, self.cut)

    async def _stream(self, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        disconnected = False
        self.position = self.after
        async with anyio.create_task_group() as tg:
            sending = anyio.CancelScope()

            async def watch_disconnect() -> None:
                nonlocal disconnected
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        disconnected = True
                        tg.cancel_scope.cancel()
                        return

            async def watch_lag(limit: int) -> None:
                # independent of the sender, which may be stuck on a full socket
                while True:
                    await anyio.sleep(LAG_CHECK_SECONDS)
                    if self.log.last_id - self.position > limit:
                        self.cut = True
                        sending.cancel()
                        return

            tg.start_soon(watch_disconnect)
            if self.max_lag is not None:
                tg.start_soon(watch_lag, self.max_lag)
            try:
                with sending:
                    async for frame in self._frames():
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
                        self.sent += 1
                if self.cut:
                    # cut a client that fell too far behind: a last error event if the
                    # socket takes it soon, and the generation goes on without it
                    frame = self._cut_frame()
                    with anyio.move_on_after(1.0):
                        if frame:
                            await send(
                                {"type": "http.response.body", "body": frame, "more_body": True}
                            )
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                else:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                disconnected = True
            tg.cancel_scope.cancel()
        if disconnected and self.on_disconnect is not None:
            self.on_disconnect()
