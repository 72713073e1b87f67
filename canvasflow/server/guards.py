"""Who may call what: API keys, allowed origins, rate limits."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from canvasflow.auth import Caller, bearer
from canvasflow.errors import Forbidden, RateLimited, Unauthorized
from canvasflow.server.deps import state
from canvasflow.store.models import Canvas


async def require_admin(request: Request) -> None:
    """Management routes need the admin key, once an admin key exists."""
    st = state(request)
    if not await st.keys.admin_required():
        return
    caller = await st.keys.identify(bearer(request.headers.get("authorization")))
    if caller is None or not caller.is_admin:
        raise Unauthorized(
            "Unauthorized: this route needs the admin API key (Authorization: Bearer <key>)"
        )


async def check_canvas_access(request: Request, canvas: Canvas) -> Caller | None:
    """A canvas with keys assigned needs one of them (or the admin key); a request from
    a browser origin the canvas does not allow is refused."""
    st = state(request)
    caller = None
    if await st.keys.canvas_locked(canvas.id):
        caller = await st.keys.identify(bearer(request.headers.get("authorization")))
        if caller is None or not (caller.is_admin or canvas.id in caller.canvas_ids):
            raise Unauthorized(
                f"Unauthorized: canvas {canvas.slug} needs its API key "
                "(Authorization: Bearer <key>)",
            )
    allowed = (canvas.settings or {}).get("allowedOrigins")
    origin = request.headers.get("origin")
    if origin and isinstance(allowed, list) and allowed and "*" not in allowed:
        if origin.rstrip("/") not in {str(o).rstrip("/") for o in allowed}:
            raise Forbidden(f"origin {origin} is not allowed for canvas {canvas.slug}")
    return caller


def client_id(request: Request, caller: Caller | None, proxy_header: str | None) -> str:
    """The key, else the client's address (from the trusted proxy's header only when
    one is configured: its last entry, the one that proxy added)."""
    if caller is not None:
        return "key:" + caller.key_id
    if proxy_header:
        forwarded = request.headers.get(proxy_header)
        if forwarded:
            return "ip:" + forwarded.split(",")[-1].strip()
    return "ip:" + (request.client.host if request.client else "unknown")


def canvas_rule(settings: dict[str, Any] | None) -> RateLimitItem | None:
    """A canvas's limit: ``{"limit": N, "window": seconds}`` (or Flowise's
    ``limitMax`` / ``limitDuration``), under ``settings["rateLimit"]``."""
    rule = (settings or {}).get("rateLimit")
    if not isinstance(rule, dict):
        return None
    limit = rule.get("limit", rule.get("limitMax"))
    window = rule.get("window", rule.get("limitDuration"))
    if not limit or not window:
        return None
    return RateLimitItemPerSecond(int(limit), int(window))


class RateLimiter:
    """Requests per window, per canvas and client; shared through Redis when clustered."""

    def __init__(self, redis_url: str | None, default: str | None = None) -> None:
        storage: Storage
        if redis_url:
            storage = RedisStorage("async+" + redis_url, implementation="redispy")
        else:
            storage = MemoryStorage()
        self.limiter = FixedWindowRateLimiter(storage)
        self.default = parse(default) if default else None

    async def check(self, canvas: Canvas, client: str) -> None:
        rules = [(r, canvas.id) for r in (canvas_rule(canvas.settings),) if r is not None]
        if self.default is not None:
            rules.append((self.default, "*"))
        for item, scope in rules:
            if not await self.limiter.hit(item, "canvasflow", scope, client):
                stats = await self.limiter.get_window_stats(item, "canvasflow", scope, client)
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                message = (canvas.settings or {}).get("rateLimit", {}).get("limitMsg") or (
                    f"Too many requests: {item.amount} per {item.get_expiry()} s"
                )
                raise RateLimited(message, headers={"Retry-After": str(retry)})
