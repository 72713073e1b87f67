"""What is wrong with a canvas, where the studio can show it; the error that refuses a
canvas names every problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canvasflow.errors import CanvasInvalid


@dataclass
class Problem:
    """One thing wrong with a canvas, where the studio can show it."""

    message: str
    node_id: str | None = None
    input: str | None = None
    # "error": the canvas cannot run; "warning": it runs, but look (an unknown input
    # name, a credential canvasflow does not store)
    level: str = "error"
    # a canvas with a "structure" problem is refused at save (not JSON, unknown node)
    kind: str = "value"

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "input": self.input,
            "message": self.message,
            "level": self.level,
        }


def refuse(problems: list[Problem]) -> CanvasInvalid:
    errors = [p for p in problems if p.level == "error"]
    exc = CanvasInvalid("; ".join(p.message for p in errors), errors[0].node_id if errors else None)
    exc.problems = list(errors)
    return exc
