"""Agentflow v2: Flowise 3's agentflows run node by node, against the transcripts of a
real Flowise 3.1.2 (golden), branch, loop, iterate, join, pause for a person and resume
(on another process, after a restart), and Flowise's marketplace templates import."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support import Proc, canvasflow_server, make_canvas, poll, sse_events

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "agentflow"
MARKETPLACE = ROOT / "tests" / "js" / "flowise-3.1.2" / "marketplaces" / "agentflowsv2"


# -- building agentflows ------------------------------------------------------------------


def af_node(
    node_id: str, name: str, inputs: dict[str, Any], label: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "agentFlow",
        "position": {"x": 0, "y": 0},
        "data": {"id": node_id, "name": name, "label": label or node_id, "inputs": inputs},
        **extra,
    }


def af_edge(src: str, dst: str, handle: str | None = None) -> dict[str, Any]:
    return {
        "id": f"{src}-{dst}-{handle}",
        "source": src,
        "target": dst,
        "sourceHandle": f"{src}-output-{handle if handle is not None else src.rsplit('_', 1)[0]}",
        "targetHandle": dst,
    }


def model_config(upstream: str, model: str = "mock?fox=12") -> dict[str, Any]:
    return {"modelName": model, "basepath": upstream + "/v1", "streaming": True}


def llm(
    node_id: str, upstream: str, label: str = "LLM", model: str = "mock?fox=12", **inputs: Any
) -> dict[str, Any]:
    return af_node(
        node_id,
        "llmAgentflow",
        {"llmModel": "chatOpenAI", "llmModelConfig": model_config(upstream, model), **inputs},
        label,
    )


def start(**inputs: Any) -> dict[str, Any]:
    return af_node(
        "startAgentflow_0", "startAgentflow", {"startInputType": "chatInput", **inputs}, "Start"
    )


def reply(node_id: str, message: str, label: str = "Reply") -> dict[str, Any]:
    return af_node(node_id, "directReplyAgentflow", {"directReplyMessage": message}, label)


def flowise_events(raw: bytes) -> list[dict[str, Any]]:
    """The events of a Flowise stream (``message:`` / ``data:{json}``)."""
    out = []
    for block in raw.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data:"):
                out.append(orjson.loads(line[5:]))
    return out


def predict(url: str, canvas_id: str, body: dict[str, Any], timeout: float = 60) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/prediction/{canvas_id}", json=body, timeout=timeout)


def with_mock(flow: dict[str, Any], upstream: str, model: str = "mock?fox=12") -> dict[str, Any]:
    """A Flowise agentflow with its models pointed at the mock."""
    flow = json.loads(json.dumps(flow))
    for n in flow["nodes"]:
        for key, value in n["data"].get("inputs", {}).items():
            if key.endswith("ModelConfig") and isinstance(value, dict):
                chosen = value.get(key[: -len("Config")]) or n["data"]["inputs"].get(key[:-6])
                base = upstream if chosen == "chatOllama" else upstream + "/v1"
                value.update(basepath=base, baseUrl=base, modelName=model, credential="")
    return flow


# -- golden: the bytes of a real Flowise 3.1.2, where they are deterministic ---------------

VOLATILE = {"chatMessageId", "executionId", "timeMetadata", "responseMetadata", "llmModelConfig"}
USAGE_KEYS = {
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_token_details",
    "output_token_details",
}


def normal(value: Any) -> Any:
    """What must match: ids, times, costs and the model's configuration left out."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in VOLATILE:
                continue
            if k == "usageMetadata":
                v = {kk: vv for kk, vv in v.items() if kk in USAGE_KEYS}
            if k == "id" and isinstance(v, str) and re.fullmatch(r"[0-9a-f-]{36}", v):
                v = "<id>"
            out[k] = normal(v)
        return out
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def normal_stream(events: list[dict[str, Any]]) -> list[Any]:
    # Flowise's LangChain stream sends empty tokens around the answer; they carry nothing
    kept = [e for e in events if not (e["event"] == "token" and e["data"] == "")]
    if kept and kept[-1]["event"] == "usageMetadata":
        kept[-1]["data"] = {k: v for k, v in kept[-1]["data"].items() if k in USAGE_KEYS}
    return [normal(e) for e in kept]


def golden(name: str) -> tuple[dict[str, Any], Path]:
    return orjson.loads((GOLDEN / f"{name}.flow.json").read_bytes()), GOLDEN


def request_of(name: str) -> dict[str, Any]:
    text = (GOLDEN / f"{name}.request.txt").read_text()
    return orjson.loads(text.split("\n\n", 1)[1])


