"""The one reducer: a prediction's events in, its outcome out.

The same :class:`Outcome` makes the JSON answer, the stored message and the
``metadata`` event of a prediction run here, the JSON answer of one run on a worker (it
replays the worker's wire events, ``metadata`` included), the record of a job whose
worker died, and the final fields of the Flowise encoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from canvasflow.events import Event
from canvasflow.models.base import Usage
from canvasflow.runtime.context import Identity, RunContext


class OutcomeView:
    """What the routes and observers read of a prediction (run here or on a worker):
    all of it from its :class:`Outcome`."""

    outcome: Outcome
    ctx: RunContext

    @property
    def id(self) -> str:
        return str(self.ctx.chat_message_id)

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def error(self) -> dict[str, str] | None:
        return self.outcome.error

    @property
    def latency_ms(self) -> int:
        return self.outcome.latency_ms

    def answer(self) -> dict[str, Any]:
        """The JSON answer (once the prediction has ended)."""
        return self.outcome.answer(self.ctx.return_source_documents)


@dataclass
class Outcome:
    who: Identity
    status: str = "running"
    pieces: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    model_latency: float | None = None  # seconds from the model call to its first token
    memory_type: str | None = None
    json_output: Any = None
    sources: list[dict[str, Any]] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    used_tools: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    latency_ms: int = 0
    # an agentflow's run: its id, how it ended, every node it executed, what it asks
    execution_id: str | None = None
    flow_status: str | None = None
    executed: list[dict[str, Any]] | None = None
    action: dict[str, Any] | None = None
    # the next questions suggested after the answer (follow-up prompts)
    follow_ups: list[str] | None = None

    # -- the reducer ------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        kind, data = event.kind, event.data
        if kind == "token":
            self.pieces.append(data)
        elif kind == "usage":
            self.usage.add(data[0], data[1])
        elif kind == "model":
            self.model = data[0]
            if data[1] is not None:
                self.model_latency = data[1]
        elif kind == "source":
            self.sources = data
        elif kind == "step":
            if data.get("type") == "agentflow":
                if "executed" in data:
                    self.executed = data["executed"]
                return
            self.steps.append(data)
            if data.get("type") == "tool":
                self.used_tools.append(
                    {"tool": data["step"], "toolInput": data["input"], "toolOutput": data["output"]}
                )
        elif kind == "memory":
            self.memory_type = data
        elif kind == "output":
            self.json_output = data
        elif kind == "flow":
            self.execution_id = data["executionId"]
            self.flow_status = data["status"]
        elif kind == "action":
            self.action = data
        elif kind == "followUp":
            self.follow_ups = data
        elif kind == "error":
            self.error = data
            self.status = "error"
        elif kind == "metadata":  # replayed from another process: it says the rest
            self.status = data.get("status") or self.status
            self.model = data.get("model")
            self.memory_type = data.get("memoryType")
            u = data.get("usage") or {}
            self.usage = Usage(u.get("prompt_tokens", 0), u.get("completion_tokens", 0))
            self.used_tools = data.get("usedTools") or self.used_tools
            self.json_output = data.get("json", self.json_output)
            self.latency_ms = data.get("latency_ms") or self.latency_ms
            self.execution_id = data.get("executionId", self.execution_id)
            self.flow_status = data.get("flowStatus", self.flow_status)
            self.action = data.get("action", self.action)
            if data.get("followUpPrompts"):
                self.follow_ups = orjson.loads(data["followUpPrompts"])

    def fail(self, error: dict[str, str]) -> Event:
        """Record a failure; the ``error`` event to log."""
        self.error = error
        self.status = "error"
        return Event("error", error)

    # -- what it makes ----------------------------------------------------------------

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def tokens(self) -> int:
        return len(self.pieces)

    @property
    def follow_ups_json(self) -> str:
        return orjson.dumps(self.follow_ups or []).decode()

    def metadata(self) -> dict[str, Any]:
        who = self.who
        meta: dict[str, Any] = {
            "chatId": who.chat_id,
            "chatMessageId": who.chat_message_id,
            "sessionId": who.session_id,
            "question": who.question,
            "memoryType": self.memory_type,
            "model": self.model,
            "tokens_used": self.usage.total_tokens,
            "usage": self.usage.as_dict(),
            "latency_ms": self.latency_ms,
            "status": self.status,
        }
        if self.used_tools:
            meta["usedTools"] = self.used_tools
        if self.json_output is not None:
            meta["json"] = self.json_output
        if self.execution_id is not None:
            meta["executionId"] = self.execution_id
            meta["flowStatus"] = self.flow_status
            meta["executedNodes"] = [
                {"nodeId": e["nodeId"], "nodeLabel": e["nodeLabel"], "status": e["status"]}
                for e in self.executed or ()
            ]
        if self.action is not None:
            meta["action"] = self.action
        if self.follow_ups:  # a JSON string, as Flowise's widget reads it
            meta["followUpPrompts"] = self.follow_ups_json
        return meta

    def answer(self, return_sources: bool) -> dict[str, Any]:
        """The JSON answer of a prediction."""
        who = self.who
        out: dict[str, Any] = {
            "text": self.text,
            "question": who.question,
            "chatId": who.chat_id,
            "chatMessageId": who.chat_message_id,
            "sessionId": who.session_id,
            "isStreamValid": False,
            "usage": self.usage.as_dict(),
            "model": self.model,
            "status": self.status,
        }
        if self.memory_type:
            out["memoryType"] = self.memory_type
        if self.sources and return_sources:
            out["sourceDocuments"] = self.sources
        if self.used_tools:
            out["usedTools"] = self.used_tools
        if self.json_output is not None:
            out["json"] = self.json_output
        if self.execution_id is not None:
            out["executionId"] = self.execution_id
            out["agentFlowExecutedData"] = self.executed or []
        if self.action is not None:
            out["action"] = self.action
        if self.follow_ups:
            out["followUpPrompts"] = self.follow_ups_json
        return out

    def message(self) -> dict[str, Any]:
        """The stored exchange (``Store.save_exchange``'s arguments)."""
        who = self.who
        return {
            "canvas_id": who.canvas_id,
            "chat_id": who.chat_id or "",
            "session_id": who.session_id or "",
            "question": who.question or "",
            "answer": self.text,
            "answer_id": who.chat_message_id,
            "status": self.status,
            "usage": self.usage.as_dict(),
            "source_documents": self.sources,
            "used_tools": self.used_tools,
        }

    def reasoning(self) -> list[dict[str, Any]]:
        """Steps other than tool calls, as Flowise's ``agentReasoning``."""
        return [
            {"agentName": s["step"], "messages": [s.get("output")], **s}
            for s in self.steps
            if s.get("type") != "tool"
        ]
