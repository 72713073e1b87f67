"""Deadlines of a model call: to its first token, between two tokens, for the whole
answer. One timer per call, re-armed lazily (a token costs one float store, not a timer
or a task), that cancels the call when a deadline passes; the cancellation comes back
as :class:`UpstreamTimeout` naming the model and the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

from canvasflow.errors import UpstreamTimeout

WHAT = {
    "first": ("sent no first token within {s:g} s", "CANVASFLOW_MODEL_FIRST_TOKEN_TIMEOUT"),
    "idle": ("sent nothing for {s:g} s", "CANVASFLOW_MODEL_IDLE_TIMEOUT"),
    "total": ("did not finish within {s:g} s", "CANVASFLOW_MODEL_TOTAL_TIMEOUT"),
}


@dataclass(frozen=True, slots=True)
class Deadlines:
    first: float = 60.0
    idle: float = 60.0
    total: float = 600.0
    # a node's own limit (Flowise's `timeout`, ms) shortens them all
    node_limit: float | None = None

    @classmethod
    def of(cls, settings: object, node_timeout_ms: float | None = None) -> Deadlines:
        node = node_timeout_ms / 1000 if node_timeout_ms else None
        return cls(
            first=getattr(settings, "model_first_token_timeout", 60.0),
            idle=getattr(settings, "model_idle_timeout", 60.0),
            total=getattr(settings, "model_total_timeout", 600.0),
            node_limit=node,
        )


T = TypeVar("T")


async def guarded(pieces: AsyncIterator[T], model: str, d: Deadlines) -> AsyncIterator[T]:
    """``pieces`` under the deadlines ``d``. Must be consumed by one task (the one that
    iterates it); the call is cancelled in that task when a deadline passes."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    start = loop.time()
    total = d.total if d.node_limit is None else min(d.total, d.node_limit)
    first = d.first if d.node_limit is None else min(d.first, d.node_limit)
    idle = d.idle if d.node_limit is None else min(d.idle, d.node_limit)
    end = start + total
    state: dict[str, Any] = {"at": min(start + first, end), "which": "first", "fired": ""}
    handle: asyncio.TimerHandle | None = None

    def check() -> None:
        nonlocal handle
        if loop.time() >= state["at"]:
            state["fired"] = "total" if state["at"] >= end else str(state["which"])
            task.cancel()
        else:
            handle = loop.call_at(state["at"], check)

    handle = loop.call_at(state["at"], check)
    try:
        async for piece in pieces:
            state["at"] = min(loop.time() + idle, end)
            state["which"] = "idle"
            yield piece
    except asyncio.CancelledError:
        which = str(state["fired"])
        if not which:
            raise
        task.uncancel()
        seconds = {"first": first, "idle": idle, "total": total}[which]
        text, variable = WHAT[which]
        own = d.node_limit is not None and seconds == d.node_limit
        raise UpstreamTimeout(
            f"{model} {text.format(s=seconds)} "
            f"({'the node' + chr(39) + 's timeout' if own else variable})"
        ) from None
    finally:
        if handle is not None:
            handle.cancel()
        aclose = getattr(pieces, "aclose", None)
        if aclose is not None:
            await aclose()
