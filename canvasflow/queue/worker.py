"""``canvasflow worker``: takes jobs from the Redis queue and runs them."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Any

import orjson
from redis.exceptions import ResponseError

from canvasflow.bus import keys
from canvasflow.bus.redis import RedisBus
from canvasflow.config import Settings
from canvasflow.credentials import Credentials
from canvasflow.engine.graph import allowed_overrides, parse
from canvasflow.engine.prediction import Prediction
from canvasflow.errors import CanvasInvalid
from canvasflow.keyfiles import check_shared_secret, secret_key
from canvasflow.mcp.client import close_pool
from canvasflow.models.openai_compat import close_clients
from canvasflow.observability.logs import PredictionLog
from canvasflow.queue.jobs import JobQueue, JobSpec
from canvasflow.runtime.node import load_all
from canvasflow.sandbox import slots as sandbox_slots
from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.worker")


class Worker:
    def __init__(self, settings: Settings, concurrency: int = 4, job_timeout: float = 300.0):
        if not settings.redis_url:
            raise SystemExit("canvasflow worker needs REDIS_URL")
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.job_timeout = job_timeout
        self.store = Store(settings.resolved_database_url())
        self.credentials = Credentials(self.store, secret_key(settings))
        self.bus = RedisBus.from_settings(settings)
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
            await self.store.migrate()
            await check_shared_secret(self.store, self.settings)
            await self.bus.start()
            await self.queue.ensure_group()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stopping.set)
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
            await self.bus.retry(lambda r: r.delete(keys.worker(self.name)))
            await self.bus.close()
            await close_pool()
            await close_clients()
            await self.store.close()

    @property
    def redis(self) -> Any:
        return self.bus.redis

    async def _beat(self) -> None:
        while True:
            info = {
                "name": self.name,
                "running": len(self.running),
                "concurrency": self.concurrency,
            }
            payload = orjson.dumps(info)

            def beat(r: Any, payload: bytes = payload) -> Any:
                return r.set(keys.worker(self.name), payload, ex=5)

            await self.bus.retry(beat)
            await asyncio.sleep(1)

    async def _take_jobs(self) -> None:
        while not self._stopping.is_set():
            await self._slots.acquire()
            if self._stopping.is_set():
                self._slots.release()
                break
            try:
                reply = await self.bus.retry(
                    lambda r: r.xreadgroup(
                        keys.GROUP, self.name, {keys.JOBS: ">"}, count=1, block=1000
                    )
                )
            except ResponseError as exc:
                self._slots.release()
                if "NOGROUP" not in str(exc):
                    raise
                await self.queue.ensure_group()  # Redis restarted without its data
                continue
            if not reply:
                self._slots.release()
                continue
            for entry_id, fields in reply[0][1]:
                pid = (fields.get(b"pid") or fields.get("pid") or b"").decode()
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
            await self.bus.retry(lambda r: r.xack(keys.JOBS, keys.GROUP, entry_id))
            self._slots.release()

    async def _run(self, pid: str) -> None:
        raw, final = await self.redis.mget(keys.job(pid), keys.final(pid))
        if raw is None or final:
            return  # expired, or already given up on
        spec = JobSpec.loads(raw)
        canvas = await self.store.get_canvas(spec.canvas_id)
        if canvas is None:
            await self.queue.finish_lost(pid, f"canvas {spec.canvas_id} was deleted", "not_found")
            return
        flow = canvas.flow_data
        if spec.version and spec.version.isdigit() and int(spec.version) != canvas.version:
            pinned = await self.store.version(canvas.id, int(spec.version))  # a published one
            if pinned is not None:
                flow = pinned.flow_data
        try:
            graph = parse(flow)
        except CanvasInvalid as exc:
            await self.queue.finish_lost(pid, exc.message, "canvas_error")
            return
        prediction = Prediction(
            graph=graph,
            ctx=spec.to_ctx(self.store, self.settings, self.credentials),
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
            # the events reach Redis before the job counts as done
            flushed = getattr(prediction.log, "flushed", None)
            if flushed is not None:
                await flushed.wait()
        finally:
            self.running.pop(pid, None)
