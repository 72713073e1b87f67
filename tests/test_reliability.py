"""Faults and bad input, each written as it was found: deadlines on model calls, input
refused before a model is paid, bodies that never arrive, a big history, Redis gone,
resume ids that make no sense."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    Proc,
    RedisServer,
    canvasflow_server,
    llm_chain_flow,
    make_canvas,
    poll,
    sse_events,
    two_web_processes,
)

FAST = {
    "CANVASFLOW_MODEL_FIRST_TOKEN_TIMEOUT": "1",
    "CANVASFLOW_MODEL_IDLE_TIMEOUT": "1",
    "CANVASFLOW_MODEL_TOTAL_TIMEOUT": "8",
    "CANVASFLOW_BODY_TIMEOUT": "1",
    "CANVASFLOW_MAX_HISTORY": "1000",
}


@pytest.fixture(scope="module")
def strict(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = canvasflow_server(tmp_path_factory.mktemp("strict"), upstream, FAST).start()
    yield proc
    proc.stop()


def ask(proc: Proc, canvas: dict, body: dict, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{proc.url}/api/v1/prediction/{canvas['id']}", json=body, timeout=timeout)


# -- deadlines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "said"),
    [
        ("mock?tokens=10&hang_after=3", "sent nothing for 1 s (CANVASFLOW_MODEL_IDLE_TIMEOUT)"),
        ("mock?first_byte=30", "sent no first token within 1 s"),
    ],
)
def test_a_hanging_model_ends_the_stream_with_a_timeout(
    strict: Proc, model: str, said: str
) -> None:
    canvas = make_canvas(strict.url, llm_chain_flow(model))
    t0 = time.monotonic()
    events = sse_events(ask(strict, canvas, {"question": "q", "streaming": True}).content)
    took = time.monotonic() - t0
    assert took < 6, took  # not the 10 to 30 minutes of before
    error = next(e["data"] for e in events if e["event"] == "error")
    assert error["code"] == "upstream_timeout" and said in error["message"]
    assert error["message"].startswith(model)  # names the model
    assert [e["event"] for e in events][-2:] == ["metadata", "end"]
    if "first_byte" in model:  # (a JSON answer is not streamed by the mock: no hang there)
        r = ask(strict, canvas, {"question": "q"})
        assert r.status_code == 504 and said in r.json()["message"]


def test_a_nodes_own_timeout_is_a_deadline_too(strict: Proc) -> None:
    canvas = make_canvas(strict.url, llm_chain_flow("mock?first_byte=30", timeout=500))
    t0 = time.monotonic()
    r = ask(strict, canvas, {"question": "q"})
    assert r.status_code == 504 and "the node's timeout" in r.json()["message"]
    assert time.monotonic() - t0 < 4


def test_a_json_prediction_whose_client_left_is_cancelled(strict: Proc) -> None:
    canvas = make_canvas(strict.url, llm_chain_flow("mock?tokens=3&first_byte=4"))
    with pytest.raises(httpx.TimeoutException):
        ask(strict, canvas, {"question": "q", "chatId": "gone"}, timeout=0.5)
    history = f"{strict.url}/api/v1/chatmessage/{canvas['id']}"

    def ended() -> list[dict] | None:  # the answer is stored as running first
        rows = httpx.get(history, params={"chatId": "gone"}).json()
        return rows if rows and rows[-1]["status"] != "running" else None

    stored = poll(ended, timeout=3)
    assert stored[-1]["status"] == "aborted"  # not completed 4 s later


# -- refused before any model call ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/api/v1/prediction/%00", {"question": "q"}, "the path contains a NUL"),
        ("/api/v1/prediction/default?x=%00", {"question": "q"}, "the query contains a NUL"),
        ("/api/v1/prediction/{id}", {"question": "a\u0000b"}, "body.question contains a NUL"),
        ("/api/v1/prediction/{id}", {"question": "q", "chatId": "c" * 201}, "chatId"),
        (
            "/api/v1/prediction/{id}",
            {"question": "q", "overrideConfig": {"sessionId": "s" * 201}},
            "overrideConfig.sessionId is longer than 200",
        ),
    ],
)
def test_what_storage_would_refuse_is_refused_first(
    backend_server: Proc, upstream: str, path: str, body: dict, said: str
) -> None:
    canvas = make_canvas(backend_server.url, llm_chain_flow("mock?tokens=2"))
    before = httpx.get(upstream + "/stats").json()["started"]
    url = backend_server.url + path.replace("{id}", canvas["id"])
    r = httpx.post(url, json={**body, "streaming": True}, timeout=30)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json") and said in r.json()["message"]
    assert httpx.get(upstream + "/stats").json()["started"] == before  # no model was paid


def test_a_body_that_stops_arriving_is_answered_408(strict: Proc) -> None:
    host, port = "127.0.0.1", strict.port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(
            b"POST /api/v1/prediction/default HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"question"'
        )
        t0 = time.monotonic()
        reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert time.monotonic() - t0 < 5


def test_a_huge_history_is_refused_without_freezing_the_others(strict: Proc) -> None:
    canvas = make_canvas(strict.url, llm_chain_flow("mock?tokens=40&delay=0.02"))
    huge = [{"role": "userMessage", "content": "x" * 30} for _ in range(20_000)]  # ~680 KB

    def stream() -> float:
        gaps, last = [], None
        with httpx.stream(
            "POST",
            f"{strict.url}/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True},
            timeout=60,
        ) as r:
            for line in r.iter_lines():
                if '"event":"token"' in line:
                    now = time.monotonic()
                    if last is not None:
                        gaps.append(now - last)
                    last = now
        return max(gaps)

    with ThreadPoolExecutor(20) as pool:
        streams = [pool.submit(stream) for _ in range(20)]
        time.sleep(0.2)  # the streams are under way (a load, not a synchronisation)
        big = ask(strict, canvas, {"question": "q", "history": huge})
        worst = max(f.result() for f in streams)
    assert big.status_code == 413 and "CANVASFLOW_MAX_HISTORY" in big.json()["message"]
    assert worst < 1.5, worst  # a generous bound: the figure itself is a benchmark's


# -- resume ids that make no sense -------------------------------------------------------


def test_last_event_id_beyond_the_stream_or_insane_is_400(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=3"))
    events = sse_events(ask(server, canvas, {"question": "q", "streaming": True}).content)
    mid = events[0]["data"]["chatMessageId"]
    url = f"{server.url}/api/v1/prediction/{canvas['id']}/stream/{mid}"
    for value, said in (("999", "beyond"), (str(2**64), "event id"), ("abc", "event id")):
        r = httpx.get(url, headers={"Last-Event-ID": value}, timeout=10)
        assert r.status_code == 400 and said in r.json()["message"], r.text
    ok = httpx.get(url, headers={"Last-Event-ID": "2"}, timeout=10)
    assert ok.status_code == 200 and sse_events(ok.content)[-1]["event"] == "end"


# -- Redis gone ----------------------------------------------------------------------------


def test_redis_gone_means_503_never_a_hang_or_a_500(upstream: str, tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis").start()
    env = {"REDIS_URL": redis.url, "CANVASFLOW_REDIS_TIMEOUT": "2"}
    proc = canvasflow_server(tmp_path / "d", upstream, env).start()
    try:
        canvas = make_canvas(
            proc.url,
            llm_chain_flow("mock?tokens=2"),
            settings={"rateLimit": {"limit": 100, "window": 60}},
        )
        assert ask(proc, canvas, {"question": "q"}).status_code == 200
        redis.stop()
        # within a few seconds of Redis going, new predictions are refused, not hung
        poll(lambda: ask(proc, canvas, {"question": "q"}).status_code == 503, timeout=5)
        for streaming in (False, True):
            t0 = time.monotonic()
            r = ask(proc, canvas, {"question": "q", "streaming": streaming})
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] and r.json()["statusCode"] == 503
            assert time.monotonic() - t0 < 5
        r = httpx.put(f"{proc.url}/api/v1/chatmessage/abort/{canvas['id']}/some-chat", timeout=10)
        assert r.status_code == 503, r.text
        redis.start()
        poll(lambda: ask(proc, canvas, {"question": "q"}).status_code == 200, timeout=15)
    finally:
        proc.stop()
        redis.stop()


async def test_a_burst_asks_redis_once_and_a_late_answer_is_not_redis_gone(
    redis_server: RedisServer,
) -> None:
    """Requests arriving together share one PING, and a PING answered late (a loop busy
    with a burst) still counts as Redis there: with a PING per request and a limit of a
    second, a 2,000-stream burst on two processes had a quarter of its streams refused."""
    from canvasflow.bus.redis import RedisBus

    bus = RedisBus(redis_server.url)
    pings: list[float] = []
    real = bus.redis.ping

    async def late_ping() -> Any:
        pings.append(time.monotonic())
        await asyncio.sleep(1.5)  # the answer waits for a busy loop
        return await real()

    bus.redis.ping = late_ping  # type: ignore[method-assign]
    try:
        answers = await asyncio.gather(*(bus.healthy() for _ in range(500)))
        assert all(answers) and len(pings) == 1
        assert await bus.healthy() and len(pings) == 1  # the answer is kept a while
    finally:
        await bus.redis.aclose()


async def test_the_heartbeat_answers_for_redis_and_a_refused_connection_is_gone(
    redis_server: RedisServer,
) -> None:
    from canvasflow.bus.redis import RedisBus

    bus = RedisBus(redis_server.url)
    await bus.start()
    pings = [0]
    real = bus.redis.ping

    async def counted() -> Any:
        pings[0] += 1
        return await real()

    bus.redis.ping = counted  # type: ignore[method-assign]
    try:
        until = time.monotonic() + 2.5  # five heartbeats
        while time.monotonic() < until:
            assert await bus.healthy()
            await asyncio.sleep(0.05)
        assert pings[0] == 0  # the heartbeat's writes were the answers
    finally:
        await bus.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = RedisBus(f"redis://127.0.0.1:{port}/0")
    try:
        t0 = time.monotonic()
        answers = await asyncio.gather(*(gone.healthy() for _ in range(100)))
        assert not any(answers) and time.monotonic() - t0 < 2.5
    finally:
        await gone.redis.aclose()


async def test_every_logs_events_go_to_redis_in_shared_calls_and_a_refused_one_alone(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The events of all the predictions a process runs go to Redis in one call per round
    trip, not a task and a pipeline per prediction (a burst of 500 streams on two processes
    spent a fifth of its CPU on those); each log's events arrive whole and in
    order, its end sets its expiry, and a log whose writes Redis refuses (ids behind what
    another process wrote) loses only its own."""
    from canvasflow.bus.redis import RedisBus
    from canvasflow.events import Event

    bus = RedisBus(redis_server.url)
    calls: list[int] = []  # the events each call to Redis carried
    real_append = bus._append

    async def counting_append(keys: Any, args: Any, client: Any) -> Any:
        calls.append((len(args) - 2 - 2 * len(keys)) // 2)
        return await real_append(keys, args, client)

    bus._append = counting_append  # type: ignore[assignment]
    try:
        behind = f"behind-{uuid.uuid4().hex}"
        await bus.redis.xadd(f"cf:ev:{behind}", {"e": b'["token","x"]'}, id="0-5")
        refused = bus.resume_log(behind, 0)  # numbers from 1: behind the stream's 5
        pids = [f"p-{uuid.uuid4().hex}" for _ in range(100)]
        logs = [bus.open_log(pid) for pid in pids]

        async def produce(n: int) -> None:
            for i in range(20):
                logs[n].append(Event("token", f"{n}.{i}"))
                if i % 5 == 4:
                    await asyncio.sleep(0)
            logs[n].close()

        refused.append(Event("token", "lost"))
        refused.close()
        await asyncio.gather(*(produce(n) for n in range(100)))
        await asyncio.wait_for(asyncio.gather(*(bus.flushed(log_) for log_ in logs)), 10)
        await asyncio.wait_for(bus.flushed(refused), 10)
        for n, pid in enumerate(pids):
            events = await bus.replay(pid)
            assert [e.data for e in events] == [f"{n}.{i}" for i in range(20)]
            assert [e.id for e in events] == list(range(1, 21))
            assert 0 < await bus.redis.ttl(f"cf:ev:{pid}") <= int(bus.retention)
        assert sum(calls) == 100 * 20 + 1 and len(calls) < 30  # not one per log, nor per event
        assert [e.id for e in await bus.replay(behind)] == [5]  # its own write refused...
        assert any(behind in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        assert not bus._logs  # ...and each ended log let go
        await bus.redis.script_flush()  # as a restarted Redis: the script is sent again
        again = bus.open_log(f"p-{uuid.uuid4().hex}")
        again.append(Event("token", "again"))
        again.close()
        await asyncio.wait_for(bus.flushed(again), 10)
        assert [e.data for e in await bus.replay(again._pid)] == ["again"]
    finally:
        await bus.close()


# -- nothing lost --------------------------------------------------------------------------


def test_kill_9_mid_stream_loses_neither_question_nor_message(
    upstream: str, tmp_path: Path
) -> None:
    import signal

    data = tmp_path / "d"
    proc = canvasflow_server(data, upstream).start()
    canvas = make_canvas(proc.url, llm_chain_flow("mock?tokens=500&delay=0.02"))
    url = f"{proc.url}/api/v1/prediction/{canvas['id']}"
    seen = 0
    with httpx.stream(
        "POST", url, json={"question": "tell me", "streaming": True, "chatId": "k9"}, timeout=30
    ) as r:
        lines = r.iter_lines()
        for line in lines:
            if line.startswith("data: ") and '"start"' in line:
                message_id = httpx.Response(200, content=line[6:]).json()["data"]["chatMessageId"]
            if '"token"' in line:
                seen += 1
                if seen == 20:
                    proc.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
                    break
    proc.proc.wait(10)  # type: ignore[union-attr]
    again = canvasflow_server(data, upstream).start()
    try:
        stored = httpx.get(
            f"{again.url}/api/v1/chatmessage/{canvas['id']}", params={"chatId": "k9"}
        ).json()
        assert [m["role"] for m in stored] == ["userMessage", "apiMessage"]
        assert stored[0]["content"] == "tell me"
        assert stored[1]["status"] == "interrupted" and stored[1]["id"] == message_id
        # a resume of it: what was kept, then an interrupted error and end, never a 404
        r = httpx.get(f"{again.url}/api/v1/prediction/{canvas['id']}/stream/{message_id}")
        events = sse_events(r.content)
        assert r.status_code == 200
        assert [e["event"] for e in events][-3:] == ["error", "metadata", "end"]
        assert events[-3]["data"]["code"] == "interrupted"
    finally:
        again.stop()


def test_a_lost_prediction_is_stored_with_its_question_and_partial_answer(
    upstream: str, tmp_path: Path
) -> None:
    """Local mode with Redis: web process A dies mid-stream; B, following, finishes it."""
    import signal

    with two_web_processes(tmp_path, upstream) as (a, b):
        canvas = make_canvas(a.url, llm_chain_flow("mock?tokens=500&delay=0.02"))
        with httpx.stream(
            "POST",
            f"{a.url}/api/v1/prediction/{canvas['id']}",
            json={"question": "long one", "streaming": True, "chatId": "lost"},
            timeout=30,
        ) as r:
            for line in r.iter_lines():
                if '"start"' in line:
                    message_id = line.split('"chatMessageId":"')[1].split('"')[0]
                if line.count('"token"') and line.endswith("}") and "word9" in line:
                    a.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
                    break
        follow = httpx.get(
            f"{b.url}/api/v1/prediction/{canvas['id']}/stream/{message_id}", timeout=30
        )
        events = sse_events(follow.content)
        assert events[-1]["event"] == "end"
        meta = next(e["data"] for e in events if e["event"] == "metadata")
        assert meta["chatId"] == "lost" and meta["question"] == "long one"
        stored = httpx.get(
            f"{b.url}/api/v1/chatmessage/{canvas['id']}", params={"chatId": "lost"}
        ).json()
        assert stored[0]["content"] == "long one"
        assert stored[1]["status"] == "error" and stored[1]["content"].startswith("word0 word1")


def test_a_huge_canvas_is_refused_at_save(strict: Proc) -> None:
    from tests.support import node

    nodes = [node(f"p{i}", "promptTemplate", {"template": "x"}) for i in range(1001)]
    r = httpx.post(
        f"{strict.url}/api/v1/canvases",
        json={"name": "huge", "flowData": {"nodes": nodes, "edges": []}},
        timeout=30,
    )
    assert r.status_code == 413 and "CANVASFLOW_MAX_CANVAS_NODES" in r.json()["message"]


def test_a_client_that_had_every_event_re_attaches_to_a_closed_stream(
    upstream: str, tmp_path: Path
) -> None:
    """Resuming after the last event (the `end`) through another process: the stream
    closes at once (it waited for events that would never come, pinging, for ever)."""
    with two_web_processes(tmp_path, upstream) as (a, b):
        canvas = make_canvas(a.url, llm_chain_flow("mock?tokens=3"))
        r = httpx.post(
            f"{a.url}/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True},
            timeout=30,
        )
        events = sse_events(r.content)
        message_id = events[0]["data"]["chatMessageId"]
        last = r.text.count("\nid: ") + r.text.startswith("id: ")
        for proc, after in ((b, last), (b, last - 1), (a, last)):
            again = httpx.get(
                f"{proc.url}/api/v1/prediction/{canvas['id']}/stream/{message_id}",
                headers={"Last-Event-ID": str(after)},
                timeout=10,  # a read that waits longer is the bug
            )
            kinds = [e["event"] for e in sse_events(again.content)]
            assert kinds == ([] if after == last else ["end"]), (proc.url, after, kinds)
