"""The in-process bus: a list-backed ring buffer per prediction, aborts by callback, a
job queue and a heartbeat in dictionaries, rate limits counted in memory. For one
process; several share the Redis backend instead.

A finished prediction's log is kept for resume (``CANVASFLOW_RETENTION``). A few seconds
after it closes, when its own streams have read it, its events are packed into one JSON
blob, deflated, on the shelf (``bus/shelf.py``): unlinked files in the data directory
(the kernel's page cache, not the process's memory) with no object per log, so what a
burst leaves for resume does not keep the burst's heap pages from being given back. When
the shelf cannot be written (a full disk), logs stay in memory as objects. One timer
sweeps closed logs in the order they closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.bus import backend
from canvasflow.bus.base import Bus, EventLog, EventsExpired, Heartbeat, JobState, JobStore
from canvasflow.bus.shelf import Shelf, Shelved
from canvasflow.events import Event

if TYPE_CHECKING:
    from limits.aio.storage import Storage

    from canvasflow.config import Settings

log = logging.getLogger("canvasflow.bus")

PACK_AFTER = 5.0  # seconds after a log closes
# raw deflate, a 4 KiB window, the fastest level: a 20-token answer's 756 bytes of events
# become 226, in about 15 µs (the default window's set-up alone takes twice that)
PACK_WBITS = -12


class MemoryEventLog(EventLog):
    __slots__ = (
        "_closed",
        "_count",
        "_events",
        "_max",
        "_offset",
        "_packed",
        "_waiters",
        "closed_at",
    )

    def __init__(self, max_events: int = 100_000) -> None:
        self._events: list[Event] = []
        self._offset = 0  # id of the event before the first one kept
        self._max = max(2, max_events)
        self._closed = False
        self._waiters: list[asyncio.Future[None]] = []
        self._packed: bytes | None = None  # a closed log's events, once packed
        self._count = 0  # how many events the packed blob holds
        self.closed_at = 0.0  # time.monotonic() of the close

    @property
    def last_id(self) -> int:
        return self._offset + (self._count if self._packed is not None else len(self._events))

    @property
    def kept(self) -> int:
        """Events held."""
        return self._count if self._packed is not None else len(self._events)

    def packed(self) -> bytes | None:
        """This log's events as one JSON blob, deflated; None when a value is not JSON."""
        try:
            blob = orjson.dumps([(e.kind, e.data) for e in self._events])
        except TypeError:
            log.debug("event log not packed", exc_info=True)
            return None
        return zlib.compress(blob, 1, PACK_WBITS)

    @classmethod
    def from_shelf(cls, shelved: Shelved, max_events: int) -> MemoryEventLog:
        """A closed log read from its packed blob (unpacked for a late reader)."""
        copy = cls(max_events)
        copy._packed, copy._count, copy._offset = shelved.blob, shelved.count, shelved.offset
        copy._closed, copy.closed_at = True, shelved.closed_at
        return copy

    def _unpacked(self) -> list[Event]:
        assert self._packed is not None
        first = self._offset + 1
        return [
            Event(kind, data, first + i)
            for i, (kind, data) in enumerate(
                orjson.loads(zlib.decompress(self._packed, PACK_WBITS))
            )
        ]

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
        self.closed_at = time.monotonic()
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
        """The events after ``after``, as they come; ``None`` after ``ping`` seconds
        without one. One timer per follower, re-armed only when it fires: an event
        costs a float store, not a timer (a timeout per wait was 4 % of a burst's CPU)."""
        cursor = after
        loop = asyncio.get_running_loop()
        unpacked: list[Event] | None = None
        ping_at = loop.time() + ping if ping is not None else 0.0
        timer: asyncio.TimerHandle | None = None
        waiting: asyncio.Future[None] | None = None

        def check() -> None:
            nonlocal timer
            if loop.time() < ping_at:
                timer = loop.call_at(ping_at, check)
                return
            timer = None
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

        try:
            while True:
                if cursor < self._offset:
                    raise EventsExpired(f"events after {cursor} are no longer kept")
                if self._packed is not None and unpacked is None:  # a resume after the end
                    unpacked = self._unpacked()
                events = self._events if unpacked is None else unpacked
                index = cursor - self._offset
                if index < len(events):
                    event = events[index]
                    cursor = event.id
                    if ping is not None:
                        ping_at = loop.time() + ping
                    yield event
                    continue
                if self._closed:
                    return
                waiting = loop.create_future()
                self._waiters.append(waiting)
                if ping is not None and timer is None:
                    timer = loop.call_at(ping_at, check)
                await waiting
                waiting = None
                if ping is not None and loop.time() >= ping_at and cursor == self.last_id:
                    if self._waiters:  # the timer woke it: no event came
                        self._waiters = [f for f in self._waiters if not f.done()]
                    ping_at = loop.time() + ping
                    yield None
        finally:
            if timer is not None:
                timer.cancel()


