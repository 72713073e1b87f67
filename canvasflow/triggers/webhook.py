"""A canvas started by a webhook: its configuration, the signature, the payload.

An agentflow is a webhook handler when its Start node's input type is Flowise's
``webhookTrigger`` (``webhookMethod``, ``webhookContentType``, ``webhookInputMode``,
``webhookDefaultInput``, ``webhookResponseMode``, ``webhookEnableAuth``); a chatflow
when its settings say so (``webhook``: ``enabled``, ``method``, ``responseMode``,
``input``). Either way the request reaches the run as ``$webhook`` (``body``, ``query``,
``headers``, ``method``), in templates as ``{{ $webhook.body.x }}``.

Signatures follow the Standard Webhooks specification (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``, a ``whsec_`` secret, five minutes against
replay), checked by its maintained library. The secret is made by the server, shown
once, and kept sealed in the canvas's settings."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from canvasflow.errors import BadRequest, Unauthorized, UnsupportedMediaType
from canvasflow.runtime.template import as_text, fill_webhook
from canvasflow.values import to_bool

KEY = "webhook"  # the canvas settings' entry
RESPONSE_MODES = ("sync", "async", "stream")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# headers a run never sees: credentials, and the signature itself
HIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
        "webhook-signature",
        "x-hub-signature",
        "x-hub-signature-256",
    }
)
# the headers a sender names a delivery with (a retry repeats it)
DELIVERY_HEADERS = ("idempotency-key", "webhook-id", "x-github-delivery", "x-delivery-id")


@dataclass(frozen=True)
class WebhookConfig:
    method: str = "POST"
    response_mode: str = "sync"  # sync: the answer; async: 202 at once; stream: SSE
    input_mode: str = "text"  # text: the template; none: nothing; payload: all of it as JSON
    template: str = ""
    content_type: str | None = None
    require_signature: bool = False


def config_of(graph: Any, settings: dict[str, Any] | None) -> WebhookConfig | None:
    """How a canvas takes webhooks, or None when it does not."""
    inputs = graph.start_inputs() if graph is not None else None
    if inputs is not None:  # the Start node says how (an agentflow)
        if inputs.get("startInputType") != "webhookTrigger":
            return None
        mode = str(inputs.get("webhookResponseMode") or "sync")
        return WebhookConfig(
            method=str(inputs.get("webhookMethod") or "POST").upper(),
            response_mode=mode if mode in RESPONSE_MODES else "sync",
            input_mode=str(inputs.get("webhookInputMode") or "text"),
            template=str(inputs.get("webhookDefaultInput") or ""),
            content_type=inputs.get("webhookContentType") or None,
            require_signature=to_bool(inputs.get("webhookEnableAuth"), False),
        )
    config = (settings or {}).get(KEY)
    if not isinstance(config, dict) or not to_bool(config.get("enabled"), False):
        return None
    mode = str(config.get("responseMode") or "sync")
    return WebhookConfig(
        method=str(config.get("method") or "POST").upper(),
        response_mode=mode if mode in RESPONSE_MODES else "sync",
        input_mode=str(config.get("inputMode") or "text"),
        template=str(config.get("input") or ""),
        require_signature=to_bool(config.get("requireSignature"), False),
    )


# -- the secret ---------------------------------------------------------------------------


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sealed_secret(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    config = (settings or {}).get(KEY)
    secret = config.get("secret") if isinstance(config, dict) else None
    return secret if isinstance(secret, dict) else None


def with_secret(settings: dict[str, Any] | None, sealed: dict[str, Any] | None) -> dict[str, Any]:
    """Settings with the webhook's sealed secret set (or removed, with None)."""
    out = dict(settings or {})
    config = dict(out.get(KEY) or {})
    if sealed is None:
        config.pop("secret", None)
    else:
        config["secret"] = sealed
    out[KEY] = config
    return out


def keep_secret(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """Settings written by a client: the webhook's secret is never set nor lost that
    way (only through its own route)."""
    kept = sealed_secret(old)
    given = new.get(KEY)
    if not isinstance(given, dict) and kept is None:
        return new
    config = {k: v for k, v in (given or {}).items() if k not in ("secret", "secretConfigured")}
    if kept is not None:
        config["secret"] = kept
    out = dict(new)
    out[KEY] = config
    return out


def shown(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Settings as the API shows them: whether a secret is set, never the secret."""
    config = (settings or {}).get(KEY)
    if not isinstance(config, dict) or "secret" not in config:
        return settings or {}
    out = dict(settings or {})
    out[KEY] = {k: v for k, v in config.items() if k != "secret"} | {"secretConfigured": True}
    return out


def verify(secret: str, body: bytes, headers: dict[str, str]) -> None:
    """The Standard Webhooks signature of a request, or 401 (no header, a bad or an
    old signature: the library allows five minutes either way)."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        raise Unauthorized(f"the webhook signature does not verify: {exc}") from None


# -- the request as the run sees it ------------------------------------------------------------


def parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the webhook body is not valid JSON: {exc}") from None
    if kind == "application/x-www-form-urlencoded":
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise BadRequest("the webhook body is not UTF-8 text") from None
        form: dict[str, Any] = {
            k: v[0] if len(v) == 1 else v for k, v in parse_qs(text, keep_blank_values=True).items()
        }
        payload = form.get("payload")
        if isinstance(payload, str):  # GitHub's form deliveries: JSON in "payload"
            try:
                return orjson.loads(payload)
            except orjson.JSONDecodeError:
                pass
        return form
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise UnsupportedMediaType(
            f"a webhook body of type {kind or 'unknown'} is not text"
        ) from None


def payload_of(
    method: str, raw: bytes, query: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    return {
        "method": method,
        "body": parse_body(raw, headers.get("content-type", "")),
        "query": query,
        "headers": {k: v for k, v in headers.items() if k not in HIDDEN_HEADERS},
    }


def question_of(config: WebhookConfig, payload: dict[str, Any]) -> str:
    """What the run is asked: the template filled in; with none, the body's
    ``question`` (or ``text``, ``message``), else the body as JSON."""
    if config.input_mode == "none":
        return " "
    if config.input_mode == "payload":
        return as_text(payload)
    if config.template.strip():
        return fill_webhook(config.template, payload)
    body = payload.get("body")
    if isinstance(body, dict):
        for name in ("question", "text", "message", "input"):
            if isinstance(body.get(name), str) and body[name].strip():
                return str(body[name])
    text = as_text(body)
    return text if text.strip() else " "


def delivery_id(headers: dict[str, str]) -> str | None:
    for name in DELIVERY_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    return None
