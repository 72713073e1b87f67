"""One protocol for every kind of canvas graph, and the registry of graph kinds.

A chatflow (:class:`canvasflow.engine.chatflow.Graph`) and an agentflow
(:class:`canvasflow.agentflow.graph.AgentGraph`) are parsed once per canvas version
and run by the engine, the server and the prediction through :class:`CanvasGraph`
alone: none of them asks which kind it holds. A kind registers how it recognises its
``flowData`` and how it checks it (:func:`graph_kind`); the engine's ``check`` asks the
registered kinds first and parses a chatflow otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from canvasflow.events import Event
    from canvasflow.runtime.context import RunContext
    from canvasflow.runtime.problems import Problem


class GraphNode(Protocol):
    """A node of a parsed graph, whatever its kind: its id, its Flowise name, its label
    on the canvas, its inputs."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def inputs(self) -> dict[str, Any]: ...


class CanvasGraph(Protocol):
    """A parsed canvas, ready to run."""

    # "chatflow" or "agentflow": a label for records and the start event, never a branch
    kind: str
    # whether a run takes an agentflow's form inputs and human-input answers
    takes_forms: bool
    # each node's inputs as a run's record shows them (made once per canvas version)
    shown_inputs: dict[str, dict[str, Any]]

    @property
    def nodes(self) -> Mapping[str, GraphNode]:
        """Its nodes by id."""
        ...

    @property
    def streams(self) -> bool:
        """Flowise's isStreaming: whether the answer comes token by token."""
        ...

    def wants_sources(self) -> bool:
        """Whether its answer returns the source documents it used."""
        ...

    def events(self, ctx: RunContext, allowed: frozenset[str]) -> AsyncIterator[Event]:
        """The events of one run (``allowed``: the inputs a request may override)."""
        ...

    async def upsert(
        self, ctx: RunContext, allowed: frozenset[str], progress: Any = None
    ) -> dict[str, int]:
        """Load the documents of every node that keeps them (Flowise's vector upsert)."""
        ...

    def form_inputs(self) -> list[dict[str, Any]] | None:
        """The form a run starts with (an agentflow's Start node), or None."""
        ...

    def start_inputs(self) -> dict[str, Any] | None:
        """How a run of it starts, when the graph says so itself (an agentflow's Start
        node: a form, a webhook, a schedule); None when its canvas's settings do."""
        ...


Check = Callable[[dict[str, Any]], tuple["CanvasGraph | None", "list[Problem]"]]


@dataclass(frozen=True)
class GraphKind:
    name: str
    claims: Callable[[dict[str, Any]], bool]
    check: Check


KINDS: list[GraphKind] = []


def graph_kind(name: str, claims: Callable[[dict[str, Any]], bool]) -> Callable[[Check], Check]:
    """Register a graph kind: ``claims`` tells its ``flowData`` (a parsed dict), the
    decorated function checks it into a graph and its problems."""

    def register(check: Check) -> Check:
        if any(k.name == name for k in KINDS):
            raise ValueError(f"graph kind {name!r} registered twice")
        KINDS.append(GraphKind(name, claims, check))
        return check

    return register


def kind_of(data: dict[str, Any]) -> GraphKind | None:
    return next((k for k in KINDS if k.claims(data)), None)