class MemoryHeartbeat(Heartbeat):
    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    async def beat(
        self, kind: str, name: str, ttl: float, info: dict[str, Any] | None = None
    ) -> bool:
        self._marks[(kind, name)] = (time.monotonic() + ttl, info or {})
        return True

    async def alive(self, kind: str, name: str) -> bool:
        mark = self._marks.get((kind, name))
        return mark is not None and mark[0] > time.monotonic()

    async def members(self, kind: str) -> list[dict[str, Any]]:
        now = time.monotonic()
        for key in [k for k, (until, _) in self._marks.items() if until <= now]:
            del self._marks[key]
        return [info for (k, _), (_, info) in self._marks.items() if k == kind]

    async def forget(self, kind: str, name: str) -> None:
        self._marks.pop((kind, name), None)


class MemoryJobStore(JobStore):
    """Jobs for workers that are tasks of this process."""

    def __init__(self) -> None:
        self._waiting: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._payloads: dict[str, tuple[float, bytes]] = {}  # pid: (expires, payload)
        self._expiring: deque[tuple[float, str]] = deque()
        self.started: dict[str, str] = {}
        self._final: dict[str, str] = {}
        self._taken: set[int] = set()
        self._count = 0

    async def ensure(self) -> None:
        return None

    async def depth(self) -> int:
        return self._waiting.qsize()

    async def put(self, pid: str, payload: bytes, ttl: float, cap: int) -> None:
        now = time.monotonic()
        while self._expiring and self._expiring[0][0] <= now:
            _, gone = self._expiring.popleft()
            self._payloads.pop(gone, None)
            self.started.pop(gone, None)
            self._final.pop(gone, None)
        self._payloads[pid] = (now + ttl, payload)
        self._expiring.append((now + ttl, pid))
        self._count += 1
        self._waiting.put_nowait((self._count, pid))

    async def take(self, consumer: str, wait: float) -> list[tuple[Any, str]]:
        try:
            entry, pid = await asyncio.wait_for(self._waiting.get(), wait)
        except TimeoutError:
            return []
        self._taken.add(entry)
        return [(entry, pid)]

    async def ack(self, entry: Any) -> None:
        self._taken.discard(entry)

    async def state(self, pid: str) -> JobState:
        kept = self._payloads.get(pid)
        payload = kept[1] if kept is not None and kept[0] > time.monotonic() else None
        return JobState(payload, self.started.get(pid), self._final.get(pid))

    async def give_up(self, pid: str, code: str, ttl: float) -> bool:
        if pid in self._final:
            return False
        self._final[pid] = code
        return True


