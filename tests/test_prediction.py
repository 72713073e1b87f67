"""The prediction route against a real server process and a mock upstream over HTTP,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

from tests.conftest import upstream_stats
from tests.support import Proc, conversation_flow, llm_chain_flow, make_canvas, sse_events


@pytest.fixture(scope="session")
def server(backend_server: Proc) -> Proc:
    """These tests touch storage and the bus: they run on every backend."""
    return backend_server


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalise(raw: str) -> str:
    raw = re.sub(r'"timestamp":"[^"]+"', '"timestamp":"TS"', raw)
    raw = re.sub(r'"latency_ms":\d+', '"latency_ms":0', raw)
    return raw


def stream(client: httpx.Client, canvas: str, body: dict) -> tuple[httpx.Response, bytes]:
    with client.stream(
        "POST", f"/api/v1/prediction/{canvas}", json={**body, "streaming": True}
    ) as r:
        return r, r.read()


def test_stream_golden_bytes(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=3"))
    r, raw = stream(client, canvas["id"], {"question": "hi", "chatId": "golden-chat"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-accel-buffering"] == "no"
    text = raw.decode()
    message_id = UUID.search(text.split("chatMessageId", 1)[1]).group(0)  # type: ignore[union-attr]
    cid = canvas["id"]
    expected = (
        'id: 1\ndata: {"event":"start","data":{"timestamp":"TS","chatId":"golden-chat",'
        f'"chatMessageId":"{message_id}","sessionId":"golden-chat","canvasId":"{cid}"}}}}\n\n'
        'id: 2\ndata: {"event":"token","data":"word0","text":"word0"}\n\n'
        'id: 3\ndata: {"event":"token","data":" word1","text":" word1"}\n\n'
        'id: 4\ndata: {"event":"token","data":" word2","text":" word2"}\n\n'
        'id: 5\ndata: {"event":"metadata","data":{"chatId":"golden-chat",'
        f'"chatMessageId":"{message_id}","sessionId":"golden-chat","question":"hi",'
        '"memoryType":null,"model":"mock?tokens=3","tokens_used":4,'
        '"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4},'
        '"latency_ms":0,"status":"completed"}}\n\n'
        'id: 6\ndata: {"event":"end","data":"[DONE]"}\n\n'
        "data: [DONE]\n\n"
    )
    assert normalise(text) == expected


def test_json_answer(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=4"))
    r = client.post(f"/api/v1/prediction/{canvas['slug']}", json={"question": "hello there"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "word0 word1 word2 word3"
    assert body["question"] == "hello there"
    assert body["chatId"] == body["sessionId"]
    assert UUID.fullmatch(body["chatMessageId"])
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    assert body["model"] == "mock?tokens=4"
    assert body["isStreamValid"] is False
    history = client.get(f"/api/v1/chatmessage/{canvas['id']}").json()
    assert [m["role"] for m in history] == ["userMessage", "apiMessage"]
    assert history[1]["content"] == body["text"]
    assert history[1]["status"] == "completed"
    assert history[1]["usage"]["total_tokens"] == 6


def test_streaming_as_string_true_and_session_override(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=2"))
    r, raw = stream(
        client,
        canvas["id"],
        {"question": "q", "streaming": "true", "overrideConfig": {"sessionId": "sess-1"}},
    )
    events = sse_events(raw)
    assert events[0]["data"]["chatId"] == "sess-1"
    assert events[0]["data"]["sessionId"] == "sess-1"
    r = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={
            "question": "q",
            "streaming": "false",
            "chatId": "c1",
            "overrideConfig": {"sessionId": "s1"},
        },
    )
    assert r.json()["chatId"] == "c1" and r.json()["sessionId"] == "s1"


def test_error_mid_stream(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=10&fail_after=3"))
    _r, raw = stream(client, canvas["id"], {"question": "q"})
    events = sse_events(raw)
    kinds = [e["event"] for e in events]
    assert kinds == ["start", "token", "token", "token", "error", "metadata", "end"]
    assert events[4]["data"]["code"].startswith("upstream_")
    assert events[4]["data"]["message"]
    assert events[5]["data"]["status"] == "error"
    assert raw.endswith(b"data: [DONE]\n\n")
    history = client.get(f"/api/v1/chatmessage/{canvas['id']}").json()
    assert history[-1]["status"] == "error"
    assert history[-1]["content"] == "word0 word1 word2"


def test_upstream_error_status(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?status=500"))
    r, raw = stream(client, canvas["id"], {"question": "q"})
    kinds = [e["event"] for e in sse_events(raw)]
    assert kinds == ["start", "error", "metadata", "end"]
    r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    assert r.status_code == 502
    assert r.json()["success"] is False and "500" in r.json()["message"]


def test_heartbeat_while_model_is_slow(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=2&first_byte=2.5"))
    _r, raw = stream(client, canvas["id"], {"question": "q"})
    assert b"\n: ping\n\n" in raw or raw.count(b": ping\n\n") >= 1
    assert [e["event"] for e in sse_events(raw)] == ["start", "token", "token", "metadata", "end"]


def _read_until_tokens(lines, n: int) -> tuple[list[dict], int]:  # type: ignore[no-untyped-def]
    """Read a stream's lines up to the n-th token, leaving the iterator open."""
    events: list[dict] = []
    last_id = 0
    for line in lines:
        if line.startswith("id: "):
            last_id = int(line[4:])
        if line.startswith("data: {"):
            events.append(orjson.loads(line[6:]))
            if sum(e["event"] == "token" for e in events) >= n:
                break
    return events, last_id


