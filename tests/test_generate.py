"""Flowise's "Generate Agentflow": a chat model drafts a plan, canvasflow makes it an
Agentflow v2 whose model nodes use that model, checked and never run."""

from __future__ import annotations

import httpx

from canvasflow.agentflow.generate import prompt_for, read_plan, to_flow
from canvasflow.engine.graph import check
from tests.support import Proc

PLAN = {
    "nodes": [
        {
            "id": "route",
            "type": "conditionAgentAgentflow",
            "label": "Sales or support?",
            "instructions": "Decide what the customer wants.",
            "scenarios": ["buying something", "a problem with an order"],
        },
        {"id": "sell", "type": "llmAgentflow", "label": "Sell", "instructions": "Help them buy."},
        {"id": "help", "type": "agentAgentflow", "label": "Support", "instructions": "Fix it."},
        {"id": "bye", "type": "directReplyAgentflow", "label": "Bye", "instructions": "Thanks!"},
        {"id": "odd", "type": "spaceshipAgentflow", "label": "Unknown kind"},
    ],
    "edges": [
        {"from": "start", "to": "route"},
        {"from": "route", "to": "sell", "branch": 0},
        {"from": "route", "to": "help", "branch": 1},
        {"from": "route", "to": "bye", "branch": 7},  # no such branch
        {"from": "sell", "to": "sell"},  # onto itself
        {"from": "help", "to": "start"},  # nothing runs before Start
        {"from": "sell", "to": "odd"},
    ],
}


def test_a_plan_becomes_an_agentflow_that_can_run() -> None:
    flow = to_flow(PLAN, "chatLocal", {"maxTokens": 64})
    names = {n["id"]: n["data"]["name"] for n in flow["nodes"]}
    assert names == {
        "startAgentflow_0": "startAgentflow",
        "conditionAgentAgentflow_0": "conditionAgentAgentflow",
        "llmAgentflow_0": "llmAgentflow",
        "agentAgentflow_0": "agentAgentflow",
        "directReplyAgentflow_0": "directReplyAgentflow",
    }
    pairs = {(e["source"], e["sourceHandle"], e["target"]) for e in flow["edges"]}
    assert pairs == {
        ("startAgentflow_0", "startAgentflow_0-output-startAgentflow", "conditionAgentAgentflow_0"),
        ("conditionAgentAgentflow_0", "conditionAgentAgentflow_0-output-0", "llmAgentflow_0"),
        ("conditionAgentAgentflow_0", "conditionAgentAgentflow_0-output-1", "agentAgentflow_0"),
        # nothing led to it (its edge named a branch it has not): Start does
        ("startAgentflow_0", "startAgentflow_0-output-startAgentflow", "directReplyAgentflow_0"),
    }
    llm = next(n for n in flow["nodes"] if n["id"] == "llmAgentflow_0")["data"]["inputs"]
    assert llm["llmModel"] == "chatLocal"
    assert llm["llmModelConfig"] == {"maxTokens": 64, "llmModel": "chatLocal"}
    assert llm["llmMessages"] == [{"role": "system", "content": "Help them buy."}]
    graph, problems = check(flow)
    assert graph is not None and [p for p in problems if p.level == "error"] == []
    xs = {n["id"]: n["position"]["x"] for n in flow["nodes"]}
    assert xs["startAgentflow_0"] < xs["conditionAgentAgentflow_0"] < xs["llmAgentflow_0"]


def test_what_the_model_is_told_and_what_is_read_back() -> None:
    said = prompt_for("Answer questions about our opening hours")
    assert "opening hours" in said and "conditionAgentAgentflow" in said and '"start"' in said
    assert read_plan('```json\n{"nodes": [], "edges": []}\n```') == {"nodes": [], "edges": []}
    for bad in ("no JSON here", '{"edges": []}', "{broken"):
        try:
            read_plan(bad)
        except Exception as exc:
            assert "plan" in str(exc)
        else:
            raise AssertionError(bad)


def test_generate_drafts_with_the_chosen_model(server: Proc, upstream: str) -> None:
    url = f"{server.url}/api/v1/agentflowv2-generator/generate"
    r = httpx.post(
        url,
        json={
            "question": "Greet visitors of a bakery",
            "selectedChatModel": {"name": "chatOpenAI", "inputs": {"modelName": "mock"}},
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    draft = r.json()
    # the mock answers the schema's example: one LLM step
    assert [n["data"]["name"] for n in draft["nodes"]] == ["startAgentflow", "llmAgentflow"]
    llm = draft["nodes"][1]["data"]["inputs"]
    assert llm["llmModel"] == "chatOpenAI" and llm["llmModelConfig"]["modelName"] == "mock"
    assert [e["target"] for e in draft["edges"]] == ["llmAgentflow_0"]
    assert [p for p in draft["problems"] if p["level"] == "error"] == []
    asked = [q for q in httpx.get(upstream + "/requests").json() if "bakery" in str(q)]
    assert asked, "the description reached the model"
    nothing = httpx.post(
        url, json={"question": "x", "selectedChatModel": {"name": "bufferMemory"}}, timeout=30
    )
    assert nothing.status_code == 400 and "chat model" in nothing.json()["message"]
