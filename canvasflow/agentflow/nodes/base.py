"""The base of every agentflow node, and the input shapes they share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from canvasflow.agentflow.runner import Done, FlowRun
from canvasflow.engine.catalog import explain_unknown
from canvasflow.events import Event
from canvasflow.runtime.node import REGISTRY, Input, Node
from canvasflow.runtime.problems import Problem

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode

Item = Event | Done


def empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def rows_of(value: Any) -> list[dict[str, Any]]:
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


class AgentflowNode(Node):
    agentflow: ClassVar[bool] = True
    category = "Agent Flows"
    base_classes = ()
    # inputs that must have a value, and the inputs naming a chat model
    required: ClassVar[tuple[str, ...]] = ()
    model_inputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:

        where = f"node {node.id} ({node.label})"
        problems = [
            Problem(f"{where}: required input {name!r} is missing", node.id, name)
            for name in cls.required
            if empty(node.inputs.get(name))
        ]
        for name in cls.model_inputs:
            model = node.inputs.get(name)
            if empty(model):
                continue
            found = REGISTRY.get(str(model))
            if found is None or found.category != "Chat Models":
                problems.append(Problem(explain_unknown(node.id, str(model)), node.id, name))
        return problems

    def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        raise NotImplementedError


def tool_problems(node: FlowNode, names: list[str]) -> list[Problem]:

    out = []
    for name in names:
        cls = REGISTRY.get(name)
        if cls is None or cls.category not in ("Tools", "Tools (MCP)"):
            out.append(Problem(explain_unknown(node.id, name), node.id))
    return out


# -- the nodes ------------------------------------------------------------------------

ROLES = ("system", "assistant", "developer", "user")
OPERATIONS = (
    "equal",
    "notEqual",
    "contains",
    "notContains",
    "startsWith",
    "endsWith",
    "regex",
    "larger",
    "largerEqual",
    "smaller",
    "smallerEqual",
    "isEmpty",
    "notEmpty",
)
MESSAGE = (Input("role", "options", options=ROLES, default="system"), Input("content", "string"))
KEY_VALUE = (Input("key", "string"), Input("value", "string", optional=True))
STATE = KEY_VALUE
STRUCTURED = (
    Input("key", "string"),
    Input(
        "type",
        "options",
        options=("string", "stringArray", "number", "boolean", "enum", "jsonArray"),
        default="string",
    ),
    Input("enumValues", "string", optional=True),
    Input("jsonSchema", "code", optional=True),
    Input("description", "string", optional=True),
)
STORES = (
    Input("documentStore", "string", description="A document store collection (id or name)"),
    Input("docStoreDescription", "string", optional=True),
    Input("returnSourceDocuments", "boolean", optional=True),
)


WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
