"""Queue mode's jobs: web processes put them on a Redis Stream, ``canvasflow worker``
processes take them through a consumer group and run them with the same
``Prediction`` as a web process; events flow back through the Redis event log and
nothing else. A job whose worker stops heart-beating is finished as an error by
whichever process is following it, so no client waits forever."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import ResponseError

from canvasflow.bus import keys
from canvasflow.bus.redis import RedisBus, RedisEventLog, decode
from canvasflow.config import Settings
from canvasflow.credentials import Credentials
from canvasflow.engine.outcome import Identity, Outcome
from canvasflow.engine.prediction import close_log, start_event, store_outcome
from canvasflow.models.base import Message
from canvasflow.runtime.context import RunContext
from canvasflow.store.repo import question_id_for

if TYPE_CHECKING:
    from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.queue")


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
    return_node_events: bool = False
    images: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    streaming: bool = True
    human_input: dict[str, Any] | None = None
    form: dict[str, Any] | None = None
    trigger: str = "prediction"
    webhook: dict[str, Any] | None = None
    version: str | None = None
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
            return_node_events=ctx.return_node_events,
            images=ctx.images,
            attachments=ctx.attachments,
            streaming=ctx.streaming,
            human_input=ctx.human_input,
            form=ctx.form,
            trigger=ctx.trigger,
            webhook=ctx.webhook,
            version=ctx.version,
        )

    def to_ctx(
        self, store: Store | None, settings: Settings, credentials: Credentials | None = None
    ) -> RunContext:
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
            settings=settings,
            credentials=credentials,
            return_source_documents=self.return_source_documents,
            return_intermediate_steps=self.return_intermediate_steps,
            return_node_events=self.return_node_events,
            images=tuple(self.images),
            attachments=tuple(self.attachments),
            human_input=self.human_input,
            form=self.form,
            trigger=self.trigger,
            webhook=self.webhook,
            version=self.version,
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
            await self.redis.xgroup_create(keys.JOBS, keys.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def depth(self) -> int:
        """Jobs put on the queue that no worker has taken yet."""
        try:
            groups = await self.redis.xinfo_groups(keys.JOBS)
        except ResponseError:  # no stream yet
            return 0
        for g in groups:
            name = g.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == keys.GROUP:
                lag = g.get("lag")
                if lag is not None:
                    return int(lag)
                return max(
                    0, int(await self.redis.xlen(keys.JOBS)) - int(g.get("entries-read") or 0)
                )
        return int(await self.redis.xlen(keys.JOBS))

    async def submit(self, spec: JobSpec) -> None:
        if await self.depth() >= self.max_depth:
            raise QueueFull(f"the queue holds {self.max_depth} jobs")
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(keys.job(spec.pid), spec.dumps(), ex=int(self.bus.retention + self.queue_timeout))
        pipe.xadd(
            keys.JOBS, {"pid": spec.pid}, maxlen=max(10_000, self.max_depth * 10), approximate=True
        )
        await pipe.execute()

    async def stats(self) -> dict[str, Any]:
        workers = []
        async for key in self.redis.scan_iter(match=keys.WORKERS, count=100):
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
        spec_raw, started, final = await self.redis.mget(
            keys.job(pid), keys.started(pid), keys.final(pid)
        )
        if final:
            return
        if started:
            node = started.decode() if isinstance(started, bytes) else str(started)
            if await self.redis.exists(keys.node_alive(node)):
                return
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
        """Finish a prediction nobody is running any more: replay what it wrote into an
        :class:`Outcome`, then the same framing as any prediction (error, the stored
        exchange, metadata, end). Only one process wins the right to."""
        if not await self.redis.set(keys.final(pid), code, nx=True, ex=int(self.bus.retention)):
            return False
        spec_raw = await self.redis.get(keys.job(pid))
        spec = JobSpec.loads(spec_raw) if spec_raw else None
        entries: Any = await self.redis.xrange(keys.events(pid))
        events = [decode(eid, fields) for eid, fields in entries]
        if any(e.kind == "end" for e in events):
            return False
        who = Identity(
            chat_id=spec.chat_id if spec else None,
            chat_message_id=pid,
            session_id=spec.session_id if spec else None,
            question=spec.question if spec else None,
            canvas_id=spec.canvas_id if spec else "",
        )
        start = next((e for e in events if e.kind == "start"), None)
        if spec is None and start is not None:  # a local-mode prediction: its start says who
            who.chat_id = start.data.get("chatId")
            who.session_id = start.data.get("sessionId")
            who.canvas_id = start.data.get("canvasId") or ""
            if self.store is not None:  # and its stored start says what was asked
                asked = await self.store.get_message(question_id_for(pid))
                who.question = asked.content if asked is not None else None
        outcome = Outcome(who)
        for event in events:
            outcome.apply(event)
        log_ = RedisEventLog(self.bus, pid)
        log_.continue_from(events[-1].id if events else 0)
        if start is None:
            log_.append(start_event(who))
        log_.append(outcome.fail({"message": message, "code": code}))
        if who.canvas_id and who.chat_id:
            await store_outcome(self.store, outcome)
        close_log(log_, outcome)
        await log_.flushed.wait()
        if who.canvas_id and who.chat_id:
            await self.redis.delete(keys.running(who.canvas_id, who.chat_id))
        log.warning("job %s finished as error: %s", pid, message)
        return True
