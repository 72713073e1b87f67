"""The one interface every chat model implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, TypedDict


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


class ModelError(Exception):
    """The model (or its upstream server) failed; ``code`` names the kind of failure."""

    def __init__(self, message: str, code: str = "model_error", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class ChatModel(Protocol):
    model_name: str

    def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        """Yield the answer's text pieces as they come; add token counts to ``usage``."""
        ...


async def complete(model: ChatModel, prompt: str, usage: Usage) -> str:
    """A model's whole answer to one user message (for internal steps: summaries,
    rephrased questions), not streamed to the client."""
    pieces = [piece async for piece in model.stream([{"role": "user", "content": prompt}], usage)]
    return "".join(pieces).strip()


def transcript(messages: list[Message]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
