"""Chains: the ending nodes that turn a question into a streamed answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from canvasflow.events import Event, token
from canvasflow.models.base import ChatModel, Message
from canvasflow.nodes.base import Input, Node, register
from canvasflow.nodes.prompts import Prompt
from canvasflow.nodes.safety import OutputParser, moderate
from canvasflow.observability.tracing import set_attributes, span

if TYPE_CHECKING:
    from canvasflow.engine.context import RunContext
    from canvasflow.nodes.memory import Memory

DEFAULT_SYSTEM = (
    "You are a helpful, friendly assistant. Answer the user's questions clearly and "
    "briefly, and say so when you do not know."
)


async def stream_answer(
    model: ChatModel, messages: list[Message], ctx: RunContext
) -> AsyncIterator[Event]:
    """Stream a model's answer as token events, timing its first token."""
    ctx.model = model.model_name
    started = time.perf_counter()
    first = True
    with span("model call", model=model.model_name, messages=len(messages)) as current:
        async for piece in model.stream(messages, ctx.usage):
            if first:
                first = False
                ctx.model_latency = time.perf_counter() - started
                set_attributes(current, first_token_ms=round(ctx.model_latency * 1000))
            yield token(piece)
        set_attributes(
            current,
            prompt_tokens=ctx.usage.prompt_tokens,
            completion_tokens=ctx.usage.completion_tokens,
        )


@register
class LLMChain(Node):
    name = "llmChain"
    label = "LLM Chain"
    category = "Chains"
    base_classes = ("LLMChain", "BaseChain", "Runnable")
    ending = True
    inputs = (
        Input("model", "BaseLanguageModel"),
        Input("prompt", "BasePromptTemplate"),
        Input("outputParser", "BaseLLMOutputParser", optional=True),
        Input("inputModeration", "Moderation", optional=True, list=True),
        Input("chainName", "string", optional=True),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:  # type: ignore[override]
        moderate(self.get("inputModeration"), ctx.question)
        prompt: Prompt = self.get("prompt")
        messages = prompt.messages(ctx.question, ctx)
        parser: OutputParser | None = self.get("outputParser")
        if parser is None:
            async for event in stream_answer(self.get("model"), messages, ctx):
                yield event
            return
        messages = [{"role": "system", "content": parser.instructions}, *messages]
        pieces: list[str] = []
        async for event in stream_answer(self.get("model"), messages, ctx):
            pieces.append(event.data)
            yield event
        ctx.json_output = parser.parse("".join(pieces))


@register
class ConversationChain(Node):
    name = "conversationChain"
    label = "Conversation Chain"
    category = "Chains"
    base_classes = ("ConversationChain", "LLMChain", "BaseChain", "Runnable")
    ending = True
    inputs = (
        Input("model", "BaseChatModel"),
        Input("memory", "BaseMemory"),
        Input("chatPromptTemplate", "ChatPromptTemplate", optional=True),
        Input("inputModeration", "Moderation", optional=True, list=True),
        Input("systemMessagePrompt", "string", optional=True, default=DEFAULT_SYSTEM),
    )

    async def _messages(self, ctx: RunContext) -> list[Message]:
        memory: Memory = self.get("memory")
        template: Prompt | None = self.get("chatPromptTemplate")
        history = await memory.load(ctx)
        if template is not None:
            turn = template.messages(ctx.question, ctx)
            system, human = (turn[0], turn[1:]) if len(turn) > 1 else (None, turn)
        else:
            system = {"role": "system", "content": str(self.get("systemMessagePrompt"))}
            human = [{"role": "user", "content": ctx.question}]
        return ([system] if system else []) + history + human

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:  # type: ignore[override]
        moderate(self.get("inputModeration"), ctx.question)
        messages = await self._messages(ctx)
        async for event in stream_answer(self.get("model"), messages, ctx):
            yield event
