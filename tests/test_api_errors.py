"""Every error answer: a real status and Flowise's JSON envelope, never a hang."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from canvasflow.config import Settings
from canvasflow.store.repo import Store
from tests.support import Proc, llm_chain_flow, make_canvas, node


def envelope(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["statusCode"] == status
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


@pytest.fixture(scope="module")
def canvas(server: Proc) -> dict:
    return make_canvas(server.url, llm_chain_flow("mock?tokens=2"))


@pytest.mark.parametrize("streaming", [False, True])
def test_bad_requests(server: Proc, client: httpx.Client, canvas: dict, streaming: bool) -> None:
    url = f"/api/v1/prediction/{canvas['id']}"
    s = {"streaming": streaming}
    assert "JSON" in envelope(
        client.post(url, content=b"{nope", headers={"content-type": "application/json"}), 400
    )
    assert "UTF-8" in envelope(
        client.post(
            url, content=b'{"question": "\xff\xfe"}', headers={"content-type": "application/json"}
        ),
        400,
    )
    envelope(client.post(url, json=["question"]), 400)
    assert "question" in envelope(client.post(url, json={"question": 42, **s}), 400)
    assert "overrideConfig" in envelope(
        client.post(url, json={"question": "q", "overrideConfig": "x", **s}), 400
    )
    assert "streaming" in envelope(client.post(url, json={"question": "q", "streaming": [1]}), 400)
    assert "history" in envelope(client.post(url, json={"question": "q", "history": "x", **s}), 400)
    assert "question is required" in envelope(client.post(url, json={"question": " ", **s}), 400)
    envelope(client.post(url, content=b"", headers={"content-type": "application/json"}), 400)
    assert "Content-Type" in envelope(
        client.post(
            url,
            content=b"question=hi",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
    assert "not found" in envelope(
        client.post("/api/v1/prediction/nope", json={"question": "q", **s}), 404
    )


def test_size_limits(server: Proc, client: httpx.Client, canvas: dict) -> None:
    url = f"/api/v1/prediction/{canvas['id']}"
    envelope(client.post(url, json={"question": "x" * 100_001, "streaming": True}), 413)
    big = b'{"question": "q", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    envelope(client.post(url, content=big, headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: the limit applies while reading
        yield b'{"question": "q", "pad": "'
        for _ in range(11):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    envelope(client.post(url, content=chunks(), headers={"content-type": "application/json"}), 413)


def test_canvas_that_cannot_run(server: Proc, client: httpx.Client) -> None:
    """A canvas stored without validation (an older version, a hand edit) gives 422."""
    bad = {"nodes": [node("x_0", "noSuchNode", {})], "edges": []}

    async def insert() -> dict:
        store = Store(Settings(database_url=server.database_url).resolved_database_url())  # type: ignore[attr-defined]
        try:
            c = await store.create_canvas("broken", orjson.dumps(bad).decode())
            return {"id": c.id}
        finally:
            await store.close()

    broken = asyncio.run(insert())
    for streaming in (False, True):
        msg = envelope(
            client.post(
                f"/api/v1/prediction/{broken['id']}", json={"question": "q", "streaming": streaming}
            ),
            422,
        )
        assert "x_0" in msg and "noSuchNode" in msg
    assert client.get(f"/api/v1/chatflows-streaming/{broken['id']}").json() == {
        "isStreaming": False
    }


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    envelope(client.get("/api/v1/nothing-here"), 404)
    envelope(client.get("/api/v1/prediction/x"), 405)
    envelope(client.get("/api/v1/chatmessage/nope"), 404)
    envelope(client.put("/api/v1/chatmessage/abort/nope/chat"), 404)


def test_openapi_describes_the_api(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/prediction/{canvas_id}",
        "/api/v1/canvases",
        "/api/v1/chatflows",
        "/api/v1/chatflows-streaming/{canvas_id}",
        "/api/v1/prediction/{canvas_id}/stream/{chat_message_id}",
        "/api/v1/chatmessage/abort/{canvas_id}/{chat_id}",
        "/api/v1/chatmessage/{canvas_id}",
    ):
        assert path in paths, path
    post = paths["/api/v1/prediction/{canvas_id}"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"question", "streaming", "overrideConfig", "chatId", "history"} <= set(
        body["properties"]
    )
    assert "text/event-stream" in post["responses"]["200"]["content"]
    assert client.get("/docs").status_code == 200
