"""Every way the streaming guide talks to the server, run against a live canvasflow."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from canvasflow import Flowise, PredictionData
from tests import guide_clients as guide
from tests.support import Proc, edge, llm_chain_flow, make_canvas, node, ref

WORDS = " ".join(f"word{i}" for i in range(12))


@pytest.fixture(scope="module")
def canvas(server: Proc) -> dict:
    return make_canvas(server.url, llm_chain_flow("mock?tokens=12&delay=0.002"))


@pytest.fixture(scope="module")
def steps_canvas(server: Proc) -> dict:
    flow = {
        "nodes": [
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock?tokens=5"}),
            node("scripted_0", "scriptedSteps", {"model": ref("chatOpenAI_0")}),
        ],
        "edges": [edge("chatOpenAI_0", "scripted_0")],
    }
    return make_canvas(server.url, flow)


def url_of(server: Proc, canvas: dict) -> str:
    return f"{server.url}/api/v1/prediction/{canvas['id']}"


def test_sdk_call_as_in_the_guide(server: Proc, canvas: dict) -> None:
    client = Flowise(server.url)
    completion = client.create_prediction(
        PredictionData(canvasId=canvas["id"], question="Tell me a joke!", streaming=True)
    )
    chunks = list(completion)
    assert all(set(c) >= {"event", "data"} for c in chunks)
    assert "".join(c["data"] for c in chunks if c["event"] == "token") == WORDS
    assert chunks[-1] == {"event": "end", "data": "[DONE]"}
    client.close()


def test_requests_with_error_handling(server: Proc, canvas: dict) -> None:
    seen = guide.requests_with_error_handling(url_of(server, canvas), "Explain quantum physics")
    assert seen.error is None and seen.done and seen.text == WORDS
    missing = guide.requests_with_error_handling(f"{server.url}/api/v1/prediction/nope", "q")
    assert missing.error is not None and "404" in missing.error and not missing.done
    gone = guide.requests_with_error_handling("http://127.0.0.1:9/api/v1/prediction/x", "q")
    assert gone.error is not None and gone.error.startswith("request error")


def test_stream_buffer(server: Proc) -> None:
    c = make_canvas(server.url, llm_chain_flow("mock"))
    sentences, tail = guide.buffered_sentences(
        url_of(server, c), "echo: One two. Three is 3.5 ok! Is it? The tail"
    )
    assert sentences == ["One two.", "Three is 3.5 ok!", "Is it?"]
    assert tail == "The tail"


def test_metadata_with_steps_and_sources(server: Proc, steps_canvas: dict) -> None:
    seen = guide.enhanced_streaming(url_of(server, steps_canvas), "Make a project plan")
    assert seen.done and seen.error is None
    assert seen.text == "word0 word1 word2 word3 word4"
    assert seen.log == ["step:retriever", "step:calculator", "sources:2"]
    kinds = [e["event"] for e in seen.events]
    assert kinds.index("metadata") > kinds.index("source") > kinds.index("step")


def test_steps_and_sources_only_when_asked(server: Proc, steps_canvas: dict) -> None:
    seen = guide.event_type_handlers(url_of(server, steps_canvas), "q")
    assert not any(e["event"] in ("step", "source") for e in seen.events)
    # and in the JSON answer, tools used are reported all the same
    import httpx

    body = httpx.post(
        url_of(server, steps_canvas),
        json={"question": "q", "overrideConfig": {"returnSourceDocuments": True}},
    ).json()
    assert [d["metadata"]["title"] for d in body["sourceDocuments"]] == [
        "Capitals",
        "More capitals",
    ]
    assert body["usedTools"] == [
        {"tool": "calculator", "toolInput": {"input": "12*7"}, "toolOutput": "84"}
    ]


def test_streaming_to_file(server: Proc, canvas: dict, tmp_path: Path) -> None:
    path = tmp_path / "streaming_output.txt"
    seen = guide.streaming_to_file(url_of(server, canvas), "Write an article", path)
    assert seen.done and path.read_text(encoding="utf-8") == WORDS
    # flushed per token: the file grew with every token
    assert [len(s) for s in seen.log] == sorted(len(s) for s in seen.log)
    assert len(seen.log) == 12 and seen.log[0] == "word0"


def test_event_type_handlers(server: Proc, steps_canvas: dict, canvas: dict) -> None:
    seen = guide.event_type_handlers(
        url_of(server, steps_canvas),
        "q",
        {"overrideConfig": {"returnSourceDocuments": True, "returnIntermediateSteps": True}},
    )
    assert seen.log[0].startswith("start:20")  # an ISO timestamp
    assert seen.log[1:4] == ["step:retriever", "step:calculator", "sources:Capitals|More capitals"]
    assert seen.log[4] == "metadata:mock?tokens=5:" + str(seen.events[-2]["data"]["tokens_used"])
    assert seen.log[-1] == "end" and seen.text == "word0 word1 word2 word3 word4"
    failing = make_canvas(
        url_of(server, canvas).split("/api")[0], llm_chain_flow("mock?tokens=5&fail_after=2")
    )
    seen = guide.event_type_handlers(url_of(server, failing), "q")
    assert seen.error and seen.done and seen.text == "word0 word1"


def test_pooled_client_with_retries(server: Proc, canvas: dict) -> None:
    client = guide.PooledClient(server.url)
    for _ in range(3):  # the pooled session is reused
        texts = [
            e["text"]
            for e in client.stream_prediction(canvas["id"], "About Python")
            if e.get("text")
        ]
        assert "".join(texts) == WORDS


def test_aiohttp(server: Proc, canvas: dict) -> None:
    seen = asyncio.run(guide.aiohttp_streaming(url_of(server, canvas), "Explain async"))
    assert seen.done and seen.text == WORDS


def test_javascript_fetch_reader_on_node(server: Proc, canvas: dict) -> None:
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    assert int(version.lstrip("v").split(".")[0]) >= 20
    script = Path(__file__).parent / "js" / "fetch_reader.mjs"
    out = subprocess.run(
        ["node", str(script), url_of(server, canvas), "A long story"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result == {"status": 200, "text": WORDS, "done": True, "events": 15}
