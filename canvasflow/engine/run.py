"""Run a parsed canvas, whatever its kind, through the graph protocol
(:class:`canvasflow.runtime.graphs.CanvasGraph`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from canvasflow.events import Event
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.graphs import CanvasGraph


def run(graph: CanvasGraph, ctx: RunContext, allowed: frozenset[str]) -> AsyncIterator[Event]:
    """Yield the events of one run. Never awaits a client: the caller consumes freely."""
    return graph.events(ctx, allowed)


def can_stream(graph: CanvasGraph) -> bool:
    """Flowise's isStreaming (an agentflow always streams: node by node)."""
    return graph.streams


async def upsert(
    graph: CanvasGraph, ctx: RunContext, allowed: frozenset[str], progress: Any = None
) -> dict[str, int]:
    """Flowise's vector upsert: the documents of every node that keeps them loaded."""
    return await graph.upsert(ctx, allowed, progress)
