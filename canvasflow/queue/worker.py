"""``canvasflow worker``: takes jobs from the bus's job queue and runs them. Only the
bus's ports are used; ``canvasflow worker`` runs on a shared bus (Redis), and the
in-process bus runs the same loop in one process (the tests do)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Any

import orjson

from canvasflow.bus import create_bus
from canvasflow.bus.base import Bus
from canvasflow.config import Settings
from canvasflow.credentials import Credentials
from canvasflow.engine.graph import allowed_overrides, parse
from canvasflow.engine.prediction import Prediction
from canvasflow.errors import CanvasflowError, CanvasInvalid
from canvasflow.keyfiles import check_shared_secret, secret_key
from canvasflow.mcp.client import close_pool
from canvasflow.models.openai_compat import close_clients
from canvasflow.observability.logs import PredictionLog
from canvasflow.queue.jobs import DOCSTORE, Job, JobQueue
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.node import load_all
from canvasflow.sandbox import slots as sandbox_slots
from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.worker")


class Worker:
    def __init__(
        self,
        settings: Settings,
        concurrency: int = 4,
        job_timeout: float = 300.0,
        bus: Bus | None = None,
        store: Store | None = None,
    ) -> None:
        """A worker on ``bus`` (by default the settings' own, which must be shared:
        a worker process on the in-process bus would wait for jobs nobody can give it)."""
        if bus is None and not settings.redis_url:
            raise SystemExit("canvasflow worker needs REDIS_URL")
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.job_timeout = job_timeout
        self._own = bus is None  # started and closed here
        self.store = store or Store(settings.resolved_database_url())
        self.credentials = Credentials(self.store, secret_key(settings))
        self.bus = bus or create_bus(settings)
        self.queue = JobQueue(self.bus, self.store, settings.max_queue, settings.queue_timeout)
        self.bus.on_idle = self.queue.check
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.running: dict[str, Prediction] = {}
        self._slots = asyncio.Semaphore(self.concurrency)
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        load_all(self.settings.extra_node_modules)
        sandbox_slots.configure(self.settings.sandbox_processes)
        beat: asyncio.Task[None] | None = None
        try:
            if self._own:
                await self.store.migrate()
                await check_shared_secret(self.store, self.settings)
                await self.bus.start()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self._stopping.set)
            await self.queue.ensure_group()
            beat = asyncio.create_task(self._beat())
            log.info("worker %s: %d slots", self.name, self.concurrency)
            await self._take_jobs()
        except Exception:
            log.exception("worker %s stopped", self.name)
            raise
        finally:
            if beat is not None:
                beat.cancel()
            await self._drain()
            await self.bus.heartbeat.forget("worker", self.name)
            if self._own:
                await self.bus.close()
                await close_pool()
                await close_clients()
                await self.store.close()

    def stop(self) -> None:
        """Take no more jobs; :meth:`run` returns once the running ones end."""
        self._stopping.set()

    async def _beat(self) -> None:
        while True:
            info = {
                "name": self.name,
                "running": len(self.running),
                "concurrency": self.concurrency,
            }
            await self.bus.heartbeat.beat("worker", self.name, 5, info)
            await asyncio.sleep(1)

    async def _take_jobs(self) -> None:
        while not self._stopping.is_set():
            await self._slots.acquire()
            if self._stopping.is_set():
                self._slots.release()
                break
            try:
                taken = await self.bus.jobs.take(self.name, 1.0)
            except BaseException:
                self._slots.release()
                raise
            if not taken:
                self._slots.release()
                continue
            for entry_id, pid in taken:
                task = asyncio.create_task(self._run_job(entry_id, pid))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        grace = self.settings.shutdown_grace
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=max(0.0, grace - 2))
            if pending:
                for prediction in self.running.values():
                    prediction.abort("shutdown")
                await asyncio.wait(pending, timeout=5)

    async def _run_job(self, entry_id: Any, pid: str) -> None:
        try:
            await self._run(pid)
        except Exception:
            log.exception("job %s failed", pid)
            await self.queue.finish_lost(pid, "the worker failed to run the job", "worker_error")
        finally:
            await self.bus.jobs.ack(entry_id)
            self._slots.release()

    async def _run(self, pid: str) -> None:
        state = await self.bus.jobs.state(pid)
        if state.payload is None or state.final:
            return  # expired, or already given up on
        if orjson.loads(state.payload).get("kind") == DOCSTORE:
            await self._process_docstore(orjson.loads(state.payload))
            return
        asked = Job.loads(state.payload).request
        canvas = await self.store.get_canvas(asked.canvas_id)
        if canvas is None:
            await self.queue.finish_lost(pid, f"canvas {asked.canvas_id} was deleted", "not_found")
            return
        flow = canvas.flow_data
        if asked.version and asked.version.isdigit() and int(asked.version) != canvas.version:
            pinned = await self.store.version(canvas.id, int(asked.version))  # a published one
            if pinned is not None:
                flow = pinned.flow_data
        try:
            graph = parse(flow)
        except CanvasInvalid as exc:
            await self.queue.finish_lost(pid, exc.message, "canvas_error")
            return
        prediction = Prediction(
            graph=graph,
            ctx=RunContext.serving(
                asked, store=self.store, settings=self.settings, credentials=self.credentials
            ),
            allowed_overrides=allowed_overrides(canvas.settings),
            bus=self.bus,
            store=self.store,
            observers=[PredictionLog(self.settings.log_prompts)],
        )
        self.running[pid] = prediction
        try:
            prediction.start()
            try:
                await asyncio.wait_for(prediction.wait(), self.job_timeout)
            except TimeoutError:
                prediction.abort("timeout")
                await prediction.wait()
            # the events are stored before the job counts as done
            await self.bus.flushed(prediction.log)
        finally:
            self.running.pop(pid, None)

    async def _process_docstore(self, job: dict[str, Any]) -> None:
        """A document store loader processed here; its progress and end are written to
        the loader, which every web process reads."""
        from canvasflow.docstore.service import DocStores

        service = DocStores(self.store, self.settings, self.credentials)
        try:
            done = await service.process(str(job["store"]), str(job["loader"]))
        except CanvasflowError as exc:  # the store or loader is gone, or cannot be read
            log.warning("document store job %s: %s", job.get("loader"), exc.message)
            return
        log.info("document store job %s: %s", job.get("loader"), done.line())
