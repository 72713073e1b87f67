"""Canvases as MCP servers: ``/api/v1/mcp/{canvas}`` (one canvas, its own token) and
``/api/v1/mcp`` (every MCP-enabled canvas an API key may use), on the official ``mcp``
SDK's Streamable HTTP transport, stateless (any process answers any request, as
Flowise's).

One tool per canvas. A call runs a prediction on the same path as the prediction API
(checks, rate limits, stored messages, a queue worker in queue mode); its tokens go to
the client as progress notifications while it runs; the answer is the result (its text,
and the sources as structured content). A client's ``notifications/cancelled`` aborts the
prediction through the bus, on whichever process runs it: an MCP call's chat id is made
from the caller's token and the request id, so any process can name it."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import mcp.types as types
import orjson
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from canvasflow import __version__
from canvasflow.auth import bearer
from canvasflow.errors import CanvasflowError, CanvasInvalid, NotFound, Unauthorized
from canvasflow.mcp import config
from canvasflow.server.errors import JSONBody
from canvasflow.server.gate import replay_body
from canvasflow.server.guards import client_id
from canvasflow.server.running import start_prediction
from canvasflow.server.state import ServerState
from canvasflow.store.models import Canvas

# JSON-RPC's "server error" range, as Flowise answers a refused MCP request
REFUSED = -32001


@dataclass
class Target:
    """A canvas offered as a tool."""

    canvas: Canvas
    name: str
    description: str
    schema: dict[str, Any]
    form_fields: frozenset[str] = frozenset()


@dataclass
class McpCall:
    """What one HTTP request to an MCP endpoint may reach: its canvases by tool name, and
    who asks (the token that let it in)."""

    st: ServerState
    token: str
    targets: dict[str, Target] = field(default_factory=dict)
    client: str = ""

    def chat_for(self, request_id: Any) -> str:
        digest = hashlib.sha256(f"{self.token}\0{request_id}".encode()).hexdigest()
        return "mcp-" + digest[:32]


def _refusal(status: int, message: str) -> JSONBody:
    body = {"jsonrpc": "2.0", "error": {"code": REFUSED, "message": message}, "id": None}
    return JSONBody(body, status_code=status)


# -- what a canvas looks like as a tool -------------------------------------------------


def _form_field(row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    name = str(row.get("name") or "").strip()
    if not name:
        return None
    kind = str(row.get("type") or "string")
    schema: dict[str, Any] = {"description": str(row.get("label") or name)}
    if kind == "number":
        schema["type"] = "number"
    elif kind == "boolean":
        schema["type"] = "boolean"
    else:
        schema["type"] = "string"
        options = [str(o.get("option")) for o in row.get("addOptions") or [] if isinstance(o, dict)]
        if kind == "options" and options:
            schema["enum"] = options
    return name, schema


SESSION_PROPERTY = {
    "type": "string",
    "description": "Continue a conversation: the same sessionId for every call of it",
}


def target_of(st: ServerState, canvas: Canvas, name: str | None = None) -> Target:
    """The tool a canvas is: ``{question}`` for a chatflow, the Start node's form inputs
    for an agentflow that starts with a form."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "question": {"type": "string", "description": "The question to ask the canvas"},
            "sessionId": SESSION_PROPERTY,
        },
        "required": ["question"],
    }
    fields: frozenset[str] = frozenset()
    try:
        graph = st.graph_for(canvas)
    except CanvasInvalid:
        graph = None
    rows = graph.form_inputs() if graph is not None else None
    if rows is not None:  # an agentflow that starts with a form
        props = dict(f for f in (_form_field(r) for r in rows) if f is not None)
        fields = frozenset(props)
        schema = {
            "type": "object",
            "properties": {**props, "sessionId": SESSION_PROPERTY},
            "required": sorted(props),
        }
    return Target(
        canvas,
        name or config.tool_name(canvas),
        config.tool_description(canvas),
        schema,
        fields,
    )


# -- the MCP server ------------------------------------------------------------------------


def build_server() -> Server[Any, Request]:
    server: Server[Any, Request] = Server("canvasflow", version=__version__)

    def call_of() -> McpCall:
        request = server.request_context.request
        assert request is not None, "an MCP request always comes over HTTP here"
        return request.state.mcp

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [
            types.Tool(name=t.name, description=t.description, inputSchema=t.schema)
            for t in call_of().targets.values()
        ]

    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        call = call_of()
        target = call.targets.get(name)
        if target is None:
            return _tool_error(f"no tool {name!r} here")
        ctx = server.request_context
        progress = ctx.meta.progressToken if ctx.meta is not None else None
        try:
            return await run_tool(call, target, arguments, ctx, progress)
        except CanvasflowError as exc:
            return _tool_error(exc.message)

    return server


def _tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], isError=True
    )


