"""Deadlines of a model call: to its first token, between two tokens, for the whole
answer. One timer per call, re-armed lazily (a token costs one float store, not a timer
or a task), that cancels the call when a deadline passes; the cancellation comes back
as :class:`UpstreamTimeout` naming the model and the deadline. A call's error also
names the node that configured the model (its label on the canvas), the host it
called, and, when the provider refused it and no key was given, that no key was."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from canvasflow.errors import UpstreamError, UpstreamTimeout

WHAT = {
    "first": ("sent no first token within {s:g} s", "CANVASFLOW_MODEL_FIRST_TOKEN_TIMEOUT"),
    "idle": ("sent nothing for {s:g} s", "CANVASFLOW_MODEL_IDLE_TIMEOUT"),
    "total": ("did not finish within {s:g} s", "CANVASFLOW_MODEL_TOTAL_TIMEOUT"),
}


@dataclass(frozen=True, slots=True)
class Origin:
    """The node that configured a model, as its errors name it."""

    node_id: str
    label: str  # as the canvas shows it
    host: str | None = None  # where its calls go (None: in this process)
    keyed: bool = True  # whether a key is sent
    key_env: str | None = None  # the server's variable that would give it one

    @classmethod
    def of(cls, node_id: str, label: str, model: Any, key_env: str | None = None) -> Origin:
        """The origin of a built model (or embedder): its host and whether it sends a key
        read from the client it calls through."""
        client = getattr(model, "client", None)
        if client is not None:  # a cached client (one per address and key): read once
            return _origin_through(node_id, label, client, key_env)
        url = getattr(model, "url", None)
        host = urlsplit(str(url)).netloc or None if url else None
        key = getattr(model, "api_key", "")
        return cls(node_id, label, host, bool(key) and key != "no-key", key_env)

    def explain(self, exc: UpstreamError) -> UpstreamError:
        """The same error, saying which node, which host, and, when no key was sent to a
        provider that takes one (or that refused the call for it), that no key was
        given and how to give one."""
        where = f"{self.label}, calling {self.host}" if self.host else self.label
        refused = exc.upstream_status in (401, 403) or "api key" in exc.detail.lower()
        if not self.keyed and (refused or self.key_env):  # a provider that takes a key
            fix = f"set {self.key_env} on the server, or " if self.key_env else ""
            where += f": no key was given ({fix}give the node a credential)"
        made = type(exc)(f"{exc.detail} ({where})", upstream_status=exc.upstream_status)
        made.node_id = self.node_id
        return made


@functools.lru_cache(maxsize=4096)
def _origin_through(node_id: str, label: str, client: Any, key_env: str | None) -> Origin:
    """The origin of a model calling through ``client`` (the process's clients are
    cached, one per address and key, so this is worked out once per node and client,
    not per request)."""
    url = getattr(client, "base_url", None)
    host = urlsplit(str(url)).netloc or None if url else None
    key = getattr(client, "api_key", None)
    return Origin(node_id, label, host, bool(key) and key != "no-key", key_env)


@dataclass(frozen=True, slots=True)
class Deadlines:
    first: float = 60.0
    idle: float = 60.0
    total: float = 600.0
    # a node's own limit (Flowise's `timeout`, ms) shortens them all
    node_limit: float | None = None
    # the node whose model these are, named by the call's errors
    origin: Origin | None = None

    @classmethod
    def of(
        cls, settings: object, node_timeout_ms: float | None = None, origin: Origin | None = None
    ) -> Deadlines:
        node = node_timeout_ms / 1000 if node_timeout_ms else None
        return cls(
            first=getattr(settings, "model_first_token_timeout", 60.0),
            idle=getattr(settings, "model_idle_timeout", 60.0),
            total=getattr(settings, "model_total_timeout", 600.0),
            node_limit=node,
            origin=origin,
        )


T = TypeVar("T")


async def guarded(pieces: AsyncIterator[T], model: str, d: Deadlines) -> AsyncIterator[T]:
    """``pieces`` under the deadlines ``d``. Must be consumed by one task (the one that
    iterates it); the call is cancelled in that task when a deadline passes."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    start = loop.time()
    total = d.total if d.node_limit is None else min(d.total, d.node_limit)
    first = d.first if d.node_limit is None else min(d.first, d.node_limit)
    idle = d.idle if d.node_limit is None else min(d.idle, d.node_limit)
    end = start + total
    state: dict[str, Any] = {"at": min(start + first, end), "which": "first", "fired": ""}
    handle: asyncio.TimerHandle | None = None

    def check() -> None:
        nonlocal handle
        if loop.time() >= state["at"]:
            state["fired"] = "total" if state["at"] >= end else str(state["which"])
            task.cancel()
        else:
            handle = loop.call_at(state["at"], check)

    handle = loop.call_at(state["at"], check)
    try:
        async for piece in pieces:
            state["at"] = min(loop.time() + idle, end)
            state["which"] = "idle"
            yield piece
    except asyncio.CancelledError:
        which = str(state["fired"])
        if not which:
            raise
        task.uncancel()
        seconds = {"first": first, "idle": idle, "total": total}[which]
        text, variable = WHAT[which]
        own = d.node_limit is not None and seconds == d.node_limit
        timeout = UpstreamTimeout(
            f"{model} {text.format(s=seconds)} "
            f"({'the node' + chr(39) + 's timeout' if own else variable})"
        )
        raise (d.origin.explain(timeout) if d.origin else timeout) from None
    except UpstreamError as exc:
        if d.origin is None or exc.node_id is not None:
            raise
        raise d.origin.explain(exc) from None
    finally:
        if handle is not None:
            handle.cancel()
        aclose = getattr(pieces, "aclose", None)
        if aclose is not None:
            await aclose()
