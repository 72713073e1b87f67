"""What the SDK sends (PredictionData) and what it yields (events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PredictionData:
    """A prediction request, with the names of the streaming guide (``canvasId``;
    ``chatflowId`` is accepted as a synonym)."""

    canvasId: str | None = None
    question: str = ""
    streaming: bool = False
    overrideConfig: dict[str, Any] | None = None
    chatId: str | None = None
    history: list[dict[str, Any]] | None = None
    uploads: list[dict[str, Any]] | None = None
    chatflowId: str | None = None
    streamFormat: str | None = None
    # an agentflow: resume one stopped at a human input ({"type": "proceed" | "reject",
    # "startNodeId", "feedback"}), or a Start form's values
    humanInput: dict[str, Any] | None = None
    form: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.canvasId:
            self.canvasId = self.chatflowId
        if not self.canvasId:
            raise ValueError("PredictionData needs canvasId (or chatflowId)")

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"question": self.question, "streaming": self.streaming}
        for key in (
            "overrideConfig",
            "chatId",
            "history",
            "uploads",
            "streamFormat",
            "humanInput",
            "form",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class StreamEvent:
    """One event of a stream, typed. ``text`` is the token for token events."""

    event: str
    data: Any
    id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def text(self) -> str:
        return self.data if self.event == "token" and isinstance(self.data, str) else ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.raw) if self.raw else {"event": self.event, "data": self.data}
