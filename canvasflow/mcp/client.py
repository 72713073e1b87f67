"""MCP servers as tools: a server named by a node's configuration, connected once and
kept (a pool keyed by the configuration, so a prediction does not open a session), its
tools listed and called through the official ``mcp`` SDK's client.

- A remote server (``{"url": ..., "headers": {...}}``): Streamable HTTP, else the older
  SSE transport; only hosts in ``CANVASFLOW_ALLOWED_HOSTS``, no redirects.
- A local server (``{"command": ..., "args": [...], "env": {...}}``): only a command the
  operator allows (``CANVASFLOW_MCP_COMMANDS``), started inside bubblewrap with nothing
  of the server's environment but the variables the operator lists
  (``CANVASFLOW_MCP_ENV``) and those the node's configuration gives it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import time
import weakref
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from canvasflow.errors import CanvasInvalid, RunFailed, UpstreamError, UpstreamUnreachable
from canvasflow.sandbox.bwrap import SYSTEM, bwrap_args
from canvasflow.sandbox.net import host_allowed

if TYPE_CHECKING:
    from mcp import ClientSession

    from canvasflow.config import Settings

log = logging.getLogger("canvasflow.mcp")

IDLE_SECONDS = 300.0  # a pooled session nobody used for this long is closed
CONNECT_SECONDS = 20.0


@dataclass(frozen=True)
class ServerSpec:
    """Where an MCP server is: a URL (remote), or a command (local, stdio)."""

    name: str  # what errors call it
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return hashlib.sha256(orjson.dumps(self.__dict__, default=list)).hexdigest()


def spec_from_config(raw: Any, name: str = "") -> ServerSpec:
    """Flowise's ``mcpServerConfig``: ``{"url", "headers"}`` or ``{"command", "args",
    "env"}`` (as JSON text or already parsed); ``{"mcpServers": {name: {...}}}`` too."""
    value = raw
    if isinstance(raw, str):
        try:
            value = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            raise CanvasInvalid(
                "the MCP server configuration is not JSON", code="bad_input"
            ) from None
    if isinstance(value, dict) and isinstance(value.get("mcpServers"), dict):
        servers = value["mcpServers"]
        if len(servers) != 1:
            raise CanvasInvalid("name one MCP server per node", code="bad_input")
        name, value = next(iter(servers.items()))
    if not isinstance(value, dict) or not (value.get("url") or value.get("command")):
        raise CanvasInvalid(
            'the MCP server configuration needs "url" (a remote server) or "command" (a local one)',
            code="bad_input",
        )
    if value.get("url"):
        url = str(value["url"])
        headers = value.get("headers") or {}
        return ServerSpec(
            name or url,
            url=url,
            headers=tuple(sorted((str(k), str(v)) for k, v in dict(headers).items())),
        )
    command = str(value["command"])
    args = value.get("args") or []
    env = value.get("env") or {}
    return ServerSpec(
        name or command,
        command=command,
        args=tuple(str(a) for a in (args if isinstance(args, list) else [args])),
        env=tuple(sorted((str(k), str(v)) for k, v in dict(env).items())),
    )


def check_allowed(spec: ServerSpec, settings: Settings) -> None:
    """Refuse what the operator did not allow (before anything is started or called)."""
    if spec.url is not None:
        if not host_allowed(spec.url, settings.outbound_hosts):
            raise CanvasInvalid(
                f"MCP server {spec.name}: its host is not allowed (CANVASFLOW_ALLOWED_HOSTS)",
                code="host_not_allowed",
            )
        return
    allowed = settings.mcp_command_list
    command = spec.command or ""
    if command not in allowed and Path(command).name not in allowed:
        raise CanvasInvalid(
            f"MCP server {spec.name}: the command {command!r} is not allowed "
            "(the operator lists commands in CANVASFLOW_MCP_COMMANDS)",
            code="command_not_allowed",
        )
    if shutil.which("bwrap") is None:
        raise CanvasInvalid(
            f"MCP server {spec.name}: local MCP servers run in bubblewrap, which is not "
            "installed here",
            code="command_not_allowed",
        )


def sandboxed(spec: ServerSpec, settings: Settings) -> tuple[str, list[str]]:
    """The bubblewrap command line that starts a local server: read-only system folders
    (and the operator's ``CANVASFLOW_MCP_PATHS``), a private /tmp and home, no other
    process in sight, the network only with ``CANVASFLOW_MCP_NETWORK``, and an
    environment of the listed variables only."""
    executable = shutil.which(spec.command or "") or str(spec.command)
    env = {**settings.env_values(settings.mcp_env_list), **dict(spec.env)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = "/tmp/home"
    folders = (*SYSTEM, "/sbin", "/etc", *settings.mcp_path_list)
    args = [
        *bwrap_args(folders, env, network=settings.mcp_network, dirs=["/tmp/home"]),
        executable,
        *spec.args,
    ]
    return "bwrap", args


@dataclass
class Pooled:
    """One open session to a server, held by a task of its own (the SDK's transports
    must be closed by the task that opened them)."""

    spec: ServerSpec
    session: ClientSession | None = None
    tools: list[Any] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    task: asyncio.Task[None] | None = None
    used: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done() and self.error is None


class Pool:
    """Open sessions by server configuration, per event loop."""

    def __init__(self) -> None:
        self.sessions: dict[str, Pooled] = {}
        self._lock = asyncio.Lock()

    async def get(self, spec: ServerSpec, settings: Settings) -> Pooled:
        check_allowed(spec, settings)
        async with self._lock:
            self._close_idle()
            pooled = self.sessions.get(spec.key)
            if pooled is None or (pooled.ready.is_set() and not pooled.alive):
                pooled = Pooled(spec)
                pooled.task = asyncio.create_task(_hold(pooled, settings))
                self.sessions[spec.key] = pooled
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                await pooled.ready.wait()
        except TimeoutError:
            pooled.done.set()
            raise UpstreamUnreachable(
                f"MCP server {spec.name} did not answer within {CONNECT_SECONDS:g} s"
            ) from None
        if pooled.error is not None or pooled.session is None:
            self.sessions.pop(spec.key, None)
            raise UpstreamUnreachable(
                f"MCP server {spec.name} could not be reached: {_why(pooled.error)}"
            )
        pooled.used = time.monotonic()
        return pooled

    def _close_idle(self) -> None:
        now = time.monotonic()
        for key, pooled in list(self.sessions.items()):
            if now - pooled.used > IDLE_SECONDS or (pooled.ready.is_set() and not pooled.alive):
                pooled.done.set()
                del self.sessions[key]

    async def close(self) -> None:
        for pooled in self.sessions.values():
            pooled.done.set()
        tasks = [p.task for p in self.sessions.values() if p.task is not None]
        self.sessions.clear()
        if tasks:
            await asyncio.wait(tasks, timeout=5)


def _why(exc: BaseException | None) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if exc is not None else "no session"


async def _hold(pooled: Pooled, settings: Settings) -> None:
    spec = pooled.spec
    try:
        try:
            await _serve(pooled, settings, sse=False)
        except Exception as exc:
            # an older remote server answers Streamable HTTP with a 4xx: its SSE transport
            if spec.url is None or pooled.session is not None or not _refused_http(exc):
                raise
            await _serve(pooled, settings, sse=True)
    except BaseException as exc:
        pooled.error = exc
        if not isinstance(exc, asyncio.CancelledError):
            log.warning("MCP server %s: %s", spec.name, _why(exc))
    finally:
        pooled.session = None
        pooled.ready.set()


def _refused_http(exc: BaseException) -> bool:
    why = _why(exc)
    return any(code in why for code in ("400", "404", "405"))


async def _serve(pooled: Pooled, settings: Settings, sse: bool) -> None:
    from mcp import ClientSession

    async with AsyncExitStack() as stack:
        read, write = await _open(stack, pooled.spec, settings, sse)
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        pooled.tools = list((await session.list_tools()).tools)
        pooled.session = session
        pooled.ready.set()
        await pooled.done.wait()


async def _open(
    stack: AsyncExitStack, spec: ServerSpec, settings: Settings, sse: bool
) -> tuple[Any, Any]:
    if spec.url is None:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        command, args = sandboxed(spec, settings)
        params = StdioServerParameters(command=command, args=args, env={})
        # what the server writes on stderr is its own (it may echo its environment)
        devnull = stack.enter_context(await asyncio.to_thread(open, os.devnull, "w"))
        read, write = await stack.enter_async_context(stdio_client(params, errlog=devnull))
        return read, write
    headers = dict(spec.headers)
    if sse:
        from mcp.client.sse import sse_client

        read, write = await stack.enter_async_context(
            sse_client(spec.url, headers=headers, httpx_client_factory=_factory)
        )
        return read, write
    from mcp.client.streamable_http import streamable_http_client

    client = await stack.enter_async_context(_http(headers))
    read, write, _ = await stack.enter_async_context(
        streamable_http_client(spec.url, http_client=client)
    )
    return read, write


def _http(headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        headers=headers,
        follow_redirects=False,  # a redirect could leave the allowed hosts
        timeout=httpx.Timeout(30.0, read=300.0),
    )


def _factory(
    headers: dict[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        headers=headers, timeout=timeout or httpx.Timeout(30.0), auth=auth, follow_redirects=False
    )


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()


def pool() -> Pool:
    """The pool of this event loop (sessions belong to the loop that opened them)."""
    loop = asyncio.get_running_loop()
    found = _POOLS.get(loop)
    if found is None:
        found = _POOLS[loop] = Pool()
    return found


async def close_pool() -> None:
    """At shutdown: this loop's sessions closed (local servers' processes ended)."""
    found = _POOLS.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


async def call_tool(pooled: Pooled, name: str, args: dict[str, Any], seconds: float) -> str:
    """One tool call; the text of its result. A server that died or hangs is an error
    naming it."""
    session = pooled.session
    if session is None:
        raise UpstreamUnreachable(f"MCP server {pooled.spec.name} is gone")
    pooled.used = time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            result = await session.call_tool(name, args)
    except TimeoutError:
        raise RunFailed(
            f"MCP server {pooled.spec.name}: tool {name} did not answer within {seconds:g} s",
            code="upstream_timeout",
        ) from None
    except Exception as exc:
        pooled.done.set()
        raise UpstreamError(f"MCP server {pooled.spec.name}: {_why(exc)}") from None
    parts = []
    for item in result.content:
        text = getattr(item, "text", None)
        parts.append(text if text is not None else orjson.dumps(item.model_dump()).decode())
    if not parts and result.structuredContent is not None:
        parts.append(orjson.dumps(result.structuredContent).decode())
    text = "\n".join(parts)
    return f"error: {text}" if result.isError else text
