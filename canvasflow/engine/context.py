"""What a running prediction is given: the question, the chat, the overrides, the store,
the settings. Read-only: nodes report what they do through events, never by writing
here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvasflow.config import Settings
from canvasflow.engine.outcome import Identity
from canvasflow.models.base import Message

if TYPE_CHECKING:
    from canvasflow.credentials import Credentials
    from canvasflow.store.repo import Store


@dataclass(frozen=True, slots=True)
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
    settings: Settings = field(default_factory=Settings)
    # the stored credentials nodes may name (decrypted on demand, cached)
    credentials: Credentials | None = None
    return_source_documents: bool = False
    return_intermediate_steps: bool = False
    return_node_events: bool = False
    # what the client uploaded: images (data or http(s) URLs) for a vision-capable model,
    # and the text of files, read with the question
    images: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    # an agentflow: the answer to a paused run's human input ({type, startNodeId,
    # feedback}), and a Start node's form values
    human_input: dict[str, Any] | None = None
    form: dict[str, Any] | None = None

    @property
    def vars(self) -> dict[str, Any]:
        value = self.overrides.get("vars")
        return value if isinstance(value, dict) else {}

    def identity(self) -> Identity:
        return Identity(
            chat_id=self.chat_id,
            chat_message_id=self.chat_message_id,
            session_id=self.session_id,
            question=self.question,
            canvas_id=self.canvas_id,
        )
