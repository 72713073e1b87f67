"""A draft agentflow from a description (Flowise's "Generate Agentflow"): a chat model
is asked for a small plan in a JSON shape of canvasflow's own (nodes of five kinds,
edges with branches), and the plan becomes a Flowise Agentflow v2 flowData whose model
nodes use the chat model the author chose. The draft is checked, never run: the studio
puts it on the canvas with its problems, and the author saves and runs it."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.errors import BadRequest, UpstreamError
from canvasflow.models.base import Usage, complete

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

# what the model may use, said in words it can follow
KINDS: dict[str, str] = {
    "llmAgentflow": "a chat model answers or writes, following its instructions",
    "agentAgentflow": "a chat model that may call tools, following its instructions",
    "conditionAgentAgentflow": (
        "a chat model picks one of its scenarios; each scenario is a branch (0, 1...)"
    ),
    "directReplyAgentflow": "replies with a fixed message (its instructions are the message)",
    "humanInputAgentflow": "asks a person to proceed (branch 0) or reject (branch 1)",
}
LABELS = {
    "llmAgentflow": "LLM",
    "agentAgentflow": "Agent",
    "conditionAgentAgentflow": "Condition Agent",
    "directReplyAgentflow": "Direct Reply",
    "humanInputAgentflow": "Human Input",
}
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "nodes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "type": {"type": "string", "enum": list(KINDS)},
                    "label": {"type": "string"},
                    "instructions": {"type": "string"},
                    "scenarios": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["id", "type", "label"],
            },
        },
        "edges": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "branch": {"type": "integer"},
                },
                "required": ["from", "to"],
            },
        },
    },
    "required": ["nodes", "edges"],
}
MAX_NODES = 12
PROMPT = """You design agentflows: small graphs of steps that answer a user's message.
The flow begins at a Start node whose id is "start" (it is there already: do not list
it; draw an edge from "start" to the first step). The kinds of step:
{kinds}

Design an agentflow, of 2 to 8 steps, for this:
{description}

Answer with JSON that matches this JSON schema, and nothing else: {schema}"""


def prompt_for(description: str) -> str:
    kinds = "\n".join(f"- {name}: {what}" for name, what in KINDS.items())
    return (
        PROMPT.replace("{kinds}", kinds)
        .replace("{description}", description.strip())
        .replace("{schema}", orjson.dumps(PLAN_SCHEMA).decode())
    )


def read_plan(text: str) -> dict[str, Any]:
    """The JSON object of a model's answer (fenced or not)."""
    cleaned = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    start, end = cleaned.find("{"), cleaned.rfind("}")
    try:
        plan = orjson.loads(cleaned[start : end + 1]) if start >= 0 else None
    except orjson.JSONDecodeError:
        plan = None
    if not isinstance(plan, dict) or not isinstance(plan.get("nodes"), list):
        raise UpstreamError(
            "the model did not answer with a plan (JSON with nodes and edges); try again, "
            "or a larger model"
        )
    return plan


def _model_inputs(kind: str, model: str, config: dict[str, Any]) -> dict[str, Any]:
    prefix = {
        "llmAgentflow": "llm",
        "agentAgentflow": "agent",
        "conditionAgentAgentflow": "conditionAgent",
    }[kind]
    return {
        f"{prefix}Model": model,
        f"{prefix}ModelConfig": {**config, f"{prefix}Model": model},
    }


def node_inputs(
    kind: str, item: dict[str, Any], model: str, config: dict[str, Any]
) -> dict[str, Any]:
    said = str(item.get("instructions") or "").strip()
    if kind == "llmAgentflow":
        return {
            **_model_inputs(kind, model, config),
            "llmMessages": [{"role": "system", "content": said}] if said else [],
            "llmEnableMemory": True,
            "llmReturnResponseAs": "userMessage",
        }
    if kind == "agentAgentflow":
        return {
            **_model_inputs(kind, model, config),
            "agentMessages": [{"role": "system", "content": said}] if said else [],
            "agentEnableMemory": True,
            "agentReturnResponseAs": "userMessage",
        }
    if kind == "conditionAgentAgentflow":
        scenarios = [str(s) for s in item.get("scenarios") or [] if str(s).strip()] or [
            "yes",
            "no",
        ]
        return {
            **_model_inputs(kind, model, config),
            "conditionAgentInstructions": said,
            "conditionAgentInput": "{{ question }}",
            "conditionAgentScenarios": [{"scenario": s} for s in scenarios],
        }
    if kind == "directReplyAgentflow":
        return {"directReplyMessage": said or "..."}
    return {  # humanInputAgentflow
        "humanInputDescriptionType": "fixed",
        "humanInputDescription": said or "Proceed?",
        "humanInputEnableFeedback": True,
    }


