"""Chains that route: the model picks the prompt (``multiPromptChain``) or the retriever
(``multiRetrievalQAChain``) best suited to the question from their names and
descriptions; and ``vectorDBQAChain``, question answering over a vector store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.events import Event, step
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Message, Usage, complete
from canvasflow.nodes.chains import stream_answer
from canvasflow.nodes.retrieval import RetrievalQAChain, answer_from
from canvasflow.nodes.safety import moderate
from canvasflow.runtime.node import Input, Node, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

DEFAULT = "DEFAULT"
ROUTER = """Given a raw text input to a language model, select the destination best \
suited for the input. You are given the names of the destinations and what each one is \
best suited for. Answer DEFAULT when none of them fits.

<< CANDIDATES >>
{destinations}

<< INPUT >>
{input}

Answer with JSON that matches this JSON schema, and nothing else: {schema}"""


class Destination:
    """Something a router can send the question to: a name, what it is good for, and
    the prompt's system message or the retriever."""

    def __init__(self, name: str, description: str, target: Any) -> None:
        self.name = name
        self.description = description
        self.target = target


async def route(
    model: Any, destinations: list[Destination], question: str
) -> tuple[Destination | None, Usage]:
    """The destination the model picks (None for DEFAULT, or an answer that names none)."""
    names = [d.name for d in destinations]
    schema = {
        "type": "object",
        "properties": {"destination": {"type": "string", "enum": [*names, DEFAULT]}},
        "required": ["destination"],
    }
    listed = "\n".join(f"{d.name}: {d.description}" for d in destinations)
    prompt = (
        ROUTER.replace("{destinations}", listed)
        .replace("{input}", question)
        .replace("{schema}", orjson.dumps(schema).decode())
    )
    used = Usage()
    text = await complete(model, prompt, used)
    start, end = text.find("{"), text.rfind("}")
    chosen = ""
    if 0 <= start < end:
        try:
            chosen = str(orjson.loads(text[start : end + 1]).get("destination") or "")
        except (orjson.JSONDecodeError, AttributeError):
            chosen = ""
    by_name = {d.name: d for d in destinations}
    return by_name.get(chosen.strip()), used


def _list(raw: Any) -> list[Any]:
    return [r for r in (raw if isinstance(raw, list) else [raw]) if r is not None and r != ""]


@register
class PromptRetriever(Node):
    name = "promptRetriever"
    label = "Prompt Retriever"
    category = "Retrievers"
    description = "A prompt a multi-prompt chain may route to: its name, use and system message"
    base_classes = ("PromptRetriever",)
    inputs = flowise_inputs(name, Input("systemMessage", "string", rows=4))

    async def build(self, ctx: RunContext) -> Destination:
        return Destination(
            str(self.get("name")), str(self.get("description")), str(self.get("systemMessage"))
        )


@register
class VectorStoreRetrieverNode(Node):
    name = "vectorStoreRetriever"
    label = "Vector Store Retriever"
    category = "Retrievers"
    description = "A vector store a multi-retrieval chain may route to, with its name and use"
    base_classes = ("VectorStoreRetriever",)
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> Destination:
        return Destination(
            str(self.get("name")), str(self.get("description")), self.get("vectorStore")
        )


@register
class MultiPromptChain(Node):
    name = "multiPromptChain"
    label = "Multi Prompt Chain"
    category = "Chains"
    description = "Routes the question to the prompt best suited for it"
    base_classes = ("MultiPromptChain", "MultiRouteChain", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(name)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        chosen, used = await route(model, _list(self.get("promptRetriever")), ctx.question)
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        yield step("router", "chain", ctx.question, chosen.name if chosen else DEFAULT)
        messages: list[Message] = [{"role": "user", "content": ctx.question}]
        if chosen is not None:
            messages.insert(0, {"role": "system", "content": str(chosen.target)})
        async for event in stream_answer(model, messages):
            yield event


@register
class MultiRetrievalQAChain(Node):
    name = "multiRetrievalQAChain"
    label = "Multi Retrieval QA Chain"
    category = "Chains"
    description = "Routes the question to the vector store best suited for it, then answers"
    base_classes = ("MultiRetrievalQAChain", "MultiRouteChain", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(name)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        destinations = [
            d for d in _list(self.get("vectorStoreRetriever")) if isinstance(d, Destination)
        ]
        chosen, used = await route(model, destinations, ctx.question)
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        yield step("router", "chain", ctx.question, chosen.name if chosen else DEFAULT)
        if chosen is None:  # no store fits: the model answers on its own
            async for event in stream_answer(model, [{"role": "user", "content": ctx.question}]):
                yield event
            return
        async for event in answer_from(model, chosen.target, ctx.question):
            yield event


@register
class VectorDBQAChain(RetrievalQAChain):
    """The retrieval QA chain over a vector store (Flowise's older name and input)."""

    name = "vectorDBQAChain"
    label = "VectorDB QA Chain"
    description = "Answers from the documents of a vector store nearest the question"
    base_classes = ("VectorDBQAChain", "BaseChain", "Runnable")
    retriever_input = "vectorStore"
    inputs = flowise_inputs(name)
