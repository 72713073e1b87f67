"""The node library: one module per family. Importing this package registers them all.

Extra node modules (your own nodes) are imported from ``CANVASFLOW_NODE_MODULES``, a
comma-separated list of importable module names."""

from __future__ import annotations

import importlib
import os
import pkgutil

from canvasflow.nodes.base import REGISTRY, Input, Node, register

_SKIP = {"base"}
_loaded = False


def load_all() -> dict[str, type[Node]]:
    """Import every family module in this package (and the configured extra modules)
    so each registers its nodes."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            if info.name not in _SKIP and not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        for name in os.environ.get("CANVASFLOW_NODE_MODULES", "").split(","):
            if name.strip():
                importlib.import_module(name.strip())
        _loaded = True
    return REGISTRY


__all__ = ["REGISTRY", "Input", "Node", "load_all", "register"]