def test_abort_stops_generation(server: Proc, client: httpx.Client, upstream: str) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=400&delay=0.02"))
    chat = "abort-" + server.backend  # type: ignore[attr-defined]
    before = upstream_stats(upstream)["closed_early"]
    with client.stream(
        "POST",
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "q", "streaming": True, "chatId": chat},
    ) as r:
        lines = r.iter_lines()
        _events, _ = _read_until_tokens(lines, 3)
        t0 = time.monotonic()
        a = httpx.put(f"{server.url}/api/v1/chatmessage/abort/{canvas['id']}/{chat}")
        assert a.json() == {"status": 200, "message": "Chat message aborted"}
        rest = sse_events("\n".join(lines).encode())
        elapsed = time.monotonic() - t0
    assert elapsed < 0.5, elapsed
    kinds = [e["event"] for e in rest]
    assert kinds[-2:] == ["metadata", "end"]
    assert rest[-2]["data"]["status"] == "aborted"
    assert "token" not in kinds[-2:]
    deadline = time.monotonic() + 2
    while upstream_stats(upstream)["closed_early"] == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream_stats(upstream)["closed_early"] > before  # upstream stream closed
    history = client.get(f"/api/v1/chatmessage/{canvas['id']}", params={"chatId": chat}).json()
    assert history[-1]["status"] == "aborted"
    assert history[-1]["content"].startswith("word0 word1 word2")
    assert len(history[-1]["content"].split()) < 400
    # the alias route answers 404 now that nothing runs
    assert client.put(f"/api/v1/canvas-messages/abort/{canvas['id']}/{chat}").status_code == 404


def test_disconnect_stops_generation(server: Proc, client: httpx.Client, upstream: str) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=400&delay=0.02"))
    chat = "disconnect-" + server.backend  # type: ignore[attr-defined]
    before = upstream_stats(upstream)["closed_early"]
    with (
        httpx.Client(base_url=server.url) as c2,
        c2.stream(
            "POST",
            f"/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True, "chatId": chat},
        ) as r,
    ):
        _read_until_tokens(r.iter_lines(), 3)
    t0 = time.monotonic()
    while upstream_stats(upstream)["closed_early"] == before and time.monotonic() - t0 < 3:
        time.sleep(0.02)
    assert time.monotonic() - t0 < 0.5
    deadline = time.monotonic() + 3
    history: list = []
    while time.monotonic() < deadline:
        history = client.get(f"/api/v1/chatmessage/{canvas['id']}", params={"chatId": chat}).json()
        if history:
            break
        time.sleep(0.05)
    assert history[-1]["status"] == "aborted"


