"""The Redis bus: events in Redis Streams, aborts over pub/sub, so that any process can
stream, resume or abort any prediction; queued jobs in a stream read by the workers'
consumer group; heartbeats as expiring keys; rate limits counted in Redis.

A prediction's events go to the stream ``cf:ev:{id}`` with explicit entry ids ``0-n``
(n = the event id the clients see), so ``Last-Event-ID: n`` maps to the stream position
``0-n``. One writer task for every log of the process appends whatever waits meanwhile
in one call of ``APPEND_EVENTS`` (the producer never waits on Redis); the stream is
capped (MAXLEN) and expires after the retention time once it ends."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from canvasflow.bus import backend, keys
from canvasflow.bus.base import Bus, EventLog, EventsExpired, Heartbeat, JobState, JobStore
from canvasflow.errors import Unavailable
from canvasflow.events import Event

if TYPE_CHECKING:
    from limits.aio.storage import Storage

    from canvasflow.config import Settings

log = logging.getLogger("canvasflow.bus.redis")

HEARTBEAT_EVERY = 0.5  # seconds between a process's "still running" marks
HEARTBEAT_TTL = 2  # seconds after which a silent process (and what it ran) counts as lost
HEALTH_KEEP = 1.0  # seconds an answer from Redis (a PING's, the heartbeat's) is taken for
HEALTH_TIMEOUT = 3.0  # a PING unanswered this long counts as Redis gone
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
WRITE_AT_ONCE = 2_000  # events a call of APPEND_EVENTS takes (Redis runs nothing else meanwhile)

# The events of several logs in one call: KEYS are the logs' streams; ARGV the retention
# (seconds), the cap on a stream's entries, then for each log the number of its events, 1
# if the log ends with them (its stream then expires after the retention), and each event's
# number and encoding. A stream is capped only once an event's number passes the cap (the
# numbers start at 1). Answers, for each log whose writes Redis refused (e.g. numbers behind
# what another process wrote): its position in KEYS, how many were refused, and why. One
# call instead of a pipelined XADD per event: a tenth of the client's CPU per event.
APPEND_EVENTS = """
local retention, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local at, refused = 3, {}
for k = 1, #KEYS do
  local count, last = tonumber(ARGV[at]), ARGV[at + 1]
  at = at + 2
  local bad, why = 0, ''
  for _ = 1, count do
    local n, reply = tonumber(ARGV[at]), nil
    if n > cap then
      reply = redis.pcall('XADD', KEYS[k], 'MAXLEN', '~', cap, '0-' .. n, 'e', ARGV[at + 1])
    else
      reply = redis.pcall('XADD', KEYS[k], '0-' .. n, 'e', ARGV[at + 1])
    end
    if type(reply) == 'table' and reply.err then
      bad, why = bad + 1, reply.err
    end
    at = at + 2
  end
  if last == '1' then
    redis.call('EXPIRE', KEYS[k], retention)
  end
  if bad > 0 then
    refused[#refused + 1] = k
    refused[#refused + 1] = bad
    refused[#refused + 1] = why
  end
end
return refused
"""


def encode(event: Event) -> bytes:
    return orjson.dumps([event.kind, event.data])


def decode(entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
    raw: Any = fields.get(b"e") or fields.get("e")
    kind, data = orjson.loads(raw)
    sid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return Event(kind, data, int(sid.split("-", 1)[1]))


class RedisEventLog(EventLog):
    """One prediction's events in a Redis Stream. The process that runs the prediction
    appends; any process follows. The process that writes also keeps the events in
    memory while it holds the log, and its own clients follow them there: no Redis read
    (and no Redis connection held by a blocking read) per client of a prediction that
    runs where the client is; a resume or a client on another process reads Redis."""

    def __init__(self, bus: RedisBus, prediction_id: str, writer: bool = False) -> None:
        from canvasflow.bus.memory import MemoryEventLog

        self._local = MemoryEventLog(bus.max_events) if writer else None
        self._bus = bus
        self._pid = prediction_id
        self._key = keys.events(prediction_id)
        self._last_id = 0
        self._closed = False
        self._pending: list[Event] = []
        self.flushed = asyncio.Event()

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, event: Event) -> Event:
        if self._closed:
            raise RuntimeError("event log is closed")
        self._last_id += 1
        if self._local is not None:
            self._local.append(event)  # numbers it the same: 1, 2, 3...
        event.id = self._last_id
        self._pending.append(event)
        self._bus._to_write(self)
        return event

    async def current_last_id(self) -> int:
        last = await self._bus.retry(lambda r: r.xrevrange(self._key, count=1))
        if last is None:
            raise Unavailable("the event log (Redis) is unreachable", headers={"Retry-After": "5"})
        if last:
            self._last_id = max(self._last_id, decode(last[0][0], last[0][1]).id)
        return self._last_id

    def continue_from(self, last_id: int) -> None:
        """Append after events another process wrote (finishing a lost job)."""
        self._last_id = max(self._last_id, last_id)

    def close(self) -> None:
        self._closed = True
        if self._local is not None:
            self._local.close()
        self._bus._to_write(self)

    def _take(self, keys_: list[str], args: list[Any]) -> tuple[int, bool]:
        """This log's waiting events (and, once it is closed, its end) as the arguments of
        ``APPEND_EVENTS``; how many events, and whether the log ends with them."""
        batch, self._pending = self._pending, []
        keys_.append(self._key)
        args += (len(batch), int(self._closed))
        for ev in batch:
            args += (ev.id, encode(ev))
        return len(batch), self._closed

    def _written(self, refused: int, why: str | None, last: bool) -> None:
        """What came of this log's events: ``refused`` of them were not written (all,
        with ``why`` None, when Redis never answered)."""
        if why is None and refused:
            log.error("dropped %d events of %s: Redis unreachable", refused, self._pid)
        elif refused:  # e.g. ids behind what another process wrote
            log.error("dropped %d events of %s: %s", refused, self._pid, why)
        if last:
            self.flushed.set()
            if self._bus._logs.get(self._pid) is self:
                del self._bus._logs[self._pid]

    async def follow(
        self, after: int = 0, ping: float | None = None
    ) -> AsyncIterator[Event | None]:
        if self._local is not None:  # written here: followed in memory
            async for event in self._local.follow(after, ping):
                yield event
            return
        bus = self._bus
        cursor = after
        block = min(ping or 1.0, bus.idle_check)
        last_yield = time.monotonic()
        down_since: float | None = None
        if after > 0:
            first = await bus.retry(lambda r: r.xrange(self._key, count=1))
            if first:
                first_id = decode(first[0][0], first[0][1]).id
                if first_id > after + 1:
                    raise EventsExpired(f"events after {after} are no longer kept")
            # a client that had every event, its end too, re-attaching: nothing is to come
            newest = await bus.retry(lambda r: r.xrevrange(self._key, count=1))
            if newest:
                end = decode(newest[0][0], newest[0][1])
                if end.kind == "end" and end.id <= after:
                    return
        while True:
            try:
                reply: Any = await bus.redis.xread(
                    {self._key: f"0-{cursor}"}, count=500, block=int(block * 1000)
                )
                down_since = None
            except REDIS_DOWN as exc:
                now = time.monotonic()
                down_since = down_since or now
                if now - down_since > bus.give_up_after:
                    yield Event(
                        "error",
                        {"message": f"event log unreachable: {exc}", "code": "bus_unavailable"},
                    )
                    yield Event("end", "[DONE]")
                    return
                await asyncio.sleep(0.2)
                continue
            if not reply:
                if ping is not None and time.monotonic() - last_yield >= ping:
                    last_yield = time.monotonic()
                    yield None
                if bus.on_idle is not None:
                    await bus.on_idle(self._pid, cursor)
                continue
            for entry_id, fields in reply[0][1]:
                event = decode(entry_id, fields)
                if event.id != cursor + 1 and cursor:
                    # the stream lost entries (Redis restarted without persistence)
                    lost = f"events {cursor + 1}..{event.id - 1} were lost by the event log"
                    yield Event("error", {"message": lost, "code": "events_lost"})
                cursor = event.id
                self._last_id = max(self._last_id, cursor)
                last_yield = time.monotonic()
                yield event
                if event.kind == "end":
                    return


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisHeartbeat(Heartbeat):
    def __init__(self, bus: RedisBus) -> None:
        self._bus = bus

    async def beat(
        self, kind: str, name: str, ttl: float, info: dict[str, Any] | None = None
    ) -> bool:
        key, value = keys.heartbeat(kind, name), orjson.dumps(info or {})
        return await self._bus.retry(lambda r: r.set(key, value, ex=max(1, round(ttl)))) is not None

    async def alive(self, kind: str, name: str) -> bool:
        return bool(await self._bus.retry(lambda r: r.exists(keys.heartbeat(kind, name))))

    async def members(self, kind: str) -> list[dict[str, Any]]:
        redis, found = self._bus.redis, []
        async for key in redis.scan_iter(match=keys.heartbeat(kind, "*"), count=100):
            raw = await redis.get(key)
            if raw:
                found.append(orjson.loads(raw))
        return found

    async def forget(self, kind: str, name: str) -> None:
        await self._bus.retry(lambda r: r.delete(keys.heartbeat(kind, name)))


class RedisJobStore(JobStore):
    """Jobs on a Redis Stream read through a consumer group; a job's payload, the process
    that started it and its final mark in keys of their own."""

    def __init__(self, bus: RedisBus) -> None:
        self._bus = bus

    async def ensure(self) -> None:
        try:
            await self._bus.redis.xgroup_create(keys.JOBS, keys.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def depth(self) -> int:
        redis = self._bus.redis
        try:
            groups = await redis.xinfo_groups(keys.JOBS)
        except ResponseError:  # no stream yet
            return 0
        for g in groups:
            if _text(g.get("name")) == keys.GROUP:
                lag = g.get("lag")
                if lag is not None:
                    return int(lag)
                return max(0, int(await redis.xlen(keys.JOBS)) - int(g.get("entries-read") or 0))
        return int(await redis.xlen(keys.JOBS))

    async def put(self, pid: str, payload: bytes, ttl: float, cap: int) -> None:
        pipe = self._bus.redis.pipeline(transaction=True)
        pipe.set(keys.job(pid), payload, ex=int(ttl))
        pipe.xadd(keys.JOBS, {"pid": pid}, maxlen=cap, approximate=True)
        await pipe.execute()

    async def take(self, consumer: str, wait: float) -> list[tuple[Any, str]]:
        def read(r: aioredis.Redis) -> Awaitable[Any]:
            return r.xreadgroup(
                keys.GROUP, consumer, {keys.JOBS: ">"}, count=1, block=int(wait * 1000)
            )

        try:
            reply = await self._bus.retry(read)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure()  # Redis restarted without its data
            return []
        if not reply:
            return []
        return [
            (entry, _text(fields.get(b"pid") or fields.get("pid") or b""))
            for entry, fields in reply[0][1]
        ]

    async def ack(self, entry: Any) -> None:
        await self._bus.retry(lambda r: r.xack(keys.JOBS, keys.GROUP, entry))

    async def state(self, pid: str) -> JobState:
        payload, started, final = await self._bus.redis.mget(
            keys.job(pid), keys.started(pid), keys.final(pid)
        )
        return JobState(
            payload,
            _text(started) if started else None,
            _text(final) if final else None,
        )

    async def give_up(self, pid: str, code: str, ttl: float) -> bool:
        return bool(await self._bus.redis.set(keys.final(pid), code, nx=True, ex=int(ttl)))


@backend("redis", "rediss", "unix")
class RedisBus(Bus):
    shared = True

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisBus:
        assert settings.redis_url
        return cls(
            settings.redis_url,
            settings.retention_seconds,
            settings.max_events,
            give_up_after=settings.redis_timeout,
        )

    def __init__(
        self,
        url: str,
        retention_seconds: float = 600.0,
        max_events: int = 100_000,
        give_up_after: float = 30.0,
    ) -> None:
        self.url = url
        self.redis = aioredis.Redis.from_url(
            url, max_connections=10_000, health_check_interval=10, socket_connect_timeout=2
        )
        self.retention = retention_seconds
        self.max_events = max_events
        self.give_up_after = give_up_after
        self.idle_check = 1.0  # seconds a follower waits for news before on_idle
        self.node_id = uuid.uuid4().hex[:12]
        self.heartbeat = RedisHeartbeat(self)
        self.jobs = RedisJobStore(self)
        self._local: dict[tuple[str, str], Callable[[], None]] = {}
        self._marks: list[Callable[[Any], Any]] = []
        self._marker: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._logs: dict[str, RedisEventLog] = {}
        self._unwritten: dict[RedisEventLog, None] = {}  # logs with events to write, in order
        self._events_writer: asyncio.Task[None] | None = None
        self._append = self.redis.register_script(APPEND_EVENTS)
        self._health: tuple[bool, float] = (True, 0.0)  # (healthy, until)
        self._probe: asyncio.Future[bool] | None = None  # the PING under way

    async def retry(self, op: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
        """Run a Redis operation, retrying while Redis is unreachable (up to
        ``give_up_after`` seconds). Returns None if it never went through."""
        deadline = time.monotonic() + self.give_up_after
        delay = 0.05
        while True:
            try:
                return await op(self.redis)
            except REDIS_DOWN:
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _soon(self, op: Callable[[Any], Any]) -> None:
        """A mark (``op`` on a pipeline) sent aside, without delaying the caller: the marks
        of every prediction starting or ending meanwhile go in one pipeline, in order (a
        task and a round trip per mark cost a prediction more than its events did)."""
        self._marks.append(op)
        if self._marker is None or self._marker.done():
            self._marker = asyncio.create_task(self._send_marks(), name="redis marks")

    async def _send_marks(self) -> None:
        while self._marks:
            ops, self._marks = self._marks, []

            async def send(r: aioredis.Redis, ops: list[Callable[[Any], Any]] = ops) -> bool:
                pipe = r.pipeline(transaction=False)
                for op in ops:
                    op(pipe)
                await pipe.execute()
                return True

            try:
                if not await self.retry(send):
                    log.error("dropped %d marks: Redis unreachable", len(ops))
            except RedisError as exc:
                log.error("dropped %d marks: %s", len(ops), exc)

    def _to_write(self, log_: RedisEventLog) -> None:
        """A log has events (or its end) to write: the events of every log waiting
        meanwhile go to Redis in one call (a task and a round trip per log cost a
        burst's streams more than their events did)."""
        self._unwritten[log_] = None
        if self._events_writer is None or self._events_writer.done():
            self._events_writer = asyncio.create_task(self._write_events(), name="redis events")

    async def _write_events(self) -> None:
        while self._unwritten:
            keys_: list[str] = []
            args: list[Any] = [int(self.retention), self.max_events]
            taken: list[tuple[RedisEventLog, int, bool]] = []
            events = 0
            for log_ in self._unwritten:  # at most WRITE_AT_ONCE events a call, whole logs
                count, last = log_._take(keys_, args)
                taken.append((log_, count, last))
                events += count
                if events >= WRITE_AT_ONCE:
                    break
            for log_, _, _ in taken:
                del self._unwritten[log_]

            async def append(
                r: aioredis.Redis, keys_: list[str] = keys_, args: list[Any] = args
            ) -> Any:
                return await self._append(keys_, args, r)

            failure: str | None = None
            try:
                answer: Any = await self.retry(append)
            except RedisError as exc:
                answer, failure = None, str(exc)
            refused: dict[int, tuple[int, str]] = {}
            if answer is not None:
                for i in range(0, len(answer), 3):
                    refused[int(answer[i])] = (int(answer[i + 1]), _text(answer[i + 2]))
            for i, (log_, count, last) in enumerate(taken, start=1):
                if answer is None:
                    log_._written(count, failure, last)
                else:
                    log_._written(*refused.get(i, (0, "")), last)

    async def start(self) -> None:
        await self.redis.ping()
        self._answered()
        self._listener = asyncio.create_task(self._listen(), name="abort listener")
        self._beat = asyncio.create_task(self._heartbeat(), name="process heartbeat")

    async def _heartbeat(self) -> None:
        """One mark per process, whatever it runs: a prediction is alive while the process
        that started it beats (one Redis write every 0.5 s per process, not per
        prediction)."""
        while True:
            if await self.heartbeat.beat("node", self.node_id, HEARTBEAT_TTL):
                self._answered()
            await asyncio.sleep(HEARTBEAT_EVERY)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        if self._beat is not None:
            self._beat.cancel()
        pending = [self._events_writer] if self._events_writer is not None else []
        if self._marker is not None:
            pending.append(self._marker)
        if pending:
            await asyncio.wait(pending, timeout=5)
        await self.heartbeat.forget("node", self.node_id)
        await self.redis.aclose()

    def rate_storage(self) -> Storage:
        from limits.aio.storage import RedisStorage

        return RedisStorage("async+" + self.url, implementation="redispy")

    def remote_log(self, prediction_id: str) -> EventLog:
        return RedisEventLog(self, prediction_id)

    async def replay(self, prediction_id: str) -> list[Event]:
        entries: Any = await self.redis.xrange(keys.events(prediction_id))
        return [decode(eid, fields) for eid, fields in entries]

    def resume_log(self, prediction_id: str, last_id: int) -> EventLog:
        log_ = RedisEventLog(self, prediction_id)
        log_.continue_from(last_id)
        return log_

    async def flushed(self, log: EventLog) -> None:
        if isinstance(log, RedisEventLog):
            await log.flushed.wait()

    def open_log(self, prediction_id: str) -> EventLog:
        """The log of a prediction this process runs, marked as started here: followers
        elsewhere notice if this process dies (its heartbeat stops)."""
        log_ = RedisEventLog(self, prediction_id, writer=True)
        self._logs[prediction_id] = log_
        started = keys.started(prediction_id)
        self._soon(lambda pipe: pipe.set(started, self.node_id, ex=int(self.retention)))
        return log_

    async def alive(self, prediction_id: str) -> bool:
        """Whether the process that started a prediction still beats."""
        node = await self.retry(lambda r: r.get(keys.started(prediction_id)))
        if not node:
            return False
        return await self.heartbeat.alive("node", _text(node))

    async def get_log(self, prediction_id: str) -> EventLog | None:
        local = self._logs.get(prediction_id)
        if local is not None:
            return local
        exists = await self.retry(
            lambda r: r.exists(keys.events(prediction_id), keys.job(prediction_id))
        )
        if exists is None:
            raise Unavailable("the event log (Redis) is unreachable", headers={"Retry-After": "5"})
        return RedisEventLog(self, prediction_id) if exists else None

    async def running_elsewhere(self, prediction_id: str) -> bool:
        return await self.alive(prediction_id)

    async def kept_text(self, prediction_id: str) -> str:
        entries = await self.retry(lambda r: r.xrange(keys.events(prediction_id))) or []
        events = (decode(eid, fields) for eid, fields in entries)
        return "".join(e.data for e in events if e.kind == "token")

    async def healthy(self) -> bool:
        """Whether Redis answers. Yes if it answered within the last ``HEALTH_KEEP``
        seconds (the process's heartbeat writes every half second); otherwise one PING,
        shared by every request asking meanwhile, and its answer is kept as long.

        A burst of requests thus costs at most one PING a second, and the PING's limit
        (``HEALTH_TIMEOUT``) is above what a loop busy with a burst delays an answer by:
        a PING per request with a limit of one second took Redis for gone during a
        burst of 2,000 streams on two processes, and refused a quarter of them. A
        refused connection fails at once, whatever the limit."""
        if time.monotonic() < self._health[1]:
            return self._health[0]
        if self._probe is None:
            self._probe = asyncio.ensure_future(self._ping())
        return await asyncio.shield(self._probe)

    async def _ping(self) -> bool:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await self.redis.ping()
            ok = True
        except (RedisError, TimeoutError, *REDIS_DOWN):
            ok = False
        finally:
            self._probe = None
        self._health = (ok, time.monotonic() + HEALTH_KEEP)
        return ok

    def _answered(self) -> None:
        """Redis just answered: it is healthy for the next ``HEALTH_KEEP`` seconds."""
        self._health = (True, time.monotonic() + HEALTH_KEEP)

    def stats(self) -> tuple[int, int]:
        logs = list(self._logs.values())
        return len(logs), sum(len(log_._pending) for log_ in logs)

    # -- aborts ----------------------------------------------------------------------

    def add_running(self, canvas_id: str, chat_id: str, abort: Callable[[], None]) -> None:
        self._local[(canvas_id, chat_id)] = abort
        key = keys.running(canvas_id, chat_id)
        self._soon(lambda pipe: pipe.set(key, self.node_id, ex=24 * 3600))

    def remove_running(self, canvas_id: str, chat_id: str) -> None:
        self._local.pop((canvas_id, chat_id), None)
        key = keys.running(canvas_id, chat_id)
        self._soon(lambda pipe: pipe.delete(key))

    async def abort(self, canvas_id: str, chat_id: str) -> bool:
        local = self._local.get((canvas_id, chat_id))
        if local is not None:
            local()
            return True
        running = await self.retry(lambda r: r.exists(keys.running(canvas_id, chat_id)))
        if running is None:
            raise Unavailable("the event log (Redis) is unreachable", headers={"Retry-After": "5"})
        if not running:
            return False
        await self.retry(lambda r: r.publish(keys.ABORT_CHANNEL, f"{canvas_id}\n{chat_id}"))
        return True

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(keys.ABORT_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    canvas_id, _, chat_id = text.partition("\n")
                    abort = self._local.get((canvas_id, chat_id))
                    if abort is not None:
                        abort()
            except asyncio.CancelledError:
                raise
            except (RedisError, *REDIS_DOWN):
                await asyncio.sleep(0.5)  # Redis restarting: subscribe again
