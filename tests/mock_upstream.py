"""A mock OpenAI-compatible upstream, served over real HTTP by the tests.

The model name carries the behaviour as a query string, e.g.
``mock?tokens=20&delay=0.01&fail_after=5&first_byte=2&status=500``:

- ``tokens``: how many tokens (``word0``, `` word1``...), default 10
- ``delay``: seconds between tokens; ``first_byte``: seconds before the response starts
- ``fail_after``: drop the connection after that many tokens
- ``status``: answer with this HTTP error status instead
- ``pad``: make every token that many characters longer
- ``fox=1``: the 50 words of the reference Flowise transcripts (``fox=12``: the first 12,
  as in the agentflow transcripts)
A last user message starting with ``echo:`` streams the rest of it, word by word.
Prompted as a ReAct agent, it follows the format (``tool: NAME ARGS`` or ``calc: EXPR``
in the question asks for a tool); asked for a SQL query, it writes the one after
``sql:`` in the question (for JavaScript, the code after ``js:``), and answers ``The
answer is`` the query's (the code's) result.
The services other nodes call are mocked in ``tests/mock_services.py``.
Asked for JSON matching a schema (canvasflow's structured-output instruction), it answers
an example of that schema (the first value of each enum).

``GET /stats`` counts streams started, completed and closed early by the client;
``GET /requests`` returns the last request bodies.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import zlib
from collections import deque
from typing import Any
from urllib.parse import parse_qs

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests import mock_services

STATS = {"started": 0, "completed": 0, "closed_early": 0, "active": 0}
REQUESTS: deque[dict[str, Any]] = deque(maxlen=100)


def behaviour(model: str) -> dict[str, float]:
    _, _, query = model.partition("?")
    return {k: float(v[0]) for k, v in parse_qs(query).items()}


FOX = (
    "The quick brown fox jumps over the lazy dog and then rests under a tall green tree "
    "near river bank"
).split(" ")


SCHEMA_MARK = "matches this JSON schema, and nothing else: "


def example_of(schema: dict[str, Any]) -> Any:
    """A value of a JSON schema: the first of an enum, ``mock`` for a string..."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: example_of(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example_of(schema.get("items") or {"type": "string"})]
    return {"number": 1, "integer": 1, "boolean": True}.get(str(kind), "mock")


REACT_MARK = "Final Answer: the final answer to the original input question"


def words_of(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def react_tokens(content: str, count: int) -> list[str]:
    """A ReAct turn: ``tool: NAME ARGS`` (or ``calc: EXPR``) in the question asks for a
    tool; after an observation, the final answer is ``The answer is`` its first line."""
    if "Observation:" in content:
        seen = content.rsplit("Observation:", 1)[1].strip().split("\n")[0]
        return words_of(f"Thought: I now know the final answer\nFinal Answer: The answer is {seen}")
    if "calc:" in content:
        expr = content.split("calc:", 1)[1].split("\n")[0].strip()
        return words_of(f"Thought: I should calculate\nAction: calculator\nAction Input: {expr}")
    if "tool:" in content:
        name, _, args = content.split("tool:", 1)[1].split("\n")[0].strip().partition(" ")
        return words_of(f"Thought: I need {name}\nAction: {name}\nAction Input: {args or '{}'}")
    answer = "".join(f"word{i}" if i == 0 else f" word{i}" for i in range(count))
    return words_of(f"Thought: I can answer that\nFinal Answer: {answer}")


def tokens_for(body: dict[str, Any], count: int, fox: int = 0) -> list[str]:
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    raw = last.get("content", "") if last else ""
    if isinstance(raw, list):  # content blocks (Anthropic, vision messages)
        raw = " ".join(str(p.get("text", "")) for p in raw if isinstance(p, dict))
    content = str(raw)
    if any(REACT_MARK in str(m.get("content", "")) for m in messages):
        return react_tokens(content, count)
    if content.rstrip().endswith("SQLQuery:"):  # the SQL chain asks for a query
        asked = content.rsplit("Question:", 1)[-1]
        sql = asked.split("sql:", 1)[1].split("\n")[0].strip() if "sql:" in asked else "SELECT 1"
        return words_of(sql)
    if content.rstrip().endswith("> Relevant (YES / NO):"):  # an LLM filter's question
        asked = content.split("> Question:", 1)[1].split("\n")[0]
        context = content.split(">>>", 1)[1].rsplit(">>>", 1)[0]
        shared = mock_services._words(asked) & mock_services._words(context)
        return ["YES" if shared else "NO"]
    if content.rstrip().endswith(("API url:", "API request (JSON):")):  # an API chain
        asked = content.rsplit("Question:", 1)[-1]
        return [asked.split("api:", 1)[1].split("\n")[0].strip() if "api:" in asked else ""]
    if "Here is the response from the API:" in content and content.rstrip().endswith("Summary:"):
        response = content.split("Here is the response from the API:", 1)[1].strip()
        return words_of(f"The answer is {response.splitlines()[0]}")
    if content.rstrip().endswith("JavaScript:"):  # the CSV agent asks for code
        asked = content.rsplit("Question:", 1)[-1]
        code = asked.split("js:", 1)[1].split("\n")[0].strip() if "js:" in asked else "return 0"
        return [code]
    if "\nIts result: " in content:  # ... and answers from what the code returned
        result = content.rsplit("Its result: ", 1)[1].split("\n")[0].strip()
        return words_of(f"The answer is {result}")
    if "\nSQLResult:" in content and content.rstrip().endswith("Answer:"):
        result = content.rsplit("SQLResult:", 1)[1].split("\nAnswer:")[0].strip()
        return words_of(f"The answer is {result}")
    if content.startswith("echo:"):
        words = content[len("echo:") :].strip().split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]
    for m in messages:
        text = str(m.get("content", ""))
        if SCHEMA_MARK in text:
            schema = orjson.loads(text.split(SCHEMA_MARK, 1)[1])
            return [orjson.dumps(example_of(schema)).decode()]
    if fox:  # the 50 words the reference Flowise transcripts were recorded with
        words = (FOX * 3)[: 50 if fox == 1 else fox]
        return [w if i == 0 else " " + w for i, w in enumerate(words)]
    return [f"word{i}" if i == 0 else f" word{i}" for i in range(count)]


