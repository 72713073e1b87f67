"""Typed events of a prediction. The engine yields them; only the server's encoders
turn them into bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EventKind = Literal["start", "token", "step", "source", "metadata", "error", "end"]


@dataclass(slots=True)
class Event:
    kind: EventKind
    data: Any
    id: int = 0  # position in the prediction's event log, 1-based; 0 until logged

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "token":
            return {"event": "token", "data": self.data, "text": self.data}
        return {"event": self.kind, "data": self.data}


def token(text: str) -> Event:
    return Event("token", text)


def step(name: str, type_: str, input_: Any, output: Any, **extra: Any) -> Event:
    return Event("step", {"step": name, "type": type_, "input": input_, "output": output, **extra})


def source(documents: list[dict[str, Any]]) -> Event:
    return Event("source", documents)
