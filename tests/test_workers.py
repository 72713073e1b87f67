"""``canvasflow serve`` with several processes on one port: they share the event log,
aborts and rate limits through Redis, so a stream, its resume and its abort work
whichever process each request lands on; a stop ends them all."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support import (
    Proc,
    RedisServer,
    canvasflow_server,
    create_pg_database,
    drop_pg_database,
    llm_chain_flow,
    make_canvas,
    poll,
    sse_events,
)

CORES = max(os.cpu_count() or 1, 1)


def workers_of(parent: int) -> list[int]:
    """The worker processes a server started (multiprocessing's spawned children)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return out


@pytest.fixture(scope="module")
def multi(
    upstream: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    pg = create_pg_database()
    env = {"REDIS_URL": redis_server.url, "DATABASE_URL": pg}
    proc = canvasflow_server(tmp_path_factory.mktemp("workers"), upstream, env, workers=None)
    proc.start()
    yield proc
    proc.stop()
    drop_pg_database(pg)


def test_with_redis_the_default_is_a_process_per_core(multi: Proc) -> None:
    assert multi.proc is not None
    assert poll(lambda: len(workers_of(multi.proc.pid)) == CORES, timeout=30)


def test_streams_resumes_and_aborts_work_across_the_processes(multi: Proc) -> None:
    canvas = make_canvas(multi.url, llm_chain_flow("mock?tokens=20&delay=0.01"))

    async def one(client: httpx.AsyncClient) -> str:
        r = await client.post(
            f"/api/v1/prediction/{canvas['id']}", json={"question": "q", "streaming": True}
        )
        return "".join(e["data"] for e in sse_events(r.content) if e["event"] == "token")

    async def many() -> list[str]:
        async with httpx.AsyncClient(base_url=multi.url, timeout=60) as client:
            return await asyncio.gather(*(one(client) for _ in range(24)))

    answers = asyncio.run(many())
    assert answers == [" ".join(f"word{i}" for i in range(20))] * 24

    slow = make_canvas(multi.url, llm_chain_flow("mock?tokens=300&delay=0.02"))
    for n in range(4):  # new connections land on any process
        chat = f"across-{n}"
        with httpx.Client(base_url=multi.url, timeout=30) as client:
            with client.stream(
                "POST",
                f"/api/v1/prediction/{slow['id']}",
                json={"question": "q", "streaming": True, "chatId": chat},
            ) as r:
                lines = r.iter_lines()
                first = []
                while sum('"event":"token"' in x for x in first) < 2:
                    first.append(next(lines))
                start = orjson.loads(next(x for x in first if '"start"' in x)[6:])
                pid = start["data"]["chatMessageId"]
                a = httpx.put(f"{multi.url}/api/v1/chatmessage/abort/{slow['id']}/{chat}")
                assert a.status_code == 200, a.text
                rest = sse_events("\n".join([*first, *lines]).encode())
        assert rest[-2]["event"] == "metadata" and rest[-2]["data"]["status"] == "aborted"
        # the finished stream is kept in Redis: any process replays it whole
        replay = httpx.get(f"{multi.url}/api/v1/prediction/{slow['id']}/stream/{pid}", timeout=30)
        events = sse_events(replay.content)
        assert events[0]["event"] == "start" and events[-1]["event"] == "end"


def test_a_stop_ends_every_process(
    upstream: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    pg = create_pg_database()
    try:
        env = {"REDIS_URL": redis_server.url, "DATABASE_URL": pg}
        proc = canvasflow_server(tmp_path / "d", upstream, env, workers=2).start()
        assert proc.proc is not None
        children = poll(lambda: (w := workers_of(proc.proc.pid)) and len(w) == 2 and w, timeout=30)
        proc.stop()
        assert proc.proc.returncode == 0
        assert poll(lambda: not any(Path(f"/proc/{c}").exists() for c in children), timeout=10)
    finally:
        drop_pg_database(pg)


def test_several_processes_need_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "canvasflow.cli",
            "serve",
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    assert "REDIS_URL" in r.stderr