def test_resume_after_drop_gets_every_event_once(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=30&delay=0.02"))
    with (
        httpx.Client(base_url=server.url) as c2,
        c2.stream(
            "POST",
            f"/api/v1/prediction/{canvas['id']}",
            json={
                "question": "q",
                "streaming": True,
                "overrideConfig": {"continueOnDisconnect": True},
            },
        ) as r,
    ):
        first, last_id = _read_until_tokens(r.iter_lines(), 5)
    message_id = first[0]["data"]["chatMessageId"]
    with client.stream(
        "GET",
        f"/api/v1/prediction/{canvas['id']}/stream/{message_id}",
        headers={"Last-Event-ID": str(last_id)},
    ) as r2:
        assert r2.status_code == 200
        raw = r2.read()
    ids = [int(line[4:]) for line in raw.decode().split("\n") if line.startswith("id: ")]
    assert ids == list(range(last_id + 1, last_id + 1 + len(ids)))
    rest = sse_events(raw)
    tokens = [e["data"] for e in first + rest if e["event"] == "token"]
    assert "".join(tokens) == " ".join(f"word{i}" for i in range(30))
    assert rest[-1]["event"] == "end" and rest[-2]["data"]["status"] == "completed"
    # a finished stream can be replayed whole, by query parameter too
    r3 = client.get(f"/api/v1/prediction/{canvas['id']}/stream/{message_id}?lastEventId=0")
    assert next(e["event"] for e in sse_events(r3.content)) == "start"
    assert len(sse_events(r3.content)) == len(first) + len(rest)


def test_resume_errors(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=2"))
    r = client.get(f"/api/v1/prediction/{canvas['id']}/stream/nope")
    assert r.status_code == 404 and r.json()["success"] is False
    r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    mid = r.json()["chatMessageId"]
    r = client.get(
        f"/api/v1/prediction/{canvas['id']}/stream/{mid}", headers={"Last-Event-ID": "abc"}
    )
    assert r.status_code == 400


def test_concurrent_streams_do_not_mix(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=20&delay=0.005"))

    def one(i: int) -> str:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = c.post(
                f"/api/v1/prediction/{canvas['id']}",
                json={"question": f"echo: q{i} a b c", "streaming": True},
            )
            return "".join(e["data"] for e in sse_events(r.content) if e["event"] == "token")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))  # a worker's exception fails the test
    assert answers == [f"q{i} a b c" for i in range(8)]


@pytest.mark.parametrize(
    ("memory", "inputs", "expected_history"),
    [("bufferMemory", {}, 4), ("bufferWindowMemory", {"k": 1}, 2)],
)
def test_conversation_memory(
    server: Proc,
    client: httpx.Client,
    upstream: str,
    memory: str,
    inputs: dict,
    expected_history: int,
) -> None:
    canvas = make_canvas(server.url, conversation_flow("mock?tokens=2", memory, inputs))
    chat = f"mem-{memory}-{server.backend}"  # type: ignore[attr-defined]
    for q in ("first", "second", "third"):
        r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": q, "chatId": chat})
        assert r.status_code == 200, r.text
    assert r.json()["memoryType"] == (
        "Buffer Memory" if memory == "bufferMemory" else "Buffer Window Memory"
    )
    sent = httpx.get(upstream + "/requests").json()[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "You are a test."}
    assert sent[-1] == {"role": "user", "content": "third"}
    history = sent[1:-1]
    assert len(history) == expected_history
    assert history[-2:] == [
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "word0 word1"},
    ]


def test_history_in_body_is_used(server: Proc, client: httpx.Client, upstream: str) -> None:
    canvas = make_canvas(server.url, conversation_flow("mock?tokens=1"))
    r = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={
            "question": "and now?",
            "history": [
                {"role": "userMessage", "content": "earlier q"},
                {"type": "apiMessage", "message": "earlier a"},
            ],
        },
    )
    assert r.status_code == 200
    sent = httpx.get(upstream + "/requests").json()[-1]["messages"]
    assert sent[1:] == [
        {"role": "user", "content": "earlier q"},
        {"role": "assistant", "content": "earlier a"},
        {"role": "user", "content": "and now?"},
    ]


def test_override_config(server: Proc, client: httpx.Client, upstream: str) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=1", temperature=0.5))
    client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "q", "overrideConfig": {"temperature": 0.1, "basepath": "http://evil"}},
    )
    sent = httpx.get(upstream + "/requests").json()[-1]
    assert sent["temperature"] == 0.1  # allowed override applied; basepath was not
    client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    assert httpx.get(upstream + "/requests").json()[-1]["temperature"] == 0.5


