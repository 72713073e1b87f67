"""The node library: one module per family. Importing this package registers them all."""

from __future__ import annotations

import importlib
import pkgutil

from canvasflow.nodes.base import REGISTRY, Input, Node, register

_SKIP = {"base"}


def load_all() -> dict[str, type[Node]]:
    """Import every family module in this package so each registers its nodes."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _SKIP and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY


__all__ = ["REGISTRY", "Input", "Node", "load_all", "register"]
