"""What a running prediction knows: the question, the chat, the overrides, the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvasflow.models.base import Message, Usage

if TYPE_CHECKING:
    from canvasflow.store.repo import Store


@dataclass
class RunContext:
    question: str
    canvas_id: str = ""
    chat_id: str = ""
    session_id: str = ""
    chat_message_id: str = ""
    # history given in the request body, normalised to chat messages
    history: list[Message] | None = None
    # whether the client reads a stream (else a model may answer in one piece)
    streaming: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    store: Store | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    memory_type: str | None = None
    return_source_documents: bool = False
    return_intermediate_steps: bool = False
    # filled by nodes while running, reported in the JSON answer / stored message
    source_documents: list[dict[str, Any]] = field(default_factory=list)
    used_tools: list[dict[str, Any]] = field(default_factory=list)
    json_output: Any = None
    # seconds from the model call to its first token, when a model was called
    model_latency: float | None = None

    @property
    def vars(self) -> dict[str, Any]:
        value = self.overrides.get("vars")
        return value if isinstance(value, dict) else {}
