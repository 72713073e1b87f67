"""Flowise 3.1's format: ``message:`` / ``data:{json}``, no ids, no bare [DONE]."""

from __future__ import annotations

from typing import Any

import orjson

from canvasflow.engine.outcome import Identity, Outcome
from canvasflow.events import Event
from canvasflow.server.formats import wire_format


@wire_format("flowise")
class FlowiseEncoder:
    """Sources and tool steps are held back (in an :class:`Outcome`, the same reducer
    every prediction uses) and sent just before ``metadata``, where Flowise sends
    ``sourceDocuments``, ``usedTools`` and ``agentReasoning``. After an ``error`` Flowise
    sends only ``end``, so ``metadata`` is left out then."""

    content_type = b"text/event-stream"
    heartbeat = b":heartbeat\n\n"
    heartbeat_setting = "flowise_heartbeat_interval"

    def __init__(self, **_: Any) -> None:
        self.outcome = Outcome(Identity(None, "", None, None))

    @staticmethod
    def frame(name: str, data: Any) -> bytes:
        body = orjson.dumps({"event": name, "data": data})
        if b"data:" in body:  # FlowisePy deletes every "data:" it sees in a line
            body = body.replace(b"data:", b"data\\u003a")
        return b"message:\ndata:" + body + b"\n\n"

    def encode(self, event: Event) -> bytes | tuple[bytes, ...] | None:
        kind = event.kind
        if kind == "token":
            return self.frame("token", event.data)
        if kind == "start":  # an agentflow's stream starts with agentFlowEvent
            return None if event.data.get("agentflow") else self.frame("start", "")
        if kind == "flow":
            return self.frame("agentFlowEvent", event.data["status"])
        if kind == "action":
            return self.frame("action", event.data)
        if kind == "step" and event.data.get("type") == "agentflow":
            return self.agentflow_step(event.data)
        if kind in ("source", "step"):
            self.outcome.apply(event)
            return None
        if kind == "metadata":
            if self.outcome.error is not None:
                return None
            meta = event.data
            frames = []
            if self.outcome.sources is not None:
                frames.append(self.frame("sourceDocuments", self.outcome.sources))
            # tool calls come with metadata (usedTools), whether steps were asked for or not
            if meta.get("usedTools"):
                frames.append(self.frame("usedTools", meta["usedTools"]))
            reasoning = self.outcome.reasoning()
            if reasoning:
                frames.append(self.frame("agentReasoning", reasoning))
            data = {
                "chatId": meta["chatId"],
                "chatMessageId": meta["chatMessageId"],
                "question": meta["question"],
                "sessionId": meta["sessionId"],
            }
            if "executionId" in meta:  # an agentflow: no question when it resumes
                if not meta["question"]:
                    del data["question"]
                if meta.get("action"):
                    data["action"] = meta["action"]
            elif meta.get("memoryType"):
                data["memoryType"] = meta["memoryType"]
            if meta.get("followUpPrompts"):  # a JSON string: the widget parses it
                data["followUpPrompts"] = meta["followUpPrompts"]
            frames.append(self.frame("metadata", data))
            return tuple(frames)
        if kind == "error":
            self.outcome.apply(event)
            return self.frame("error", event.data.get("message", "error"))
        if kind == "end":
            return self.frame("end", "[DONE]")
        return None

    def agentflow_step(self, step: dict[str, Any]) -> bytes | tuple[bytes, ...]:
        """A node starting (``nextAgentFlow``) or finishing: the model's tool calls and
        usage when its answer was streamed, ``nextAgentFlow``, then every node executed
        so far (``agentFlowExecutedData``)."""
        status = step["status"]
        head = self.frame(
            "nextAgentFlow",
            {"nodeId": step["nodeId"], "nodeLabel": step["label"], "status": status},
        )
        if status == "INPROGRESS":
            return head
        frames = []
        if step.get("streamed") and "usage" in step:
            frames.append(self.frame("calledTools", step.get("calledTools") or []))
            frames.append(self.frame("usageMetadata", step["usage"]))
        frames.append(head)
        if "executed" in step:
            frames.append(self.frame("agentFlowExecutedData", step["executed"]))
        return tuple(frames)
