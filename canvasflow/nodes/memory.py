"""Memory: the history of a chat session, read from stored chat messages (or from the
request's ``history`` when the client sends one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from canvasflow.models.base import Message, Usage, complete, transcript
from canvasflow.nodes.base import Input, Node, register, to_int

if TYPE_CHECKING:
    from canvasflow.engine.context import RunContext

_ROLES = {"userMessage": "user", "apiMessage": "assistant"}


class Memory:
    def __init__(self, memory_type: str, session_id: str | None, window: int | None = None):
        self.memory_type = memory_type
        self.session_id = session_id
        self.window = window  # number of exchanges kept, None for all

    async def load(self, ctx: RunContext, usage: Usage) -> list[Message]:
        """The history for this chat; a model call made for it adds to ``usage``."""
        if ctx.history is not None:
            history = list(ctx.history)
        elif ctx.store is not None:
            limit = self.window * 2 if self.window else None
            rows = await ctx.store.session_history(
                ctx.canvas_id, self.session_id or ctx.session_id, limit
            )
            history = [
                {"role": _ROLES.get(r.role, "user"), "content": r.content}
                for r in rows
                if r.content
            ]
        else:
            history = []
        if self.window:
            history = history[-self.window * 2 :]
        return history


class _MemoryNode(Node):
    category = "Memory"
    memory_type = "Buffer Memory"

    def window(self) -> int | None:
        return None

    async def build(self, ctx: RunContext) -> Memory:
        return Memory(self.memory_type, self.get("sessionId") or None, self.window())


@register
class BufferMemory(_MemoryNode):
    name = "bufferMemory"
    label = "Buffer Memory"
    base_classes = ("BufferMemory", "BaseChatMemory", "BaseMemory")
    inputs = (
        Input("sessionId", "string", optional=True, default=""),
        Input("memoryKey", "string", optional=True, default="chat_history"),
    )


@register
class BufferWindowMemory(_MemoryNode):
    name = "bufferWindowMemory"
    label = "Buffer Window Memory"
    memory_type = "Buffer Window Memory"
    base_classes = ("BufferWindowMemory", "BaseChatMemory", "BaseMemory")
    inputs = (
        Input("k", "number", default="4"),
        Input("sessionId", "string", optional=True, default=""),
        Input("memoryKey", "string", optional=True, default="chat_history"),
    )

    def window(self) -> int | None:
        return max(1, to_int(self.get("k"), 4) or 4)


SUMMARY_PROMPT = (
    "Summarise the conversation below in a few sentences, keeping names, facts and "
    "decisions.\n\n{conversation}"
)


class SummaryMemory(Memory):
    """The last exchange word for word, everything before it as a summary the model writes."""

    def __init__(self, model: Any, session_id: str | None) -> None:
        super().__init__("Conversation Summary Memory", session_id)
        self.model = model

    async def load(self, ctx: RunContext, usage: Usage) -> list[Message]:
        history = await super().load(ctx, usage)
        if len(history) <= 2:
            return history
        older, recent = history[:-2], history[-2:]
        prompt = SUMMARY_PROMPT.replace("{conversation}", transcript(older))
        summary = await complete(self.model, prompt, usage)
        return [
            {"role": "system", "content": f"Summary of the conversation so far: {summary}"},
            *recent,
        ]


@register
class ConversationSummaryMemory(_MemoryNode):
    name = "conversationSummaryMemory"
    label = "Conversation Summary Memory"
    memory_type = "Conversation Summary Memory"
    base_classes = (
        "ConversationSummaryMemory",
        "BaseConversationSummaryMemory",
        "BaseChatMemory",
        "BaseMemory",
    )
    inputs = (
        Input("model", "BaseChatModel"),
        Input("sessionId", "string", optional=True, default=""),
        Input("memoryKey", "string", optional=True, default="chat_history"),
    )

    async def build(self, ctx: RunContext) -> Memory:
        return SummaryMemory(self.get("model"), self.get("sessionId") or None)
