"""Traces read by a real LLM trace viewer: Arize Phoenix (``arize-phoenix`` from PyPI, in
a virtualenv of its own, ``.venv-phoenix``, made by scripts/test.sh) receives a RAG
canvas's, a tool agent's and an agentflow's traces over OTLP, read back through its own
REST API; and a collector that refuses or hangs costs a prediction nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    Proc,
    canvasflow_server,
    custom_tool_flow,
    free_port,
    llm_chain_flow,
    make_canvas,
    poll,
)
from tests.test_nodes import rag_flow

ROOT = Path(__file__).resolve().parent.parent
PHOENIX = ROOT / ".venv-phoenix" / "bin" / "phoenix"


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    assert PHOENIX.exists(), "Phoenix is not installed: run ./scripts/test.sh"
    work = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    env = {
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    proc = Proc([str(PHOENIX), "serve"], port, "/healthz", env, work / "phoenix.log").start(
        timeout=180
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def traced(
    phoenix: Proc, upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    """A canvasflow server sending its traces to Phoenix."""
    proc = canvasflow_server(
        tmp_path_factory.mktemp("traced"),
        upstream,
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": phoenix.url + "/v1/traces",
            "OTEL_SERVICE_NAME": "canvasflow-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
    ).start()
    yield proc
    proc.stop()


def spans_of(phoenix: Proc, trace_of: str, project: str = "default") -> list[dict[str, Any]]:
    """The spans of the trace whose prediction span holds ``trace_of`` in its metadata."""
    r = httpx.get(f"{phoenix.url}/v1/projects/{project}/spans", params={"limit": 1000})
    if r.status_code == 404:  # no such project yet
        return []
    spans = r.json()["data"]
    root = next(
        (s for s in spans if s["name"] == "prediction" and trace_of in str(s["attributes"])), None
    )
    if root is None:
        return []
    trace_id = root["context"]["trace_id"]
    return [s for s in spans if s["context"]["trace_id"] == trace_id]


def test_phoenix_reads_the_traces_of_a_rag_canvas_a_tool_agent_and_an_agentflow(
    phoenix: Proc, traced: Proc
) -> None:
    ask = {"question": "capital of Italy?", "overrideConfig": {"returnSourceDocuments": True}}
    rag = make_canvas(traced.url, rag_flow(), name="traced rag")
    answer = httpx.post(f"{traced.url}/api/v1/prediction/{rag['id']}", json=ask, timeout=60).json()
    spans = poll(lambda: spans_of(phoenix, answer["chatMessageId"]) or None, timeout=30)
    kinds = {s["name"]: s["span_kind"] for s in spans}
    assert kinds["prediction"] == "CHAIN" and kinds["model call"] == "LLM"
    assert kinds["node memoryVectorStore"] == "RETRIEVER"
    assert kinds["node openAIEmbeddings"] == "EMBEDDING" and kinds["retrieval"] == "RETRIEVER"
    call = next(s for s in spans if s["name"] == "model call")["attributes"]
    assert call["llm.token_count.completion"] == 3 and call["llm.model_name"] == "mock?tokens=3"
    flat = str(spans)
    assert "capital of Italy" in flat and "word0 word1 word2" in flat
    assert "test-key" not in flat  # the server's key never goes in a span

    agent = make_canvas(traced.url, custom_tool_flow("return 'twice ' + $n;"), name="traced tools")
    said = httpx.post(
        f"{traced.url}/api/v1/prediction/{agent['id']}",
        json={"question": 'tool: custom {"n": 4}'},
        timeout=60,
    ).json()
    spans = poll(lambda: spans_of(phoenix, said["chatMessageId"]) or None, timeout=30)
    tool = next(s for s in spans if s["name"] == "custom")
    assert tool["span_kind"] == "TOOL" and "twice 4" in str(tool["attributes"])

    flow = agentflow()
    made = make_canvas(traced.url, flow, name="traced agentflow")
    run = httpx.post(
        f"{traced.url}/api/v1/prediction/{made['id']}", json={"question": "hello"}, timeout=60
    ).json()
    spans = poll(lambda: spans_of(phoenix, run["chatMessageId"]) or None, timeout=30)
    kinds = {s["name"]: s["span_kind"] for s in spans}
    assert kinds["prediction"] == "AGENT"
    assert kinds["node Answer"] == "LLM"


def test_a_canvas_sends_its_traces_to_its_own_phoenix_project(
    phoenix: Proc, upstream: str, tmp_path: Path
) -> None:
    """Flowise's per-canvas analytic settings: a server with no exporter of its own sends a
    canvas's traces to the Phoenix its credential names, in the project it sets, with
    the credential's key; a canvas without them is traced nowhere."""
    proc = canvasflow_server(tmp_path, upstream, {"OTEL_BSP_SCHEDULE_DELAY": "200"}).start()
    try:
        cred = httpx.post(
            f"{proc.url}/api/v1/credentials",
            json={
                "name": "my phoenix",
                "credentialName": "phoenixApi",
                "plainDataObj": {"phoenixApiKey": "px-secret", "phoenixEndpoint": phoenix.url},
            },
        ).json()
        analytic = {
            "phoenix": {"credentialId": cred["id"], "projectName": "cf-canvas", "status": True}
        }
        canvas = make_canvas(
            proc.url,
            llm_chain_flow("mock?tokens=3"),
            name="analysed",
            settings={"analytic": analytic},
        )
        plain = make_canvas(proc.url, llm_chain_flow("mock?tokens=2"), name="not analysed")
        said = httpx.post(
            f"{proc.url}/api/v1/prediction/{plain['id']}", json={"question": "q"}, timeout=60
        ).json()
        answer = httpx.post(
            f"{proc.url}/api/v1/prediction/{canvas['id']}",
            json={"question": "to phoenix"},
            timeout=60,
        ).json()
        spans = poll(
            lambda: spans_of(phoenix, answer["chatMessageId"], project="cf-canvas") or None,
            timeout=30,
        )
        kinds = {s["name"]: s["span_kind"] for s in spans}
        assert kinds["prediction"] == "CHAIN" and kinds["model call"] == "LLM"
        call = next(s for s in spans if s["name"] == "model call")["attributes"]
        assert call["llm.token_count.completion"] == 3
        assert "px-secret" not in str(spans)
        metrics = poll(
            lambda: (
                (m := httpx.get(f"{proc.url}/metrics").text)
                and 'canvasflow_trace_spans_exported_total{to="phoenix"}' in m
                and m
            ),
            timeout=10,
        )
        sent = [
            ln for ln in metrics.splitlines() if ln.startswith("canvasflow_trace_spans_exported")
        ]
        assert float(sent[0].split()[-1]) >= len(spans), sent
        # the canvas without analytic settings made no trace anywhere
        assert not spans_of(phoenix, said["chatMessageId"], project="cf-canvas")
        assert not spans_of(phoenix, said["chatMessageId"])
        # a provider that is on without a credential, or one canvasflow does not know, is
        # refused at save
        for bad in ({"phoenix": {"status": True}}, {"jlinc": {"status": True}}):
            r = httpx.put(
                f"{proc.url}/api/v1/canvases/{canvas['id']}", json={"settings": {"analytic": bad}}
            )
            assert r.status_code == 422, r.text
    finally:
        proc.stop()