@backend("memory")
class MemoryBus(Bus):
    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryBus:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            directory: Path | None = settings.data_dir
        except OSError:  # read-only: the system's temporary directory
            directory = None
        return cls(settings.retention_seconds, settings.max_events, directory)

    def __init__(
        self,
        retention_seconds: float = 600.0,
        max_events: int = 100_000,
        shelf_dir: Path | None = None,
    ) -> None:
        self._logs: dict[str, MemoryEventLog] = {}  # running, and closed not yet packed
        self._closing: deque[str] = deque()  # closed, in the order they closed
        span = min(max(retention_seconds / 20, 1.0), 30.0)
        self._shelf = Shelf(span, shelf_dir)  # packed
        # not JSON, or not shelved (the disk full): kept as objects
        self._unpackable: OrderedDict[str, MemoryEventLog] = OrderedDict()
        self._sweeper: asyncio.TimerHandle | None = None
        self._running: dict[tuple[str, str], Callable[[], None]] = {}
        self._retention = retention_seconds
        self.retention = retention_seconds
        self._max_events = max_events
        self.heartbeat = MemoryHeartbeat()
        self.jobs: MemoryJobStore = MemoryJobStore()
        self._awaited: set[str] = set()  # logs a job's follower opened before its worker

    def rate_storage(self) -> Storage:
        from limits.aio.storage import MemoryStorage

        return MemoryStorage()

    def open_log(self, prediction_id: str) -> EventLog:
        if prediction_id in self._awaited:  # a queued job's: its follower waits on it
            self._awaited.discard(prediction_id)
            self.jobs.started[prediction_id] = self.node_id
            return self._logs[prediction_id]
        log = _RetainedLog(self, prediction_id, self._max_events)
        self._logs[prediction_id] = log
        return log

    def remote_log(self, prediction_id: str) -> EventLog:
        log = _RetainedLog(self, prediction_id, self._max_events)
        self._logs[prediction_id] = log
        self._awaited.add(prediction_id)
        return log

    async def replay(self, prediction_id: str) -> list[Event]:
        log = await self.get_log(prediction_id)
        if log is None:
            return []
        return self._kept(log)

    @staticmethod
    def _kept(log: EventLog) -> list[Event]:
        assert isinstance(log, MemoryEventLog)
        return log._unpacked() if log._packed is not None else list(log._events)

    def resume_log(self, prediction_id: str, last_id: int) -> EventLog:
        self._awaited.discard(prediction_id)
        found = self._logs.get(prediction_id)
        if found is not None and not found.closed:
            return found
        log = _RetainedLog(self, prediction_id, self._max_events)
        log._offset = last_id
        self._logs[prediction_id] = log
        return log

    async def get_log(self, prediction_id: str) -> EventLog | None:
        found = self._logs.get(prediction_id) or self._unpackable.get(prediction_id)
        if found is not None:
            return found
        shelved = self._shelf.get(prediction_id, time.monotonic(), self._retention)
        return MemoryEventLog.from_shelf(shelved, self._max_events) if shelved else None

    def stats(self) -> tuple[int, int]:
        """(event logs kept, events held in them)."""
        logs = [*self._logs.values(), *self._unpackable.values()]
        shelved, events = self._shelf.stats()
        return len(logs) + shelved, sum(log.kept for log in logs) + events

    def _closed(self, prediction_id: str) -> None:
        self._closing.append(prediction_id)
        if self._sweeper is None:
            self._schedule()
        elif self._sweeper.when() > asyncio.get_running_loop().time() + PACK_AFTER:
            self._sweeper.cancel()  # the next sweep was for the shelf, minutes away
            self._schedule()

    def _schedule(self) -> None:
        """The next sweep, when the oldest closed or packed log is due."""
        due = []
        if self._closing:
            first = self._logs.get(self._closing[0])  # gone already: sweep it at once
            due.append(first.closed_at + min(PACK_AFTER, self._retention) if first else 0.0)
        if self._unpackable:
            due.append(next(iter(self._unpackable.values())).closed_at + self._retention)
        expiry = self._shelf.next_expiry(self._retention)
        if expiry is not None:
            due.append(expiry)
        if not due:
            self._sweeper = None
            return
        delay = max(0.05, min(due) - time.monotonic())
        self._sweeper = asyncio.get_running_loop().call_later(delay, self._sweep)

    def _sweep(self, now: float | None = None) -> None:
        """Pack the logs closed PACK_AFTER ago, forget those past retention."""
        now = time.monotonic() if now is None else now
        wait = min(PACK_AFTER, self._retention)
        unshelved = 0
        while self._closing:
            pid = self._closing[0]
            kept = self._logs.get(pid)
            if kept is not None and kept.closed_at + wait > now:
                break
            self._closing.popleft()
            kept = self._logs.pop(pid, None)
            if kept is None or kept.closed_at + self._retention <= now:
                continue
            packed = kept.packed()
            if packed is not None:
                try:
                    self._shelf.put(pid, kept.closed_at, kept._offset, kept.kept, packed)
                    continue
                except OSError as exc:
                    if not unshelved:
                        log.warning("finished event logs stay in memory: %s", exc)
                    unshelved += 1
            self._unpackable[pid] = kept
        while self._unpackable:
            kept = next(iter(self._unpackable.values()))
            if kept.closed_at + self._retention > now:
                break
            self._unpackable.popitem(last=False)
        self._shelf.expire(now, self._retention)
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._schedule()

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
        self._bus._closed(self._pid)
