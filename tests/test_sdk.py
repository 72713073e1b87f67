"""The Python SDK against a live server, and against a server that misbehaves."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path

import pytest

from canvasflow.sdk import (
    AsyncFlowise,
    BadRequest,
    CanvasNotFound,
    Flowise,
    PredictionData,
    RateLimited,
    Retry,
    StreamError,
    StreamEvent,
    write_stream,
)
from tests.proxy import FaultyProxy, Plan
from tests.support import Proc, canvasflow_server, llm_chain_flow, make_canvas

WORDS30 = " ".join(f"word{i}" for i in range(30))


@pytest.fixture(scope="module")
def slow_canvas(server: Proc) -> dict:
    return make_canvas(server.url, llm_chain_flow("mock?tokens=30&delay=0.01"))


def tokens(events: list) -> str:
    return "".join(e["data"] for e in events if e["event"] == "token")


def test_json_and_stream(server: Proc, slow_canvas: dict) -> None:
    with Flowise(server.url) as client:
        answer = client.create_prediction(
            PredictionData(chatflowId=slow_canvas["id"], question="q")
        )
        assert answer["text"] == WORDS30
        assert client.is_streaming(slow_canvas["id"]) is True
        stream = client.create_prediction(
            PredictionData(
                canvasId=slow_canvas["slug"], question="q", streaming=True, chatId="sdk-chat"
            )
        )
        typed = list(stream.events())
        assert all(isinstance(e, StreamEvent) for e in typed)
        assert "".join(e.text for e in typed) == WORDS30
        assert [e.id for e in typed] == list(range(1, len(typed) + 1))
        assert stream.chat_id == "sdk-chat" and stream.chat_message_id
        history = client.get_history(slow_canvas["id"], chatId="sdk-chat")
        assert history[-1]["content"] == WORDS30


def test_typed_errors(server: Proc) -> None:
    with Flowise(server.url, retry=Retry(attempts=1)) as client:
        with pytest.raises(CanvasNotFound) as exc:
            client.create_prediction(PredictionData(canvasId="missing", question="q"))
        assert exc.value.status == 404 and "missing" in exc.value.message
        with pytest.raises(CanvasNotFound):
            list(
                client.create_prediction(
                    PredictionData(canvasId="missing", question="q", streaming=True)
                )
            )
        canvas = make_canvas(server.url, llm_chain_flow("mock"))
        with pytest.raises(BadRequest) as bad:
            client.create_prediction(PredictionData(canvasId=canvas["id"], question=""))
        assert bad.value.status == 400
    with pytest.raises(ValueError):
        PredictionData(question="no canvas")


def test_abort_from_the_stream(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=500&delay=0.01"))
    with Flowise(server.url) as client:
        stream = client.create_prediction(
            PredictionData(canvasId=canvas["id"], question="q", streaming=True)
        )
        seen = []
        aborted = False
        for event in stream:
            seen.append(event)
            if not aborted and sum(e["event"] == "token" for e in seen) == 3:
                assert stream.abort()["message"] == "Chat message aborted"
                aborted = True
        assert seen[-1]["event"] == "end"
        assert seen[-2]["data"]["status"] == "aborted"
        assert len(tokens(seen).split()) < 500


def test_resume_after_the_connection_drops(server: Proc, slow_canvas: dict) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    # the first connection is cut after ~2 KB of the stream, the resume after ~1 KB more
    with (
        FaultyProxy(port, Plan(cut_after_bytes=[2000, 1200])) as proxy,
        Flowise(proxy.url) as client,
    ):
        stream = client.create_prediction(
            PredictionData(canvasId=slow_canvas["id"], question="q", streaming=True)
        )
        events = list(stream.events())
        assert proxy.connections >= 3
    assert stream.state.resumes == 2
    ids = [e.id for e in events]
    assert ids == list(range(1, len(ids) + 1))  # every event exactly once, in order
    assert "".join(e.text for e in events) == WORDS30
    assert events[-1].event == "end"


def test_without_resume_a_drop_is_a_stream_error(server: Proc, slow_canvas: dict) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with (
        FaultyProxy(port, Plan(cut_after_bytes=[1500])) as proxy,
        Flowise(proxy.url, resume=False) as client,
    ):
        with pytest.raises(StreamError):
            list(
                client.create_prediction(
                    PredictionData(canvasId=slow_canvas["id"], question="q", streaming=True)
                )
            )


def test_429_with_retry_after_is_retried(server: Proc, slow_canvas: dict) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with FaultyProxy(port, Plan(too_many=1, retry_after="1")) as proxy, Flowise(proxy.url) as c:
        t0 = time.monotonic()
        events = list(
            c.create_prediction(
                PredictionData(canvasId=slow_canvas["id"], question="q", streaming=True)
            )
        )
        assert time.monotonic() - t0 >= 1.0  # waited as told
        assert tokens(events) == WORDS30
    with (
        FaultyProxy(port, Plan(too_many=5, retry_after="0")) as proxy,
        Flowise(proxy.url, retry=Retry(attempts=2)) as c,
    ):
        with pytest.raises(RateLimited) as exc:
            c.create_prediction(PredictionData(canvasId=slow_canvas["id"], question="q"))
        assert exc.value.retry_after == 0


def test_survives_a_server_restart(upstream: str, tmp_path: Path) -> None:
    proc = canvasflow_server(tmp_path / "data", upstream)
    proc.start()
    canvas = make_canvas(proc.url, llm_chain_flow("mock?tokens=5"))
    proc.stop()
    result: dict = {}

    def ask() -> None:
        # a budget of about a minute: a loaded machine takes some seconds to start a server
        with Flowise(proc.url, retry=Retry(attempts=120, base=0.2, cap=0.5)) as client:
            result["events"] = list(
                client.create_prediction(
                    PredictionData(canvasId=canvas["id"], question="q", streaming=True)
                )
            )

    t = threading.Thread(target=ask)
    t.start()
    time.sleep(1.0)  # the client is retrying against a closed port
    proc.start()
    t.join(90)
    proc.stop()
    assert tokens(result["events"]) == "word0 word1 word2 word3 word4"


def test_async_twin(server: Proc, slow_canvas: dict) -> None:
    async def go() -> None:
        async with AsyncFlowise(server.url) as client:
            answer = await client.create_prediction(
                PredictionData(canvasId=slow_canvas["id"], question="q")
            )
            assert answer["text"] == WORDS30
            stream = await client.create_prediction(
                PredictionData(canvasId=slow_canvas["id"], question="q", streaming=True)
            )
            events = [e async for e in stream]
            assert tokens(events) == WORDS30 and events[-1]["event"] == "end"
            with pytest.raises(CanvasNotFound):
                await client.create_prediction(PredictionData(canvasId="nope", question="q"))
            port = int(server.url.rsplit(":", 1)[1])
            with FaultyProxy(port, Plan(cut_after_bytes=[1800])) as proxy:
                async with AsyncFlowise(proxy.url) as c2:
                    s2 = await c2.create_prediction(
                        PredictionData(canvasId=slow_canvas["id"], question="q", streaming=True)
                    )
                    typed = [e async for e in s2.events()]
            assert [e.id for e in typed] == list(range(1, len(typed) + 1))
            assert "".join(e.text for e in typed) == WORDS30

    asyncio.run(go())


def test_write_stream(server: Proc, slow_canvas: dict, tmp_path: Path) -> None:
    with Flowise(server.url) as client:
        path = tmp_path / "out.txt"
        text = write_stream(
            client.create_prediction(
                PredictionData(canvasId=slow_canvas["id"], question="q", streaming=True)
            ),
            path,
        )
        assert text == WORDS30 and path.read_text() == WORDS30

        class Counting(io.StringIO):
            flushes = 0

            def flush(self) -> None:
                Counting.flushes += 1
                super().flush()

        buf = Counting()
        write_stream(
            client.create_prediction(
                PredictionData(canvasId=slow_canvas["id"], question="q", streaming=True)
            ),
            buf,
        )
        assert buf.getvalue() == WORDS30 and Counting.flushes == 30


def test_a_heartbeat_between_events_is_no_event() -> None:
    """The server's heartbeat (``: ping`` and a blank line) after an event with an id:
    httpx-sse hands that blank line over as an empty event; the SDK skips it (the SSE
    specification dispatches no event without data). It once failed a stream on a
    loaded machine, where heartbeats come between tokens."""
    import httpx

    body = (
        b'id: 1\ndata: {"event":"start","data":"x"}\n\n'
        b": ping\n\n"
        b'id: 2\ndata: {"event":"token","data":"hello"}\n\n'
        b": ping\n\n"
        b'id: 3\ndata: {"event":"end","data":"[DONE]"}\n\n'
    )

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    with Flowise("http://canvasflow.test", http_client=http) as client:
        events = list(
            client.create_prediction(PredictionData(canvasId="c", question="q", streaming=True))
        )
    assert [e["event"] for e in events] == ["start", "token", "end"]
