"""Branches: the Condition node (rules) and the Condition Agent (a model picks a
scenario)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from canvasflow.agentflow.nodes.base import OPERATIONS, AgentflowNode, Item, empty, rows_of
from canvasflow.agentflow.nodes.models import memory, parse_json_answer
from canvasflow.agentflow.runner import Done, FlowRun, usage_metadata
from canvasflow.errors import RunFailed
from canvasflow.models.base import Usage
from canvasflow.nodes.chains import stream_answer
from canvasflow.runtime.node import Input, flowise_inputs, register, to_bool

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def condition_holds(kind: str, operation: str, left: str, right: str) -> bool:
    """One of Flowise's condition operations on two rendered values."""
    if operation == "isEmpty":
        return left.strip() == ""
    if operation == "notEmpty":
        return left.strip() != ""
    if kind == "number":
        a, b = _number(left), _number(right)
        if a is None or b is None:
            return False
        return {
            "equal": a == b,
            "notEqual": a != b,
            "larger": a > b,
            "largerEqual": a >= b,
            "smaller": a < b,
            "smallerEqual": a <= b,
        }.get(operation, False)
    if kind == "boolean":
        a_bool = left.strip().lower() in ("true", "1", "yes")
        b_bool = right.strip().lower() in ("true", "1", "yes")
        return a_bool == b_bool if operation == "equal" else a_bool != b_bool
    if operation == "regex":  # time-limited: an author's pattern may backtrack forever
        from canvasflow.sandbox.regex import search

        return search(right, left)
    return {
        "equal": left == right,
        "notEqual": left != right,
        "contains": right in left,
        "notContains": right not in left,
        "startsWith": left.startswith(right),
        "endsWith": left.endswith(right),
    }.get(operation, False)


async def holds(kind: str, operation: str, left: str, right: str) -> bool:
    """:func:`condition_holds`, a regex in a worker thread (never on the event loop)."""
    from canvasflow.sandbox.errors import SandboxError

    try:
        if operation == "regex" and kind not in ("number", "boolean"):
            return await asyncio.to_thread(condition_holds, kind, operation, left, right)
        return condition_holds(kind, operation, left, right)
    except SandboxError as exc:
        raise RunFailed(str(exc), code="regex_timeout") from None


@register
class ConditionAgentflow(AgentflowNode):
    name = "conditionAgentflow"
    label = "Condition"
    description = "Split flows based on If Else conditions"
    required = ("conditions",)
    inputs = flowise_inputs(
        name,
        Input(
            "conditions",
            "array",
            array=(
                Input("type", "options", options=("string", "number", "boolean"), default="string"),
                Input("value1", "string"),
                Input("operation", "options", options=OPERATIONS, default="equal"),
                Input("value2", "string", optional=True),
            ),
        ),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        rendered = [
            {
                "type": str(c.get("type") or "string"),
                "value1": run.render(c.get("value1")),
                "operation": str(c.get("operation") or "equal"),
                "value2": run.render(c.get("value2")),
            }
            for c in rows_of(node.inputs.get("conditions"))
        ]
        results: list[dict[str, Any]] = [dict(c) for c in rendered]
        chosen = len(rendered)  # the else branch
        for i, c in enumerate(results):
            if await holds(c["type"], c["operation"], c["value1"], c["value2"]):
                c["isFulfilled"] = True
                chosen = i
                break
        results.append(
            {
                "type": "string",
                "value1": "",
                "operation": "equal",
                "value2": "",
                "isFulfilled": chosen == len(rendered),
            }
        )
        yield Done(
            output={"conditions": results},
            input={"conditions": {str(i): c for i, c in enumerate(rendered)}},
            branches={str(chosen)},
        )


CONDITION_AGENT_SYSTEM = (
    "You decide which scenario fits. Read the instructions and the input, then pick "
    "exactly one of the scenarios. Answer only with JSON of the form "
    '{"output": "<the scenario, word for word>"} and nothing else.'
)


@register
class ConditionAgentAgentflow(AgentflowNode):
    name = "conditionAgentAgentflow"
    label = "Condition Agent"
    description = "Utilize an agent to split flows based on dynamic conditions"
    required = ("conditionAgentModel", "conditionAgentScenarios")
    model_inputs = ("conditionAgentModel",)
    inputs = flowise_inputs(
        name,
        Input("conditionAgentInstructions", "string", optional=True),
        Input("conditionAgentInput", "string", optional=True, default="{{ question }}"),
        Input("conditionAgentScenarios", "array", array=(Input("scenario", "string"),)),
        Input("conditionAgentMemoryWindowSize", "number", optional=True, default=20),
        Input("conditionAgentMemoryMaxTokenLimit", "number", optional=True, default=2000),
        Input("conditionAgentSystemPrompt", "string", optional=True),
        add=(Input("conditionAgentModelConfig", "json", optional=True),),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        inputs = node.inputs
        model = await run.model(
            inputs.get("conditionAgentModel"), inputs.get("conditionAgentModelConfig"), node
        )
        scenarios = [
            str(r.get("scenario") or "") for r in rows_of(inputs.get("conditionAgentScenarios"))
        ]
        system = CONDITION_AGENT_SYSTEM
        if to_bool(inputs.get("conditionAgentOverrideSystemPrompt")) and inputs.get(
            "conditionAgentSystemPrompt"
        ):
            system = run.render(inputs["conditionAgentSystemPrompt"])
        instructions = run.render(inputs.get("conditionAgentInstructions"))
        listing = "\n".join(f"- {s}" for s in scenarios)
        given = inputs.get("conditionAgentInput")
        text = run.render(given if not empty(given) else "{{ question }}")
        messages: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": f"{system}\n\nInstructions: {instructions}\n\nScenarios:\n{listing}",
            },
            *await memory(run, node, "conditionAgent", model),
            {"role": "user", "content": text},
        ]
        pieces: list[str] = []
        used = Usage()
        async for event in stream_answer(model, messages):  # type: ignore[arg-type]  # plain dict messages
            if event.kind == "token":
                pieces.append(event.data)
                continue
            if event.kind == "usage":
                used.add(*event.data)
            yield event
        answer = "".join(pieces).strip()
        try:
            parsed = parse_json_answer(answer)
            picked = str(parsed.get("output", "")) if isinstance(parsed, dict) else str(parsed)
        except RunFailed:
            picked = answer
        chosen = _pick(picked, scenarios)
        yield Done(
            output={
                "conditions": [
                    {"scenario": s, **({"isFulfilled": True} if i == chosen else {})}
                    for i, s in enumerate(scenarios)
                ],
                "content": scenarios[chosen] if scenarios else picked,
                "usageMetadata": usage_metadata(used.prompt_tokens, used.completion_tokens),
            },
            input={"messages": messages},
            branches={str(chosen)},
        )


def _pick(answer: str, scenarios: list[str]) -> int:
    """The scenario a model named: word for word, then by containment; else the last."""
    norm = answer.strip().strip("\"'.").lower()
    for i, s in enumerate(scenarios):
        if s.strip().lower() == norm:
            return i
    for i, s in enumerate(scenarios):
        if s.strip() and (s.strip().lower() in norm or (norm and norm in s.lower())):
            return i
    return max(len(scenarios) - 1, 0)
