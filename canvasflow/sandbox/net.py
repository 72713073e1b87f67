"""The network as user code sees it: only the hosts the operator allowed
(``CANVASFLOW_ALLOWED_HOSTS``), no redirects elsewhere, bounded answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_BODY = 1_000_000  # bytes of an answer handed to user code (and read at all)
HOP_HEADERS = frozenset(
    {"host", "connection", "content-length", "transfer-encoding", "upgrade", "te", "trailer"}
)


class HostNotAllowed(Exception):
    pass


def host_allowed(url: str, hosts: frozenset[str]) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in hosts


async def allowed_fetch(
    client: httpx.AsyncClient, url: str, init: dict[str, Any], hosts: frozenset[str]
) -> dict[str, Any]:
    """A fetch for user code: ``{"status", "headers", "body"}``. Redirects are followed
    only to allowed hosts."""
    method = str(init.get("method") or "GET").upper()
    # the connection's own headers are the client's to set: a Host of the code's choice
    # would reach another virtual host behind an allowed address
    headers = {
        str(k): str(v)
        for k, v in (init.get("headers") or {}).items()
        if str(k).lower() not in HOP_HEADERS
    }
    body = init.get("body")
    for _ in range(5):
        if not host_allowed(url, hosts):
            host = urlsplit(url).hostname or url
            raise HostNotAllowed(f"host {host!r} is not allowed (CANVASFLOW_ALLOWED_HOSTS)")
        request = client.build_request(
            method,
            url,
            headers=headers,
            content=body if isinstance(body, str | bytes) else None,
            timeout=30,
        )
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            if response.is_redirect and response.next_request is not None:
                url = str(response.next_request.url)
                continue
            # read no more than is handed over: a huge answer is cut, not held whole
            raw = bytearray()
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) >= MAX_BODY:
                    break
        finally:
            await response.aclose()
        text = bytes(raw[:MAX_BODY]).decode(response.encoding or "utf-8", "replace")
        return {
            "status": response.status_code,
            "headers": {k.lower(): v for k, v in response.headers.items()},
            "body": text,
        }
    raise HostNotAllowed("too many redirects")


def sandbox_fetch(hosts: frozenset[str]) -> Any:
    """User code's ``fetch``: the shared HTTP client, to the allowed hosts only."""
    from canvasflow.models.native import http

    async def fetch(url: str, init: dict[str, Any]) -> dict[str, Any]:
        return await allowed_fetch(http(), url, init, hosts)

    return fetch
