"""Chains: the ending nodes that turn a question into a streamed answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from canvasflow.events import Event, token
from canvasflow.events import memory as memory_event
from canvasflow.events import model as model_event
from canvasflow.events import output as output_event
from canvasflow.events import usage as usage_event
from canvasflow.models.base import ChatModel, Message, Usage, supports
from canvasflow.models.deadlines import Deadlines, guarded
from canvasflow.nodes.prompts import Prompt
from canvasflow.nodes.safety import OutputParser, moderate
from canvasflow.observability import llm_spans
from canvasflow.observability.tracing import set_attributes, span
from canvasflow.runtime.node import Input, Node, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.nodes.memory import Memory
    from canvasflow.runtime.context import RunContext

DEFAULT_SYSTEM = (
    "You are a helpful, friendly assistant. Answer the user's questions clearly and "
    "briefly, and say so when you do not know."
)


async def stream_answer(model: ChatModel, messages: list[Message]) -> AsyncIterator[Event]:
    """Stream a model's answer as token events; report the model, the time to its
    first token and the tokens used."""
    yield model_event(model.model_name)
    used = Usage()
    started = time.perf_counter()
    first = True
    # its model, messages and token counts are its LLM attributes (llm_spans)
    with span("model call", later=llm_spans.model_call(model.model_name, messages)) as current:
        limits = getattr(model, "deadlines", None) or Deadlines()
        # the answer, for the span, only when a trace records it
        kept: list[str] | None = [] if current is not None and llm_spans.CONTENT else None
        try:
            async for piece in guarded(model.stream(messages, used), model.model_name, limits):
                if first:
                    first = False
                    latency = time.perf_counter() - started
                    set_attributes(current, first_token_ms=round(latency * 1000))
                    yield model_event(model.model_name, latency)
                if kept is not None:
                    kept.append(piece)
                yield token(piece)
        except Exception:
            yield usage_event(used.prompt_tokens, used.completion_tokens)
            raise
        llm_spans.model_answered(
            current,
            "".join(kept) if kept is not None else None,
            used.prompt_tokens,
            used.completion_tokens,
        )
        yield usage_event(used.prompt_tokens, used.completion_tokens)


def with_uploads(messages: list[Message], ctx: RunContext, model: ChatModel) -> list[Any]:
    """The user's last message with what the client uploaded: files' text after the
    question, images as content parts for a model that sees them."""
    if not ctx.images and not ctx.attachments:
        return messages
    out: list[Any] = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i]["role"] == "user":
            text = str(out[i]["content"])
            if ctx.attachments:
                text += "\n\nFiles the user sent:\n\n" + "\n\n".join(ctx.attachments)
            content: Any = text
            if ctx.images and supports(model, "vision"):
                content = [{"type": "text", "text": text}] + [
                    {"type": "image_url", "image_url": {"url": url}} for url in ctx.images
                ]
            out[i] = {"role": "user", "content": content}
            break
    return out


async def load_memory(memory: Memory, ctx: RunContext) -> tuple[list[Event], list[Message]]:
    """A memory's history for this chat, and the events that report it (its type, the
    tokens a summary cost)."""
    reported = [memory_event(memory.memory_type)]
    used = Usage()
    history = await memory.load(ctx, used)
    if used.total_tokens:
        reported.append(usage_event(used.prompt_tokens, used.completion_tokens))
    return reported, history


@register
class LLMChain(Node):
    name = "llmChain"
    label = "LLM Chain"
    category = "Chains"
    base_classes = ("LLMChain", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(name)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        prompt: Prompt = self.get("prompt")
        messages = prompt.messages(ctx.question, ctx)
        parser: OutputParser | None = self.get("outputParser")
        messages = with_uploads(messages, ctx, self.get("model"))
        if parser is None:
            async for event in stream_answer(self.get("model"), messages):
                yield event
            return
        messages = [{"role": "system", "content": parser.instructions}, *messages]
        pieces: list[str] = []
        async for event in stream_answer(self.get("model"), messages):
            if event.kind == "token":
                pieces.append(event.data)
            yield event
        yield output_event(parser.parse("".join(pieces)))


@register
class ConversationChain(Node):
    name = "conversationChain"
    label = "Conversation Chain"
    category = "Chains"
    base_classes = ("ConversationChain", "LLMChain", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(
        name, Input("systemMessagePrompt", "string", optional=True, default=DEFAULT_SYSTEM)
    )

    def _messages(self, ctx: RunContext, history: list[Message]) -> list[Message]:
        template: Prompt | None = self.get("chatPromptTemplate")
        if template is not None:
            turn = template.messages(ctx.question, ctx)
            system, human = (turn[0], turn[1:]) if len(turn) > 1 else (None, turn)
        else:
            system = {"role": "system", "content": str(self.get("systemMessagePrompt"))}
            human = [{"role": "user", "content": ctx.question}]
        return ([system] if system else []) + history + human

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        reported, history = await load_memory(self.get("memory"), ctx)
        for event in reported:
            yield event
        model = self.get("model")
        messages = with_uploads(self._messages(ctx, history), ctx, model)
        async for event in stream_answer(model, messages):
            yield event