async def run_tool(
    call: McpCall, target: Target, arguments: dict[str, Any], ctx: Any, progress: Any
) -> types.CallToolResult:
    st = call.st
    canvas = target.canvas
    question = str(arguments.get("question") or "")
    form = {k: v for k, v in arguments.items() if k in target.form_fields} or None
    session = str(arguments.get("sessionId") or "") or str(uuid.uuid4())
    await st.limiter.check(canvas, call.client)
    prediction = await start_prediction(
        st,
        canvas,
        question,
        chat_id=call.chat_for(ctx.request_id),
        overrides={"sessionId": session},
        streaming=progress is not None,
        form=form,
        trigger="mcp",
    )
    try:
        if progress is not None:  # the tokens as they come, as progress
            sent = 0
            async for event in prediction.log.follow(0):
                if event is None:
                    continue
                if event.kind == "token":
                    sent += 1
                    await ctx.session.send_progress_notification(
                        progress, sent, None, str(event.data), related_request_id=ctx.request_id
                    )
                elif event.kind == "end":
                    break
        await asyncio.wait({prediction.finished()})
    except BaseException:  # the client went away or cancelled: stop the model too
        prediction.abort("disconnect")
        raise
    if prediction.status == "error" and prediction.error is not None:
        return _tool_error(str(prediction.error.get("message") or "the canvas failed"))
    answer = prediction.answer()
    text = answer.get("text")
    if not text and answer.get("json") is not None:
        text = orjson.dumps(answer["json"]).decode()
    structured: dict[str, Any] = {
        "text": text or "",
        "sessionId": session,
        "chatMessageId": answer.get("chatMessageId"),
    }
    if answer.get("sourceDocuments"):
        structured["sourceDocuments"] = answer["sourceDocuments"]
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text or "")],
        structuredContent=structured,
    )


# -- the HTTP door ---------------------------------------------------------------------------


class McpDoor:
    """Two stateless session managers over one server: SSE answers (progress while a
    tool runs) for clients that accept them, JSON answers for those that ask only JSON."""

    def __init__(self) -> None:
        self.server = build_server()
        self.sse = StreamableHTTPSessionManager(self.server, stateless=True)
        self.json = StreamableHTTPSessionManager(self.server, stateless=True, json_response=True)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The managers' task groups, entered and left by one task of their own (a
        lifespan's start and end may run in different tasks; anyio's scopes may not)."""
        started, stop = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(self.sse.run())
                await stack.enter_async_context(self.json.run())
                started.set()
                await stop.wait()

        holder = asyncio.create_task(hold())
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({holder, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if holder.done():  # it failed to start: say why
            waiting.cancel()
            holder.result()
        try:
            yield
        finally:
            stop.set()
            await holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        st: ServerState = scope["app"].state.canvasflow
        token = bearer(request.headers.get("authorization")) or ""
        body = await request.body() if request.method == "POST" else b""
        try:
            call = await self._call(st, request, token)
        except CanvasflowError as exc:
            await _refusal(exc.status, exc.message)(scope, receive, send)
            return
        scope.setdefault("state", {})["mcp"] = call
        if await self._cancelled(st, call, body):
            await JSONBody(None, status_code=202)(scope, receive, send)
            return
        accept = request.headers.get("accept", "")
        manager = self.sse if "text/event-stream" in accept else self.json
        await manager.handle_request(scope, replay_body(body, receive), send)

    async def _call(self, st: ServerState, request: Request, token: str) -> McpCall:
        ref = request.path_params.get("canvas_id")
        call = McpCall(st, token)
        if ref is not None:  # one canvas: its MCP token (or the admin key)
            canvas = await st.canvas(ref)
            if canvas is None or not config.enabled(canvas):
                raise NotFound("MCP server not found")
            if not config.token_matches(canvas, token):
                caller = await st.keys.identify(token) if token else None
                if caller is None or not caller.is_admin:
                    raise Unauthorized("Unauthorized: this MCP server needs its token")
            call.client = client_id(request, None, st.settings.trusted_proxy_header)
            target = target_of(st, canvas)
            call.targets[target.name] = target
            return call
        # every MCP-enabled canvas the API key may use, one tool each
        caller = await st.keys.identify(token) if token else None
        if caller is None and not st.settings.no_auth:
            raise Unauthorized("Unauthorized: /api/v1/mcp needs an API key")
        call.client = client_id(request, caller, st.settings.trusted_proxy_header)
        for canvas in await st.store.list_canvases():
            if not config.enabled(canvas):
                continue
            if caller is not None and not (caller.is_admin or canvas.id in caller.canvas_ids):
                continue
            name = config.tool_name(canvas)
            if name in call.targets:  # two canvases chose one name: the slug tells them apart
                name = f"{name}_{canvas.slug}"[:64]
            call.targets[name] = target_of(st, canvas, name)
        return call

    async def _cancelled(self, st: ServerState, call: McpCall, body: bytes) -> bool:
        """A ``notifications/cancelled``: the prediction its request started is aborted
        wherever it runs. (The SDK's stateless transport cannot find a request another
        HTTP request started.)"""
        if b"notifications/cancelled" not in body:
            return False
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        messages = message if isinstance(message, list) else [message]
        found = False
        for m in messages:
            if not isinstance(m, dict) or m.get("method") != "notifications/cancelled":
                continue
            request_id = (m.get("params") or {}).get("requestId")
            chat = call.chat_for(request_id)
            for target in call.targets.values():
                try:
                    await st.bus.abort(target.canvas.id, chat)
                except CanvasflowError:
                    pass
            found = True
        return found and len(messages) == 1
