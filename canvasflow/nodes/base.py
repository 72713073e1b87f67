"""What a node is, for node modules of your own (``CANVASFLOW_NODE_MODULES``): the
same names as :mod:`canvasflow.runtime.node`, where they live."""

from canvasflow.runtime.node import REGISTRY, Input, Node, register, to_bool, to_float, to_int

__all__ = ["REGISTRY", "Input", "Node", "register", "to_bool", "to_float", "to_int"]
