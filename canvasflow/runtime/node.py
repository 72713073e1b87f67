"""What a node is: its Flowise name, category, inputs, and how it builds or runs.

A node module declares classes deriving from :class:`Node` and decorates them with
:func:`register`. The engine only ever looks nodes up by name in :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
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
    # an ending node runs the prediction and yields its events
    ending: ClassVar[bool] = False
    # whether an ending node can stream tokens (Flowise's isStreaming)
    streams: ClassVar[bool] = True

    def __init__(self, node_id: str, values: dict[str, Any]) -> None:
        self.id = node_id
        self.values = values

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
