"""Flowise compatibility: the `flowise` wire format byte for byte (golden files recorded
from a real Flowise 3.1.2), Flowise's own published SDKs, chatflow import and export,
and the OpenAI-compatible door."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from flowise import Flowise as FlowisePy
from flowise import PredictionData as FlowisePyData

from tests.support import (
    Proc,
    canvasflow_server,
    conversation_flow,
    edge,
    llm_chain_flow,
    make_canvas,
    node,
    ref,
)

GOLDEN = Path(__file__).parent / "golden"
JS = Path(__file__).parent / "js"
FOX = (
    "The quick brown fox jumps over the lazy dog and then rests under a tall green tree "
    "near river bank"
).split(" ")
FOX50 = (FOX * 3)[:50]


def frame(name: str, data: object) -> str:
    return (
        "message:\ndata:"
        + json.dumps({"event": name, "data": data}, separators=(",", ":"))
        + "\n\n"
    )


def ids_of(raw: str) -> tuple[str, str]:
    meta = json.loads(re.findall(r'data:(\{"event":"metadata".*)', raw)[0])["data"]
    return meta["chatId"], meta["chatMessageId"]


def post_stream(server: Proc, canvas_id: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/prediction/{canvas_id}", json={**body, "streaming": True}, timeout=30
    )


def test_golden_llm_chain(server: Proc) -> None:
    golden = (GOLDEN / "flowise_stream_llmchain.txt").read_text()
    canvas = make_canvas(server.url, llm_chain_flow("mock?fox=1"))
    r = post_stream(
        server, canvas["id"], {"question": "Hello, who are you?", "chatflowId": canvas["id"]}
    )
    assert r.headers["content-type"] == "text/event-stream"
    for name in ("cache-control", "connection", "x-accel-buffering"):
        assert (
            name + ": " + r.headers[name]
            in (GOLDEN / "flowise_stream_llmchain.headers.txt").read_text().lower()
        )
    g_chat, g_msg = ids_of(golden)
    chat, msg = ids_of(r.text)
    assert r.text == golden.replace(g_chat, chat).replace(g_msg, msg)


def test_golden_conversation_with_memory(server: Proc) -> None:
    golden = (GOLDEN / "flowise_stream_conversation_turn1.txt").read_text()
    canvas = make_canvas(server.url, conversation_flow("mock?fox=1"))
    chat = "transcript-chat-1"
    r = post_stream(
        server,
        canvas["id"],
        {"question": "Hi, my name is Ann.", "streamFormat": "flowise", "chatId": chat},
    )
    _, g_msg = ids_of(golden)
    _, msg = ids_of(r.text)
    assert r.text == golden.replace(g_msg, msg)


def test_golden_failing_stream(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=5&fail_after=2"))
    r = post_stream(server, canvas["id"], {"question": "q", "streamFormat": "flowise"})
    message = re.search(r'"event":"error","data":"([^"]*)"', r.text).group(1)  # type: ignore[union-attr]
    assert message.startswith("upstream model")
    assert r.text == (
        frame("start", "")
        + frame("token", "word0")
        + frame("token", " word1")
        + frame("error", message)
        + frame("end", "[DONE]")
    )


def test_golden_sources_and_tools(server: Proc) -> None:
    flow = {
        "nodes": [
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node("scripted_0", "scriptedSteps", {"model": ref("chatOpenAI_0")}),
        ],
        "edges": [edge("chatOpenAI_0", "scripted_0")],
    }
    canvas = make_canvas(server.url, flow)
    r = post_stream(
        server,
        canvas["id"],
        {
            "question": "q",
            "chatflowId": canvas["id"],
            "overrideConfig": {"returnSourceDocuments": True},
        },
    )
    chat, msg = ids_of(r.text)
    docs = [
        {
            "pageContent": "Paris is the capital of France.",
            "metadata": {"title": "Capitals", "source": "capitals.txt"},
        },
        {
            "pageContent": "Berlin is the capital of Germany.",
            "metadata": {"title": "More capitals", "source": "capitals2.txt"},
        },
    ]
    expected = (
        frame("start", "")
        + frame("token", "word0")
        + frame("token", " word1")
        + frame("sourceDocuments", docs)
        + frame(
            "usedTools",
            [{"tool": "calculator", "toolInput": {"input": "12*7"}, "toolOutput": "84"}],
        )
        + frame(
            "metadata", {"chatId": chat, "chatMessageId": msg, "question": "q", "sessionId": chat}
        )
        + frame("end", "[DONE]")
    )
    assert r.text == expected


def test_data_colon_is_escaped(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock"))
    r = post_stream(
        server, canvas["id"], {"question": "echo: look data: here", "streamFormat": "flowise"}
    )
    assert 'message:\ndata:{"event":"token","data":" data\\u003a"}\n\n' in r.text
    assert r.text.count("data:") == r.text.count("message:")


def test_default_format_from_the_command_line(upstream: str, tmp_path: Path) -> None:
    proc = canvasflow_server(tmp_path / "d", upstream, args=["--stream-format", "flowise"]).start()
    try:
        canvas = make_canvas(proc.url, llm_chain_flow("mock?tokens=1"))
        r = post_stream(proc, canvas["id"], {"question": "q"})
        assert r.text.startswith('message:\ndata:{"event":"start","data":""}\n\n')
        r = post_stream(proc, canvas["id"], {"question": "q", "streamFormat": "canvasflow"})
        assert r.text.startswith("id: 1\ndata: ")
    finally:
        proc.stop()


@pytest.mark.parametrize("api_key", [None, "some-key"])
def test_real_flowise_python_sdk(server: Proc, api_key: str | None) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock"))
    client = FlowisePy(base_url=server.url, api_key=api_key)
    chunks = [
        json.loads(c)
        for c in client.create_prediction(
            FlowisePyData(
                chatflowId=canvas["id"], question="echo: one data: two three", streaming=True
            )
        )
    ]
    assert next(c["event"] for c in chunks) == "start"
    assert [c["data"] for c in chunks if c["event"] == "token"] == [
        "one",
        " data:",
        " two",
        " three",
    ]
    assert chunks[-1] == {"event": "end", "data": "[DONE]"}
    answer = list(
        client.create_prediction(
            FlowisePyData(chatflowId=canvas["id"], question="echo: plain answer")
        )
    )
    assert answer[0]["text"] == "plain answer"


def node_json(*args: str) -> dict:
    out = subprocess.run(["node", *args], capture_output=True, text=True, timeout=60, cwd=JS)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("api_key", [None, "some-key"])
def test_real_flowise_typescript_sdk(server: Proc, api_key: str | None) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock"))
    extra = [api_key] if api_key else []
    got = node_json(
        "flowise_sdk_client.mjs",
        server.url,
        canvas["id"],
        "echo: alpha data: beta",
        "stream",
        *extra,
    )
    events = got["events"]
    assert [e["data"] for e in events if e["event"] == "token"] == ["alpha", " data:", " beta"]
    assert events[0]["event"] == "start" and events[-1] == {"event": "end", "data": "[DONE]"}
    got = node_json("flowise_sdk_client.mjs", server.url, canvas["id"], "echo: x y", "json", *extra)
    assert got["answer"]["text"] == "x y"


def test_guide_typescript_example_with_published_sdk(server: Proc) -> None:
    """The guide passes canvasId; the published flowise-sdk only knows chatflowId, so it
    asks for /chatflows-streaming/undefined and gets a clean 404 answer back: no hang,
    no crash (our own TypeScript SDK is the one that takes canvasId)."""
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=2"))
    got = node_json("guide_ts_client.mjs", server.url, canvas["id"], "q")
    assert got["failure"] is None
    assert got["chunks"][0]["statusCode"] == 404 and got["chunks"][0]["success"] is False


def flowise_export() -> dict:
    flow = llm_chain_flow("mock?tokens=2")
    for n in flow["nodes"]:
        n["data"]["category"] = n["data"].get("category") or "x"
    flow["nodes"][0]["data"]["credential"] = "9b5a6f64-flowise-credential-id"
    flow["nodes"].append(node("stickyNote_0", "stickyNote", {"note": "read me"}))
    return {
        "id": "5e1d2f8a-flowise",
        "name": "Exported from Flowise",
        "flowData": json.dumps(flow),
        "deployed": False,
        "isPublic": False,
        "type": "CHATFLOW",
    }


def marketplace_template() -> dict:
    # ChatOpenAI with no base path and no credential: OPENAI_BASE_URL / OPENAI_API_KEY
    flow = conversation_flow("mock?tokens=3")
    return {
        "description": "A conversation with memory",
        "nodes": flow["nodes"],
        "edges": flow["edges"],
    }


def test_import_flowise_export_and_template(server: Proc, client: httpx.Client) -> None:
    r = client.post("/api/v1/canvases/import", json=flowise_export())
    assert r.status_code == 201, r.text
    imported = r.json()
    assert imported["name"] == "Exported from Flowise"
    assert "stickyNote" not in imported["flowData"]
    answer = client.post(f"/api/v1/prediction/{imported['id']}", json={"question": "q"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == "word0 word1"  # unknown credential: the env key is used

    r = client.post(
        "/api/v1/chatflows/import", params={"slug": "from-template"}, json=marketplace_template()
    )
    assert r.status_code == 201, r.text
    assert r.json()["slug"] == "from-template"
    assert r.json()["settings"]["description"] == "A conversation with memory"
    answer = client.post("/api/v1/prediction/from-template", json={"question": "q"})
    assert answer.json()["text"] == "word0 word1 word2"
    assert answer.json()["memoryType"] == "Buffer Memory"

    exported = client.get(f"/api/v1/canvases/{imported['id']}/export").json()
    assert exported["name"] == "Exported from Flowise" and exported["type"] == "CHATFLOW"
    assert isinstance(exported["flowData"], str)
    assert {n["data"]["name"] for n in json.loads(exported["flowData"])["nodes"]} == {
        "chatOpenAICustom",
        "promptTemplate",
        "llmChain",
    }
    # what was exported imports again
    assert client.post("/api/v1/canvases/import", json=exported).status_code == 201
    # a file that holds no name (Flowise's "Export Chatflow": nodes and edges) takes the
    # file's name the studio sends, not "Imported canvas"
    bare = {"nodes": json.loads(exported["flowData"])["nodes"], "edges": []}
    named = client.post("/api/v1/canvases/import", params={"name": "My support bot"}, json=bare)
    assert named.status_code == 201 and named.json()["name"] == "My support bot"
    assert named.json()["slug"].startswith("my-support-bot")


def test_unsupported_node_is_explained(client: httpx.Client) -> None:
    template = marketplace_template()
    template["nodes"][0]["data"]["name"] = "chatCohere"
    r = client.post("/api/v1/canvases/import", json=template)
    assert r.status_code == 201  # imported as a draft, to be fixed in the studio
    msg = r.json()["problems"][0]["message"]
    assert "chatOpenAI_0" in msg and "chatCohere" in msg and "Chat Models" in msg
    assert "closest supported node is 'chat" in msg
    # asking it anything answers 422 with the same explanation
    ask = client.post(f"/api/v1/prediction/{r.json()['id']}", json={"question": "q"})
    assert ask.status_code == 422 and "chatCohere" in ask.json()["message"]
    assert client.post("/api/v1/canvases/import", json={"x": 1}).status_code == 422
    assert (
        client.post(
            "/api/v1/canvases/import", content=b"[", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )


def test_cli_imports_a_flowise_export(tmp_path: Path) -> None:
    f = tmp_path / "Exported.json"
    f.write_text(json.dumps(flowise_export()))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "canvasflow.cli",
            "canvas",
            "import",
            str(f),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "Exported from Flowise" in r.stdout


def test_openai_door(server: Proc) -> None:
    canvas = make_canvas(server.url, conversation_flow("mock?tokens=4"), slug=None)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    assert canvas["slug"] in [m.id for m in client.models.list().data]
    done = client.chat.completions.create(
        model=canvas["slug"], messages=[{"role": "user", "content": "hi"}]
    )
    assert done.choices[0].message.content == "word0 word1 word2 word3"
    assert done.usage is not None and done.usage.completion_tokens == 4
    stream = client.chat.completions.create(
        model=canvas["id"],
        stream=True,
        stream_options={"include_usage": True},
        messages=[
            {"role": "system", "content": "ignored"},
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "before"},
            {"role": "user", "content": "echo: a b c"},
        ],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "a b c"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="no-such-canvas", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=canvas["slug"], messages=[{"role": "assistant", "content": "hi"}]
        )
