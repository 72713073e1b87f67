"""The node library: one module per family. Importing a family module registers its
nodes; :func:`load_all` (in :mod:`canvasflow.runtime.node`) imports them all, with
Agentflow v2's.

Extra node modules (your own nodes) are named in ``CANVASFLOW_NODE_MODULES``, a
comma-separated list of importable module names; the server imports them at start."""

from __future__ import annotations

from canvasflow.runtime.node import REGISTRY, Input, Node, load_all, register

__all__ = ["REGISTRY", "Input", "Node", "load_all", "register"]
