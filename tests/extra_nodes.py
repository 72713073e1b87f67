"""A node family loaded through CANVASFLOW_NODE_MODULES, as a user's own nodes would be.
``scriptedSteps`` emits a retrieval step, a tool step and source documents, then the
answer of the chat model connected to it: the events the guide's handlers expect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from canvasflow.events import Event, source, step
from canvasflow.nodes.base import Input, Node, register
from canvasflow.nodes.chains import stream_answer


@register
class ScriptedSteps(Node):
    name = "scriptedSteps"
    label = "Scripted steps (tests)"
    category = "Chains"
    base_classes = ("ScriptedSteps", "BaseChain")
    ending = True
    inputs = (Input("model", "BaseChatModel"),)

    async def run(self, ctx: Any) -> AsyncIterator[Event]:  # type: ignore[override]
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
        yield step("retriever", "retriever", ctx.question, f"{len(docs)} documents")
        yield step("calculator", "tool", {"input": "12*7"}, "84")
        yield source(docs)
        async for event in stream_answer(
            self.get("model"), [{"role": "user", "content": ctx.question}]
        ):
            yield event
