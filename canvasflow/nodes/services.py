"""Model providers and the outside services nodes call by their own HTTP APIs (search
engines, hosted models, Pinecone, GitHub): one descriptor each, saying where it is, which
credential kind and field hold its key, and which standard environment variables hold
the server's own key and address (read by name from the settings' environment).

A key goes only to its service's own address: the official one, or the one the
operator configured (its URL variable, or ``CANVASFLOW_SERVICE_URLS``: a proxy, a test
double). A canvas cannot point a service elsewhere. Adding a provider is its node module
plus a descriptor here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from canvasflow.config import Settings
    from canvasflow.runtime.context import RunContext
    from canvasflow.runtime.node import Node

log = logging.getLogger("canvasflow.nodes")

SERVICES: dict[str, Service] = {}


@dataclass(frozen=True, slots=True)
class Service:
    name: str  # its key in CANVASFLOW_SERVICE_URLS
    url: str | None  # the official base URL (None: there is none, e.g. LocalAI)
    field: str  # the Flowise credential field holding the key
    key_env: str | None = None  # the standard variable with the server's key
    kind: str = ""  # the Flowise credential kind holding the key
    url_env: str | None = None  # the standard variable with the operator's own address
    # more credential fields, each with the standard variable the server's value is in
    more: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        SERVICES[self.name] = self

    def own_url(self, settings: Settings) -> str | None:
        """The operator's own address for it, if any."""
        own = settings.service_urls.get(self.name)
        if own:
            return str(own)
        return settings.provider_env(self.url_env) if self.url_env else None

    def base_url(self, settings: Settings) -> str | None:
        return self.own_url(settings) or self.url

    def server_key(self, settings: Settings, target: Any) -> str | None:
        """The server's key, only if ``target`` (where the request will really go) is
        this service's own address."""
        if not self.key_env:
            return None
        return server_key(settings, self.key_env, target, self.own_url(settings), self.url)

    def variables(self) -> list[str]:
        """Every environment variable it reads."""
        names = [self.key_env, self.url_env, *(env for _, env in self.more)]
        return [n for n in names if n]


# -- model providers ---------------------------------------------------------------------
OPENAI = Service(
    "openai",
    "https://api.openai.com/v1",
    "openAIApiKey",
    "OPENAI_API_KEY",
    kind="openAIApi",
    url_env="OPENAI_BASE_URL",
)
AZURE_OPENAI = Service(
    "azure_openai",
    None,
    "azureOpenAIApiKey",
    "AZURE_OPENAI_API_KEY",
    kind="azureOpenAIApi",
    url_env="AZURE_OPENAI_ENDPOINT",
    more=(
        ("azureOpenAIApiInstanceName", "AZURE_OPENAI_INSTANCE_NAME"),
        ("azureOpenAIApiDeploymentName", "AZURE_OPENAI_DEPLOYMENT"),
        ("azureOpenAIApiVersion", "OPENAI_API_VERSION"),
    ),
)
ANTHROPIC = Service(
    "anthropic",
    "https://api.anthropic.com",
    "anthropicApiKey",
    "ANTHROPIC_API_KEY",
    kind="anthropicApi",
    url_env="ANTHROPIC_BASE_URL",
)
MISTRAL = Service(
    "mistral",
    "https://api.mistral.ai/v1",
    "mistralAIAPIKey",
    "MISTRAL_API_KEY",
    kind="mistralAIApi",
    url_env="MISTRAL_BASE_URL",
)
GOOGLE_GENAI = Service(
    "google_genai",
    "https://generativelanguage.googleapis.com/v1beta/openai",
    "googleGenerativeAPIKey",
    "GOOGLE_API_KEY",
    kind="googleGenerativeAI",
    url_env="GOOGLE_BASE_URL",
)
GROQ = Service(
    "groq",
    "https://api.groq.com/openai/v1",
    "groqApiKey",
    "GROQ_API_KEY",
    kind="groqApi",
    url_env="GROQ_BASE_URL",
)
DEEPSEEK = Service(
    "deepseek",
    "https://api.deepseek.com",
    "deepseekApiKey",
    "DEEPSEEK_API_KEY",
    kind="deepseekApi",
    url_env="DEEPSEEK_BASE_URL",
)
LOCALAI = Service(
    "localai",
    None,
    "localAIApiKey",
    "LOCALAI_API_KEY",
    kind="localAIApi",
    url_env="LOCALAI_BASE_URL",
)
OLLAMA = Service(
    "ollama",
    "http://localhost:11434",
    "ollamaApiKey",
    None,
    kind="ollamaApi",
    url_env="OLLAMA_BASE_URL",
)

# -- other services ----------------------------------------------------------------------
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
    more=(("googleCustomSearchApiId", "GOOGLE_CSE_ID"),),
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


# -- keys --------------------------------------------------------------------------------


async def credential_value(ctx: RunContext, ref: Any, field: str) -> str | None:
    """A field of a stored credential, by id or name. None when canvasflow has no such
    credential (an imported Flowise chatflow refers to Flowise's own credential ids):
    the caller then falls back to the provider's standard environment variable."""
    if not ref or ctx.credentials is None:
        return None
    data = await ctx.credentials.plain(str(ref))
    if data is None:
        log.info("credential %r is not stored in canvasflow; using the environment", ref)
        return None
    value = data.get(field)
    return str(value) if value else None


def _same_url(a: str | None, b: str | None) -> bool:
    return bool(a and b) and str(a).rstrip("/").lower() == str(b).rstrip("/").lower()


_WARNED: set[tuple[str, str]] = set()


def server_key(settings: Settings, key_env: str, target: Any, *own: str | None) -> str | None:
    """The server's own key for a provider or service (its standard environment variable),
    only when ``target``, the address the request will really go to once credentials and
    inputs are applied, is that provider's own endpoint: the official one or the
    operator's (``own``). Anywhere else the canvas must bring its own credential: the
    server's key is never sent where an author points. The one check every node shares."""
    key = settings.provider_env(key_env)
    if not key:
        return None
    if target and any(_same_url(str(target), o) for o in own):
        return key
    warned = (key_env, str(target))
    if warned not in _WARNED:  # once per address, not per request
        if len(_WARNED) > 10_000:
            _WARNED.clear()
        _WARNED.add(warned)
        log.warning(
            "not sending %s to %s (not the provider's own endpoint): give the node a credential",
            key_env,
            target,
        )
    return None


async def service_field(ctx: RunContext, node: Node, service: Service, field: str) -> str | None:
    """One of a service's other credential fields (:attr:`Service.more`), else the
    server's value of its standard variable."""
    value = await credential_value(ctx, node.get("credential"), field)
    if value:
        return value
    env = dict(service.more).get(field)
    return ctx.settings.provider_env(env) if env else None


class ServiceError(Exception):
    """A service answered with an error, or could not be reached."""


def service_url(settings: Settings, service: Service) -> str:
    return str(service.base_url(settings)).rstrip("/")


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
