"""Queue mode: web processes put jobs on a Redis Stream, ``canvasflow worker`` processes
take them through a consumer group and run them; events flow back through the Redis
event log. A job whose worker stops heart-beating is finished as an error by whichever
process is following it, so no client waits forever."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import ResponseError

from canvasflow.bus.redis import RedisBus, RedisEventLog, decode, events_key
from canvasflow.engine.context import RunContext
from canvasflow.events import Event
from canvasflow.models.base import Message, Usage

if TYPE_CHECKING:
    from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.queue")

JOBS = "cf:jobs"
GROUP = "cf-workers"


def job_key(pid: str) -> str:
    return f"cf:job:{pid}"


def alive_key(pid: str) -> str:
    return f"cf:job:{pid}:alive"


def started_key(pid: str) -> str:
    return f"cf:job:{pid}:started"


def final_key(pid: str) -> str:
    return f"cf:job:{pid}:final"


@dataclass
class JobSpec:
    """Everything a worker needs to run a prediction the web process accepted."""

    pid: str
    canvas_id: str
    question: str
    chat_id: str
    session_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    history: list[Message] | None = None
    return_source_documents: bool = False
    return_intermediate_steps: bool = False
    streaming: bool = True
    submitted: float = field(default_factory=time.time)

    @classmethod
    def from_ctx(cls, ctx: RunContext) -> JobSpec:
        return cls(
            pid=ctx.chat_message_id,
            canvas_id=ctx.canvas_id,
            question=ctx.question,
            chat_id=ctx.chat_id,
            session_id=ctx.session_id,
            overrides=ctx.overrides,
            history=ctx.history,
            return_source_documents=ctx.return_source_documents,
            return_intermediate_steps=ctx.return_intermediate_steps,
            streaming=ctx.streaming,
        )

    def to_ctx(self, store: Store | None) -> RunContext:
        return RunContext(
            question=self.question,
            canvas_id=self.canvas_id,
            chat_id=self.chat_id,
            session_id=self.session_id,
            chat_message_id=self.pid,
            history=self.history,
            streaming=self.streaming,
            overrides=self.overrides,
            store=store,
            return_source_documents=self.return_source_documents,
            return_intermediate_steps=self.return_intermediate_steps,
        )

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes | str) -> JobSpec:
        return cls(**orjson.loads(raw))


class QueueFull(Exception):
    pass


class JobQueue:
    def __init__(
        self,
        bus: RedisBus,
        store: Store | None,
        max_depth: int = 1000,
        queue_timeout: float = 120.0,
    ) -> None:
        self.bus = bus
        self.redis = bus.redis
        self.store = store
        self.max_depth = max_depth
        self.queue_timeout = queue_timeout

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(JOBS, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def depth(self) -> int:
        """Jobs put on the queue that no worker has taken yet."""
        try:
            groups = await self.redis.xinfo_groups(JOBS)
        except ResponseError:  # no stream yet
            return 0
        for g in groups:
            name = g.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == GROUP:
                lag = g.get("lag")
                if lag is not None:
                    return int(lag)
                return max(0, int(await self.redis.xlen(JOBS)) - int(g.get("entries-read") or 0))
        return int(await self.redis.xlen(JOBS))

    async def submit(self, spec: JobSpec) -> None:
        if await self.depth() >= self.max_depth:
            raise QueueFull(f"the queue holds {self.max_depth} jobs")
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(job_key(spec.pid), spec.dumps(), ex=int(self.bus.retention + self.queue_timeout))
        pipe.xadd(
            JOBS, {"pid": spec.pid}, maxlen=max(10_000, self.max_depth * 10), approximate=True
        )
        await pipe.execute()

    async def stats(self) -> dict[str, Any]:
        workers = []
        async for key in self.redis.scan_iter(match="cf:worker:*", count=100):
            raw = await self.redis.get(key)
            if raw:
                workers.append(orjson.loads(raw))
        return {
            "mode": "queue",
            "depth": await self.depth(),
            "running": sum(int(w.get("running", 0)) for w in workers),
            "workers": workers,
        }

    # -- jobs that nobody will finish ---------------------------------------------------

    async def check(self, pid: str, cursor: int) -> None:
        """Called while a follower waits: finish the job if its worker is gone, or if no
        worker took it in time."""
        spec_raw, started, alive, final = await self.redis.mget(
            job_key(pid), started_key(pid), alive_key(pid), final_key(pid)
        )
        if final or alive:
            return
        if started:
            await self.finish_lost(pid, "the worker running this prediction stopped", "worker_lost")
        elif spec_raw is not None:
            spec = JobSpec.loads(spec_raw)
            if time.time() - spec.submitted > self.queue_timeout:
                await self.finish_lost(
                    pid,
                    f"no worker took the job within {self.queue_timeout:.0f} s",
                    "queue_timeout",
                )

    async def finish_lost(self, pid: str, message: str, code: str) -> bool:
        """Write error, metadata and end for a job nobody is running, and store what it
        had produced with status ``error``. Only one process wins the right to."""
        if not await self.redis.set(final_key(pid), code, nx=True, ex=int(self.bus.retention)):
            return False
        spec_raw = await self.redis.get(job_key(pid))
        spec = JobSpec.loads(spec_raw) if spec_raw else None
        entries = await self.redis.xrange(events_key(pid))
        events = [decode(eid, fields) for eid, fields in entries]
        if any(e.kind == "end" for e in events):
            return False
        text = "".join(e.data for e in events if e.kind == "token")
        log_ = RedisEventLog(self.bus, pid)
        log_.continue_from(events[-1].id if events else 0)
        if not events and spec is not None:
            log_.append(
                Event(
                    "start",
                    {
                        "chatId": spec.chat_id,
                        "chatMessageId": pid,
                        "sessionId": spec.session_id,
                        "canvasId": spec.canvas_id,
                    },
                )
            )
        log_.append(Event("error", {"message": message, "code": code}))
        usage = Usage()
        if spec is not None and self.store is not None:
            try:
                await self.store.save_exchange(
                    canvas_id=spec.canvas_id,
                    chat_id=spec.chat_id,
                    session_id=spec.session_id,
                    question=spec.question,
                    answer=text,
                    answer_id=pid,
                    status="error",
                    usage=usage.as_dict(),
                )
            except Exception:
                log.exception("storing lost job %s failed", pid)
        log_.append(
            Event(
                "metadata",
                {
                    "chatId": spec.chat_id if spec else None,
                    "chatMessageId": pid,
                    "sessionId": spec.session_id if spec else None,
                    "question": spec.question if spec else None,
                    "memoryType": None,
                    "model": None,
                    "tokens_used": 0,
                    "usage": usage.as_dict(),
                    "latency_ms": 0,
                    "status": "error",
                },
            )
        )
        log_.append(Event("end", "[DONE]"))
        log_.close()
        await log_.flushed.wait()
        if spec is not None:
            await self.redis.delete(f"cf:run:{spec.canvas_id}:{spec.chat_id}")
        log.warning("job %s finished as error: %s", pid, message)
        return True


class RemotePrediction:
    """A prediction running on a worker, seen from the web process that took the
    request: its event log, its abort, and (for JSON answers) its result."""

    def __init__(self, bus: RedisBus, ctx: RunContext, log_: RedisEventLog) -> None:
        self.bus = bus
        self.ctx = ctx
        self.log = log_
        self.status = "running"
        self.error: dict[str, str] | None = None
        self.text = ""
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def id(self) -> str:
        return self.ctx.chat_message_id

    def abort(self, reason: str = "abort") -> None:
        task = asyncio.ensure_future(self.bus.abort(self.ctx.canvas_id, self.ctx.chat_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        ctx = self.ctx
        pieces: list[str] = []
        async for event in self.log.follow(0, None):
            if event is None:
                continue
            kind, data = event.kind, event.data
            if kind == "token":
                pieces.append(data)
            elif kind == "source":
                ctx.source_documents = data
            elif kind == "error":
                self.error = data
            elif kind == "metadata":
                self.status = data.get("status") or "completed"
                ctx.model = data.get("model")
                ctx.memory_type = data.get("memoryType")
                usage = data.get("usage") or {}
                ctx.usage = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
                ctx.used_tools = data.get("usedTools") or []
        self.text = "".join(pieces)
        if self.error is not None and self.status == "running":
            self.status = "error"
