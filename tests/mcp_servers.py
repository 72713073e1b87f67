"""A real MCP server for the tests, built with the official Python SDK (FastMCP): over
Streamable HTTP (``http --port N``), the older SSE transport (``sse --port N``), or
stdio (``stdio``). Its tools: ``add``, ``environment`` (what it can see of its
environment, for the sandbox tests) and ``wait`` (a server that hangs)."""

from __future__ import annotations

import argparse
import os
import time

from mcp.server.fastmcp import FastMCP


def make(port: int = 0) -> FastMCP:
    server = FastMCP("canvasflow-test-server", host="127.0.0.1", port=port)

    @server.tool()
    def add(a: int, b: int) -> str:
        """Adds two whole numbers."""
        return str(a + b)

    @server.tool()
    def environment() -> str:
        """The names and values of the environment variables this server sees."""
        return "\n".join(f"{k}={v}" for k, v in sorted(os.environ.items()))

    @server.tool()
    def wait(seconds: float) -> str:
        """Waits, then answers."""
        time.sleep(seconds)
        return "waited"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=("http", "sse", "stdio"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = make(args.port)
    if args.transport == "http":
        server.run("streamable-http")
    elif args.transport == "sse":
        server.run("sse")
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
