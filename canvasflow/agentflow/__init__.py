"""Agentflow v2 (Flowise 3's ``AGENTFLOW`` canvases): nodes run one after another along
the edges, branch on conditions, loop back, iterate, pause for a person and resume.

- ``graph.py``: flowData parsed into an :class:`AgentGraph` (once per canvas version);
- ``template.py``: Flowise's variables (``{{ question }}``, ``{{ $flow.state.KEY }}``,
  ``{{ nodeId }}``...) and its rich-text fields read as plain text;
- ``nodes.py``: the nodes, by Flowise's names and input names;
- ``runner.py``: one run, as typed events (``flow``, ``step``, ``token``, ``action``).
"""

from canvasflow.agentflow.graph import AgentGraph, is_agentflow

__all__ = ["AgentGraph", "is_agentflow"]