def chunk(model: str, content: str | None, usage: dict[str, int] | None = None) -> bytes:
    payload: dict[str, Any] = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": []
        if content is None
        else [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    if usage is not None:
        payload["usage"] = usage
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def completions(request: Request) -> Response:
    body = orjson.loads(await request.body())
    REQUESTS.append(
        {
            **body,
            "_auth": request.headers.get("authorization"),
            "_api_key": request.headers.get("api-key"),
        }
    )
    model = str(body.get("model", "mock"))
    b = behaviour(model)
    if b.get("notopenai"):  # a 200 in another shape (a misconfigured proxy, a login page)
        if body.get("stream"):
            return Response(
                b'data: {"result": "hello"}\n\ndata: [DONE]\n\n', media_type="text/event-stream"
            )
        return Response(b'{"result": "hello"}', media_type="application/json")
    if b.get("first_byte"):
        await asyncio.sleep(b["first_byte"])
    if b.get("status"):
        code = int(b["status"])
        return JSONResponse({"error": {"message": f"mock failure {code}"}}, status_code=code)
    if body.get("tools") and body.get("stream"):
        scripted = tool_turn(body, model)
        if scripted is not None:
            return scripted
    toks = tokens_for(body, int(b.get("tokens", 10)), int(b.get("fox", 0)))
    if b.get("pad"):
        toks = [t + "x" * int(b["pad"]) for t in toks]
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(toks),
        "total_tokens": prompt_tokens + len(toks),
    }
    if not body.get("stream"):
        return JSONResponse(
            {
                "id": "chatcmpl-mock",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(toks)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )
    delay = b.get("delay", 0.0)
    fail_after = int(b["fail_after"]) if "fail_after" in b else None
    hang_after = int(b["hang_after"]) if "hang_after" in b else None

    async def gen() -> Any:
        STATS["started"] += 1
        STATS["active"] += 1
        finished = False
        try:
            for i, tok in enumerate(toks):
                if fail_after is not None and i == fail_after:
                    finished = True
                    raise RuntimeError("mock upstream drops the connection")
                if hang_after is not None and i == hang_after:
                    await asyncio.sleep(3600)  # a model that stops sending, connection open
                if delay and i:
                    await asyncio.sleep(delay)
                yield chunk(model, tok)
            yield chunk(model, None, usage)
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            STATS["active"] -= 1
            STATS["completed" if finished else "closed_early"] += 1

    return StreamingResponse(gen(), media_type="text/event-stream")


def embed(text: str, dims: int = 512) -> list[float]:
    """A bag of words hashed into a vector: texts sharing words are close."""
    vec = [0.0] * dims
    for word in text.lower().replace(".", " ").replace("?", " ").split():
        vec[zlib.crc32(word.encode()) % dims] += 1.0
    return vec


async def embeddings(request: Request) -> Response:
    body = orjson.loads(await request.body())
    REQUESTS.append(body)
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": embed(str(t))}
                for i, t in enumerate(inputs)
            ],
            "model": body.get("model", "mock"),
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
    )


