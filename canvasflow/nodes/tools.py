"""Tools and the tool-calling agent (its tool calls become ``step`` events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from simpleeval import simple_eval

from canvasflow.errors import CanvasInvalid, RunFailed
from canvasflow.events import Event, source, step, token
from canvasflow.events import model as model_event
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Usage, supports
from canvasflow.models.deadlines import Deadlines, guarded
from canvasflow.nodes.chains import load_memory
from canvasflow.nodes.safety import moderate
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool, to_int
from canvasflow.sandbox import SandboxError, run_js, run_python, sandbox_fetch

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext


class Tool:
    """What an agent can call: a name, a description, a JSON schema and ``call``."""

    name: str
    description: str
    parameters: dict[str, Any]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    async def call(self, args: dict[str, Any]) -> str:
        raise NotImplementedError


# one string argument, ``input`` (the schema the calculator and the date tool take)
INPUT_ONLY: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
}
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


class CalculatorTool(Tool):
    name = "calculator"
    description = "Evaluates an arithmetic expression, e.g. 12*7 or (3+4)/2."
    parameters = INPUT_ONLY

    async def call(self, args: dict[str, Any]) -> str:
        expression = str(args.get("input", ""))
        try:
            result = simple_eval(expression)  # no names, no attributes, no calls
        except Exception as exc:
            return f"error: {exc}"
        if isinstance(result, float) and result.is_integer():
            result = int(result)
        return str(result)


@register
class Calculator(Node):
    name = "calculator"
    label = "Calculator"
    category = "Tools"
    base_classes = ("Calculator", "Tool", "StructuredTool", "Runnable")

    async def build(self, ctx: RunContext) -> Tool:
        return CalculatorTool()


def tools_of(raw: Any) -> list[Tool]:
    """An agent's tools input as one list: a toolkit node (OpenAPI) gives several."""
    out: list[Tool] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, list):
            out.extend(tools_of(item))
        elif item is not None and item != "":
            out.append(item)
    return out


DEFAULT_AGENT_SYSTEM = "You are a helpful AI assistant."


@register
class ToolAgent(Node):
    name = "toolAgent"
    label = "Tool Agent"
    category = "Agents"
    base_classes = ("AgentExecutor", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(name)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        if not supports(model, "tools"):
            raise CanvasInvalid(f"{model.model_name} cannot call tools", code="tools_unsupported")
        tools = tools_of(self.get("tools"))
        reported, history = await load_memory(self.get("memory"), ctx)
        for event in reported:
            yield event
        yield model_event(model.model_name)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": str(self.get("systemMessage"))},
            *(dict(turn) for turn in history),
            {"role": "user", "content": ctx.question},
        ]
        turns = to_int(self.get("maxIterations"), 10) or 10
        async for event in tool_turns(model, messages, tools, turns):
            yield event


async def tool_turns(
    model: Any,
    messages: list[Any],
    tools: list[Tool],
    turns: int = 10,
    stream: bool = True,
    answer: list[str] | None = None,
    called: list[dict[str, Any]] | None = None,
) -> AsyncIterator[Event]:
    """The tool-calling loop every agent shares: a model turn (its tokens, as ``token``
    events when ``stream``, and into ``answer``), its usage, then each tool it asked
    for (a ``step`` of type ``tool``, its sources, appended to ``called``), until it
    answers without tools or ``turns`` run out."""
    by_name = {t.name: t for t in tools}
    schemas = [t.schema() for t in tools]
    messages = list(messages)
    limits = getattr(model, "deadlines", None) or Deadlines()
    for _ in range(turns):
        calls: list[Any] = []
        used = Usage()
        if answer is not None:
            answer.clear()  # what the model said before calling tools is not the answer
        try:
            turn = model.chat_with_tools(messages, schemas, used)
            async for kind, value in guarded(turn, model.model_name, limits):
                if kind == "token":
                    if answer is not None:
                        answer.append(value)
                    if stream:
                        yield token(value)
                else:
                    calls = value
        except Exception:
            yield usage_event(used.prompt_tokens, used.completion_tokens)
            raise
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        if not calls:
            return
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in calls
                ],
            }
        )
        for call in calls:
            try:
                args = orjson.loads(call.arguments or "{}")
            except orjson.JSONDecodeError:
                args = {"input": call.arguments}
            tool = by_name.get(call.name)
            failed = None
            try:
                output = await tool.call(args) if tool else f"error: no tool {call.name!r}"
            except ToolError as exc:
                failed = str(exc)
                output = f"error: {exc}"
            if tool is not None and getattr(tool, "return_sources", False):
                yield source(tool.last_sources)  # type: ignore[attr-defined]  # a retriever tool's, checked with hasattr above
            if called is not None:
                called.append({"tool": call.name, "toolInput": args, "toolOutput": output})
            if failed is None:
                yield step(call.name, "tool", args, output)
            else:
                yield step(call.name, "tool", args, output, error=failed)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
    raise RunFailed("the agent stopped: too many tool calls", code="max_iterations")


