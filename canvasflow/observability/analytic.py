"""A canvas's analytic providers, in Flowise's shape (``settings.analytic``: ``{langFuse:
{credentialId, status}, langSmith: {credentialId, projectName, status}, ...}``, kept as a
JSON string by Flowise, as an object here): each provider that is on gets the canvas's
traces over its OTLP endpoint, with the key of the credential it names.

The endpoint is the credential's own (or the provider's public one): never one the canvas
sets, so a canvas cannot send a stored key where its author points. What a provider needs
is read once per (credential, project) and cached with the credentials; its destination
(a queue and a thread, observability/export.py) is made once per endpoint and key."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from canvasflow.values import json_setting

if TYPE_CHECKING:
    from canvasflow.observability.export import Destination
    from canvasflow.runtime.context import RunContext

log = logging.getLogger("canvasflow.tracing")

Target = tuple[str, dict[str, str], dict[str, str]]  # URL, headers, resource attributes


def _url(base: str, path: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(path) else base + path


def _langfuse(cred: dict[str, Any], cfg: dict[str, Any]) -> Target:
    pair = f"{cred.get('langFusePublicKey') or ''}:{cred.get('langFuseSecretKey') or ''}"
    base = cred.get("langFuseEndpoint") or "https://cloud.langfuse.com"
    auth = "Basic " + base64.b64encode(pair.encode()).decode()
    resource = {"langfuse.release": str(cfg["release"])} if cfg.get("release") else {}
    return _url(base, "/api/public/otel/v1/traces"), {"Authorization": auth}, resource


def _langsmith(cred: dict[str, Any], cfg: dict[str, Any]) -> Target:
    base = cred.get("langSmithEndpoint") or "https://api.smith.langchain.com"
    headers = {
        "x-api-key": str(cred.get("langSmithApiKey") or ""),
        "Langsmith-Project": str(cfg.get("projectName") or "default"),
    }
    return _url(base, "/otel/v1/traces"), headers, {}


def _phoenix(cred: dict[str, Any], cfg: dict[str, Any]) -> Target:
    base = cred.get("phoenixEndpoint") or "https://app.phoenix.arize.com"
    key = cred.get("phoenixApiKey")
    headers = {"Authorization": f"Bearer {key}", "api_key": str(key)} if key else {}
    project = str(cfg.get("projectName") or "default")
    return _url(base, "/v1/traces"), headers, {"openinference.project.name": project}


def _arize(cred: dict[str, Any], cfg: dict[str, Any]) -> Target:
    base = cred.get("arizeEndpoint") or "https://otlp.arize.com"
    headers = {
        "space_id": str(cred.get("arizeSpaceId") or ""),
        "api_key": str(cred.get("arizeApiKey") or ""),
    }
    project = str(cfg.get("projectName") or "default")
    resource = {"model_id": project, "openinference.project.name": project}
    return _url(base, "/v1/traces"), headers, resource


def _opik(cred: dict[str, Any], cfg: dict[str, Any]) -> Target:
    base = cred.get("opikUrl") or "https://www.comet.com/opik/api"
    headers = {
        "Authorization": str(cred.get("opikApiKey") or ""),
        "Comet-Workspace": str(cred.get("opikWorkspace") or "default"),
        "projectName": str(cfg.get("opikProjectName") or "default"),
    }
    return _url(base, "/v1/private/otel/v1/traces"), headers, {}


def _lunary(cred: dict[str, Any], cfg: dict[str, Any]) -> Target:
    base = cred.get("lunaryEndpoint") or "https://api.lunary.ai"
    headers = {"Authorization": f"Bearer {cred.get('lunaryAppId') or ''}"}
    return _url(base, "/v1/otel/v1/traces"), headers, {}


def _langwatch(cred: dict[str, Any], cfg: dict[str, Any]) -> Target:
    base = cred.get("langWatchEndpoint") or "https://app.langwatch.ai"
    headers = {"Authorization": f"Bearer {cred.get('langWatchApiKey') or ''}"}
    return _url(base, "/api/otel/v1/traces"), headers, {}


@dataclass(frozen=True)
class Provider:
    label: str
    credential: str  # the credential kind that holds its key (Flowise's names)
    target: Callable[[dict[str, Any], dict[str, Any]], Target]
    project_field: str | None = "projectName"  # its project setting, if any


# Flowise's provider keys (its AnalyseFlow settings) and how each one is reached
PROVIDERS: dict[str, Provider] = {
    "langSmith": Provider("LangSmith", "langsmithApi", _langsmith),
    "langFuse": Provider("Langfuse", "langfuseApi", _langfuse, None),
    "lunary": Provider("Lunary", "lunaryApi", _lunary, None),
    "langWatch": Provider("LangWatch", "langwatchApi", _langwatch, None),
    "arize": Provider("Arize", "arizeApi", _arize),
    "phoenix": Provider("Phoenix", "phoenixApi", _phoenix),
    "opik": Provider("Opik", "opikApi", _opik, "opikProjectName"),
}
MAX_DESTINATIONS = 256  # per process: distinct endpoints and keys


_json = json_setting


def analytic_of(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """The providers that are on, with what each is given (plain data, sent to a worker
    with the request); None when none is."""
    config = _json((settings or {}).get("analytic"))
    if not isinstance(config, dict):
        return None
    on = {
        name: {k: v for k, v in cfg.items() if k != "status"}
        for name, cfg in config.items()
        if name in PROVIDERS and isinstance(cfg, dict) and cfg.get("status") in (True, "true")
    }
    return on or None


def check_settings(settings: dict[str, Any]) -> str | None:
    """Why a canvas's analytic settings are wrong (a 422 at save), or None."""
    if "analytic" not in settings or settings["analytic"] in (None, "", {}):
        return None
    config = _json(settings["analytic"])
    if not isinstance(config, dict):
        return "analytic must be an object (or its JSON) of providers"
    for name, cfg in config.items():
        if not isinstance(cfg, dict):
            return f"analytic.{name} must be an object"
        on = cfg.get("status") in (True, "true")
        if on and name not in PROVIDERS:
            return f"analytic provider {name!r} is not one canvasflow sends to: " + ", ".join(
                PROVIDERS
            )
        if on and not cfg.get("credentialId"):
            return f"analytic.{name} is on but names no credential (credentialId)"
    return None


