"""Who may call what: API keys, allowed origins, rate limits."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from canvasflow.auth import SESSION_COOKIE, Caller, bearer, read_session, session_parts
from canvasflow.errors import Forbidden, RateLimited, Unauthorized, Unavailable
from canvasflow.server.deps import state
from canvasflow.store.models import Canvas

log = logging.getLogger("canvasflow.guards")

_CALLER = "canvasflow_caller"


async def identify(request: Request) -> Caller | None:
    """Who is calling: the bearer key, else a browser session cookie. A wrong key is
    counted against the client; past ``CANVASFLOW_AUTH_FAILURES`` the client gets 429
    before any key is checked, so failed checks cannot eat the CPU."""
    if hasattr(request.state, _CALLER):
        return getattr(request.state, _CALLER)
    st = state(request)
    caller = None
    presented = bearer(request.headers.get("authorization"))
    if presented:
        client = client_id(request, None, st.settings.trusted_proxy_header)
        if await st.limiter.auth_blocked(client):
            raise RateLimited(
                "Too many failed API-key checks; try again later", headers={"Retry-After": "60"}
            )
        caller = await st.keys.identify(presented)
        if caller is None:
            await st.limiter.auth_failed(client)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        key_id = read_session(cookie, st.secret)
        parts = session_parts(cookie) if key_id else None
        if key_id and parts and not await st.store.session_revoked(parts[0]):
            caller = await st.keys.by_id(key_id)
    setattr(request.state, _CALLER, caller)
    return caller


def check_origin(request: Request) -> None:
    """A browser request that changes something must come from the server's own origin
    (or a trusted one): a page elsewhere cannot drive this server (CSRF, DNS rebinding)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    origin = request.headers.get("origin")
    if not origin:
        return
    st = state(request)
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin.rstrip("/") != own and origin.rstrip("/") not in st.settings.origins:
        raise Forbidden(f"requests from origin {origin} are not allowed here")


async def require_admin(request: Request) -> None:
    """Management routes need the admin key (or an admin session), unless the server
    runs with --no-auth (loopback only)."""
    check_origin(request)
    st = state(request)
    if st.settings.no_auth:
        return
    caller = await identify(request)
    if caller is None or not caller.is_admin:
        raise Unauthorized(
            "Unauthorized: this route needs the admin API key (Authorization: Bearer <key>)"
        )


async def is_admin(request: Request) -> bool:
    """Whether the caller holds the admin key (or an admin session, or --no-auth)."""
    if state(request).settings.no_auth:
        return True
    caller = await identify(request)
    return caller is not None and caller.is_admin


async def check_canvas_access(request: Request, canvas: Canvas) -> Caller | None:
    """A canvas with keys assigned needs one of them (or the admin key); a request from
    a browser origin the canvas does not allow is refused."""
    st = state(request)
    caller = None
    if await st.keys.canvas_locked(canvas.id):
        caller = await identify(request)
        if caller is None or not (caller.is_admin or canvas.id in caller.canvas_ids):
            raise Unauthorized(
                f"Unauthorized: canvas {canvas.slug} needs its API key "
                "(Authorization: Bearer <key>)"
            )
    settings = canvas.settings or {}
    chatbot = settings.get("chatbotConfig")
    chatbot = chatbot if isinstance(chatbot, dict) else {}
    # canvasflow's settings.allowedOrigins, or Flowise's chatbotConfig.allowedOrigins
    allowed = settings.get("allowedOrigins") or chatbot.get("allowedOrigins")
    origin = request.headers.get("origin")
    if origin and isinstance(allowed, list) and allowed and "*" not in allowed:
        if origin.rstrip("/") not in {str(o).rstrip("/") for o in allowed if o}:
            said = settings.get("allowedOriginsError") or chatbot.get("allowedOriginsError")
            raise Forbidden(
                str(said)[:1000]
                if isinstance(said, str) and said.strip()
                else f"origin {origin} is not allowed for canvas {canvas.slug}"
            )
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
    """Requests per window, per canvas and client, counted in the bus's rate storage
    (shared by every process when clustered)."""

    def __init__(
        self,
        storage: Storage | None = None,
        default: str | None = None,
        failures: str = "10/minute",
        fail: str = "open",
    ) -> None:
        self.fail = fail
        storage = storage if storage is not None else MemoryStorage()
        self.limiter = FixedWindowRateLimiter(storage)
        self.default = parse(default) if default else None
        self.failures = parse(failures)

    async def _safely(self, op: Any, when_down: Any) -> Any:
        """A limiter call; when its store (Redis) is down, let the request through
        (``CANVASFLOW_RATE_LIMIT_FAIL=open``, the default) or answer 503 (``closed``)."""
        try:
            async with asyncio.timeout(2.0):
                return await op
        except Exception as exc:  # the storage's own errors vary with its backend
            log.warning("rate limiter unavailable (%s); failing %s", exc, self.fail)
            if self.fail == "closed":
                raise Unavailable(
                    "rate limits cannot be checked right now", headers={"Retry-After": "5"}
                ) from None
            return when_down

    async def auth_blocked(self, client: str) -> bool:
        allowed = await self._safely(
            self.limiter.test(self.failures, "canvasflow-auth", client), True
        )
        return not allowed

    async def auth_failed(self, client: str) -> None:
        await self._safely(self.limiter.hit(self.failures, "canvasflow-auth", client), None)

    async def check(self, canvas: Canvas, client: str) -> None:
        rules = [(r, canvas.id) for r in (canvas_rule(canvas.settings),) if r is not None]
        if self.default is not None:
            rules.append((self.default, "*"))
        for item, scope in rules:
            if not await self._safely(self.limiter.hit(item, "canvasflow", scope, client), True):
                stats = await self.limiter.get_window_stats(item, "canvasflow", scope, client)
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                message = (canvas.settings or {}).get("rateLimit", {}).get("limitMsg") or (
                    f"Too many requests: {item.amount} per {item.get_expiry()} s"
                )
                raise RateLimited(message, headers={"Retry-After": str(retry)})
