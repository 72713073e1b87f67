"""The Model Context Protocol, both ways: a canvas served as an MCP server (``door.py``,
the official ``mcp`` SDK's Streamable HTTP transport, stateless), and MCP servers used
as tools by canvases (``client.py``, the SDK's clients; the nodes are
``nodes/mcp_tools.py``)."""
