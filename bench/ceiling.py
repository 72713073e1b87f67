"""The ceiling: the least a relay can do on the same stack (Starlette on uvicorn with
uvloop and httptools, one shared pooled httpx client). It relays the mock upstream's
tokens in canvasflow's wire format, with no engine, no database and no other encoding."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = ""
client: httpx.AsyncClient | None = None


def http() -> httpx.AsyncClient:
    global client
    if client is None:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(600, connect=10),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=10_000),
        )
    return client


async def relay(request: Request) -> Response:
    body = orjson.loads(await request.body())
    upstream_body = {
        "model": body.get("model", "bench"),
        "messages": [{"role": "user", "content": body.get("question", "")}],
        "stream": bool(body.get("streaming")),
    }
    if not body.get("streaming"):
        r = await http().post(UPSTREAM, content=orjson.dumps(upstream_body))
        text = r.json()["choices"][0]["message"]["content"]
        return Response(orjson.dumps({"text": text}), media_type="application/json")

    async def frames() -> AsyncIterator[bytes]:
        n = 1
        yield b'id: 1\ndata: {"event":"start","data":{}}\n\n'
        async with http().stream("POST", UPSTREAM, content=orjson.dumps(upstream_body)) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: {"):
                    choices = orjson.loads(line[6:])["choices"]
                    if choices:
                        tok = choices[0]["delta"].get("content")
                        if tok:
                            n += 1
                            yield b"id: %d\ndata: %s\n\n" % (
                                n,
                                orjson.dumps({"event": "token", "data": tok, "text": tok}),
                            )
        yield b'id: %d\ndata: {"event":"end","data":"[DONE]"}\n\ndata: [DONE]\n\n' % (n + 1)

    return StreamingResponse(frames(), media_type="text/event-stream; charset=utf-8")


app = Starlette(routes=[Route("/relay", relay, methods=["POST"])])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    UPSTREAM = args.upstream.rstrip("/") + "/chat/completions"
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        backlog=8192,
    )
