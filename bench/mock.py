"""A fast mock OpenAI-compatible upstream for benchmarks: a bare asyncio protocol
(HTTP/1.1, keep-alive, chunked), so that the mock costs as little CPU as possible and
the figures are about what sits between it and the client.

The model name carries the behaviour: ``bench?tokens=50&delay=0.02``. Streams with the
same delay share one timer: every tick writes the next token of each of them."""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import parse_qs

import orjson

HEADERS_STREAM = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_TOKEN_CACHE: dict[int, bytes] = {}


def token_chunk(i: int) -> bytes:
    frame = _TOKEN_CACHE.get(i)
    if frame is None:
        text = f"tok{i}" if i == 0 else f" tok{i}"
        payload = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }
        frame = _TOKEN_CACHE[i] = _chunked(b"data: " + orjson.dumps(payload) + b"\n\n")
    return frame


def final_chunks(n: int) -> bytes:
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench",
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
    }
    return (
        _chunked(b"data: " + orjson.dumps(usage) + b"\n\n")
        + _chunked(b"data: [DONE]\n\n")
        + b"0\r\n\r\n"
    )


def json_answer(n: int) -> bytes:
    body = orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(f"tok{i}" if i == 0 else f" tok{i}" for i in range(n)),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
        }
    )
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


class Stream:
    __slots__ = ("i", "n", "proto")

    def __init__(self, proto: MockProtocol, n: int) -> None:
        self.proto = proto
        self.n = n
        self.i = 0


class Ticker:
    """All streams of one delay, advanced together."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.streams: list[Stream] = []
        self.running = False

    def add(self, stream: Stream) -> None:
        self.streams.append(stream)
        if not self.running:
            self.running = True
            asyncio.get_running_loop().call_later(self.delay, self.tick)

    def tick(self) -> None:
        alive = []
        for s in self.streams:
            if s.proto.closed:
                continue
            s.proto.transport.write(token_chunk(s.i))
            s.i += 1
            if s.i >= s.n:
                s.proto.transport.write(final_chunks(s.n))
                s.proto.done()
            else:
                alive.append(s)
        self.streams = alive
        if alive:
            asyncio.get_running_loop().call_later(self.delay, self.tick)
        else:
            self.running = False


TICKERS: dict[float, Ticker] = {}
STATS = {"requests": 0, "started": time.time()}


class MockProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.closed = False
        self.busy = False
        self.close_after = False

    def done(self) -> None:
        """One response written: close if asked to, else serve the next request."""
        self.busy = False
        if self.close_after:
            self.transport.close()  # type: ignore[attr-defined]
        else:
            self.serve_next()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.serve_next()

    def serve_next(self) -> None:
        if self.busy or self.closed:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        length = 0
        self.close_after = False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                self.close_after = True
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        self.handle(head[0], body)

    def handle(self, request_line: str, body: bytes) -> None:
        STATS["requests"] += 1
        if not request_line.startswith("POST"):
            payload = orjson.dumps(STATS)
            self.transport.write(  # type: ignore[attr-defined]
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(payload), payload)
            )
            self.done()
            return
        req = orjson.loads(body)
        _, _, query = str(req.get("model", "")).partition("?")
        params = {k: float(v[0]) for k, v in parse_qs(query).items()}
        n = int(params.get("tokens", 50))
        delay = params.get("delay", 0.0)
        if not req.get("stream"):
            self.transport.write(json_answer(n))  # type: ignore[attr-defined]
            self.done()
            return
        self.busy = True
        self.transport.write(HEADERS_STREAM + token_chunk(0))  # type: ignore[attr-defined]
        if delay <= 0 or n <= 1:
            self.transport.write(  # type: ignore[attr-defined]
                b"".join(token_chunk(i) for i in range(1, n)) + final_chunks(n)
            )
            self.done()
            return
        ticker = TICKERS.get(delay)
        if ticker is None:
            ticker = TICKERS[delay] = Ticker(delay)
        stream = Stream(self, n)
        stream.i = 1
        ticker.add(stream)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockProtocol, host, port, backlog=8192)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve("127.0.0.1", args.port))
