"""The deep check of a canvas (``POST .../validate?deep=1``, the studio's "Check"): each
model and embeddings node is built as a run would build it (its credential, the
server's key and address) and its provider is asked for its model list, which spends no
token. A node whose provider does not answer, or refuses the key, gets a problem in the
words on screen: its label, the host, the cause."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from canvasflow.engine.chatflow import Graph, NodeSpec
from canvasflow.errors import CanvasflowError, UpstreamError, UpstreamTimeout
from canvasflow.models.deadlines import Origin
from canvasflow.runtime.node import Node
from canvasflow.runtime.problems import Problem

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext
    from canvasflow.runtime.graphs import CanvasGraph

CHECKED = ("Chat Models", "LLMs", "Embeddings")
WAIT = 10.0  # seconds a provider has to answer


async def reachability(graph: CanvasGraph | None, ctx: RunContext) -> list[Problem]:
    """A problem for each model or embeddings node of a chatflow that cannot be reached
    with the key it would use. (An agentflow's models are configured inside its nodes;
    they are not checked here.)"""
    if not isinstance(graph, Graph):
        return []
    specs = [graph.nodes[nid] for nid in graph.order if graph.nodes[nid].cls.category in CHECKED]
    return [p for p in await asyncio.gather(*(_check(spec, ctx) for spec in specs)) if p]


async def provider_models(node: Node, ctx: RunContext, wait: float = WAIT) -> list[str] | None:
    """Build a model or embeddings node as a run would and ask its provider for its
    models, which spends no token: their names, or None for a model in this process.
    A refusal is the provider's error explained (the node's label, the host, a missing
    key); no answer within ``wait`` seconds is an :class:`UpstreamTimeout`."""
    built = await node.build(ctx)
    lister = getattr(built, "model_names", None)
    if lister is None:
        return None
    service = getattr(node, "service", None)
    origin = Origin.of(node.id, node.title, built, service.key_env if service else None)
    try:
        return list(await asyncio.wait_for(lister(), wait))
    except UpstreamError as exc:
        raise origin.explain(exc) from None
    except TimeoutError:
        where = f" ({origin.host})" if origin.host else ""
        raise UpstreamTimeout(
            f"{node.title}: the provider{where} did not answer within {wait:g} s"
        ) from None


async def _check(spec: NodeSpec, ctx: RunContext) -> Problem | None:
    node = spec.cls(spec.id, dict(spec.inputs))
    node.title = spec.label
    try:
        await provider_models(node, ctx)
    except UpstreamError as exc:
        refused = exc.upstream_status in (401, 403)
        return Problem(exc.message, spec.id, "credential" if refused else None)
    except CanvasflowError as exc:  # the node cannot be built as it is
        return Problem(f"{spec.label}: {exc.message}", spec.id, level="error")
    return None
