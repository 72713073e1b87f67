"""Queue mode's jobs: web processes put them on the bus's job store, ``canvasflow
worker`` processes take them and run them with the same ``Prediction`` as a web
process; events flow back through the bus's event log and nothing else. A job whose
worker stops heart-beating is finished as an error by whichever process is following
it, so no client waits forever. Only the bus's ports are used here (``JobStore``,
``Heartbeat``, ``EventLog``): the backend is chosen by ``create_bus``."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.bus.base import Bus
from canvasflow.engine.outcome import Identity, Outcome
from canvasflow.engine.prediction import close_log, start_event, store_outcome
from canvasflow.runtime.context import RunRequest
from canvasflow.store.repo import question_id_for

if TYPE_CHECKING:
    from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.queue")

DOCSTORE = "docstore"  # a job's kind: a document store loader to process


@dataclass
class Job:
    """A prediction the web process accepted, for a worker: its id, when it was queued,
    and the request as it is."""

    pid: str
    request: RunRequest
    submitted: float = field(default_factory=time.time)

    def dumps(self) -> bytes:
        return orjson.dumps(
            {
                "pid": self.pid,
                "submitted": self.submitted,
                "request": orjson.Fragment(self.request.dumps()),
            }
        )

    @classmethod
    def loads(cls, raw: bytes | str) -> Job:
        data = orjson.loads(raw)
        return cls(data["pid"], RunRequest.loads(data["request"]), data["submitted"])


class QueueFull(Exception):
    pass


class JobQueue:
    def __init__(
        self,
        bus: Bus,
        store: Store | None,
        max_depth: int = 1000,
        queue_timeout: float = 120.0,
    ) -> None:
        self.bus = bus
        self.jobs = bus.jobs
        self.store = store
        self.max_depth = max_depth
        self.queue_timeout = queue_timeout

    async def ensure_group(self) -> None:
        await self.jobs.ensure()

    async def depth(self) -> int:
        """Jobs put on the queue that no worker has taken yet."""
        return await self.jobs.depth()

    async def submit(self, job: Job) -> None:
        if await self.depth() >= self.max_depth:
            raise QueueFull(f"the queue holds {self.max_depth} jobs")
        await self.jobs.put(
            job.pid,
            job.dumps(),
            ttl=self.bus.retention + self.queue_timeout,
            cap=max(10_000, self.max_depth * 10),
        )

    async def submit_docstore(self, store_id: str, loader_id: str) -> str:
        """A document store loader's processing, for a worker (its progress is written to
        the database, so no process follows it here); its job id."""
        if await self.depth() >= self.max_depth:
            raise QueueFull(f"the queue holds {self.max_depth} jobs")
        pid = f"docstore-{uuid.uuid4()}"
        payload = orjson.dumps(
            {"kind": DOCSTORE, "store": store_id, "loader": loader_id, "submitted": time.time()}
        )
        await self.jobs.put(
            pid,
            payload,
            ttl=self.bus.retention + self.queue_timeout,
            cap=max(10_000, self.max_depth * 10),
        )
        return pid

    async def stats(self) -> dict[str, Any]:
        workers = await self.bus.heartbeat.members("worker")
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
        state = await self.jobs.state(pid)
        if state.final:
            return
        if state.started_on:
            if await self.bus.heartbeat.alive("node", state.started_on):
                return
            await self.finish_lost(pid, "the worker running this prediction stopped", "worker_lost")
        elif state.payload is not None:
            job = Job.loads(state.payload)
            if time.time() - job.submitted > self.queue_timeout:
                await self.finish_lost(
                    pid,
                    f"no worker took the job within {self.queue_timeout:.0f} s",
                    "queue_timeout",
                )

    async def finish_lost(self, pid: str, message: str, code: str) -> bool:
        """Finish a prediction nobody is running any more: replay what it wrote into an
        :class:`Outcome`, then the same framing as any prediction (error, the stored
        exchange, metadata, end). Only one process wins the right to."""
        if not await self.jobs.give_up(pid, code, self.bus.retention):
            return False
        state = await self.jobs.state(pid)
        asked = Job.loads(state.payload).request if state.payload else None
        events = await self.bus.replay(pid)
        if any(e.kind == "end" for e in events):
            return False
        who = Identity(
            chat_id=asked.chat_id if asked else None,
            chat_message_id=pid,
            session_id=asked.session_id if asked else None,
            question=asked.question if asked else None,
            canvas_id=asked.canvas_id if asked else "",
        )
        start = next((e for e in events if e.kind == "start"), None)
        if asked is None and start is not None:  # a local-mode prediction: its start says who
            who.chat_id = start.data.get("chatId")
            who.session_id = start.data.get("sessionId")
            who.canvas_id = start.data.get("canvasId") or ""
            if self.store is not None:  # and its stored start says what was asked
                stored = await self.store.get_message(question_id_for(pid))
                who.question = stored.content if stored is not None else None
        outcome = Outcome(who)
        for event in events:
            outcome.apply(event)
        log_ = self.bus.resume_log(pid, events[-1].id if events else 0)
        if start is None:
            log_.append(start_event(who))
        log_.append(outcome.fail({"message": message, "code": code}))
        if who.canvas_id and who.chat_id:
            await store_outcome(self.store, outcome)
        close_log(log_, outcome)
        await self.bus.flushed(log_)
        if who.canvas_id and who.chat_id:
            self.bus.remove_running(who.canvas_id, who.chat_id)
        log.warning("job %s finished as error: %s", pid, message)
        return True
