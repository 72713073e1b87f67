"""The outside services nodes call by their own HTTP APIs (search engines, hosted models,
Pinecone, GitHub): where each one is, which credential field and which environment
variable hold its key.

A key goes only to its service's own address: the official one, or the one the
operator configured in ``CANVASFLOW_SERVICE_URLS`` (a proxy, a test double). A canvas
cannot point a service elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from canvasflow.nodes.chat_models import credential_value, server_key

if TYPE_CHECKING:
    from canvasflow.config import Settings
    from canvasflow.runtime.context import RunContext
    from canvasflow.runtime.node import Node


@dataclass(frozen=True, slots=True)
class Service:
    name: str  # its key in CANVASFLOW_SERVICE_URLS
    url: str  # the official base URL
    field: str  # the Flowise credential field holding the key
    key_env: str | None = None  # the standard environment variable
    kind: str = ""  # the Flowise credential kind holding the key


SERPAPI = Service("serpapi", "https://serpapi.com", "serpApiKey", "SERPAPI_API_KEY", kind="serpApi")
SERPER = Service(
    "serper", "https://google.serper.dev", "serperApiKey", "SERPER_API_KEY", kind="serperApi"
)
GOOGLE_SEARCH = Service(
    "google_search",
    "https://www.googleapis.com",
    "googleCustomSearchApiKey",
    "GOOGLE_API_KEY",
    kind="googleCustomSearchApi",
)
BRAVE = Service(
    "brave",
    "https://api.search.brave.com",
    "braveApiKey",
    "BRAVE_SEARCH_API_KEY",
    kind="braveSearchApi",
)
TAVILY = Service(
    "tavily", "https://api.tavily.com", "tavilyApiKey", "TAVILY_API_KEY", kind="tavilyApi"
)
REPLICATE = Service(
    "replicate",
    "https://api.replicate.com",
    "replicateApiKey",
    "REPLICATE_API_TOKEN",
    kind="replicateApi",
)
HUGGINGFACE = Service(
    "huggingface",
    "https://api-inference.huggingface.co",
    "huggingFaceApiKey",
    "HUGGINGFACEHUB_API_KEY",
    kind="huggingFaceApi",
)
PINECONE = Service(
    "pinecone", "https://api.pinecone.io", "pineconeApiKey", "PINECONE_API_KEY", kind="pineconeApi"
)
ARXIV = Service("arxiv", "https://export.arxiv.org", "", None)  # no key
COHERE = Service(
    "cohere", "https://api.cohere.com", "cohereApiKey", "COHERE_API_KEY", kind="cohereApi"
)
GITHUB = Service(
    "github", "https://api.github.com", "accessToken", "GITHUB_TOKEN", kind="githubApi"
)


class ServiceError(Exception):
    """A service answered with an error, or could not be reached."""


def service_url(settings: Settings, service: Service) -> str:
    return str(settings.service_urls.get(service.name) or service.url).rstrip("/")


async def service_key(
    ctx: RunContext, node: Node, service: Service, field: str | None = None
) -> str | None:
    """The node's credential's key for the service, else the server's own (from its
    standard environment variable)."""
    key = await credential_value(ctx, node.get("credential"), field or service.field)
    if key:
        return key
    if not service.key_env:
        return None
    url = service_url(ctx.settings, service)  # the only address its requests go to
    return server_key(ctx.settings, service.key_env, url, url)


async def required_key(ctx: RunContext, node: Node, service: Service) -> str:
    """The key :func:`service_key` finds; without one, the canvas cannot run (a 422
    naming the credential kind and the server's variable)."""
    from canvasflow.errors import CanvasInvalid

    key = await service_key(ctx, node, service)
    if not key:
        raise CanvasInvalid(
            f"node {node.id} ({node.name}) has no key: give it a {service.kind} credential, "
            f"or set {service.key_env} on the server",
            code="credential_missing",
        )
    return key


async def call(
    method: str,
    url: str,
    *,
    what: str,
    **kwargs: Any,
) -> Any:
    """One request to a service; its JSON answer. Errors name the service and status."""
    from canvasflow.models.native import http

    try:
        r = await http().request(method, url, timeout=kwargs.pop("seconds", 30), **kwargs)
    except httpx.HTTPError as exc:
        raise ServiceError(f"{what} could not be reached: {exc}") from None
    if r.status_code >= 400:
        raise ServiceError(f"{what} answered {r.status_code}: {r.text[:200]}")
    try:
        return r.json()
    except ValueError:
        raise ServiceError(f"{what} did not answer JSON") from None


def allowed_host(ctx: RunContext, node: Node, address: str, what: str) -> str:
    """The host of an address a canvas names (a URL, or a bare host), if the operator
    allows it (``CANVASFLOW_ALLOWED_HOSTS``); else the canvas cannot run."""
    from urllib.parse import urlsplit

    from canvasflow.errors import CanvasInvalid

    host = (urlsplit(address).hostname if "://" in address else address) or ""
    host = host.lower()
    if host not in ctx.settings.outbound_hosts:
        raise CanvasInvalid(
            f"node {node.id} ({node.name}): {what} host {host!r} is not allowed "
            "(CANVASFLOW_ALLOWED_HOSTS)",
            code="host_not_allowed",
        )
    return host


def json_input(node: Node, name: str) -> Any:
    """A JSON input's value (given as text or already parsed); None when empty."""
    from canvasflow.errors import CanvasInvalid

    raw = node.get(name)
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            import orjson

            return orjson.loads(raw)
        except ValueError:
            raise CanvasInvalid(
                f"node {node.id} ({node.name}): {name} is not JSON", code="bad_input"
            ) from None
    return raw
