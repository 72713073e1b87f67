"""Agentflow v2's nodes, by Flowise's names and input names, one module per family.
Importing this package registers them all (category "Agent Flows"); each follows the
node protocol with :meth:`AgentflowNode.execute`."""

from canvasflow.agentflow.nodes import actions, conditions, flow, llm, models, start
from canvasflow.agentflow.nodes.base import AgentflowNode
from canvasflow.agentflow.nodes.conditions import condition_holds

__all__ = [
    "AgentflowNode",
    "actions",
    "condition_holds",
    "conditions",
    "flow",
    "llm",
    "models",
    "start",
]