class CustomTool(Tool):
    """A tool whose code the canvas author wrote: JavaScript (Flowise's custom tools) in a
    V8 isolate, or Python when the operator allows it, in bubblewrap. Never in the
    server process."""

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        code: str,
        ctx: RunContext,
        language: str = "javascript",
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.code = code
        self.language = language
        self.settings = ctx.settings
        self.flow = {
            "chatflowId": ctx.canvas_id,
            "sessionId": ctx.session_id,
            "chatId": ctx.chat_id,
            "input": ctx.question,
        }
        self.vars = ctx.vars

    async def call(self, args: dict[str, Any]) -> str:
        settings = self.settings
        try:
            if self.language == "python":
                if not settings.python_tools:
                    raise ToolError(
                        "Python tools are off on this server (CANVASFLOW_PYTHON_TOOLS=1 turns "
                        "them on, in a bubblewrap sandbox); write the tool in JavaScript"
                    )
                return await run_python(
                    self.code,
                    args,
                    time_limit=settings.tool_timeout,
                    memory_mb=settings.tool_memory_mb,
                )
            return await run_js(
                self.code,
                js_globals(args, self.vars, self.flow),
                fetch=sandbox_fetch(settings.outbound_hosts),
                time_limit=settings.tool_timeout,
                memory_mb=settings.tool_memory_mb,
            )
        except SandboxError as exc:
            raise ToolError(str(exc)) from None


def js_globals(args: Any, vars_: dict[str, Any], flow: dict[str, Any]) -> dict[str, Any]:
    """What Flowise gives user code: ``$input``, one ``$name`` per argument, ``$vars``,
    ``$flow``."""
    out: dict[str, Any] = {"$input": args, "$vars": vars_, "$flow": flow}
    if isinstance(args, dict):
        for key, value in args.items():
            if str(key).isidentifier():
                out[f"${key}"] = value
    return out


class ToolError(Exception):
    pass


def schema_from(raw: Any) -> dict[str, Any]:
    """A JSON schema, or Flowise's list of ``{property, type, description, required}``."""
    value = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else raw
    if isinstance(value, dict):
        return value
    props: dict[str, Any] = {}
    required = []
    for item in value or []:
        props[item["property"]] = {
            "type": item.get("type", "string"),
            "description": item.get("description", ""),
        }
        if item.get("required"):
            required.append(item["property"])
    return {"type": "object", "properties": props, "required": required}


@register
class CustomToolNode(Node):
    name = "customTool"
    label = "Custom Tool"
    category = "Tools"
    base_classes = ("CustomTool", "Tool", "StructuredTool", "Runnable")
    inputs = flowise_inputs(
        name,
        Input("selectedTool", "asyncOptions", optional=True),
        # given here, or taken from the tools library's tool (selectedTool), as Flowise
        Input("customToolName", "string", optional=True),
        Input("customToolDesc", "string", optional=True),
        Input("customToolSchema", "string", optional=True),
        Input("customToolFunc", "string", optional=True),
        add=(Input("language", "options", optional=True, default="javascript"),),
    )

    @classmethod
    def required_now(cls, inputs: dict[str, Any]) -> tuple[str, ...]:
        """Without a tool from the library, the tool is written here."""
        if inputs.get("selectedTool"):
            return ()
        return ("customToolName", "customToolDesc", "customToolFunc")

    async def build(self, ctx: RunContext) -> Tool:
        name, desc = self.get("customToolName"), self.get("customToolDesc")
        schema, code = self.get("customToolSchema"), self.get("customToolFunc")
        chosen = self.get("selectedTool")
        if chosen:  # the library's tool; what the node gives overrides it, as in Flowise
            from canvasflow.store.models import Tool as StoredTool

            row = await ctx.store.get_row(StoredTool, str(chosen)) if ctx.store else None
            if row is None:
                raise RunFailed(
                    f"{self.title} ({self.id}): the tool {chosen!r} is not in the tools library",
                    code="tool_missing",
                )
            name, desc = name or row.name, desc or row.description
            schema, code = schema or row.schema, code or row.func
        return CustomTool(
            str(name or ""),
            str(desc or ""),
            schema_from(schema),
            str(code or ""),
            ctx,
            str(self.get("language") or "javascript").lower(),
        )


