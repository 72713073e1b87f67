"""MCP servers as tools, by Flowise's node names: ``customMCP`` (any server, remote or
local) and the named ones whose server is a published package (run with ``npx``, which
the operator must allow in ``CANVASFLOW_MCP_COMMANDS``). Each node gives the tools its
server lists (those chosen in ``mcpActions``, else all) to an agent."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from canvasflow.mcp.client import Pooled, ServerSpec, call_tool, pool, spec_from_config
from canvasflow.nodes.services import credential_value
from canvasflow.nodes.tools import Tool
from canvasflow.runtime.node import Input, Node, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext


# the fields of a credential that hold a bearer token, in the order they are tried
BEARER_FIELDS = ("bearerToken", "token", "accessToken", "apiKey", "mcpToken")


class McpTool(Tool):
    """One tool of an MCP server, called through the pooled session."""

    def __init__(self, pooled: Pooled, tool: Any, seconds: float) -> None:
        self.pooled = pooled
        self.name = str(tool.name)[:64]
        self.remote_name = str(tool.name)
        self.description = str(tool.description or tool.name)
        self.parameters = dict(tool.inputSchema or {"type": "object", "properties": {}})
        self.seconds = seconds

    async def call(self, args: dict[str, Any]) -> str:
        return await call_tool(self.pooled, self.remote_name, args, self.seconds)


def chosen_actions(raw: Any) -> set[str]:
    """``mcpActions`` as Flowise keeps it: a JSON list of names (text or parsed)."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw) if raw.strip() else []
        except orjson.JSONDecodeError:
            raw = [a.strip() for a in raw.split(",")]
    if isinstance(raw, list):
        return {str(a) for a in raw if a}
    return set()


class McpNode(Node):
    """A node whose output is the tools of one MCP server."""

    category = "Tools (MCP)"
    base_classes = ("Tool",)

    async def spec(self, ctx: RunContext) -> ServerSpec:
        raise NotImplementedError

    async def connect(self, ctx: RunContext) -> Pooled:
        return await pool().get(await self.spec(ctx), ctx.settings)

    async def build(self, ctx: RunContext) -> list[Tool]:
        pooled = await self.connect(ctx)
        chosen = chosen_actions(self.get("mcpActions"))
        return [
            McpTool(pooled, t, ctx.settings.mcp_timeout)
            for t in pooled.tools
            if not chosen or t.name in chosen
        ]


@register
class CustomMCP(McpNode):
    name = "customMCP"
    label = "Custom MCP"
    description = "The tools of any MCP server: a URL, or a command the operator allows"
    inputs = flowise_inputs(
        name,
        Input(
            "mcpServerConfig",
            "code",
            placeholder='{"url": "https://mcp.example.com/mcp"} or {"command": "npx", '
            '"args": [...]}',
        ),
        Input("mcpActions", "asyncMultiOptions", optional=True),
        # Flowise's takes none; here a credential hands its fields on to the server
        add=(Input("credential", "credential", optional=True),),
    )

    async def spec(self, ctx: RunContext) -> ServerSpec:
        raw = self.get("mcpServerConfig")
        if isinstance(raw, str):  # $vars in the configuration, as Flowise allows
            for name, value in ctx.vars.items():
                raw = raw.replace("{{$vars." + str(name) + "}}", str(value))
                raw = raw.replace("$vars." + str(name), str(value))
        spec = spec_from_config(raw, f"{self.label} ({self.id})")
        ref = self.get("credential")
        if ref and spec.url is not None:
            for field in BEARER_FIELDS:
                token = await credential_value(ctx, ref, field)
                if token:
                    headers = {**dict(spec.headers), "Authorization": f"Bearer {token}"}
                    return dataclasses.replace(spec, headers=tuple(sorted(headers.items())))
        return spec


class PackagedMCP(McpNode):
    """A server published as an npm package, run with ``npx``; its key (from the node's
    credential) handed to it in its environment."""

    package: ClassVar[str]
    key_fields: ClassVar[dict[str, str]] = {}  # environment variable -> credential field

    async def spec(self, ctx: RunContext) -> ServerSpec:
        env = {}
        for variable, field in self.key_fields.items():
            value = await credential_value(ctx, self.get("credential"), field)
            if value:
                env[variable] = value
        return ServerSpec(
            f"{self.label} ({self.id})",
            command="npx",
            args=("-y", self.package, *self.extra_args(ctx)),
            env=tuple(sorted(env.items())),
        )

    def extra_args(self, ctx: RunContext) -> tuple[str, ...]:
        return ()


def _packaged(
    name: str, label: str, package: str, keys: dict[str, str], with_credential: bool
) -> type[PackagedMCP]:
    inputs = (
        *((Input("credential", "credential", optional=True),) if with_credential else ()),
        Input("mcpActions", "asyncMultiOptions", optional=True),
    )
    cls = type(
        name,
        (PackagedMCP,),
        {
            "name": name,
            "label": label,
            "package": package,
            "key_fields": keys,
            "inputs": inputs,
            "description": f"The tools of {package}",
            "__module__": __name__,
        },
    )
    return register(cls)


_packaged(
    "braveSearchMCP",
    "Brave Search MCP",
    "@modelcontextprotocol/server-brave-search",
    {"BRAVE_API_KEY": "braveApiKey"},
    True,
)
_packaged(
    "githubMCP",
    "Github MCP",
    "@modelcontextprotocol/server-github",
    {"GITHUB_PERSONAL_ACCESS_TOKEN": "accessToken"},
    True,
)
_packaged(
    "slackMCP",
    "Slack MCP",
    "@modelcontextprotocol/server-slack",
    {"SLACK_BOT_TOKEN": "botToken", "SLACK_TEAM_ID": "teamId"},
    True,
)
_packaged(
    "sequentialThinkingMCP",
    "Sequential Thinking MCP",
    "@modelcontextprotocol/server-sequential-thinking",
    {},
    False,
)


@register
class PostgreSQLMCP(PackagedMCP):
    name = "postgreSQLMCP"
    label = "PostgreSQL MCP"
    description = "The tools of @modelcontextprotocol/server-postgres (read-only queries)"
    package = "@modelcontextprotocol/server-postgres"
    inputs = flowise_inputs(
        name,
        Input("mcpActions", "asyncMultiOptions", optional=True),
    )

    async def spec(self, ctx: RunContext) -> ServerSpec:
        from canvasflow.nodes.services import allowed_host
        from canvasflow.nodes.sql import postgres_target

        url = await credential_value(ctx, self.get("credential"), "postgresUrl") or ""
        allowed_host(ctx, self, str(postgres_target(url)["host"]), "database")
        return ServerSpec(
            f"{self.label} ({self.id})", command="npx", args=("-y", self.package, url)
        )


@register
class SupergatewayMCP(PackagedMCP):
    name = "supergatewayMCP"
    label = "Supergateway MCP"
    description = "Any server through supergateway (its arguments)"
    package = "supergateway"
    inputs = flowise_inputs(
        name,
        Input("arguments", "string", rows=4),
        Input("mcpActions", "asyncMultiOptions", optional=True),
    )

    def extra_args(self, ctx: RunContext) -> tuple[str, ...]:
        import shlex

        return tuple(shlex.split(str(self.get("arguments") or "")))