@pytest.fixture(scope="module")
def server(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """This module's own server: SQLite, the mock's host allowed for HTTP nodes."""
    data_dir = tmp_path_factory.mktemp("agentflow")
    env = {"CANVASFLOW_ALLOWED_HOSTS": "127.0.0.1"}
    proc = canvasflow_server(data_dir, upstream, env).start()
    proc.data_dir = data_dir  # type: ignore[attr-defined]
    proc.env_extra = env  # type: ignore[attr-defined]
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def canvases(server: Proc, upstream: str) -> dict[str, str]:
    out = {}
    for name in ("translator", "condition", "humaninput", "state"):
        flow, _ = golden(name)
        out[name] = make_canvas(server.url, with_mock(flow, upstream), name=f"golden {name}")["id"]
    return out


@pytest.mark.parametrize("name", ["translator", "condition", "state"])
def test_stream_matches_flowise(server: Proc, canvases: dict[str, str], name: str) -> None:
    body = {**request_of(f"{name}.stream"), "streamFormat": "flowise"}
    r = predict(server.url, canvases[name], body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    ours = normal_stream(flowise_events(r.content))
    theirs = normal_stream(flowise_events((GOLDEN / f"{name}.stream.body.txt").read_bytes()))
    assert ours == theirs


@pytest.mark.parametrize("name", ["translator", "condition", "state"])
def test_json_matches_flowise(server: Proc, canvases: dict[str, str], name: str) -> None:
    r = predict(server.url, canvases[name], request_of(f"{name}.json"))
    assert r.status_code == 200, r.text
    ours, theirs = r.json(), orjson.loads((GOLDEN / f"{name}.json.body.txt").read_bytes())
    for key in theirs.keys() - VOLATILE:
        assert normal(ours[key]) == normal(theirs[key]), key
    assert ours["executionId"]


def record(server: Proc, execution_id: str) -> dict[str, Any] | None:
    r = httpx.get(f"{server.url}/api/v1/executions/{execution_id}")
    return r.json() if r.status_code == 200 and r.json()["status"] != "running" else None


def test_human_input_stops_and_resumes_as_flowise(server: Proc, canvases: dict[str, str]) -> None:
    cid = canvases["humaninput"]
    for mode in ("stream", "json"):
        first = predict(
            server.url, cid, {**request_of(f"humaninput.{mode}"), "streamFormat": "flowise"}
        )
        then = predict(
            server.url, cid, {**request_of(f"humaninput.{mode}.proceed"), "streamFormat": "flowise"}
        )
        assert first.status_code == then.status_code == 200, (first.text, then.text)
        if mode == "stream":
            for got, file in ((first, "humaninput.stream"), (then, "humaninput.stream.proceed")):
                theirs = flowise_events((GOLDEN / f"{file}.body.txt").read_bytes())
                assert normal_stream(flowise_events(got.content)) == normal_stream(theirs), file
        else:
            for got, file in ((first, "humaninput.json"), (then, "humaninput.json.proceed")):
                theirs = orjson.loads((GOLDEN / f"{file}.body.txt").read_bytes())
                for key in theirs.keys() - VOLATILE:
                    assert normal(got.json()[key]) == normal(theirs[key]), (file, key)
            # the resumed run is the same execution
            assert first.json()["executionId"] == then.json()["executionId"]
            # recorded: the first run paused; the one answering it names it
            first_id = first.json()["executionId"]
            paused = poll(lambda: record(server, first_id), timeout=10)  # noqa: B023
            assert paused["status"] == "paused" and paused["state"] == "STOPPED"
            assert paused["trace"][-1]["status"] == "paused"

            def resumer() -> dict[str, Any] | None:
                listed = httpx.get(
                    f"{server.url}/api/v1/executions", params={"canvasId": cid, "limit": 200}
                ).json()["data"]
                for row in listed:
                    one = record(server, row["id"])
                    if one is not None and (one["request"] or {}).get("resumes") == first_id:  # noqa: B023
                        return one
                return None

            resumed_one = poll(resumer, timeout=10)
            assert resumed_one["status"] == "completed"
    # it was resumed: a second answer finds no run waiting
    again = predict(server.url, cid, request_of("humaninput.json.proceed"))
    assert again.status_code == 400
    assert "no run waiting" in again.json()["message"]


# -- the engine: branches, loops, joins, iterations, state ----------------------------------


def run_flow(url: str, flow: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    canvas = make_canvas(url, flow)
    assert not [p for p in canvas["problems"] if p["level"] == "error"], canvas["problems"]
    r = predict(url, canvas["id"], body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def executed(answer: dict[str, Any]) -> list[str]:
    return [e["nodeId"] for e in answer["agentFlowExecutedData"]]


def test_parallel_branches_join_once(server: Proc, upstream: str) -> None:
    flow = {
        "nodes": [
            start(),
            llm(
                "llmAgentflow_0", upstream, "A", llmUserMessage="echo: alpha", llmEnableMemory=False
            ),
            llm(
                "llmAgentflow_1", upstream, "B", llmUserMessage="echo: beta", llmEnableMemory=False
            ),
            reply("directReplyAgentflow_0", "<p>{{ llmAgentflow_0 }} + {{ llmAgentflow_1 }}</p>"),
        ],
        "edges": [
            af_edge("startAgentflow_0", "llmAgentflow_0"),
            af_edge("startAgentflow_0", "llmAgentflow_1"),
            af_edge("llmAgentflow_0", "directReplyAgentflow_0"),
            af_edge("llmAgentflow_1", "directReplyAgentflow_0"),
        ],
    }
    answer = run_flow(server.url, flow, {"question": "go"})
    assert answer["text"] == "alpha + beta"
    assert executed(answer) == [
        "startAgentflow_0",
        "llmAgentflow_0",
        "llmAgentflow_1",
        "directReplyAgentflow_0",
    ]
    joined = answer["agentFlowExecutedData"][-1]
    assert sorted(joined["previousNodeIds"]) == ["llmAgentflow_0", "llmAgentflow_1"]
    # usage is summed over the two model calls
    assert answer["usage"]["completion_tokens"] == 2


def test_loop_with_its_bound_custom_function_and_state(server: Proc) -> None:
    flow = {
        "nodes": [
            start(startState=[{"key": "n", "value": "0"}]),
            af_node(
                "customFunctionAgentflow_0",
                "customFunctionAgentflow",
                {
                    "customFunctionJavascriptFunction": "return Number($flow.state.n) + 1;",
                    "customFunctionUpdateState": [{"key": "n", "value": "<p>{{ output }}</p>"}],
                },
                "Count",
            ),
            af_node(
                "loopAgentflow_0",
                "loopAgentflow",
                {
                    "loopBackToNode": "customFunctionAgentflow_0-Count",
                    "maxLoopCount": 2,
                    "fallbackMessage": "<p>done after {{ $flow.state.n }}</p>",
                },
                "Again",
            ),
        ],
        "edges": [
            af_edge("startAgentflow_0", "customFunctionAgentflow_0"),
            af_edge("customFunctionAgentflow_0", "loopAgentflow_0"),
        ],
    }
    answer = run_flow(server.url, flow, {"question": "count"})
    assert answer["text"] == "done after 3"
    assert (
        executed(answer)
        == ["startAgentflow_0"] + ["customFunctionAgentflow_0", "loopAgentflow_0"] * 3
    )


@pytest.mark.parametrize(("size", "expected"), [(7, "big"), (3, "small")])
def test_number_condition_picks_a_branch(server: Proc, size: int, expected: str) -> None:
    flow = {
        "nodes": [
            start(),
            af_node(
                "conditionAgentflow_0",
                "conditionAgentflow",
                {
                    "conditions": [
                        {
                            "type": "number",
                            "value1": "<p>{{ $vars.size }}</p>",
                            "operation": "larger",
                            "value2": 5,
                        }
                    ]
                },
                "Size",
            ),
            reply("directReplyAgentflow_0", "big"),
            reply("directReplyAgentflow_1", "small"),
        ],
        "edges": [
            af_edge("startAgentflow_0", "conditionAgentflow_0"),
            af_edge("conditionAgentflow_0", "directReplyAgentflow_0", "0"),
            af_edge("conditionAgentflow_0", "directReplyAgentflow_1", "1"),
        ],
    }
    answer = run_flow(
        server.url, flow, {"question": "?", "overrideConfig": {"vars": {"size": size}}}
    )
    assert answer["text"] == expected


def test_iteration_runs_its_sub_flow_per_item(server: Proc, upstream: str) -> None:
    inner = llm(
        "llmAgentflow_0",
        upstream,
        "Each",
        llmUserMessage="echo: got {{ $iteration.item }}",
        llmEnableMemory=False,
    )
    inner["parentNode"] = "iterationAgentflow_0"
    flow = {
        "nodes": [
            start(),
            af_node(
                "iterationAgentflow_0",
                "iterationAgentflow",
                {"iterationInput": '<p>[{"item": "abc"}, {"item": "def"}]</p>'},
                "Each item",
            ),
            inner,
            reply("directReplyAgentflow_0", "{{ iterationAgentflow_0 }}"),
        ],
        "edges": [
            af_edge("startAgentflow_0", "iterationAgentflow_0"),
            af_edge("iterationAgentflow_0", "directReplyAgentflow_0"),
        ],
    }
    answer = run_flow(server.url, flow, {"question": "iterate"})
    assert answer["text"] == "got abc\n\ngot def"
    inside = [e for e in answer["agentFlowExecutedData"] if e["data"].get("parentNodeId")]
    assert [e["nodeId"] for e in inside] == ["llmAgentflow_0", "llmAgentflow_0"]


def test_condition_agent_lets_the_model_pick_a_scenario(server: Proc, upstream: str) -> None:
    flow = {
        "nodes": [
            start(),
            af_node(
                "conditionAgentAgentflow_0",
                "conditionAgentAgentflow",
                {
                    "conditionAgentModel": "chatOpenAI",
                    "conditionAgentModelConfig": model_config(upstream, "mock"),
                    "conditionAgentInstructions": "<p>Which desk?</p>",
                    "conditionAgentInput": "<p>{{ question }}</p>",
                    "conditionAgentScenarios": [{"scenario": "Support"}, {"scenario": "Billing"}],
                },
                "Route",
            ),
            reply("directReplyAgentflow_0", "support desk"),
            reply("directReplyAgentflow_1", "billing desk"),
        ],
        "edges": [
            af_edge("startAgentflow_0", "conditionAgentAgentflow_0"),
            af_edge("conditionAgentAgentflow_0", "directReplyAgentflow_0", "0"),
            af_edge("conditionAgentAgentflow_0", "directReplyAgentflow_1", "1"),
        ],
    }
    answer = run_flow(server.url, flow, {"question": 'echo: {"output": "Billing"}'})
    assert answer["text"] == "billing desk"
    picked = answer["agentFlowExecutedData"][1]["data"]["output"]["conditions"]
    assert picked == [{"scenario": "Support"}, {"scenario": "Billing", "isFulfilled": True}]


def test_structured_output_and_node_outputs_in_variables(server: Proc, upstream: str) -> None:
    flow = {
        "nodes": [
            start(),
            llm(
                "llmAgentflow_0",
                upstream,
                "Extract",
                model="mock",
                llmEnableMemory=False,
                llmStructuredOutput=[{"key": "city", "type": "string", "description": "a city"}],
                llmUpdateState=[{"key": "city", "value": "<p>{{ output.city }}</p>"}],
            ),
            reply(
                "directReplyAgentflow_0",
                "{{ $flow.state.city }} / {{ llmAgentflow_0.output.city }}",
            ),
        ],
        "edges": [
            af_edge("startAgentflow_0", "llmAgentflow_0"),
            af_edge("llmAgentflow_0", "directReplyAgentflow_0"),
        ],
    }
    answer = run_flow(server.url, flow, {"question": 'echo: {"city": "Paris"}'})
    assert answer["text"] == "Paris / Paris"
    # the model was asked for JSON that matches the schema
    sent = httpx.get(f"{upstream.rstrip('/')}/requests").json()[-1]
    assert '"city"' in sent["messages"][0]["content"]


def test_agent_calls_tools(server: Proc, upstream: str) -> None:
    flow = {
        "nodes": [
            start(),
            af_node(
                "agentAgentflow_0",
                "agentAgentflow",
                {
                    "agentModel": "chatOpenAI",
                    "agentModelConfig": model_config(upstream, "mock"),
                    "agentTools": [
                        {"agentSelectedTool": "calculator", "agentSelectedToolConfig": {}}
                    ],
                    "agentEnableMemory": False,
                },
                "Agent",
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "agentAgentflow_0")],
    }
    answer = run_flow(server.url, flow, {"question": "calc: 6*7"})
    assert answer["text"] == "The answer is 42"
    assert answer["usedTools"] == [
        {"tool": "calculator", "toolInput": {"input": "6*7"}, "toolOutput": "42"}
    ]
    assert (
        answer["agentFlowExecutedData"][1]["data"]["output"]["calledTools"][0]["toolOutput"] == "42"
    )


def test_http_node_calls_only_allowed_hosts(server: Proc, upstream: str) -> None:
    def flow_to(url: str) -> dict[str, Any]:
        return {
            "nodes": [
                start(),
                af_node("httpAgentflow_0", "httpAgentflow", {"method": "GET", "url": url}, "Fetch"),
                reply(
                    "directReplyAgentflow_0",
                    "<p>started {{ httpAgentflow_0.output.http.data.started }}</p>",
                ),
            ],
            "edges": [
                af_edge("startAgentflow_0", "httpAgentflow_0"),
                af_edge("httpAgentflow_0", "directReplyAgentflow_0"),
            ],
        }

    answer = run_flow(server.url, flow_to(upstream + "/stats"), {"question": "stats?"})
    assert re.fullmatch(r"started \d+", answer["text"]), answer["text"]
    canvas = make_canvas(server.url, flow_to("http://169.254.169.254/latest/meta-data/"))
    r = predict(server.url, canvas["id"], {"question": "steal"})
    assert r.status_code >= 400
    assert "not allowed" in r.json()["message"]


def test_execute_flow_runs_another_canvas(server: Proc, upstream: str) -> None:
    inner = {
        "nodes": [start(), reply("directReplyAgentflow_0", "inner got: {{ question }}")],
        "edges": [af_edge("startAgentflow_0", "directReplyAgentflow_0")],
    }
    inner_id = make_canvas(server.url, inner, name="inner flow")["id"]
    outer = {
        "nodes": [
            start(),
            af_node(
                "executeFlowAgentflow_0",
                "executeFlowAgentflow",
                {
                    "executeFlowSelectedFlow": inner_id,
                    "executeFlowInput": "<p>from outer: {{ question }}</p>",
                },
                "Run inner",
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "executeFlowAgentflow_0")],
    }
    answer = run_flow(server.url, outer, {"question": "hi"})
    assert answer["text"] == "inner got: from outer: hi"


def test_canvasflow_stream_has_a_step_per_node(
    server: Proc, upstream: str, canvases: dict[str, str]
) -> None:
    r = predict(
        server.url, canvases["state"], {"question": "Tell me about the fox", "streaming": True}
    )
    events = sse_events(r.content)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    steps = [e["data"] for e in events if e["event"] == "step"]
    assert [(s["nodeId"], s["status"]) for s in steps] == [
        ("startAgentflow_0", "INPROGRESS"),
        ("startAgentflow_0", "FINISHED"),
        ("llmAgentflow_0", "INPROGRESS"),
        ("llmAgentflow_0", "FINISHED"),
        ("directReplyAgentflow_0", "INPROGRESS"),
        ("directReplyAgentflow_0", "FINISHED"),
    ]
    done = steps[3]
    assert done["kind"] == "llmAgentflow" and done["label"] == "LLM" and done["ms"] >= 0
    assert done["output"].startswith("The quick brown fox")
    assert "executed" not in done  # the full executed data is in the JSON answer
    tokens = "".join(e["data"] for e in events if e["event"] == "token")
    assert tokens == "Topic: The quick brown fox jumps over the lazy dog and then rests"
    meta = next(e["data"] for e in events if e["event"] == "metadata")
    assert meta["flowStatus"] == "FINISHED"
    assert [n["nodeId"] for n in meta["executedNodes"]] == [
        "startAgentflow_0",
        "llmAgentflow_0",
        "directReplyAgentflow_0",
    ]
    assert meta["usage"]["completion_tokens"] == 12
    flows = [e["data"]["status"] for e in events if e["event"] == "flow"]
    assert flows == ["INPROGRESS", "FINISHED"]


def test_a_paused_run_resumes_after_a_restart(upstream: str, tmp_path: Path) -> None:
    flow, _ = golden("humaninput")
    proc = canvasflow_server(tmp_path / "data", upstream).start()
    try:
        cid = make_canvas(proc.url, with_mock(flow, upstream))["id"]
        first = predict(proc.url, cid, {"question": "Tell me about the fox", "chatId": "restart-1"})
        assert first.json()["action"]["mapping"] == {"approve": "Proceed", "reject": "Reject"}
    finally:
        proc.stop()
    proc = canvasflow_server(tmp_path / "data", upstream).start()
    try:
        human = {"type": "reject", "startNodeId": "humanInputAgentflow_0", "feedback": "no"}
        then = predict(proc.url, cid, {"question": "", "chatId": "restart-1", "humanInput": human})
        assert then.status_code == 200, then.text
        # rejected: the proceed branch (the LLM) is not taken
        assert executed(then.json()) == ["startAgentflow_0", "humanInputAgentflow_0"]
        assert then.json()["executionId"] == first.json()["executionId"]
    finally:
        proc.stop()


def test_abort_stops_an_agentflow_mid_answer(server: Proc, upstream: str) -> None:
    """The Flowise widget's Stop button (shown for agentflows) aborts the chat's run."""
    flow = {
        "nodes": [
            start(),
            llm(
                "llmAgentflow_0",
                upstream,
                model="mock?tokens=400&delay=0.02",
                llmEnableMemory=False,
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "llmAgentflow_0")],
    }
    canvas = make_canvas(server.url, flow)
    body = {"question": "q", "streaming": True, "chatId": "af-abort", "streamFormat": "flowise"}
    with httpx.stream(
        "POST", f"{server.url}/api/v1/prediction/{canvas['id']}", json=body, timeout=30
    ) as r:
        lines = r.iter_lines()  # kept: a dropped iterator closes the stream (a disconnect)
        seen: list[str] = []
        while sum('"event":"token"' in x for x in seen) < 3:
            seen.append(next(lines))
        a = httpx.put(f"{server.url}/api/v1/chatmessage/abort/{canvas['id']}/af-abort")
        assert a.status_code == 200, a.text
        rest = "\n".join([*seen, *lines])
    events = [e["event"] for e in flowise_events(rest.encode())]
    assert events[-2:] == ["metadata", "end"]
    assert events.count("token") < 400
    history = httpx.get(
        f"{server.url}/api/v1/chatmessage/{canvas['id']}", params={"chatId": "af-abort"}
    ).json()
    assert history[-1]["status"] == "aborted"


def test_the_python_sdk_resumes_a_stopped_run(server: Proc, canvases: dict[str, str]) -> None:
    from canvasflow.sdk import Flowise, PredictionData

    cid = canvases["humaninput"]
    with Flowise(server.url) as client:
        stopped = client.create_prediction(
            PredictionData(canvasId=cid, question="Tell me about the fox", chatId="sdk-human")
        )
        node_id = stopped["action"]["data"]["nodeId"]
        stream = client.create_prediction(
            PredictionData(
                canvasId=cid,
                question="",
                chatId="sdk-human",
                streaming=True,
                humanInput={"type": "proceed", "startNodeId": node_id, "feedback": "yes"},
            )
        )
        events = list(stream.events())
    assert "".join(e.text or "" for e in events if e.event == "token").startswith("The quick")
    flows = [e.data["status"] for e in events if e.event == "flow"]
    assert flows == ["INPROGRESS", "FINISHED"]


def test_bad_resumes_and_inputs_are_clear_errors(server: Proc, canvases: dict[str, str]) -> None:
    cid = canvases["humaninput"]
    r = predict(
        server.url,
        cid,
        {"question": "", "chatId": "never-paused", "humanInput": {"type": "proceed"}},
    )
    assert r.status_code == 400 and "no run waiting" in r.json()["message"]
    r = predict(server.url, cid, {"question": "", "humanInput": {"type": "maybe"}})
    assert r.status_code == 400
    r = predict(server.url, cid, {"question": ""})
    assert r.status_code == 400 and "question" in r.json()["message"]


def test_retriever_searches_a_document_store(server: Proc) -> None:
    """A retriever (and an agent's knowledge) names a document store collection, as
    Flowise names its stores (``id:name``); what ``vector/upsert`` loaded is found."""
    from tests.test_nodes import document_store_flow

    store = make_canvas(server.url, document_store_flow("agentflow-capitals"))
    r = httpx.post(f"{server.url}/api/v1/vector/upsert/{store['id']}", timeout=30)
    assert r.json()["numAdded"] == 3
    flow = {
        "nodes": [
            start(),
            af_node(
                "retrieverAgentflow_0",
                "retrieverAgentflow",
                {
                    "retrieverKnowledgeDocumentStores": [
                        {"documentStore": "x1:agentflow-capitals"}
                    ],
                    "retrieverQuery": "<p>{{ question }}</p>",
                },
                "Search",
            ),
            reply("directReplyAgentflow_0", "Found: {{ retrieverAgentflow_0 }}"),
        ],
        "edges": [
            af_edge("startAgentflow_0", "retrieverAgentflow_0"),
            af_edge("retrieverAgentflow_0", "directReplyAgentflow_0"),
        ],
    }
    answer = run_flow(
        server.url,
        flow,
        {"question": "capital of Italy", "overrideConfig": {"returnSourceDocuments": True}},
    )
    assert answer["text"].startswith("Found: Rome is the capital of Italy.")
    assert answer["sourceDocuments"][0]["pageContent"] == "Rome is the capital of Italy."


def test_agent_knowledge_from_a_vector_store_and_its_embeddings(
    server: Proc, upstream: str
) -> None:
    """An agent's knowledge: a vector store node and an embeddings node, each configured
    as Flowise stores them, become a retriever tool the model may call."""
    from tests.test_nodes import document_store_flow

    store = make_canvas(server.url, document_store_flow("af-vs-capitals"))
    httpx.post(f"{server.url}/api/v1/vector/upsert/{store['id']}", timeout=30)
    knowledge = {
        "vectorStore": "documentStore",
        "vectorStoreConfig": {
            "collection": "af-vs-capitals",
            "topK": 1,
            "vectorStore": "documentStore",
        },
        "embeddingModel": "openAIEmbeddings",
        "embeddingModelConfig": {"modelName": "mock-embed", "embeddingModel": "openAIEmbeddings"},
        "knowledgeName": "capitals",
        "knowledgeDescription": "Capitals of countries",
        "returnSourceDocuments": True,
    }
    flow = {
        "nodes": [
            start(),
            af_node(
                "agentAgentflow_0",
                "agentAgentflow",
                {
                    "agentModel": "chatOpenAI",
                    "agentModelConfig": model_config(upstream, "mock"),
                    "agentKnowledgeVSEmbeddings": [knowledge],
                    "agentEnableMemory": False,
                },
                "Agent",
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "agentAgentflow_0")],
    }
    answer = run_flow(
        server.url, flow, {"question": 'tool: capitals {"input": "capital of Italy"}'}
    )
    assert answer["text"] == "The answer is Rome is the capital of Italy."
    assert answer["usedTools"][0]["tool"] == "capitals"


def test_llm_memory_keeps_a_window_of_the_chat(server: Proc, upstream: str) -> None:
    flow = {
        "nodes": [
            start(),
            llm(
                "llmAgentflow_0",
                upstream,
                model="mock?tokens=2",
                llmMessages=[{"role": "system", "content": "<p>Be brief.</p>"}],
                llmMemoryType="windowSize",
                llmMemoryWindowSize=2,
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "llmAgentflow_0")],
    }
    canvas = make_canvas(server.url, flow)
    for q in ("first", "second", "third"):
        assert (
            predict(server.url, canvas["id"], {"question": q, "chatId": "window"}).status_code
            == 200
        )
    sent = httpx.get(f"{upstream}/requests").json()[-1]["messages"]
    # the system message, the last 2 messages of the chat, then the question
    assert sent == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "word0 word1"},
        {"role": "user", "content": "third"},
    ]


def test_form_input_and_flow_variables(server: Proc) -> None:
    flow = {
        "nodes": [
            af_node(
                "startAgentflow_0",
                "startAgentflow",
                {"startInputType": "formInput", "startState": [{"key": "greeting", "value": "Hi"}]},
                "Start",
            ),
            reply(
                "directReplyAgentflow_0",
                "<p>{{ $flow.state.greeting }} {{ $form.name }} "
                "({{ $flow.chatId }}, {{ $vars.team }})</p>",
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "directReplyAgentflow_0")],
    }
    body = {
        "form": {"name": "Ann"},
        "chatId": "form-1",
        "overrideConfig": {"vars": {"team": "blue"}},
    }
    answer = run_flow(server.url, flow, body)
    assert answer["text"] == "Hi Ann (form-1, blue)"
    assert answer["agentFlowExecutedData"][0]["data"]["output"] == {"form": {"name": "Ann"}}


# -- Flowise's marketplace -----------------------------------------------------------------


def test_every_marketplace_agentflow_imports(server: Proc) -> None:
    """Flowise 3.1.2's 13 agentflow templates all import, with every agentflow node
    known; what they need that canvasflow lacks (a Google model, a Slack tool) makes
    them drafts, each problem named where it is."""
    files = sorted(MARKETPLACE.glob("*.json"))
    assert len(files) == 13, MARKETPLACE
    ready, drafts = [], []
    for path in files:
        r = httpx.post(f"{server.url}/api/v1/canvases/import", json=json.loads(path.read_text()))
        assert r.status_code == 201, (path.name, r.text[:300])
        errors = [p for p in r.json()["problems"] if p["level"] == "error"]
        for p in errors:  # every agentflow node is known: problems are about what they use
            assert not re.search(r"'\w+Agentflow'", p["message"]), (path.name, p)
        (drafts if errors else ready).append(path.stem)
    print(f"\n{len(ready)} ready: {', '.join(ready)}; {len(drafts)} drafts: {', '.join(drafts)}")
    assert len(ready) >= 5, (ready, drafts)


@pytest.mark.parametrize(
    ("template", "question", "expected"),
    [
        ("Simple RAG", "Tell me about the fox", "The quick brown fox"),
        ("Structured Output", 'echo: {"output": [{"answer": "a fox", "reason": "it says"}]}', None),
        ("Agentic RAG", 'echo: {"output": "General"}', None),
        ("Translator", "Tell me about the fox", "The quick brown fox"),
        ("Iterations", "Tell me about the fox", None),
        ("Supervisor Worker", "Tell me about the fox", None),
    ],
)
def test_marketplace_agentflows_answer(
    server: Proc, upstream: str, template: str, question: str, expected: str | None
) -> None:
    flow = json.loads((MARKETPLACE / f"{template}.json").read_text())
    r = httpx.post(
        f"{server.url}/api/v1/canvases/import",
        json={**flow, "nodes": with_mock(flow, upstream)["nodes"]},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert not [p for p in body["problems"] if p["level"] == "error"], body["problems"]
    answer = predict(server.url, body["id"], {"question": question})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["text"]
    if expected:
        assert data["text"].startswith(expected)
    assert data["agentFlowExecutedData"][-1]["status"] == "FINISHED"


# -- cheap logic, in-process -----------------------------------------------------------


def test_rich_text_and_variables_read_as_flowise_reads_them() -> None:
    from canvasflow.runtime.template import html_to_text, lookup_in, render

    mention = '<span class="variable" data-type="mention" data-id="question">{{ question }}</span>'
    assert html_to_text(f"<p>English:</p><p>{mention} </p><p>Japanese:</p><p></p>") == (
        "English:\n\n{{ question }}\n\nJapanese:"
    )
    assert html_to_text("<p>a &lt;b&gt; &amp; c</p><ul><li>one</li><li>two</li></ul>") == (
        "a <b> & c\n\n- one\n- two"
    )
    find = lookup_in(
        {"question": "why?", "$flow": {"state": {"n": 2}, "chatId": "c1"}, "output": '{"a": [1]}'},
        {"llm_0": {"content": "hello", "city": "Paris"}},
    )
    assert render("{{question}} {{ $flow.state.n }} {{ $flow.chatId }}", find) == "why? 2 c1"
    assert render("{{ llm_0 }} / {{ llm_0.output.city }} / {{ output.a.0 }}", find) == (
        "hello / Paris / 1"
    )
    assert render("{{ unknown.thing }}", find) == "{{ unknown.thing }}"  # left as written
    assert render({"k": 1}, find) == '{"k":1}'


@pytest.mark.parametrize(
    ("kind", "operation", "left", "right", "holds"),
    [
        ("string", "equal", "a", "a", True),
        ("string", "notEqual", "a", "b", True),
        ("string", "contains", "the fox", "fox", True),
        ("string", "notContains", "the fox", "cat", True),
        ("string", "startsWith", "the fox", "the", True),
        ("string", "endsWith", "the fox", "cat", False),
        ("string", "regex", "order 42", r"\d+", True),
        ("string", "regex", "x", "(", False),
        ("string", "isEmpty", "  ", "", True),
        ("string", "notEmpty", "", "", False),
        ("number", "larger", "7", "5", True),
        ("number", "smallerEqual", "5", "5", True),
        ("number", "equal", "5.0", "5", True),
        ("number", "larger", "many", "5", False),
        ("boolean", "equal", "true", "True", True),
        ("boolean", "notEqual", "false", "true", True),
    ],
)
def test_condition_operations(
    kind: str, operation: str, left: str, right: str, holds: bool
) -> None:
    from canvasflow.agentflow.nodes import condition_holds

    assert condition_holds(kind, operation, left, right) is holds


def test_a_canvas_with_problems_is_a_draft_naming_them() -> None:
    from canvasflow.engine.graph import check

    flow = {
        "nodes": [
            start(),
            af_node("llmAgentflow_0", "llmAgentflow", {"llmModel": "chatNoSuch"}, "LLM"),
            af_node(
                "loopAgentflow_0", "loopAgentflow", {"loopBackToNode": "ghost_9-Ghost"}, "Loop"
            ),
            af_node("directReplyAgentflow_0", "directReplyAgentflow", {}, "Reply"),
        ],
        "edges": [af_edge("startAgentflow_0", "llmAgentflow_0")],
    }
    graph, problems = check(flow)
    assert graph is None
    text = " | ".join(p.message for p in problems)
    assert "chatNoSuch" in text and "ghost_9-Ghost" in text and "directReplyMessage" in text
    no_start = {"nodes": [reply("directReplyAgentflow_0", "x")], "edges": []}
    graph, problems = check(no_start)
    assert graph is None and "no Start node" in problems[0].message
