"""What a node is: its Flowise name, category, inputs, and how it builds or runs.

A node module declares classes deriving from :class:`Node` and decorates them with
:func:`register`. The engine only ever looks nodes up by name in :data:`REGISTRY`. A
node of Flowise's takes its inputs from Flowise's own description of it
(:func:`flowise_inputs`) and declares only where canvasflow differs.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from canvasflow.values import to_bool, to_float, to_int

if TYPE_CHECKING:
    from canvasflow.events import Event
    from canvasflow.runtime.context import RunContext


@dataclass(frozen=True, slots=True)
class Input:
    """One input of a node, named as in Flowise.

    ``type`` is either a primitive (``string``, ``number``, ``boolean``, ``options``,
    ``json``, ``credential``...) or, when it starts with an upper-case letter, a
    class name that another node's ``base_classes`` must contain (a connection).
    """

    name: str
    type: str
    optional: bool = False
    default: Any = None
    list: bool = False
    # for the catalogue and the studio's forms; what is left out is taken from Flowise's
    # interface of the same node (label, options, additionalParams, rows...) or made up
    label: str | None = None
    description: str | None = None
    options: tuple[str, ...] | None = None
    additional: bool | None = None  # Flowise's additionalParams: folded away in forms
    placeholder: str | None = None
    rows: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    # an "array" input's fields (each row of an agentflow's messages, conditions...)
    array: tuple[Input, ...] | None = None

    @property
    def is_anchor(self) -> bool:
        return self.type[:1].isupper()


@cache
def installed(module: str) -> bool:
    """Whether a module can be imported (checked once, without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@cache
def flowise_interface() -> dict[str, dict[str, Any]]:
    """Flowise 3.1.2's node descriptions (shipped as data), by node name."""
    data = resources.files("canvasflow.data").joinpath("flowise_3.1.2_nodes.json")
    return {n["name"]: n for n in json.loads(data.read_text("utf-8"))}


def flowise_inputs(
    node: str, *changed: Input, drop: tuple[str, ...] = (), add: tuple[Input, ...] = ()
) -> tuple[Input, ...]:
    """The inputs of Flowise's node ``node`` as Flowise describes them (name, type,
    whether optional, default, list), in Flowise's order, its credential (when it takes
    one) last; ``changed`` ones (by name)
    replace Flowise's in place, ``drop`` ones are left out (canvasflow does not take
    them), ``add`` ones (canvasflow's own) follow. Labels, options and the like are
    taken from the same description by the catalogue."""
    described = flowise_interface().get(node)
    if described is None:
        raise ValueError(f"Flowise has no node {node!r}: declare its inputs")
    given = list(described.get("inputs", []))
    slot = described.get("credential")
    if slot:  # Flowise keeps the credential beside the inputs; here it is the last one
        given.append({"name": slot["name"], "type": "credential", "optional": True})
    flowise = [i["name"] for i in given]
    by_name = {i.name: i for i in changed}
    unknown = (set(by_name) | set(drop)) - set(flowise)
    if unknown:
        raise ValueError(f"{node}: Flowise's node has no input {sorted(unknown)} (use add=)")
    inputs = [
        by_name.get(i["name"]) or as_flowise_describes(i) for i in given if i["name"] not in drop
    ]
    DIFFERENCES[node] = (changed, drop, add)
    return (*inputs, *add)


# what each node built by flowise_inputs declares of its own: (changed, dropped, added)
DIFFERENCES: dict[str, tuple[tuple[Input, ...], tuple[str, ...], tuple[Input, ...]]] = {}


def as_flowise_describes(described: dict[str, Any]) -> Input:
    return Input(
        described["name"],
        described["type"],
        optional=bool(described.get("optional", False)),
        default=described.get("default"),
        list=bool(described.get("list", False)),
    )


class Node:
    """Base class of every node. Subclasses set the class attributes and override
    :meth:`build` (intermediate nodes) or :meth:`run` (ending nodes)."""

    name: ClassVar[str]
    label: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[float] = 1.0
    base_classes: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[Input, ...]] = ()
    # the optional extras the node needs: (a module it imports, the extra that brings it)
    needs: ClassVar[tuple[tuple[str, str], ...]] = ()
    # an ending node runs the prediction and yields its events
    ending: ClassVar[bool] = False
    # whether an ending node can stream tokens (Flowise's isStreaming)
    streams: ClassVar[bool] = True

    def __init__(self, node_id: str, values: dict[str, Any]) -> None:
        self.id = node_id
        self.values = values
        self.title = self.label  # as the canvas shows it (its own label, once placed)

    @classmethod
    def input(cls, name: str) -> Input | None:
        for spec in cls.inputs:
            if spec.name == name:
                return spec
        return None

    def get(self, name: str, default: Any = None) -> Any:
        """The resolved value of an input, falling back to its declared default."""
        value = self.values.get(name)
        if value is None or value == "":
            spec = self.input(name)
            if spec is not None and spec.default is not None:
                return spec.default
            return default
        return value

    @classmethod
    def missing_extras(cls) -> list[str]:
        """The extras this node needs that this installation lacks."""
        return sorted({extra for module, extra in cls.needs if not installed(module)})

    @classmethod
    def instead(cls, inputs: dict[str, Any]) -> type[Node] | None:
        """The node a canvas's node of this name is when it is another one, told apart
        by its inputs (Flowise's Document Store loader and canvasflow's older document
        store share the name ``documentStore``); None when it is this one."""
        return None

    @classmethod
    def required_now(cls, inputs: dict[str, Any]) -> tuple[str, ...]:
        """Inputs required by the values of others (a file when the input type is
        "file"): the canvas check names them when they are empty."""
        return ()

    def can_stream(self) -> bool:
        return self.streams

    async def build(self, ctx: RunContext) -> Any:
        """Return this node's instance, handed to the nodes connected downstream."""
        return self

    def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        raise NotImplementedError(f"{self.name} is not an ending node")


REGISTRY: dict[str, type[Node]] = {}

# the packages whose modules register canvasflow's own nodes and graph kinds, imported by
# name (so nothing here depends on them): the node families, then Agentflow v2
BUILTIN_PACKAGES = ("canvasflow.nodes", "canvasflow.agentflow")
_loaded = False

__all__ = [
    "REGISTRY",
    "Input",
    "Node",
    "load_all",
    "register",
    "to_bool",
    "to_float",
    "to_int",
]


N = TypeVar("N", bound="Node")


def register(cls: type[N]) -> type[N]:
    if cls.name in REGISTRY:
        raise ValueError(f"node {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def load_all(extra: Iterable[str] = ()) -> dict[str, type[Node]]:
    """Import every module of the builtin packages, and the extra modules named
    (``Settings.node_modules``), so each registers its nodes (and graph kinds)."""
    global _loaded
    if not _loaded:
        for package in BUILTIN_PACKAGES:
            module = importlib.import_module(package)
            for info in pkgutil.walk_packages(module.__path__, package + "."):
                if not info.name.rsplit(".", 1)[-1].startswith("_"):
                    importlib.import_module(info.name)
        _loaded = True
    for name in extra:
        importlib.import_module(name)
    return REGISTRY
