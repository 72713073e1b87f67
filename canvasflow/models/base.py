"""The one interface every chat model implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

# Idle upstream connections an httpx model client keeps for the next call (the official
# openai client's for Azure, tool calls and embeddings; Ollama's and Anthropic's; the
# plain chat completion goes through models/upstream.py on aiohttp instead). Not more:
# httpcore's pool, on every request and every response's end, checks each idle
# connection against a count of all its connections, so thousands kept idle made a
# burst's starts quadratic (with streamed answers' connections reused and 10,000 kept, a
# 500-stream burst's first tokens took 7.9 s; BENCHMARKS.md). Past this many connections
# in all, a finished call's connection is closed.
KEEP_IDLE_CONNECTIONS = 100


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


Capability = str  # "stream", "usage", "tools", "json"


class ChatModel(Protocol):
    """A chat model. ``capabilities`` says what it can do beyond streaming text:
    ``usage`` (reports token counts), ``tools`` (has ``chat_with_tools``), ``json``
    (a JSON-only answer mode)."""

    model_name: str
    capabilities: frozenset[Capability]

    def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        """Yield the answer's text pieces as they come; add token counts to ``usage``."""
        ...


PROVIDERS: dict[str, type] = {}


def provider(name: str) -> Any:
    """Register a chat-model class under a provider name (for the catalogue and
    ``supports``). A new provider is one module in this package that defines its class
    with this decorator and its ``capabilities``."""

    def register(cls: type) -> type:
        PROVIDERS[name] = cls
        cls.provider = name  # type: ignore[attr-defined]  # set by the decorator on the provider class
        return cls

    return register


def supports(model: Any, capability: Capability) -> bool:
    return capability in getattr(model, "capabilities", ())


async def complete(model: ChatModel, prompt: str, usage: Usage) -> str:
    """A model's whole answer to one user message (for internal steps: summaries,
    rephrased questions), not streamed to the client."""
    pieces = [piece async for piece in model.stream([{"role": "user", "content": prompt}], usage)]
    return "".join(pieces).strip()


def transcript(messages: list[Message]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
