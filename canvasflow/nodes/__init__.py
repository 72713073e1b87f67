"""The node library: one module per family. Importing this package registers them all.

Extra node modules (your own nodes) are named in ``CANVASFLOW_NODE_MODULES``, a
comma-separated list of importable module names; the server imports them at start."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from canvasflow.nodes.base import REGISTRY, Input, Node, register

_SKIP = {"base"}
_loaded = False


def load_all(extra: Iterable[str] = ()) -> dict[str, type[Node]]:
    """Import every family module in this package, and the extra modules named
    (``Settings.node_modules``), so each registers its nodes."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            if info.name not in _SKIP and not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        importlib.import_module("canvasflow.agentflow.nodes")  # Agentflow v2's nodes
        _loaded = True
    for name in extra:
        importlib.import_module(name)
    return REGISTRY


__all__ = ["REGISTRY", "Input", "Node", "load_all", "register"]
