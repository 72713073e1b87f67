"""Memory: the history of a chat session, read from stored chat messages (or from the
request's ``history`` when the client sends one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.bus import keys
from canvasflow.errors import CanvasInvalid, StorageError
from canvasflow.models.base import Message, Usage, complete, transcript
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

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
    inputs = flowise_inputs(
        name, Input("memoryKey", "string", optional=True, default="chat_history")
    )


@register
class BufferWindowMemory(_MemoryNode):
    name = "bufferWindowMemory"
    label = "Buffer Window Memory"
    memory_type = "Buffer Window Memory"
    base_classes = ("BufferWindowMemory", "BaseChatMemory", "BaseMemory")
    inputs = flowise_inputs(
        name, Input("memoryKey", "string", optional=True, default="chat_history")
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
    inputs = flowise_inputs(
        name, Input("memoryKey", "string", optional=True, default="chat_history")
    )

    async def build(self, ctx: RunContext) -> Memory:
        return SummaryMemory(self.get("model"), self.get("sessionId") or None)


def tokens_in(text: str) -> int:
    """An estimate of a text's tokens (about four characters each)."""
    return max(1, len(text) // 4)


class SummaryBufferMemory(Memory):
    """The most recent messages word for word, as many as fit in ``limit`` tokens;
    everything before them as a summary the model writes."""

    def __init__(self, model: Any, session_id: str | None, limit: int) -> None:
        super().__init__("Conversation Summary Buffer Memory", session_id)
        self.model = model
        self.limit = limit

    async def load(self, ctx: RunContext, usage: Usage) -> list[Message]:
        history = await super().load(ctx, usage)
        kept, size = 0, 0
        for message in reversed(history):
            size += tokens_in(str(message["content"]))
            if size > self.limit:
                break
            kept += 1
        older, recent = history[: len(history) - kept], history[len(history) - kept :]
        if not older:
            return recent
        prompt = SUMMARY_PROMPT.replace("{conversation}", transcript(older))
        summary = await complete(self.model, prompt, usage)
        return [
            {"role": "system", "content": f"Summary of the conversation so far: {summary}"},
            *recent,
        ]


@register
class ConversationSummaryBufferMemory(_MemoryNode):
    name = "conversationSummaryBufferMemory"
    label = "Conversation Summary Buffer Memory"
    memory_type = "Conversation Summary Buffer Memory"
    description = "Recent messages as they are, older ones summarised, within a token limit"
    base_classes = (
        "ConversationSummaryBufferMemory",
        "BaseConversationSummaryMemory",
        "BaseChatMemory",
        "BaseMemory",
    )
    inputs = flowise_inputs(
        name, Input("memoryKey", "string", optional=True, default="chat_history")
    )

    async def build(self, ctx: RunContext) -> Memory:
        limit = to_int(self.get("maxTokenLimit"), 2000) or 2000
        return SummaryBufferMemory(self.get("model"), self.get("sessionId") or None, limit)


# -- memories that keep their own history -------------------------------------------------

_REDIS: dict[str, Any] = {}


def _redis(url: str) -> Any:
    import redis.asyncio as aioredis

    client = _REDIS.get(url)
    if client is None:
        client = _REDIS[url] = aioredis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return client


def _stored(role: str, content: str) -> bytes:
    """A message as LangChain (and so Flowise) stores it."""
    kind = "human" if role == "user" else "ai"
    return orjson.dumps({"type": kind, "data": {"content": content}})


class RedisMemory(Memory):
    """The chat's messages in a Redis list (newest first, as Flowise keeps them), kept
    ``ttl`` seconds after the last message."""

    def __init__(self, client: Any, key: str, window: int | None, ttl: int | None) -> None:
        super().__init__("Redis-Backed Chat Memory", None, window)
        self.client = client
        self.key = key
        self.ttl = ttl

    async def load(self, ctx: RunContext, usage: Usage) -> list[Message]:
        if ctx.history is not None:
            return await super().load(ctx, usage)
        end = self.window * 2 - 1 if self.window else -1
        try:
            raw = await self.client.lrange(self.key, 0, end)
        except Exception as exc:
            raise StorageError(f"Redis memory: {exc}") from None
        out: list[Message] = []
        for item in reversed(raw):
            try:
                value = orjson.loads(item)
                role = "user" if value.get("type") == "human" else "assistant"
                out.append({"role": role, "content": str(value["data"]["content"])})
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue
        return out

    async def remember(self, ctx: RunContext, answer: str) -> None:
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.lpush(self.key, _stored("user", ctx.question))
                pipe.lpush(self.key, _stored("assistant", answer))
                if self.ttl:
                    pipe.expire(self.key, self.ttl)
                await pipe.execute()
        except Exception as exc:
            raise StorageError(f"Redis memory: {exc}") from None


async def redis_url_of(node: Node, ctx: RunContext) -> tuple[str, bool]:
    """The Redis a memory node uses, and whether it is the server's own: the node's
    credential (``redisCacheUrlApi`` or ``redisCacheApi``; its host must be allowed),
    else the server's ``REDIS_URL``."""
    from urllib.parse import quote, urlsplit

    from canvasflow.nodes.services import allowed_host, credential_value

    ref = node.get("credential")
    url = await credential_value(ctx, ref, "redisUrl")
    if not url:
        host = await credential_value(ctx, ref, "redisCacheHost")
        if host:
            port = await credential_value(ctx, ref, "redisCachePort") or "6379"
            user = await credential_value(ctx, ref, "redisCacheUser") or ""
            pwd = await credential_value(ctx, ref, "redisCachePwd") or ""
            ssl = to_bool(await credential_value(ctx, ref, "redisCacheSslEnabled"))
            auth = f"{quote(user)}:{quote(pwd)}@" if user or pwd else ""
            url = f"{'rediss' if ssl else 'redis'}://{auth}{host}:{port}"
    own = ctx.settings.redis_url
    if not url:
        if not own:
            raise CanvasInvalid(
                f"node {node.id} ({node.name}) needs Redis: give it a Redis credential, or "
                "run the server with REDIS_URL",
                code="credential_missing",
            )
        return own, True
    theirs = urlsplit(url)
    mine = urlsplit(own) if own else None
    if mine is not None and (theirs.hostname, theirs.port) == (mine.hostname, mine.port):
        return url, True
    allowed_host(ctx, node, url, "Redis")
    return url, False


@register
class RedisBackedChatMemory(_MemoryNode):
    name = "RedisBackedChatMemory"
    needs = (("redis", "redis"),)
    label = "Redis-Backed Chat Memory"
    memory_type = "Redis-Backed Chat Memory"
    description = "The chat's messages kept in Redis"
    base_classes = ("RedisBackedChatMemory", "BaseChatMemory", "BaseMemory")
    inputs = flowise_inputs(
        name,
        Input("memoryKey", "string", optional=True, default="chat_history"),
    )

    async def build(self, ctx: RunContext) -> Memory:
        url, own = await redis_url_of(self, ctx)
        session = str(self.get("sessionId") or ctx.session_id or ctx.chat_id)
        # on the server's own Redis, memories live under their own prefix: a session id
        # cannot name the server's keys
        key = keys.memory(ctx.canvas_id, session) if own else session
        window = to_int(self.get("windowSize"))
        return RedisMemory(_redis(url), key, window or None, to_int(self.get("sessionTTL")))