def test_non_streaming_model_answers_as_one_token(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=3", streaming=False))
    assert client.get(f"/api/v1/chatflows-streaming/{canvas['id']}").json() == {
        "isStreaming": False
    }
    _r, raw = stream(client, canvas["id"], {"question": "q"})
    tokens = [e["data"] for e in sse_events(raw) if e["event"] == "token"]
    assert tokens == ["word0 word1 word2"]


def test_a_failing_model_marks_its_own_node_failed(server: Proc, client: httpx.Client) -> None:
    """The model node whose call failed is reported failed (not only the chain that
    called it), and the error names it by its label on the canvas and the host."""
    canvas = make_canvas(server.url, llm_chain_flow("mock?status=500"))
    body = {"question": "q", "overrideConfig": {"returnNodeEvents": True}}
    _r, raw = stream(client, canvas["id"], body)
    events = sse_events(raw)
    last = {}
    for e in events:
        if e["event"] == "node":
            last[e["data"]["nodeId"]] = e["data"]["status"]
    assert last == {
        "chatOpenAICustom_0": "error",
        "promptTemplate_0": "done",
        "llmChain_0": "error",
    }
    error = next(e["data"] for e in events if e["event"] == "error")
    assert error["nodeId"] == "chatOpenAICustom_0"
    assert error["message"].startswith("upstream model answered 500")
    assert error["message"].endswith("(ChatOpenAI Custom, calling an internal address)")


def test_a_deep_check_asks_each_model_with_the_key_it_would_use(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    """``validate?deep=1`` builds each model node as a run would and asks its provider
    for its model list (no tokens): a node that is refused or cannot be reached gets a
    problem naming its label, the host and the cause; without ``deep``, no call."""
    good = make_canvas(server.url, llm_chain_flow("mock"))
    r = client.get(f"/api/v1/canvases/{good['id']}/validate", params={"deep": 1})
    assert r.status_code == 200 and r.json() == {"valid": True, "problems": []}
    # its own base URL: the server's key does not go there, and the provider refuses
    elsewhere = upstream.replace("127.0.0.1", "localhost") + "/v1"  # not the server's URL
    keyless = make_canvas(server.url, llm_chain_flow("mock", basepath=elsewhere))
    r = client.get(f"/api/v1/canvases/{keyless['id']}/validate")
    assert r.json()["valid"] is True  # not asked: nothing known to be wrong
    r = client.get(f"/api/v1/canvases/{keyless['id']}/validate", params={"deep": "true"})
    body = r.json()
    assert body["valid"] is False
    [problem] = body["problems"]
    assert problem["nodeId"] == "chatOpenAICustom_0" and problem["input"] == "credential"
    assert problem["message"].startswith("upstream model answered 401: No API key given")
    assert (
        "(ChatOpenAI Custom, calling an internal address: no key was given (set "
        in (problem["message"])
    )
    # a draft, with a model nobody answers for
    gone = llm_chain_flow("mock", basepath="http://127.0.0.1:9/v1")
    r = client.post("/api/v1/canvases/validate", params={"deep": 1}, json={"flowData": gone})
    [problem] = r.json()["problems"]
    assert problem["message"].startswith("upstream model unreachable")
    assert problem["nodeId"] == "chatOpenAICustom_0" and problem["level"] == "error"


def test_a_model_node_lists_its_providers_models(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    """Flowise's ``listModels``, asked live: the models the provider lists with the key a
    run would use; refused without one, the error says so in the words on screen."""
    url = "/api/v1/node-load-method/chatOpenAICustom"
    r = client.post(url, json={"loadMethod": "listModels", "inputs": {}})
    assert r.status_code == 200, r.text
    assert [o["name"] for o in r.json()] == ["mock"]
    elsewhere = upstream.replace("127.0.0.1", "localhost") + "/v1"
    body = {"loadMethod": "listModels", "inputs": {"basepath": elsewhere}}
    r = client.post(url, json=body)
    assert r.status_code == 502
    assert "no key was given" in r.json()["message"]
    r = client.post("/api/v1/node-load-method/promptTemplate", json={"loadMethod": "listModels"})
    assert r.status_code == 400


def test_default_models_are_checked_when_saved(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    """The Models page's defaults: each is checked when saved (its provider asked for
    its models with the key it would use), a refusal or an unknown model is a 400 in the
    words on screen; Ollama is found where it answers."""
    try:
        assert client.get("/api/v1/model-defaults").json() == {"chat": None, "embeddings": None}
        chat = {"node": "chatOpenAICustom", "modelName": "mock"}
        r = client.put("/api/v1/model-defaults", json={"chat": chat})
        assert r.status_code == 200, r.text
        assert r.json()["chat"]["node"] == "chatOpenAICustom" and r.json()["embeddings"] is None
        assert client.get("/api/v1/model-defaults").json()["chat"]["modelName"] == "mock"
        r = client.put("/api/v1/model-defaults", json={"chat": {**chat, "modelName": "nope"}})
        assert r.status_code == 400
        assert (
            r.json()["message"]
            == "ChatOpenAI Custom: the provider has no model 'nope' (it has mock)"
        )
        elsewhere = upstream.replace("127.0.0.1", "localhost") + "/v1"
        r = client.put("/api/v1/model-defaults", json={"chat": {**chat, "baseUrl": elsewhere}})
        assert r.status_code == 400 and "no key was given" in r.json()["message"]
        assert client.get("/api/v1/model-defaults").json()["chat"]["baseUrl"] is None  # kept
        r = client.put("/api/v1/model-defaults", json={"chat": {"node": "promptTemplate"}})
        assert r.status_code == 400 and "not a chat node" in r.json()["message"]
        embeddings = {"node": "openAIEmbeddings", "modelName": "mock"}
        r = client.put("/api/v1/model-defaults", json={"chat": chat, "embeddings": embeddings})
        assert r.status_code == 200 and r.json()["embeddings"]["node"] == "openAIEmbeddings"
        found = client.get("/api/v1/ollama").json()
        assert found == {"found": True, "url": upstream, "models": ["mock"]}
    finally:
        client.put("/api/v1/model-defaults", json={})
    assert client.get("/api/v1/model-defaults").json() == {"chat": None, "embeddings": None}
