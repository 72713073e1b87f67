"""The ASGI response that streams one prediction's events through a wire encoder
(``server/formats/``). It follows the prediction's event log (so a slow client never
slows the generation), writes one frame per event, sends a heartbeat when idle, and
reports a client that goes away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from canvasflow.bus.base import EventLog, EventsExpired
from canvasflow.events import Event
from canvasflow.server.formats import Encoder

LAG_CHECK_SECONDS = 0.5
DIRECT_SEND = "canvasflow.direct_send"  # the scope's key of the send DirectBody keeps

SSE_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


class DirectBody:
    """The outermost of canvasflow's middleware: keeps the ``send`` it is given in the
    scope, and an event stream sends its frames by it, past the layers inside that look
    only at a response's start (the CORS headers, the exception handlers' "has it
    started" marks): each of them wrapped every frame, 3 % of a burst's CPU. The start
    still goes through them all. A layer that changes a response's body must therefore
    not sit inside this one (none does: an event stream is never compressed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[DIRECT_SEND] = send
        await self.app(scope, receive, send)


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
        self._lag_check: asyncio.TimerHandle | None = None  # the next lag check
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
            # in a task of its own: each event wakes the sender through its own few
            # frames, not the request's whole await chain (the middleware, the router,
            # FastAPI's handler: twenty-odd coroutines resumed and suspended again per
            # event); a cancelled request cancels it
            stream = self._stream(receive, send, scope.get(DIRECT_SEND, send))
            await asyncio.get_running_loop().create_task(stream, name="stream")
        finally:
            if self.metrics is not None:
                self.metrics.stream_closed(self.sent, self.cut)

    async def _stream(self, receive: Receive, start_send: Send, send: Send) -> None:
        """The response's start by ``start_send`` (through every middleware), its frames
        by ``send`` (DirectBody's)."""
        await start_send(
            {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        )
        self.position = self.after
        task = asyncio.current_task()
        assert task is not None
        # the watchers stop the sending (a client gone: all of it; one too far behind:
        # its frames, then a last error event): a task, a timer and asyncio's own
        # cancellation; anyio's task group and cancel scopes cost a burst's stream 8 %
        # of its CPU
        gone, lagging = _Stop(task), _Stop(task)
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(_watch_disconnect(receive, gone), name="stream disconnect")
        # the lag is checked by a timer's callback, not a task of its own
        limit = self.max_lag
        if limit is not None:
            self._lag_check = loop.call_later(
                LAG_CHECK_SECONDS, self._check_lag, loop, limit, lagging, 0
            )
        try:
            with gone:
                with lagging:
                    async for frame in self._frames():
                        await send({"type": "http.response.body", "body": frame, "more_body": True})
                        self.sent += 1
                if self.cut:
                    # cut a client that fell too far behind: a last error event if the
                    # socket takes it soon, and the generation goes on without it
                    last = self._cut_frame()
                    try:
                        async with asyncio.timeout(1.0):
                            if last:
                                await send(
                                    {"type": "http.response.body", "body": last, "more_body": True}
                                )
                            await send(
                                {"type": "http.response.body", "body": b"", "more_body": False}
                            )
                    except TimeoutError:
                        pass
                else:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            gone.stopped = True
        finally:
            watcher.cancel()
            if self._lag_check is not None:
                self._lag_check.cancel()
        if gone.stopped and self.on_disconnect is not None:
            self.on_disconnect()

    def _check_lag(
        self, loop: asyncio.AbstractEventLoop, limit: int, lagging: _Stop, before: int
    ) -> None:
        """Independent of the sender, which may be stuck on a full socket: every
        ``LAG_CHECK_SECONDS``, cut the client when it has been too far behind at two
        checks in a row and is not catching up (a burst of events from the model puts a
        fast client far behind for a moment, until the sender has run)."""
        behind = self.log.last_id - self.position
        if behind > limit and before > limit and behind >= before:
            self.cut = True
            self.cut_behind = behind
            lagging.stop()
            return
        self._lag_check = loop.call_later(
            LAG_CHECK_SECONDS, self._check_lag, loop, limit, lagging, behind
        )


async def _watch_disconnect(receive: Receive, gone: _Stop) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.stop()
            return


class _Stop:
    """A part of a stream's sending that a watcher may stop (:meth:`stop`): the sending
    task is cancelled, and the cancellation it asked for ends this block, not the task,
    as ``asyncio.timeout`` does (a cancellation from elsewhere goes on up)."""

    __slots__ = ("base", "inside", "stopped", "task")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.stopped = False
        self.inside = False
        self.base = 0

    def stop(self) -> None:
        """Stop the block if the sender is in it (else only note it)."""
        if self.stopped:
            return
        self.stopped = True
        if self.inside:
            self.task.cancel()
            self.inside = False  # one cancellation, whatever happens next

    def __enter__(self) -> _Stop:
        self.base = self.task.cancelling()
        self.inside = True
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> bool:
        asked = self.stopped and not self.inside
        self.inside = False
        if asked and self.task.uncancel() <= self.base and kind is asyncio.CancelledError:
            return True  # the cancellation this block's watcher asked for: it ends here
        return False
