"""The OpenAI chat-completions stream (``/v1/chat/completions``): canvas events as
``chat.completion.chunk`` objects, then ``data: [DONE]``."""

from __future__ import annotations

import time
from typing import Any

import orjson

from canvasflow.events import Event
from canvasflow.server.formats import wire_format


@wire_format("openai")
class OpenAIChunkEncoder:
    """Canvas events as ``chat.completion.chunk`` objects, then ``data: [DONE]``."""

    content_type = b"text/event-stream; charset=utf-8"
    heartbeat = b": ping\n\n"
    heartbeat_setting = "ping_interval"

    def __init__(
        self,
        completion_id: str = "chatcmpl",
        model: str = "",
        include_usage: bool = False,
        **_: Any,
    ) -> None:
        self.base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.include_usage = include_usage
        self.started = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            **self.base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def encode(self, event: Event) -> bytes | tuple[bytes, ...] | None:
        kind = event.kind
        if kind == "token":
            if not self.started:
                self.started = True
                return self._chunk({"role": "assistant", "content": event.data})
            return self._chunk({"content": event.data})
        if kind == "error":
            err = {"error": {"message": event.data["message"], "type": event.data["code"]}}
            return b"data: " + orjson.dumps(err) + b"\n\n"
        if kind == "metadata":
            frames = [
                self._chunk({} if self.started else {"role": "assistant", "content": ""}, "stop")
            ]
            if self.include_usage:
                frames.append(
                    b"data: "
                    + orjson.dumps({**self.base, "choices": [], "usage": event.data["usage"]})
                    + b"\n\n"
                )
            return tuple(frames)
        if kind == "end":
            return b"data: [DONE]\n\n"
        return None
