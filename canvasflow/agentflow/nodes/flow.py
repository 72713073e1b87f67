"""The flow's own nodes: Loop, Iteration, Human Input, Direct Reply, Execute Flow,
Sticky Note."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.agentflow.nodes.base import STATE, AgentflowNode, Item, empty
from canvasflow.agentflow.nodes.models import answered
from canvasflow.agentflow.runner import Done, FlowRun
from canvasflow.engine.graph import allowed_overrides, parse
from canvasflow.errors import BadRequest, CanvasInvalid, RunFailed
from canvasflow.events import token
from canvasflow.nodes.chains import stream_answer
from canvasflow.runtime.context import RunRequest
from canvasflow.runtime.node import Input, flowise_inputs, register, to_bool, to_int
from canvasflow.runtime.problems import Problem
from canvasflow.runtime.template import as_text

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode


@register
class LoopAgentflow(AgentflowNode):
    name = "loopAgentflow"
    label = "Loop"
    description = "Loop back to a previous node"
    required = ("loopBackToNode",)
    inputs = flowise_inputs(
        name,
        Input("maxLoopCount", "number", optional=True, default=5),
        Input("loopUpdateState", "array", optional=True, array=STATE),
    )

    @staticmethod
    def target(value: Any, nodes: Any) -> str | None:
        text = str(value or "")
        for nid in nodes:
            if text == nid or text.startswith(nid + "-"):
                return str(nid)
        return None

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:

        problems = super().check(node, nodes)
        value = node.inputs.get("loopBackToNode")
        if not empty(value) and cls.target(value, nodes) is None:
            problems.append(
                Problem(
                    f"node {node.id} ({node.label}): loops back to {value!r}, which is not a "
                    "node of this agentflow",
                    node.id,
                    "loopBackToNode",
                )
            )
        return problems

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        target = self.target(node.inputs.get("loopBackToNode"), run.graph.nodes)
        assert target is not None
        count = run.loop_counts.get(node.id, 0)
        limit = to_int(node.inputs.get("maxLoopCount"), 5) or 5
        if count < limit:
            run.loop_counts[node.id] = count + 1
            run.update_state(node.inputs.get("loopUpdateState"), run.last_content)
            yield Done(
                output={"nodeID": target, "loopCount": count + 1},
                input={"loopBackToNode": target, "maxLoopCount": limit},
                loop_to=target,
            )
            return
        message = run.render(node.inputs.get("fallbackMessage"))
        output: dict[str, Any] = {"loopCount": count, "maxLoopCount": limit}
        if message:
            output["content"] = message
            yield token(message)
        yield Done(
            output=output,
            input={"loopBackToNode": target, "maxLoopCount": limit},
            streamed=bool(message),
        )


@register
class IterationAgentflow(AgentflowNode):
    name = "iterationAgentflow"
    label = "Iteration"
    description = "Execute the nodes within the iteration block through N iterations"
    required = ("iterationInput",)
    inputs = flowise_inputs(name)

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        raw = run.render(node.inputs.get("iterationInput"))
        try:
            items = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest(
                f"node {node.id} ({node.label}): the iteration input is not a JSON array: "
                f"{raw[:200]!r}"
            ) from None
        if not isinstance(items, list):
            raise BadRequest(f"node {node.id} ({node.label}): the iteration input must be an array")
        inside = set(run.graph.children.get(node.id, ()))
        results: list[Any] = []
        outer = run.iteration
        try:
            for index, item in enumerate(items):
                run.iteration = item if not isinstance(item, dict) else {**item, "index": index}
                run.last_content = None
                async for event in run.walk(list(run.graph.entries.get(node.id, ())), {}, inside):
                    yield event
                if run.paused is not None:
                    raise CanvasInvalid(
                        "a human input inside an iteration is not supported", node.id
                    )
                results.append(run.last_content)
        finally:
            run.iteration = outer
        content = "\n\n".join(as_text(r) for r in results if r is not None)
        yield Done(
            output={"content": content, "iterations": results}, input={"iterationInput": items}
        )


@register
class HumanInputAgentflow(AgentflowNode):
    name = "humanInputAgentflow"
    label = "Human Input"
    description = "Request human input, approval or rejection during execution"
    model_inputs = ("humanInputModel",)
    inputs = flowise_inputs(
        name,
        Input("humanInputDescriptionType", "options", optional=True, default="fixed"),
        Input("humanInputDescription", "string", optional=True),
        Input("humanInputModel", "asyncOptions", optional=True),
        Input("humanInputModelPrompt", "string", optional=True),
        Input("humanInputEnableFeedback", "boolean", optional=True, default=True),
        add=(Input("humanInputModelConfig", "json", optional=True),),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        inputs = node.inputs
        feedback_on = to_bool(inputs.get("humanInputEnableFeedback"), True)
        human = run.resuming
        if human is not None and human.get("startNodeId", node.id) == node.id:
            run.resuming = {**human, "startNodeId": "-"}  # once per resume
            async for item in self._answered(run, node, human):
                yield item
            return
        if inputs.get("humanInputDescriptionType") == "dynamic" and not empty(
            inputs.get("humanInputModel")
        ):
            model = await run.model(
                inputs.get("humanInputModel"), inputs.get("humanInputModelConfig"), node
            )
            prompt = run.render(inputs.get("humanInputModelPrompt"))
            history = [{"role": m["role"], "content": m["content"]} for m in await run.past()] + [
                {"role": m["role"], "content": m["content"]} for m in run.runtime
            ]
            pieces = []
            async for event in stream_answer(
                model, [*history, {"role": "user", "content": prompt}]
            ):
                if event.kind == "token":
                    pieces.append(event.data)
                else:
                    yield event
            content = "".join(pieces)
        else:
            # Flowise sends a fixed description with two newlines before it
            content = "\n\n" + run.render(inputs.get("humanInputDescription"))
        yield token(content)
        shown = {"messages": [], "humanInputEnableFeedback": feedback_on}
        act = {
            "id": str(uuid.uuid4()),
            "mapping": {"approve": "Proceed", "reject": "Reject"},
            "elements": [
                {"type": "agentflowv2-approve-button", "label": "Proceed"},
                {"type": "agentflowv2-reject-button", "label": "Reject"},
            ],
            "data": {"nodeId": node.id, "nodeLabel": node.label, "input": shown},
        }
        yield Done(
            output={"content": content, "humanInputAction": act},
            input=shown,
            chat_history=[{"role": "assistant", "content": content}],
            pause=act,
            streamed=True,
        )

    async def _answered(
        self, run: FlowRun, node: FlowNode, human: dict[str, Any]
    ) -> AsyncIterator[Item]:
        kind = str(human.get("type"))
        feedback = str(human.get("feedback") or "")
        past = [{"content": m["content"], "role": m["role"]} for m in await run.past()]
        said = [{"role": "user", "content": feedback}] if feedback else []
        common = {"startNodeId": node.id, "feedback": feedback}
        yield Done(
            output={
                "content": feedback,
                "conditions": [
                    {"type": "proceed", **common, "isFulfilled": kind == "proceed"},
                    {"type": "reject", **common, "isFulfilled": kind == "reject"},
                ],
            },
            input={"type": kind, **common, "messages": past + said},
            chat_history=said,
            branches={"0" if kind == "proceed" else "1"},
        )


@register
class DirectReplyAgentflow(AgentflowNode):
    name = "directReplyAgentflow"
    label = "Direct Reply"
    description = "Directly reply to the user with a message"
    required = ("directReplyMessage",)
    inputs = flowise_inputs(name)

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        content = run.render(node.inputs.get("directReplyMessage"))
        yield token(content)
        yield Done(output={"content": content}, input={}, streamed=True)


def flow_of(run: FlowRun) -> dict[str, Any]:
    ctx = run.ctx
    return {
        "chatflowId": ctx.canvas_id,
        "sessionId": ctx.session_id,
        "chatId": ctx.chat_id,
        "input": ctx.question,
        "state": run.state,
    }


@register
class ExecuteFlowAgentflow(AgentflowNode):
    name = "executeFlowAgentflow"
    label = "Execute Flow"
    description = "Execute another flow"
    required = ("executeFlowSelectedFlow",)
    inputs = flowise_inputs(
        name,
        Input("executeFlowInput", "string", optional=True, default="{{ question }}"),
        Input("executeFlowReturnResponseAs", "options", optional=True, default="userMessage"),
        Input("executeFlowUpdateState", "array", optional=True, array=STATE),
        drop=("credential",),  # not taken yet
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        inputs = node.inputs
        ctx = run.ctx
        if ctx.store is None:
            raise RunFailed("Execute Flow needs the database")
        ref = str(inputs.get("executeFlowSelectedFlow"))
        canvas = await ctx.store.get_canvas(ref)
        if canvas is None:
            raise RunFailed(f"node {node.id} ({node.label}): no canvas {ref!r}", code="not_found")
        given = inputs.get("executeFlowInput")
        question = run.render(given if not empty(given) else "{{ question }}")
        raw = inputs.get("executeFlowOverrideConfig")
        try:
            overrides = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
        except orjson.JSONDecodeError:
            overrides = {}
        sub = ctx.running(  # a request of its own, on this one's services and budget
            RunRequest(
                question=question,
                canvas_id=canvas.id,
                chat_id=str(uuid.uuid4()),
                chat_message_id=ctx.chat_message_id,
                history=[],
                streaming=ctx.streaming,
                overrides=overrides if isinstance(overrides, dict) else {},
                trigger=ctx.trigger,
                webhook=ctx.webhook,
                depth=run.depth + 1,
            )
        )
        graph = parse(canvas.flow_data)
        events = graph.events(sub, allowed_overrides(canvas.settings))
        pieces = []
        async for event in events:
            if event.kind == "token":
                pieces.append(event.data)
            elif event.kind in ("usage", "model"):
                yield event
        shown = {"executeFlowInput": question, "executeFlowSelectedFlow": canvas.id}
        for item in answered(run, node, "".join(pieces), shown, "executeFlow"):
            yield item


@register
class StickyNoteAgentflow(AgentflowNode):
    name = "stickyNoteAgentflow"
    label = "Sticky Note"
    description = "Add notes to the agent flow"
    inputs = flowise_inputs(name)

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        yield Done(output={})
