"""The ceiling: the least a relay can do on the same stack (Starlette on uvicorn with
uvloop and httptools, one shared pooled HTTP client). It relays the mock upstream's
tokens in canvasflow's wire format, with no engine, no database and no other encoding.

Its upstream client is httpx (``--client httpx``, the reference issue 17's targets are
stated against) or aiohttp (``--client aiohttp``, what canvasflow's model calls use
since; ``python -m bench.relays`` measures the two side by side).

Its pool keeps an idle connection as long as canvasflow's does (``KEEPALIVE_SECONDS``,
4 s), not the client's default (aiohttp 15 s): with a burst about every 10 s, the
ceiling kept its 500 connections from one burst to the next while canvasflow opened
500 new ones, and that alone was most of the difference (BENCHMARKS.md, "Bursts,
eighth pass")."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from canvasflow.models.upstream import KEEPALIVE_SECONDS

UPSTREAM = ""
CLIENT = "httpx"
KEEPALIVE = KEEPALIVE_SECONDS  # seconds an idle upstream connection is kept
_http: Any = None


def http() -> Any:
    global _http
    if _http is None:
        if CLIENT == "aiohttp":
            _http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE),
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=600),
            )
        else:
            _http = httpx.AsyncClient(
                timeout=httpx.Timeout(600, connect=10),
                limits=httpx.Limits(
                    max_connections=None,
                    max_keepalive_connections=10_000,
                    keepalive_expiry=KEEPALIVE,
                ),
            )
    return _http


async def answer(upstream_body: bytes) -> str:
    if CLIENT == "aiohttp":
        async with http().post(UPSTREAM, data=upstream_body) as r:
            return orjson.loads(await r.read())["choices"][0]["message"]["content"]  # type: ignore[no-any-return]
    r = await http().post(UPSTREAM, content=upstream_body)
    return r.json()["choices"][0]["message"]["content"]  # type: ignore[no-any-return]


def token_frame(n: int, tok: str) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (n, orjson.dumps({"event": "token", "data": tok, "text": tok}))


async def relay(request: Request) -> Response:
    body = orjson.loads(await request.body())
    upstream_body = orjson.dumps(
        {
            "model": body.get("model", "bench"),
            "messages": [{"role": "user", "content": body.get("question", "")}],
            "stream": bool(body.get("streaming")),
        }
    )
    if not body.get("streaming"):
        text = await answer(upstream_body)
        return Response(orjson.dumps({"text": text}), media_type="application/json")

    async def frames() -> AsyncIterator[bytes]:
        n = 1
        yield b'id: 1\ndata: {"event":"start","data":{}}\n\n'
        aio = CLIENT == "aiohttp"
        async with (
            http().post(UPSTREAM, data=upstream_body)
            if aio
            else http().stream("POST", UPSTREAM, content=upstream_body)
        ) as r:
            prefix = b"data: {" if aio else "data: {"  # httpx: lines as str, as always
            async for line in r.content if aio else r.aiter_lines():
                if line.startswith(prefix):
                    choices = orjson.loads(line[6:])["choices"]
                    if choices:
                        tok = choices[0]["delta"].get("content")
                        if tok:
                            n += 1
                            yield token_frame(n, tok)
        yield b'id: %d\ndata: {"event":"end","data":"[DONE]"}\n\ndata: [DONE]\n\n' % (n + 1)

    return StreamingResponse(frames(), media_type="text/event-stream; charset=utf-8")


app = Starlette(routes=[Route("/relay", relay, methods=["POST"])])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--client", choices=["httpx", "aiohttp"], default="httpx")
    parser.add_argument(
        "--keepalive",
        type=float,
        default=KEEPALIVE_SECONDS,
        help="seconds an idle upstream connection is kept (default: canvasflow's)",
    )
    args = parser.parse_args()
    UPSTREAM = args.upstream.rstrip("/") + "/chat/completions"
    CLIENT = args.client
    KEEPALIVE = args.keepalive
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        backlog=8192,
    )
