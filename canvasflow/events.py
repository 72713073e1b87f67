"""Typed events of a prediction: the one source of truth.

Nodes yield events; the :class:`~canvasflow.engine.outcome.Outcome` reducer turns them
into the answer, the stored message and the metadata; the wire encoders turn the
*wire* events into bytes.

Two families:

- wire events (``start``, ``token``, ``step``, ``source``, ``metadata``, ``error``,
  ``end``, ``node`` when asked for, and an agentflow's ``flow`` and ``action``) go to
  the prediction's event log, get an id, and reach clients;
- report events (``usage``, ``model``, ``memory``, ``output``, ``followUp``) say what
  a node did (tokens used, which model answered and how fast, the memory type, a
  structured output, the next questions suggested after the answer). The reducer
  takes them in; they never enter the event log, and everything they say reaches
  clients through ``metadata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EventKind = Literal[
    "start",
    "node",
    "flow",
    "action",
    "token",
    "step",
    "source",
    "metadata",
    "error",
    "end",
    "usage",
    "model",
    "memory",
    "output",
    "followUp",
]

WIRE_KINDS = frozenset(
    {"start", "token", "step", "source", "metadata", "error", "end", "node", "flow", "action"}
)
REPORT_KINDS = frozenset({"usage", "model", "memory", "output", "followUp"})


@dataclass(slots=True)
class Event:
    kind: EventKind
    data: Any
    id: int = 0  # position in the prediction's event log, 1-based; 0 until logged

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "token":
            return {"event": "token", "data": self.data, "text": self.data}
        return {"event": self.kind, "data": self.data}


# -- wire events ------------------------------------------------------------------------


def token(text: str) -> Event:
    return Event("token", text)


def step(name: str, type_: str, input_: Any, output: Any, **extra: Any) -> Event:
    return Event("step", {"step": name, "type": type_, "input": input_, "output": output, **extra})


def source(documents: list[dict[str, Any]]) -> Event:
    return Event("source", documents)


def node(node_id: str, status: str, ms: int | None = None, tokens: int | None = None) -> Event:
    """A node starts (``running``) or finishes (``done``, ``error``), with its time and
    the tokens it streamed: what the studio lights nodes up with. Sent only when the
    request asks for them (``returnNodeEvents``)."""
    data: dict[str, object] = {"nodeId": node_id, "status": status}
    if ms is not None:
        data["ms"] = ms
    if tokens is not None:
        data["tokens"] = tokens
    return Event("node", data)


def flow(status: str, execution_id: str) -> Event:
    """An agentflow's run as a whole: ``INPROGRESS``, then ``FINISHED``, ``STOPPED``
    (waiting for a person) or ``ERROR`` (Flowise's ``agentFlowEvent``)."""
    return Event("flow", {"status": status, "executionId": execution_id})


def flow_step(data: dict[str, Any]) -> Event:
    """An agentflow node starting or finishing: a ``step`` of type ``agentflow`` with the
    node's id, label, kind, status, time, an output summary and, when it finishes, every
    node executed so far (Flowise's ``nextAgentFlow`` and ``agentFlowExecutedData``)."""
    return Event("step", {"step": data.get("label"), "type": "agentflow", **data})


def action(data: dict[str, Any]) -> Event:
    """What the person is asked at a human-input node (proceed / reject), ending the run
    until a prediction with ``humanInput`` resumes it."""
    return Event("action", data)


def error(message: str, code: str) -> Event:
    return Event("error", {"message": message, "code": code})


# -- report events ----------------------------------------------------------------------


def usage(prompt_tokens: int, completion_tokens: int) -> Event:
    """Tokens a model call used (added up by the reducer)."""
    return Event("usage", (prompt_tokens, completion_tokens))


def model(name: str, first_token_s: float | None = None) -> Event:
    """The model answering the user, and (once known) seconds to its first token."""
    return Event("model", (name, first_token_s))


def memory(memory_type: str) -> Event:
    """The memory the answer was given (Flowise's ``memoryType``)."""
    return Event("memory", memory_type)


def follow_up(questions: list[str]) -> Event:
    """The next questions suggested after the answer (the canvas's follow-up prompts)."""
    return Event("followUp", questions)


def output(value: Any) -> Event:
    """A structured output (an output parser's result: the JSON answer's ``json``)."""
    return Event("output", value)
