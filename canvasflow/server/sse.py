"""The ASGI response that streams one prediction's events through a wire encoder
(``server/formats/``). It follows the prediction's event log (so a slow client never
slows the generation), writes one frame per event, sends a heartbeat when idle, and
reports a client that goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from canvasflow.bus.base import EventLog, EventsExpired
from canvasflow.events import Event
from canvasflow.server.formats import Encoder

LAG_CHECK_SECONDS = 0.5

SSE_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


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
        self.cut_behind = 0  # events the client was behind when it was cut
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
                elif isinstance(frame, tuple):  # several events held back, one write each
                    for part in frame:
                        yield part
                self.position = event.id
        except EventsExpired as exc:
            fallback = Event("error", {"message": str(exc), "code": "events_expired"})
            frame = encode(fallback)
            if isinstance(frame, bytes):
                yield frame

    def _cut_frame(self) -> bytes | None:
        behind = self.cut_behind
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
                # independent of the sender, which may be stuck on a full socket. Cut
                # when the client has been too far behind at two checks in a row and
                # is not catching up: a burst of events from the model puts a fast
                # client far behind for a moment, until the sender has run
                before = 0
                while True:
                    await anyio.sleep(LAG_CHECK_SECONDS)
                    behind = self.log.last_id - self.position
                    if behind > limit and before > limit and behind >= before:
                        self.cut = True
                        self.cut_behind = behind
                        sending.cancel()
                        return
                    before = behind

            # named here: anyio would otherwise work a name out of the function for every
            # task it starts (2 % of a burst's samples)
            tg.start_soon(watch_disconnect, name="stream disconnect")
            if self.max_lag is not None:
                tg.start_soon(watch_lag, self.max_lag, name="stream lag")
            try:
                with sending:
                    async for frame in self._frames():
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
                        self.sent += 1
                if self.cut:
                    # cut a client that fell too far behind: a last error event if the
                    # socket takes it soon, and the generation goes on without it
                    last = self._cut_frame()
                    with anyio.move_on_after(1.0):
                        if last:
                            await send(
                                {"type": "http.response.body", "body": last, "more_body": True}
                            )
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                else:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                disconnected = True
            tg.cancel_scope.cancel()
        if disconnected and self.on_disconnect is not None:
            self.on_disconnect()
