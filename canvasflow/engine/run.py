"""Run a parsed canvas: build its nodes in dependency order, then stream the ending node."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from canvasflow.engine.context import RunContext
from canvasflow.engine.graph import Graph, instantiate, resolve
from canvasflow.errors import CanvasInvalid
from canvasflow.events import Event
from canvasflow.events import node as node_event
from canvasflow.nodes.base import to_bool
from canvasflow.observability.tracing import span


async def run(graph: Graph, ctx: RunContext, allowed: frozenset[str]) -> AsyncIterator[Event]:
    """Yield the events of one run. Never awaits a client: the caller consumes freely."""
    if graph.kind == "agentflow":
        from canvasflow.agentflow.runner import run as run_agentflow

        async for event in run_agentflow(graph, ctx):  # type: ignore[arg-type]
            yield event
        return
    instances: dict[str, Any] = {}
    ending = None
    for node in instantiate(graph, ctx.overrides, allowed):
        node.values = {k: resolve(v, instances) for k, v in node.values.items()}
        if node.id == graph.ending:
            ending = node
            continue
        yield node_event(node.id, "running")
        started = time.perf_counter()
        with span(f"node {node.name}", node_id=node.id, node=node.name):
            try:
                instances[node.id] = await node.build(ctx)
            except Exception:
                yield node_event(node.id, "error", _ms(started))
                raise
        yield node_event(node.id, "done", _ms(started))
    assert ending is not None
    yield node_event(ending.id, "running")
    started = time.perf_counter()
    tokens = 0
    # memories that keep their own history (Redis) are told the exchange at the end
    keepers = [i for i in instances.values() if hasattr(i, "remember")]
    pieces: list[str] = []
    with span(f"node {ending.name}", node_id=ending.id, node=ending.name):
        try:
            async for event in ending.run(ctx):
                if event.kind == "token":
                    tokens += 1
                    if keepers:
                        pieces.append(event.data)
                yield event
        except Exception:
            yield node_event(ending.id, "error", _ms(started), tokens)
            raise
    for keeper in keepers:
        await keeper.remember(ctx, "".join(pieces))
    yield node_event(ending.id, "done", _ms(started), tokens)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def can_stream(graph: Graph) -> bool:
    """Flowise's isStreaming: the ending node streams and no model has streaming off
    (an agentflow always streams: node by node)."""
    if graph.kind == "agentflow":
        return True
    if not graph.ending_spec.cls.streams:
        return False
    for spec in graph.nodes.values():
        if "streaming" in spec.inputs and not to_bool(spec.inputs["streaming"], True):
            return False
    return True


async def upsert(
    graph: Graph, ctx: RunContext, allowed: frozenset[str], progress: Any = None
) -> dict[str, int]:
    """Build the canvas's nodes (not its ending node) and load the documents of every
    node that keeps them (``upsert``): Flowise's vector upsert."""
    if graph.kind == "agentflow":
        raise CanvasInvalid("an agentflow keeps no documents; upsert a canvas with a vector store")
    instances: dict[str, Any] = {}
    totals = {"numAdded": 0, "numSkipped": 0, "numUpdated": 0, "numDeleted": 0}
    stores = 0
    for node in instantiate(graph, ctx.overrides, allowed):
        if node.id == graph.ending:
            continue
        node.values = {k: resolve(v, instances) for k, v in node.values.items()}
        instances[node.id] = instance = await node.build(ctx)
        if hasattr(instance, "upsert"):
            stores += 1
            for key, value in (await instance.upsert(progress)).items():
                totals[key] = totals.get(key, 0) + value
    if not stores:
        raise CanvasInvalid("the canvas has no vector store that keeps documents (documentStore)")
    return totals
