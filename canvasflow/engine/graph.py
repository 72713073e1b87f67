"""A canvas's flowData (Flowise's shape) parsed into a validated graph of nodes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

import orjson

from canvasflow.errors import CanvasInvalid
from canvasflow.nodes import REGISTRY, Node, load_all

REFERENCE = re.compile(r"^\{\{\s*([A-Za-z0-9_\-]+)\.data\.instance\s*\}\}$")
IGNORED_NODES = frozenset({"stickyNote"})
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


@dataclass
class Graph:
    nodes: dict[str, NodeSpec]
    order: list[str]
    ending: str

    @property
    def ending_spec(self) -> NodeSpec:
        return self.nodes[self.ending]


def load_flow_data(flow_data: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(flow_data, str):
        try:
            flow_data = orjson.loads(flow_data)
        except orjson.JSONDecodeError as exc:
            raise CanvasInvalid(f"flowData is not valid JSON: {exc}") from None
    if not isinstance(flow_data, dict):
        raise CanvasInvalid("flowData must be an object with nodes and edges")
    return flow_data


def _references(value: Any) -> list[str]:
    if isinstance(value, str):
        m = REFERENCE.match(value)
        return [m.group(1)] if m else []
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def parse(flow_data: str | dict[str, Any]) -> Graph:
    """Parse and validate flowData. Raises :class:`CanvasInvalid` naming the node at fault."""
    load_all()
    data = load_flow_data(flow_data)
    raw_nodes = data.get("nodes")
    raw_edges = data.get("edges") or []
    if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list):
        raise CanvasInvalid("flowData needs a list of nodes and a list of edges")

    nodes: dict[str, NodeSpec] = {}
    for raw in raw_nodes:
        if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
            raise CanvasInvalid("every node needs an id and a data object")
        node_id = str(raw.get("id") or raw["data"].get("id") or "")
        name = raw["data"].get("name")
        if not node_id or not isinstance(name, str):
            raise CanvasInvalid("every node needs an id and data.name")
        if name in IGNORED_NODES:
            continue
        cls = REGISTRY.get(name)
        if cls is None:
            from canvasflow.engine.catalog import explain_unknown

            raise CanvasInvalid(explain_unknown(node_id, name), node_id)
        if node_id in nodes:
            raise CanvasInvalid(f"node {node_id}: duplicate node id", node_id)
        inputs = raw["data"].get("inputs") or {}
        if not isinstance(inputs, dict):
            raise CanvasInvalid(f"node {node_id} ({name}): data.inputs must be an object", node_id)
        nodes[node_id] = NodeSpec(node_id, name, cls, dict(inputs))

    if not nodes:
        raise CanvasInvalid("the canvas has no nodes")

    has_outgoing: set[str] = set()
    for edge in raw_edges:
        if not isinstance(edge, dict):
            raise CanvasInvalid("every edge needs a source and a target")
        src, dst = edge.get("source"), edge.get("target")
        if src not in nodes or dst not in nodes:
            missing = src if src not in nodes else dst
            raise CanvasInvalid(f"edge refers to unknown node {missing!r}", str(missing))
        nodes[dst].deps.add(src)
        has_outgoing.add(src)

    for spec in nodes.values():
        for input_name, value in spec.inputs.items():
            for ref in _references(value):
                if ref not in nodes:
                    raise CanvasInvalid(
                        f"node {spec.id} ({spec.name}): input {input_name!r} refers to "
                        f"unknown node {ref!r}",
                        spec.id,
                    )
                spec.deps.add(ref)
                has_outgoing.add(ref)
        _check_inputs(spec, nodes)

    try:
        order = list(
            TopologicalSorter({nid: spec.deps for nid, spec in nodes.items()}).static_order()
        )
    except CycleError as exc:
        cycle = exc.args[1]
        raise CanvasInvalid(f"the canvas has a cycle through node {cycle[0]}", cycle[0]) from None

    endings = [nid for nid in nodes if nid not in has_outgoing]
    runnable = [nid for nid in endings if nodes[nid].cls.ending]
    if not runnable:
        who = ", ".join(f"{n} ({nodes[n].name})" for n in endings) or "none"
        raise CanvasInvalid(
            f"the canvas has no ending node (a chain or agent with nothing after it); "
            f"unconnected last nodes: {who}",
            endings[0] if endings else None,
        )
    if len(runnable) > 1:
        raise CanvasInvalid(
            "the canvas has more than one ending node: " + ", ".join(runnable), runnable[1]
        )
    return Graph(nodes=nodes, order=order, ending=runnable[0])


def _check_inputs(spec: NodeSpec, nodes: dict[str, NodeSpec]) -> None:
    for inp in spec.cls.inputs:
        value = spec.inputs.get(inp.name)
        if inp.is_anchor:
            refs = _references(value)
            if not refs:
                if not inp.optional:
                    raise CanvasInvalid(
                        f"node {spec.id} ({spec.name}): required input {inp.name!r} "
                        f"({inp.type}) is not connected",
                        spec.id,
                    )
                continue
            for ref in refs:
                bases = nodes[ref].cls.base_classes
                if inp.type not in bases:
                    raise CanvasInvalid(
                        f"node {spec.id} ({spec.name}): input {inp.name!r} needs a "
                        f"{inp.type}, but {ref} ({nodes[ref].name}) is a "
                        f"{bases[0] if bases else 'node'}",
                        spec.id,
                    )
        elif not inp.optional and _missing(value) and inp.default is None:
            raise CanvasInvalid(
                f"node {spec.id} ({spec.name}): required input {inp.name!r} is missing",
                spec.id,
            )


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
        out.append(spec.cls(nid, values))
    return out


def resolve(value: Any, instances: dict[str, Any]) -> Any:
    if isinstance(value, str):
        m = REFERENCE.match(value)
        return instances[m.group(1)] if m else value
    if isinstance(value, list) and any(_references(v) for v in value):
        return [resolve(v, instances) for v in value]
    return value
