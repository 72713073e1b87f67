"""The model calls' HTTP transport (canvasflow.models.upstream): the event-stream
reader in-process, and the OpenAI-compatible model against a small real HTTP server
that misbehaves in the ways model servers do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from canvasflow.errors import UpstreamError, UpstreamUnreachable
from canvasflow.models.base import Usage
from canvasflow.models.openai_compat import OpenAIChatModel, client_for, close_clients
from canvasflow.models.upstream import MAX_LINE_BYTES, EventData


async def _events(*parts: bytes) -> list[bytes]:
    events = EventData()  # fed the body's chunks as a model call's loop feeds them
    return [data for part in parts for data in events.feed(part)]


async def test_event_stream_data_as_the_whatwg_rules_read_it() -> None:
    # split anywhere, CRLF or LF, comments and other fields skipped
    stream = b': hello\r\nevent: x\r\nid: 3\r\ndata: {"a":1}\r\n\r\ndata:two\ndata:  lines\n\n'
    for cut in range(len(stream) + 1):
        assert await _events(stream[:cut], stream[cut:]) == [b'{"a":1}', b"two\n lines"]
    # a bare "data" line is an empty line of data; blank lines alone dispatch nothing
    assert await _events(b"\n\ndata\ndata: x\n\n") == [b"\nx"]
    # an event the stream's end cuts off is dropped
    assert await _events(b"data: whole\n\ndata: cut") == [b"whole"]
    # a line without end is refused past the limit, not buffered for ever
    with pytest.raises(ValueError, match="longer than"):
        await _events(b"data: " + b"x" * (MAX_LINE_BYTES + 1))


Upstream = tuple[str, list[str], list[object]]


def _completion(text: str) -> bytes:
    return orjson.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
    )


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[str], list[object]]]:
    """A model server answering by the model name it is asked for; the names it was
    asked for and the client address of each call, in order."""
    asked: list[str] = []
    peers: list[object] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = body["model"]
        asked.append(model)
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        if model == "json-anyway":  # ignores "stream": true
            return web.Response(body=_completion("all at once"), content_type="application/json")
        if model == "html":
            return web.Response(text="<h1>proxy login</h1>", content_type="text/html")
        if model == "busy-once" and asked.count(model) == 1:
            return web.Response(
                status=503, body=b'{"error":{"message":"busy"}}', headers={"Retry-After": "0"}
            )
        if model == "refused":
            return web.Response(status=400, body=b'{"error":{"message":"bad model name"}}')
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in ("one ", "two"):
            chunk = {"choices": [{"delta": {"content": piece}}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n")
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1", asked, peers
    finally:
        await close_clients()
        await runner.cleanup()


async def _answer(base_url: str, model: str, streaming: bool = True) -> tuple[str, Usage]:
    usage = Usage()
    llm = OpenAIChatModel(client_for(base_url, "k", 5.0, 1), model, {}, streaming=streaming)
    pieces = [p async for p in llm.stream([{"role": "user", "content": "q"}], usage)]
    return "".join(pieces), usage


async def test_streamed_and_json_answers(upstream: Upstream) -> None:
    url, _, peers = upstream
    assert (await _answer(url, "stream"))[0] == "one two"
    # a server that ignores "stream" is read as one answer, its usage counted
    text, usage = await _answer(url, "json-anyway")
    assert text == "all at once" and usage.total_tokens == 5
    # a streamed answer read to its [DONE] leaves its connection for the next call
    assert (await _answer(url, "stream"))[0] == "one two"
    assert peers[0] == peers[1] == peers[2]


async def test_upstream_errors_are_typed(upstream: Upstream) -> None:
    url, asked, _ = upstream
    # 503 with Retry-After before the answer starts: retried
    assert (await _answer(url, "busy-once"))[0] == "one two"
    assert asked.count("busy-once") == 2
    with pytest.raises(UpstreamError) as refused:
        await _answer(url, "refused")
    assert refused.value.upstream_status == 400 and "bad model name" in refused.value.message
    assert asked.count("refused") == 1  # a 400 is not retried
    with pytest.raises(UpstreamError, match="text/html, not an event stream"):
        await _answer(url, "html")


async def test_an_unreachable_upstream(upstream: Upstream) -> None:
    with socket_closed() as port:
        with pytest.raises(UpstreamUnreachable):
            await asyncio.wait_for(_answer(f"http://127.0.0.1:{port}/v1", "x"), 30)


class socket_closed:
    """A local port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *_: object) -> None:
        return None
