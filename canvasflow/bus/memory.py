"""The in-process bus: a list-backed ring buffer per prediction, aborts by callback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from canvasflow.bus import backend
from canvasflow.bus.base import Bus, EventLog, EventsExpired
from canvasflow.events import Event

if TYPE_CHECKING:
    from canvasflow.config import Settings


class MemoryEventLog(EventLog):
    __slots__ = ("_closed", "_events", "_max", "_offset", "_waiters")

    def __init__(self, max_events: int = 100_000) -> None:
        self._events: list[Event] = []
        self._offset = 0  # id of the event before the first one kept
        self._max = max(2, max_events)
        self._closed = False
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def last_id(self) -> int:
        return self._offset + len(self._events)

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, event: Event) -> Event:
        if self._closed:
            raise RuntimeError("event log is closed")
        event.id = self._offset + len(self._events) + 1
        self._events.append(event)
        if len(self._events) > self._max:
            drop = len(self._events) - self._max // 2
            del self._events[:drop]
            self._offset += drop
        self._wake()
        return event

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiters:
            for fut in self._waiters:
                if not fut.done():
                    fut.set_result(None)
            self._waiters.clear()

    async def follow(
        self, after: int = 0, ping: float | None = None
    ) -> AsyncIterator[Event | None]:
        cursor = after
        loop = asyncio.get_running_loop()
        while True:
            if cursor < self._offset:
                raise EventsExpired(f"events after {cursor} are no longer kept")
            index = cursor - self._offset
            if index < len(self._events):
                event = self._events[index]
                cursor = event.id
                yield event
                continue
            if self._closed:
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            if ping is None:
                await fut
                continue
            try:
                async with asyncio.timeout(ping):
                    await fut
            except TimeoutError:
                yield None


@backend("memory")
class MemoryBus(Bus):
    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryBus:
        return cls(settings.retention_seconds, settings.max_events)

    def __init__(self, retention_seconds: float = 600.0, max_events: int = 100_000) -> None:
        self._logs: dict[str, MemoryEventLog] = {}
        self._running: dict[tuple[str, str], Callable[[], None]] = {}
        self._retention = retention_seconds
        self._max_events = max_events

    def open_log(self, prediction_id: str) -> EventLog:
        log = _RetainedLog(self, prediction_id, self._max_events)
        self._logs[prediction_id] = log
        return log

    async def get_log(self, prediction_id: str) -> EventLog | None:
        return self._logs.get(prediction_id)

    def stats(self) -> tuple[int, int]:
        """(event logs kept, events held in them)."""
        logs = list(self._logs.values())
        return len(logs), sum(len(log._events) for log in logs)

    def _expire_later(self, prediction_id: str) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(self._retention, self._logs.pop, prediction_id, None)

    def add_running(self, canvas_id: str, chat_id: str, abort: Callable[[], None]) -> None:
        self._running[(canvas_id, chat_id)] = abort

    def remove_running(self, canvas_id: str, chat_id: str) -> None:
        self._running.pop((canvas_id, chat_id), None)

    async def abort(self, canvas_id: str, chat_id: str) -> bool:
        abort = self._running.get((canvas_id, chat_id))
        if abort is None:
            return False
        abort()
        return True


class _RetainedLog(MemoryEventLog):
    """A log that tells its bus when it closes, so the bus can forget it later."""

    __slots__ = ("_bus", "_pid")

    def __init__(self, bus: MemoryBus, prediction_id: str, max_events: int) -> None:
        super().__init__(max_events)
        self._bus = bus
        self._pid = prediction_id

    def close(self) -> None:
        super().close()
        self._bus._expire_later(self._pid)
