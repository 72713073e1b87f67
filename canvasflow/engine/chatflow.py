"""A chatflow: its parsed graph (nodes in dependency order, the ending node) and how it
runs: build each node, resolve references to earlier nodes' instances, stream the ending
node's events. Parsed by :mod:`canvasflow.engine.graph`; run through the
:class:`canvasflow.runtime.graphs.CanvasGraph` protocol."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from canvasflow.errors import CanvasInvalid
from canvasflow.events import Event
from canvasflow.events import node as node_event
from canvasflow.observability import llm_spans
from canvasflow.observability.tracing import span
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.node import Node, to_bool

REFERENCE = re.compile(r"^\{\{\s*([A-Za-z0-9_\-]+)\.data\.instance\s*\}\}$")

# Flowise input names that may also be given per request in overrideConfig, unless
# the canvas lists its own in settings["allowedOverrides"].
DEFAULT_OVERRIDES = frozenset(
    {
        "temperature",
        "modelName",
        "maxTokens",
        "topP",
        "systemMessage",
        "systemMessagePrompt",
        "promptValues",
        "returnSourceDocuments",
        "returnIntermediateSteps",
        "returnNodeEvents",
        "k",
    }
)


@dataclass
class NodeSpec:
    id: str
    name: str
    cls: type[Node]
    inputs: dict[str, Any]
    # ids of nodes this one takes instances from
    deps: set[str] = field(default_factory=set)
    label: str = ""  # as the canvas shows it

    @functools.cached_property
    def reference_keys(self) -> tuple[str, ...]:
        """The inputs that take other nodes' instances (``{{id.data.instance}}``): found
        once per canvas version, not per run."""
        return tuple(key for key, value in self.inputs.items() if _references(value))


@dataclass
class Graph:
    nodes: dict[str, NodeSpec]
    order: list[str]
    ending: str
    # each node's inputs as a run's record shows them (engine/record.py): made once per
    # canvas version, as the graph is
    shown_inputs: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)

    kind = "chatflow"
    takes_forms = False

    @property
    def ending_spec(self) -> NodeSpec:
        return self.nodes[self.ending]

    def wants_sources(self) -> bool:
        """Whether the ending node is set to return its source documents."""
        return to_bool(self.ending_spec.inputs.get("returnSourceDocuments"))

    @property
    def streams(self) -> bool:
        """Flowise's isStreaming: the ending node streams and no model has streaming
        off."""
        if not self.ending_spec.cls.streams:
            return False
        for spec in self.nodes.values():
            if "streaming" in spec.inputs and not to_bool(spec.inputs["streaming"], True):
                return False
        return True

    def form_inputs(self) -> list[dict[str, Any]] | None:
        return None

    def start_inputs(self) -> dict[str, Any] | None:
        return None  # a chatflow's triggers are in its canvas's settings

    async def events(self, ctx: RunContext, allowed: frozenset[str]) -> AsyncIterator[Event]:
        """Build the nodes in dependency order, then stream the ending node's events.
        Never awaits a client: the caller consumes freely."""
        instances: dict[str, Any] = {}
        ending = None
        for node in instantiate(self, ctx.overrides, allowed):
            # the node's values are its own copy: only those that may hold a reference
            # are resolved, its inputs' references and what the request overrode
            values = node.values
            for key in (*self.nodes[node.id].reference_keys, *ctx.overrides):
                if key in values:
                    values[key] = resolve(values[key], instances)
            if node.id == self.ending:
                ending = node
                continue
            yield node_event(node.id, "running")
            started = time.perf_counter()
            kind = llm_spans.node_attributes(node.name, node.category)
            with span(f"node {node.name}", node_id=node.id, **kind):
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
        kind = llm_spans.node_attributes(ending.name, ending.category)
        with span(f"node {ending.name}", node_id=ending.id, **kind):
            try:
                async for event in ending.run(ctx):
                    if event.kind == "token":
                        tokens += 1
                        if keepers:
                            pieces.append(event.data)
                    yield event
            except Exception as exc:
                failed = getattr(exc, "node_id", None)  # the model of another node failed
                if failed is not None and failed != ending.id:
                    yield node_event(failed, "error")
                yield node_event(ending.id, "error", _ms(started), tokens)
                raise
        for keeper in keepers:
            await keeper.remember(ctx, "".join(pieces))
        yield node_event(ending.id, "done", _ms(started), tokens)

    async def upsert(
        self, ctx: RunContext, allowed: frozenset[str], progress: Any = None
    ) -> dict[str, int]:
        """Build the canvas's nodes (not its ending node) and load the documents of every
        node that keeps them (``upsert``): Flowise's vector upsert."""
        instances: dict[str, Any] = {}
        totals = {"numAdded": 0, "numSkipped": 0, "numUpdated": 0, "numDeleted": 0}
        stores = 0
        for node in instantiate(self, ctx.overrides, allowed):
            if node.id == self.ending:
                continue
            node.values = {k: resolve(v, instances) for k, v in node.values.items()}
            instances[node.id] = instance = await node.build(ctx)
            if hasattr(instance, "upsert"):
                stores += 1
                for key, value in (await instance.upsert(progress)).items():
                    totals[key] = totals.get(key, 0) + value
        if not stores:
            raise CanvasInvalid(
                "the canvas has no vector store that keeps documents (documentStore)"
            )
        return totals


def _references(value: Any) -> list[str]:
    if isinstance(value, str):
        m = REFERENCE.match(value)
        return [m.group(1)] if m else []
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def allowed_overrides(settings: dict[str, Any] | None) -> frozenset[str]:
    if settings and isinstance(settings.get("allowedOverrides"), list):
        return frozenset(str(k) for k in settings["allowedOverrides"])
    return DEFAULT_OVERRIDES


def _override_for(node_id: str, value: Any) -> tuple[bool, Any]:
    """Flowise lets an override be a plain value, or an object keyed by node id."""
    if isinstance(value, dict) and node_id in value:
        return True, value[node_id]
    return True, value


def instantiate(graph: Graph, overrides: dict[str, Any], allowed: frozenset[str]) -> list[Node]:
    """Node objects in dependency order, with overrides applied but references unresolved."""
    out: list[Node] = []
    for nid in graph.order:
        spec = graph.nodes[nid]
        values = dict(spec.inputs)
        for key, value in overrides.items():
            if key in allowed and spec.cls.input(key) is not None:
                ok, v = _override_for(nid, value)
                if ok:
                    values[key] = v
        node = spec.cls(nid, values)
        node.title = spec.label
        out.append(node)
    return out


def resolve(value: Any, instances: dict[str, Any]) -> Any:
    if isinstance(value, str):
        m = REFERENCE.match(value)
        return instances[m.group(1)] if m else value
    if isinstance(value, list) and any(_references(v) for v in value):
        return [resolve(v, instances) for v in value]
    return value


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