def branches(kind: str, inputs: dict[str, Any]) -> int:
    """How many outputs a node has (1 for those that do not branch)."""
    if kind == "conditionAgentAgentflow":
        return len(inputs["conditionAgentScenarios"])
    return 2 if kind == "humanInputAgentflow" else 1


def to_flow(plan: dict[str, Any], model: str, config: dict[str, Any]) -> dict[str, Any]:
    """The plan as Agentflow v2 flowData: a Start node, the plan's nodes (unknown kinds
    left out), its edges between known nodes (a branch out of range, a loop onto itself
    and duplicates dropped), Start joined to every node nothing leads to, laid out left
    to right by depth."""
    ids: dict[str, str] = {}
    kinds: dict[str, str] = {}
    nodes: list[dict[str, Any]] = []
    count: dict[str, int] = {}
    start = "startAgentflow_0"
    nodes.append(_node(start, "startAgentflow", "Start", {"startInputType": "chatInput"}))
    kinds[start] = "startAgentflow"
    for item in plan.get("nodes") or []:
        if not isinstance(item, dict) or len(nodes) > MAX_NODES:
            continue
        kind, given = str(item.get("type") or ""), str(item.get("id") or "")
        if kind not in KINDS or not given or given in ids or given == "start":
            continue
        number = count.get(kind, 0)
        count[kind] = number + 1
        node_id = f"{kind}_{number}"
        ids[given] = node_id
        kinds[node_id] = kind
        inputs = node_inputs(kind, item, model, config)
        label = str(item.get("label") or LABELS[kind])[:80]
        nodes.append(_node(node_id, kind, label, inputs))
    ids["start"] = start
    outputs = {n["id"]: branches(kinds[n["id"]], n["data"]["inputs"]) for n in nodes[1:]}
    outputs[start] = 1
    edges: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for e in plan.get("edges") or []:
        if not isinstance(e, dict):
            continue
        source, target = ids.get(str(e.get("from"))), ids.get(str(e.get("to")))
        if source is None or target is None or source == target or target == start:
            continue
        many = outputs[source] > 1
        raw = e.get("branch")
        branch = raw if isinstance(raw, int) else 0
        if many and not 0 <= branch < outputs[source]:
            continue
        handle = str(branch) if many else kinds[source]
        if (source, handle, target) in seen:
            continue
        seen.add((source, handle, target))
        edges.append(_edge(source, handle, target))
    reached = {e["target"] for e in edges}
    for n in nodes[1:]:
        if n["id"] not in reached:
            edges.append(_edge(start, "startAgentflow", n["id"]))
    _place(nodes, edges)
    return {"nodes": nodes, "edges": edges}


def _node(node_id: str, name: str, label: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "agentFlow",
        "position": {"x": 0, "y": 0},
        "data": {"id": node_id, "name": name, "label": label, "inputs": inputs},
    }


def _edge(source: str, handle: str, target: str) -> dict[str, Any]:
    return {
        "id": f"{source}-{handle}-{target}",
        "source": source,
        "sourceHandle": f"{source}-output-{handle}",
        "target": target,
        "targetHandle": target,
        "type": "agentFlow",
    }


def _place(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    """Columns by the shortest distance from Start (the studio's Arrange does better)."""
    depth = {nodes[0]["id"]: 0}
    queue = deque([nodes[0]["id"]])
    while queue:
        at = queue.popleft()
        for e in edges:
            if e["source"] == at and e["target"] not in depth:
                depth[e["target"]] = depth[at] + 1
                queue.append(e["target"])
    rows: dict[int, int] = {}
    for n in nodes:
        d = depth.get(n["id"], 1)
        n["position"] = {"x": 320 * d, "y": 160 * rows.get(d, 0)}
        rows[d] = rows.get(d, 0) + 1


async def generate(
    description: str, model_node: str, model_inputs: dict[str, Any], ctx: RunContext
) -> dict[str, Any]:
    """A draft agentflow for ``description`` (flowData), drafted by the chat model node
    ``model_node`` built with ``model_inputs``; its model nodes use the same."""
    from canvasflow.runtime.node import REGISTRY

    cls = REGISTRY.get(model_node)
    if cls is None or cls.category != "Chat Models":
        raise BadRequest(f"{model_node!r} is not a chat model node canvasflow has")
    if not description.strip():
        raise BadRequest("say what the agentflow should do (question)")
    model = await cls("generator", model_inputs).build(ctx)
    text = await complete(model, prompt_for(description), Usage())
    return to_flow(read_plan(text), model_node, model_inputs)