def tool_turn(body: dict[str, Any], model: str) -> Response | None:
    """With tools offered: ``calc: EXPR`` in the question asks for the calculator; a
    tool result is answered with ``The answer is RESULT``."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        words = f"The answer is {last.get('content')}".split(" ")
        toks = [w if i == 0 else " " + w for i, w in enumerate(words)]
        return StreamingResponse(
            iter([chunk(model, t) for t in toks] + [b"data: [DONE]\n\n"]),
            media_type="text/event-stream",
        )
    content = str(last.get("content", ""))
    if "calc:" in content:
        name = "calculator"
        args = orjson.dumps({"input": content.split("calc:", 1)[1].strip()}).decode()
    elif "tool:" in content:  # tool: NAME {"json": "arguments"}
        name, _, args = content.split("tool:", 1)[1].strip().partition(" ")
        args = args or "{}"
    else:
        return None

    def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    parts = [
        delta(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ],
            }
        )
    ]
    for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
        parts.append(delta({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    parts += [delta({}, "tool_calls"), b"data: [DONE]\n\n"]
    return StreamingResponse(iter(parts), media_type="text/event-stream")


async def ollama_chat(request: Request) -> Response:
    body = orjson.loads(await request.body())
    REQUESTS.append(body)
    toks = tokens_for(body, int(behaviour(str(body.get("model", ""))).get("tokens", 10)))

    def lines() -> Any:
        for t in toks:
            yield (
                orjson.dumps(
                    {
                        "model": body["model"],
                        "message": {"role": "assistant", "content": t},
                        "done": False,
                    }
                )
                + b"\n"
            )
        yield (
            orjson.dumps(
                {
                    "model": body["model"],
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "prompt_eval_count": 3,
                    "eval_count": len(toks),
                }
            )
            + b"\n"
        )

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def anthropic_messages(request: Request) -> Response:
    body = orjson.loads(await request.body())
    REQUESTS.append({**body, "_headers": dict(request.headers)})
    if request.headers.get("x-api-key") != "anthropic-test-key":
        return JSONResponse(
            {
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            },
            status_code=401,
        )
    toks = tokens_for(body, int(behaviour(str(body.get("model", ""))).get("tokens", 10)))

    def ev(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    if body.get("tools"):  # scripted like the OpenAI-compatible tool turns
        last = (body.get("messages") or [{}])[-1]
        content = last.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        result = next((b for b in blocks if b.get("type") == "tool_result"), None)
        text = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        if result is not None:
            toks = words_of(f"The answer is {result.get('content')}")
        elif "tool:" in text:
            name, _, args = text.split("tool:", 1)[1].strip().partition(" ")
            start = {"type": "message_start", "message": {"usage": {"input_tokens": 4}}}
            use = {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}
            half = len(args or "{}") // 2
            parts = [
                ev("message_start", start),
                ev(
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": use},
                ),
            ]
            for piece in ((args or "{}")[:half], (args or "{}")[half:]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                parts.append(
                    ev(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": 0, "delta": delta},
                    )
                )
            parts.append(
                ev("message_delta", {"type": "message_delta", "usage": {"output_tokens": 3}})
            )
            parts.append(ev("message_stop", {"type": "message_stop"}))
            return StreamingResponse(iter(parts), media_type="text/event-stream")

    def events() -> Any:
        yield ev(
            "message_start",
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": 4, "output_tokens": 1}},
            },
        )
        for t in toks:
            yield ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": t},
                },
            )
        yield ev("message_delta", {"type": "message_delta", "usage": {"output_tokens": len(toks)}})
        yield ev("message_stop", {"type": "message_stop"})

    return StreamingResponse(events(), media_type="text/event-stream")


async def ollama_embed(request: Request) -> Response:
    body = orjson.loads(await request.body())
    REQUESTS.append(body)
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    return JSONResponse({"model": body["model"], "embeddings": [embed(str(t)) for t in inputs]})


async def models(request: Request) -> Response:
    """The model list (OpenAI's and Anthropic's shape): 401 without a key, or with the
    key ``bad-key``, as a provider refuses them."""
    key = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    key = key.removeprefix("Bearer ").strip()
    if not key or key in ("no-key", "bad-key"):
        message = "Incorrect API key provided" if key == "bad-key" else "No API key given"
        return JSONResponse({"error": {"message": message}}, status_code=401)
    return JSONResponse({"object": "list", "data": [{"id": "mock", "object": "model"}]})


async def ollama_tags(request: Request) -> Response:
    return JSONResponse({"models": [{"name": "mock"}]})


async def stats(request: Request) -> Response:
    return JSONResponse(STATS)


async def requests_(request: Request) -> Response:
    return JSONResponse(list(REQUESTS))


app = Starlette(
    routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/api/chat", ollama_chat, methods=["POST"]),
        Route("/api/embed", ollama_embed, methods=["POST"]),
        Route("/openai/deployments/{deployment}/chat/completions", completions, methods=["POST"]),
        Route("/v1/messages", anthropic_messages, methods=["POST"]),
        Route("/v1/models", models),
        Route("/api/tags", ollama_tags),
        Route("/stats", stats),
        Route("/requests", requests_),
        *mock_services.ROUTES,
    ]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
