"""An agentflow's flowData parsed into a graph the runner walks (once per version)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvasflow.agentflow.runner import run as run_agentflow
from canvasflow.engine.graph import read_nodes
from canvasflow.errors import CanvasInvalid
from canvasflow.runtime.graphs import graph_kind
from canvasflow.runtime.problems import Problem

if TYPE_CHECKING:
    from canvasflow.events import Event
    from canvasflow.runtime.context import RunContext

IGNORED = frozenset({"stickyNoteAgentflow"})
START = "startAgentflow"


def is_agentflow(data: dict[str, Any]) -> bool:
    """Flowise 3's Agentflow v2: its nodes are named ``...Agentflow``."""
    for raw in data.get("nodes") or ():
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            name = raw["data"].get("name")
            if isinstance(name, str) and name.endswith("Agentflow"):
                return True
    return False


@dataclass
class FlowNode:
    id: str
    name: str
    label: str
    cls: type
    inputs: dict[str, Any]
    parent: str | None = None  # the iteration node this one runs inside


@dataclass
class AgentGraph:
    nodes: dict[str, FlowNode]
    # node id -> [(output handle, target id)]; a handle is "0", "1"... on branching nodes
    out: dict[str, list[tuple[str, str]]]
    incoming: dict[str, list[str]]
    start: str
    # iteration node id -> the ids of the nodes inside it, and where its sub-flow starts
    children: dict[str, list[str]] = field(default_factory=dict)
    entries: dict[str, list[str]] = field(default_factory=dict)
    shown_inputs: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    kind = "agentflow"
    takes_forms = True
    streams = True  # node by node

    def wants_sources(self) -> bool:
        return False

    def events(self, ctx: RunContext, allowed: frozenset[str]) -> AsyncIterator[Event]:
        return run_agentflow(self, ctx)

    async def upsert(
        self, ctx: RunContext, allowed: frozenset[str], progress: Any = None
    ) -> dict[str, int]:
        raise CanvasInvalid("an agentflow keeps no documents; upsert a canvas with a vector store")

    def form_inputs(self) -> list[dict[str, Any]] | None:
        """The Start node's form fields, when the run starts with a form."""
        start = self.start_inputs()
        if start.get("startInputType") != "formInput":
            return None
        rows = start.get("formInputTypes") or []
        return [r for r in rows if isinstance(r, dict)]

    def start_inputs(self) -> dict[str, Any]:
        return self.nodes[self.start].inputs

    def last(self, node_id: str) -> bool:
        """Whether a node ends its path (its answer is what the user sees)."""
        return not self.out.get(node_id)


def _handle(source_handle: Any, source: str) -> str:
    text = str(source_handle or "")
    prefix = f"{source}-output-"
    return text[len(prefix) :] if text.startswith(prefix) else text


def _agentflow(cls: type) -> bool:
    return bool(getattr(cls, "agentflow", False))


@graph_kind("agentflow", is_agentflow)
def check(data: dict[str, Any]) -> tuple[AgentGraph | None, list[Problem]]:
    problems: list[Problem] = []
    nodes: dict[str, FlowNode] = {}
    unsupported = False
    raw_nodes = data.get("nodes") or []
    for raw, node_id, name, cls, inputs in read_nodes(raw_nodes, problems, IGNORED, _agentflow):
        if cls is None:
            unsupported = True
            continue
        label = str(raw["data"].get("label") or name)
        nodes[node_id] = FlowNode(node_id, name, label, cls, inputs, raw.get("parentNode") or None)
    starts = [n.id for n in nodes.values() if n.name == START and n.parent is None]
    if not starts and not unsupported:
        problems.append(Problem("the agentflow has no Start node (startAgentflow)"))
    elif len(starts) > 1:
        problems.append(Problem("the agentflow has more than one Start node", starts[1]))

    out: dict[str, list[tuple[str, str]]] = {nid: [] for nid in nodes}
    incoming: dict[str, list[str]] = {nid: [] for nid in nodes}
    for edge in data.get("edges") or ():
        if not isinstance(edge, dict):
            problems.append(Problem("every edge needs a source and a target"))
            continue
        src, dst = str(edge.get("source")), str(edge.get("target"))
        if src not in nodes or dst not in nodes:
            if not unsupported:
                missing = src if src not in nodes else dst
                problems.append(Problem(f"edge refers to unknown node {missing!r}", missing))
            continue
        out[src].append((_handle(edge.get("sourceHandle"), src), dst))
        incoming[dst].append(src)

    children: dict[str, list[str]] = {}
    for node in nodes.values():
        if node.parent is not None:
            if node.parent not in nodes or nodes[node.parent].name != "iterationAgentflow":
                problems.append(
                    Problem(f"node {node.id}: its parent {node.parent!r} is not an iteration")
                )
                continue
            children.setdefault(node.parent, []).append(node.id)
        problems.extend(node.cls.check(node, nodes))  # type: ignore[attr-defined]  # every agentflow node class (AgentflowNode) has check
    entries = {
        it: [c for c in kids if not any(p in kids for p in incoming[c])]
        for it, kids in children.items()
    }
    if unsupported or not starts or any(p.level == "error" for p in problems):
        return None, problems
    graph = AgentGraph(nodes, out, incoming, starts[0], children, entries)
    return graph, problems
