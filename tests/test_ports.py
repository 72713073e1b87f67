"""Cluster mode's ports (``bus/base.py``): the job queue, the event log, the heartbeat and
the rate storage, each with an in-process and a Redis implementation. The same tests run
on both: a web side queues a request as it is, a worker on the same bus takes it and
runs it, and the web side follows its events; a job nobody runs is finished as an
error; heartbeats come and go; rate limits count."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from limits import parse
from limits.aio.strategies import FixedWindowRateLimiter

from canvasflow.bus.base import Bus
from canvasflow.config import Settings
from canvasflow.queue import Job, JobQueue, RemotePrediction
from canvasflow.queue.worker import Worker
from canvasflow.runtime.context import RunContext, RunRequest
from canvasflow.runtime.node import load_all
from canvasflow.store.repo import Store
from tests.support import RedisServer, llm_chain_flow


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    if request.param == "memory":
        from canvasflow.bus.memory import MemoryBus

        made: Bus = MemoryBus(60, shelf_dir=tmp_path)
    else:
        from canvasflow.bus.redis import RedisBus

        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisBus(server.url, retention_seconds=60)
    await made.start()
    yield made
    await made.close()


def test_the_request_travels_as_it_is() -> None:
    asked = RunRequest(
        question="q",
        canvas_id="c",
        chat_id="chat",
        history=[{"role": "user", "content": "hi"}],
        images=("data:image/png;base64,AA",),
        overrides={"vars": {"a": 1}},
        human_input={"type": "proceed"},
        trigger="webhook",
        webhook={"method": "POST", "body": {"x": 1}},
        version="3",
        depth=1,
    )
    job = Job("p1", asked)
    back = Job.loads(job.dumps())
    assert back.request == asked and back.pid == "p1" and back.submitted == job.submitted
    ctx = RunContext.serving(asked, settings=Settings(_env_file=None))  # type: ignore[call-arg]
    assert ctx.request == asked and ctx.question == "q" and ctx.vars == {"a": 1}
    nested = ctx.running(RunRequest(question="inner", depth=ctx.depth + 1))
    assert nested.budget is ctx.budget and nested.settings is ctx.settings
    assert nested.depth == 2 and nested.canvas_id == ""
    # a field the request does not know (a newer web process) does not stop a worker
    raw = orjson.loads(job.dumps())
    raw["request"]["from_the_future"] = 1
    assert Job.loads(orjson.dumps(raw)).request == asked


async def test_a_worker_runs_what_the_web_side_queued(
    bus: Bus, tmp_path: Path, upstream: str
) -> None:
    load_all()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        environ={"OPENAI_BASE_URL": upstream + "/v1", "OPENAI_API_KEY": "test-key"},
        secret_key="s" * 32,
    )
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await store.migrate()
    canvas = await store.create_canvas(
        "ports", orjson.dumps(llm_chain_flow("mock?tokens=5")).decode()
    )
    queue = JobQueue(bus, store, max_depth=10, queue_timeout=30)
    await queue.ensure_group()
    worker = Worker(settings, concurrency=2, bus=bus, store=store)
    running = asyncio.create_task(worker.run())
    try:
        pid = str(uuid.uuid4())
        asked = RunRequest(
            question="hello",
            canvas_id=canvas.id,
            chat_id="chat-1",
            session_id="chat-1",
            chat_message_id=pid,
            streaming=True,
        )
        ctx = RunContext.serving(asked, settings=settings, store=store)
        remote = RemotePrediction(bus, ctx, bus.remote_log(pid))
        await queue.submit(Job(pid, asked))
        await asyncio.wait_for(remote.wait(), 30)
        assert remote.outcome.status == "completed", remote.outcome.error
        assert remote.outcome.text.strip(), "the worker's tokens reached the web side"
        deadline = time.monotonic() + 10
        while not (stats := await queue.stats())["workers"]:
            assert time.monotonic() < deadline, "the worker's heartbeat never showed"
            await asyncio.sleep(0.05)
        assert stats["workers"][0]["concurrency"] == 2 and stats["depth"] == 0
        stored = await store.messages(canvas.id)
        assert [m.role for m in stored] == ["userMessage", "apiMessage"]
    finally:
        worker.stop()
        await asyncio.wait_for(running, 15)
        await store.close()
        from canvasflow.models.upstream import close_sessions

        await close_sessions()  # this loop's pooled upstream connections
    assert not await bus.heartbeat.alive("worker", worker.name)  # gone at once on stop


async def test_a_job_nobody_runs_is_finished_as_an_error_once(bus: Bus, tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await store.migrate()
    queue = JobQueue(bus, store, max_depth=10, queue_timeout=0.0)
    await queue.ensure_group()
    try:
        pid = str(uuid.uuid4())
        asked = RunRequest(question="anyone?", canvas_id="c", chat_id="chat", session_id="s")
        follower = bus.remote_log(pid)
        await queue.submit(Job(pid, asked, submitted=time.time() - 5))
        assert await queue.depth() == 1
        await queue.check(pid, 0)  # no worker took it within the (zero) queue timeout
        assert not await queue.finish_lost(pid, "again", "queue_timeout")  # once only
        seen = [e async for e in follower.follow(0) if e is not None]
        assert [e.kind for e in seen][-2:] == ["metadata", "end"] or seen[-1].kind == "end"
        errors = [e.data for e in seen if e.kind == "error"]
        assert errors and errors[0]["code"] == "queue_timeout"
        assert "no worker took the job" in errors[0]["message"]
        stored = await store.messages("c")
        assert [m.content for m in stored if m.role == "userMessage"] == ["anyone?"]
    finally:
        await store.close()


async def test_heartbeats_and_rate_limits(bus: Bus) -> None:
    beat = bus.heartbeat
    assert await beat.beat("worker", "w1", 1, {"name": "w1", "running": 3})
    assert await beat.alive("worker", "w1")
    assert {"name": "w1", "running": 3} in await beat.members("worker")
    await beat.forget("worker", "w1")
    assert not await beat.alive("worker", "w1")
    assert await beat.beat("worker", "w2", 1)
    deadline = time.monotonic() + 10
    while await beat.alive("worker", "w2"):  # a silent one is gone after its ttl
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    limiter = FixedWindowRateLimiter(bus.rate_storage())
    rule = parse("2/minute")
    scope = uuid.uuid4().hex
    hits = [await limiter.hit(rule, "ports", scope) for _ in range(3)]
    assert hits == [True, True, False]