class RetrieverTool(Tool):
    def __init__(self, name: str, description: str, retriever: Any, sources: bool) -> None:
        self.name = name
        self.description = description
        self.parameters = {
            "type": "object",
            "properties": {"input": {"type": "string"}},
            "required": ["input"],
        }
        self.retriever = retriever
        self.return_sources = sources
        self.last_sources: list[dict[str, Any]] = []

    async def call(self, args: dict[str, Any]) -> str:
        self.last_sources = await self.retriever.retrieve(str(args.get("input", "")))
        return "\n\n".join(d["pageContent"] for d in self.last_sources)


@register
class RetrieverToolNode(Node):
    name = "retrieverTool"
    label = "Retriever Tool"
    category = "Tools"
    base_classes = ("RetrieverTool", "DynamicTool", "Tool", "StructuredTool", "Runnable")
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> Tool:
        return RetrieverTool(
            str(self.get("name")),
            str(self.get("description")),
            self.get("retriever"),
            to_bool(self.get("returnSourceDocuments")),
        )


class RequestsTool(Tool):
    """An HTTP request (GET, POST, PUT, DELETE) the agent may make, only to hosts the
    operator allowed (``CANVASFLOW_ALLOWED_HOSTS``, comma-separated; none by default)."""

    def __init__(
        self,
        method: str,
        url: str,
        name: str,
        description: str,
        headers: dict[str, Any],
        max_output: int,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.allowed_hosts = allowed_hosts
        self.method = method
        self.url = url
        self.name = name
        self.description = description
        field = "params" if method in ("GET", "DELETE") else "body"
        self.parameters = {
            "type": "object",
            "properties": {field: {"type": "object"}, "url": {"type": "string"}},
        }
        self.headers = headers
        self.max_output = max_output

    async def call(self, args: dict[str, Any]) -> str:
        from urllib.parse import urlsplit

        import httpx

        from canvasflow.models.native import http

        url = str(args.get("url") or self.url)
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.allowed_hosts:
            raise ToolError(f"host {host or url!r} is not allowed (CANVASFLOW_ALLOWED_HOSTS)")
        try:
            if self.method in ("GET", "DELETE"):
                r = await http().request(
                    self.method,
                    url,
                    params=args.get("params") or None,
                    headers=self.headers,
                    timeout=30,
                )
            else:
                r = await http().request(
                    self.method, url, json=args.get("body") or {}, headers=self.headers, timeout=30
                )
        except httpx.HTTPError as exc:
            raise ToolError(f"request failed: {exc}") from None
        return r.text[: self.max_output]


def _requests_node(method: str) -> type[Node]:
    low = method.lower().capitalize()
    prefix = f"requests{low}"

    class RequestsNode(Node):
        name = prefix
        label = f"Requests {method}"
        category = "Tools"
        base_classes = (
            f"Requests{low}",
            "DynamicStructuredTool",
            "StructuredTool",
            "Runnable",
            "Tool",
        )
        inputs = (
            Input(f"{prefix}Url", "string"),
            Input(f"{prefix}Name", "string", optional=True, default=f"requests_{method.lower()}"),
            Input(
                f"{prefix}Description",
                "string",
                optional=True,
                default=f"Makes an HTTP {method} request and returns the response body.",
            ),
            Input(f"{prefix}Headers", "string", optional=True),
            Input(
                f"{prefix}{'QueryParams' if method in ('GET', 'DELETE') else 'Body'}Schema",
                "code",
                optional=True,
            ),
            Input(f"{prefix}MaxOutputLength", "number", optional=True, default="2000"),
        )

        async def build(self, ctx: RunContext) -> Tool:
            raw = self.get(f"{prefix}Headers")
            headers = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
            return RequestsTool(
                method,
                str(self.get(f"{prefix}Url")),
                str(self.get(f"{prefix}Name")),
                str(self.get(f"{prefix}Description")),
                dict(headers),
                to_int(self.get(f"{prefix}MaxOutputLength"), 2000) or 2000,
                ctx.settings.outbound_hosts,
            )

    RequestsNode.__name__ = f"Requests{low}Node"
    return register(RequestsNode)


RequestsGet = _requests_node("GET")
RequestsPost = _requests_node("POST")
RequestsPut = _requests_node("PUT")
RequestsDelete = _requests_node("DELETE")


class CurrentDateTimeTool(Tool):
    name = "current_date_time"
    description = "The current date and time (UTC, ISO 8601), with the weekday."
    parameters = NO_ARGUMENTS

    async def call(self, args: dict[str, Any]) -> str:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        return f"{now.isoformat(timespec='seconds')} ({now.strftime('%A')})"


@register
class CurrentDateTime(Node):
    name = "currentDateTime"
    label = "CurrentDateTime"
    category = "Tools"
    description = "Gives the agent the current date and time"
    base_classes = ("CurrentDateTime", "Tool", "StructuredTool", "Runnable")

    async def build(self, ctx: RunContext) -> Tool:
        return CurrentDateTimeTool()
