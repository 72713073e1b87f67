"""The network as user code sees it: only the hosts the operator allowed
(``CANVASFLOW_ALLOWED_HOSTS``), no redirects elsewhere, bounded answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_BODY = 1_000_000  # bytes of an answer handed to user code


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
    headers = {str(k): str(v) for k, v in (init.get("headers") or {}).items()}
    body = init.get("body")
    for _ in range(5):
        if not host_allowed(url, hosts):
            host = urlsplit(url).hostname or url
            raise HostNotAllowed(f"host {host!r} is not allowed (CANVASFLOW_ALLOWED_HOSTS)")
        response = await client.request(
            method,
            url,
            headers=headers,
            content=body if isinstance(body, str | bytes) else None,
            follow_redirects=False,
            timeout=30,
        )
        if response.is_redirect and response.next_request is not None:
            url = str(response.next_request.url)
            continue
        text = response.text[:MAX_BODY]
        return {
            "status": response.status_code,
            "headers": {k.lower(): v for k, v in response.headers.items()},
            "body": text,
        }
    raise HostNotAllowed("too many redirects")