_made: dict[tuple[Any, ...], Destination] = {}
_warned: set[str] = set()


def _destination(
    name: str, url: str, headers: dict[str, str], resource: dict[str, str], ctx: RunContext
) -> Destination | None:
    key = (name, url, tuple(sorted(headers.items())), tuple(sorted(resource.items())))
    made = _made.get(key)
    if made is not None:
        return made
    if len(_made) >= MAX_DESTINATIONS:
        return None
    from opentelemetry.sdk.resources import Resource

    from canvasflow.observability.export import Destination, register

    settings = ctx.settings
    service = settings.otel_service_name or "canvasflow"
    made = _made[key] = register(
        Destination(
            name,
            url,
            headers,
            max_queue=settings.trace_queue,
            resource=Resource.create({"service.name": service, **resource}),
            timeout=settings.trace_export_timeout,
        )
    )
    return made


async def routes(ctx: RunContext) -> tuple[Destination, ...]:
    """The destinations of a prediction's canvas: one per provider that is on and whose
    credential is found. A missing credential costs the prediction nothing (logged once)."""
    from canvasflow.observability.tracing import enabled

    if not ctx.analytic or not enabled():
        return ()
    found: list[Destination] = []
    for name, cfg in ctx.analytic.items():
        provider = PROVIDERS.get(name)
        ref = cfg.get("credentialId")
        if provider is None or not ref:
            continue
        cred = await ctx.credentials.plain(str(ref)) if ctx.credentials is not None else None
        if cred is None:
            if f"{name}:{ref}" not in _warned:
                _warned.add(f"{name}:{ref}")
                log.warning(
                    "canvas %s: no credential %s for its %s traces: none sent",
                    ctx.canvas_id,
                    ref,
                    provider.label,
                )
            continue
        url, headers, resource = provider.target(cred, cfg)
        made = _destination(name, url, headers, resource, ctx)
        if made is not None:
            found.append(made)
    return tuple(found)
