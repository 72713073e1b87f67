"""The Model Context Protocol, both ways: a canvas served as an MCP server (``door.py``,
the official ``mcp`` SDK's Streamable HTTP transport, stateless), and MCP servers used
as tools by canvases (``tools.py``, the SDK's clients)."""