def agentflow() -> dict[str, Any]:
    def node(node_id: str, name: str, label: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": node_id,
            "type": "agentFlow",
            "position": {"x": 0, "y": 0},
            "data": {"id": node_id, "name": name, "label": label, "inputs": inputs},
        }

    model = {
        "llmModel": "chatOpenAI",
        "llmModelConfig": {"llmModel": "chatOpenAI", "modelName": "mock?tokens=2"},
    }
    return {
        "nodes": [
            node("startAgentflow_0", "startAgentflow", "Start", {"startInputType": "chatInput"}),
            node("llmAgentflow_0", "llmAgentflow", "Answer", model),
        ],
        "edges": [
            {
                "id": "e",
                "source": "startAgentflow_0",
                "sourceHandle": "startAgentflow_0-output-startAgentflow",
                "target": "llmAgentflow_0",
                "targetHandle": "llmAgentflow_0",
                "type": "agentFlow",
            }
        ],
    }


def test_a_collector_that_refuses_or_hangs_costs_a_prediction_nothing(
    upstream: str, tmp_path: Path
) -> None:
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(16)  # accepts connections, never answers
    held: list[socket.socket] = []
    threading.Thread(
        target=lambda: [held.append(hanging.accept()[0]) for _ in range(16)], daemon=True
    ).start()
    refused = free_port()  # nothing listens there
    for where in (
        f"http://127.0.0.1:{refused}/v1/traces",
        f"http://127.0.0.1:{hanging.getsockname()[1]}/v1/traces",
    ):
        proc = canvasflow_server(
            tmp_path / where.split(":")[2].split("/")[0],
            upstream,
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": where,
                "OTEL_BSP_SCHEDULE_DELAY": "50",
                "CANVASFLOW_TRACE_QUEUE": "4",
                "CANVASFLOW_TRACE_EXPORT_TIMEOUT": "1",
            },
        ).start()
        try:
            canvas = make_canvas(proc.url, llm_chain_flow("mock?tokens=2"))
            started = time.monotonic()
            for _ in range(5):
                r = httpx.post(
                    f"{proc.url}/api/v1/prediction/{canvas['id']}",
                    json={"question": "q"},
                    timeout=30,
                )
                assert r.status_code == 200 and r.json()["text"] == "word0 word1"
            assert time.monotonic() - started < 20  # generous: a hang, not a timing
            # what was not sent is counted: its queue was full, or its export failed
            lost = poll(lambda url=proc.url: _lost(url) or None, timeout=30)
            assert lost > 0
        finally:
            proc.stop()
    hanging.close()


def _lost(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("canvasflow_trace_spans_dropped_total{") and 'to="otlp"' in line
    )
