"""The guide's format: ``id: n`` / ``data: {json}`` frames; ``data: [DONE]`` after ``end``."""

from __future__ import annotations

from typing import Any

import orjson

from canvasflow.events import Event
from canvasflow.server.formats import wire_format


@wire_format("canvasflow")
class CanvasflowEncoder:
    content_type = b"text/event-stream; charset=utf-8"
    heartbeat = b": ping\n\n"
    heartbeat_setting = "ping_interval"

    def __init__(self, **_: Any) -> None:
        pass

    def encode(self, event: Event) -> bytes | None:
        if event.kind == "step" and "executed" in event.data:  # an agentflow node: the
            # executed data of every node is in the JSON answer, not in each event
            data = {k: v for k, v in event.data.items() if k != "executed"}
            body = orjson.dumps({"event": "step", "data": data})
        else:
            body = orjson.dumps(event.as_dict())
        if not event.id:  # not from the log (a server notice): no id, so resume is unaffected
            return b"data: %s\n\n" % body
        if event.kind == "end":
            return b"id: %d\ndata: %s\n\ndata: [DONE]\n\n" % (event.id, body)
        return b"id: %d\ndata: %s\n\n" % (event.id, body)
