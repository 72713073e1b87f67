"""The OpenAPI toolkit: an OpenAPI document (a file, or a link on an allowed host)
becomes one tool per operation. A call goes only to allowed hosts; the node's custom
code (Flowise's ``$url`` / ``$options`` fetch code) runs in the JavaScript sandbox."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import httpx
import orjson
import yaml

from canvasflow.errors import CanvasInvalid
from canvasflow.nodes.documents import decode_files
from canvasflow.nodes.tools import Tool, ToolError
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool
from canvasflow.sandbox import HostNotAllowed, SandboxError, allowed_fetch, run_js, sandbox_fetch

if TYPE_CHECKING:
    from canvasflow.config import Settings
    from canvasflow.runtime.context import RunContext

METHODS = ("get", "post", "put", "patch", "delete")
MAX_OUTPUT = 8000
DEFAULT_CODE = """const fetch = require('node-fetch');
const url = $url;
const options = $options;

try {
  const response = await fetch(url, options);
  const resp = await response.json();
  return JSON.stringify(resp);
} catch (error) {
  return '';
}
"""


@functools.lru_cache(maxsize=32)
def load_document(text: str) -> dict[str, Any]:
    """An OpenAPI document from JSON or YAML text (safe YAML: data only), parsed once per
    text (callers only read it)."""
    try:
        doc = orjson.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise CanvasInvalid(
            f"the OpenAPI document does not parse: {exc}", code="bad_input"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise CanvasInvalid("not an OpenAPI document (no paths)", code="bad_input")
    return doc


def _resolve(doc: dict[str, Any], value: Any, depth: int = 0) -> Any:
    """``$ref``s inside the document replaced by what they point at (bounded depth)."""
    if depth > 8:
        return {}
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = doc
            for part in ref[2:].split("/"):
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(target, dict)
                    else {}
                )
            return _resolve(doc, target, depth + 1)
        return {k: _resolve(doc, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(doc, v, depth + 1) for v in value]
    return value


def tool_name(method: str, path: str, operation: dict[str, Any]) -> str:
    raw = operation.get("operationId") or f"{method}_{path}"
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(raw)).strip("_")[:64] or method


class OpenAPITool(Tool):
    def __init__(
        self,
        name: str,
        description: str,
        method: str,
        url: str,
        params: list[dict[str, Any]],
        body: dict[str, Any] | None,
        headers: dict[str, str],
        code: str | None,
        remove_nulls: bool,
        settings: Settings,
    ) -> None:
        self.name = name
        self.description = description
        self.method = method.upper()
        self.url = url
        self.params_in = {p["name"]: p.get("in", "query") for p in params}
        props: dict[str, Any] = {}
        required: list[str] = []
        for p in params:
            props[p["name"]] = {
                **(p.get("schema") or {"type": "string"}),
                "description": p.get("description", ""),
            }
            if p.get("required"):
                required.append(p["name"])
        if body is not None:
            props["body"] = body
            required.append("body")
        self.parameters = {"type": "object", "properties": props, "required": required}
        self.headers = headers
        self.code = code
        self.remove_nulls = remove_nulls
        self.settings = settings

    def request(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self.remove_nulls:
            args = {k: v for k, v in args.items() if v is not None}
        url = self.url
        query: dict[str, Any] = {}
        headers = dict(self.headers)
        for name, value in args.items():
            where = self.params_in.get(name)
            if where == "path":
                url = url.replace("{" + name + "}", quote(str(value), safe=""))
            elif where == "query":
                query[name] = value
            elif where == "header":
                headers[name] = str(value)
        if "{" in urlsplit(url).path:
            raise ToolError(f"a path parameter is missing: {urlsplit(url).path}")
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query, doseq=True)
        options: dict[str, Any] = {"method": self.method, "headers": headers}
        if "body" in args and self.method not in ("GET", "DELETE"):
            headers.setdefault("Content-Type", "application/json")
            options["body"] = orjson.dumps(args["body"]).decode()
        return url, options

    async def call(self, args: dict[str, Any]) -> str:
        from canvasflow.models.native import http

        url, options = self.request(args)
        hosts = self.settings.outbound_hosts
        try:
            if self.code:
                return await run_js(
                    self.code,
                    {"$url": url, "$options": options, "$input": args},
                    fetch=sandbox_fetch(hosts),
                    time_limit=self.settings.tool_timeout,
                    memory_mb=self.settings.tool_memory_mb,
                )
            answer = await allowed_fetch(http(), url, options, hosts)
        except (SandboxError, HostNotAllowed, httpx.HTTPError) as exc:
            raise ToolError(str(exc) or type(exc).__name__) from None
        return str(answer["body"])[:MAX_OUTPUT]


def toolkit(
    doc: dict[str, Any],
    server: str | None,
    endpoints: set[str],
    headers: dict[str, str],
    code: str | None,
    remove_nulls: bool,
    settings: Settings,
    link: str | None = None,
) -> list[Tool]:
    servers = [s.get("url") for s in doc.get("servers") or [] if isinstance(s, dict)]
    base = server or (servers[0] if servers else None) or link
    if not base:
        raise CanvasInvalid("the OpenAPI document names no server: choose one", code="bad_input")
    if link and not urlsplit(base).scheme:
        base = urljoin(link, base)  # a relative server, against the document's address
    tools: list[Tool] = []
    for path, item in (doc.get("paths") or {}).items():
        item = _resolve(doc, item)
        shared = item.get("parameters") or []
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            name = tool_name(method, path, op)
            if endpoints and not (
                {name, f"{method.upper()} {path}", f"{method} {path}"} & endpoints
            ):
                continue
            params = [
                p
                for p in [*shared, *(op.get("parameters") or [])]
                if isinstance(p, dict) and "name" in p
            ]
            content = ((op.get("requestBody") or {}).get("content") or {}).get("application/json")
            body = (content or {}).get("schema") if content else None
            description = (
                " ".join(str(x) for x in (op.get("summary"), op.get("description")) if x)
                or f"{method.upper()} {path}"
            )
            tools.append(
                OpenAPITool(
                    name,
                    description[:1000],
                    method,
                    base.rstrip("/") + path,
                    params,
                    body,
                    headers,
                    code,
                    remove_nulls,
                    settings,
                )
            )
    return tools


@register
class OpenAPIToolkit(Node):
    name = "openAPIToolkit"
    label = "OpenAPI Toolkit"
    category = "Tools"
    description = "An OpenAPI document's operations as tools (calls go to allowed hosts only)"
    base_classes = ("OpenAPIToolkit", "Tool")
    inputs = flowise_inputs(
        name,
        Input("inputType", "options", default="file", options=("file", "link")),
        Input("openApiFile", "file", optional=True),
        Input("openApiLink", "string", optional=True),
        Input("selectedServer", "asyncOptions", optional=True),
        Input("selectedEndpoints", "asyncMultiOptions", optional=True),
        Input("customCode", "code", optional=True, default=DEFAULT_CODE),
    )

    @classmethod
    def required_now(cls, inputs: dict[str, Any]) -> tuple[str, ...]:
        link = str(inputs.get("inputType") or "file") == "link"
        return ("openApiLink",) if link else ("openApiFile",)

    async def _text(self, ctx: RunContext) -> tuple[str, str | None]:
        from canvasflow.nodes.web_loaders import cached, fetch_page

        if str(self.get("inputType")) == "link":
            link = str(self.get("openApiLink") or "")
            hosts = ctx.settings.outbound_hosts
            # an allowed host's document, read once per few minutes, not per prediction
            text = await cached(("openapi", link, hosts), lambda: fetch_page(link, hosts))
            return text, link
        files = decode_files(self.get("openApiFile")) if self.get("openApiFile") else []
        if not files:
            raise CanvasInvalid(f"node {self.id}: no OpenAPI file", code="bad_input")
        return files[0][1].decode("utf-8", "replace"), None

    async def build(self, ctx: RunContext) -> list[Tool]:
        text, link = await self._text(ctx)
        raw_headers = self.get("headers")
        if isinstance(raw_headers, str) and raw_headers.strip():
            raw_headers = orjson.loads(raw_headers)
        chosen = self.get("selectedEndpoints")
        if isinstance(chosen, str):
            chosen = orjson.loads(chosen) if chosen.strip().startswith("[") else [chosen]
        # no customCode: Flowise's default fetch code; an empty one: a direct request
        raw_code = self.values.get("customCode")
        code = DEFAULT_CODE if raw_code is None else (str(raw_code).strip() or None)
        return toolkit(
            load_document(text),
            str(self.get("selectedServer") or "") or None,
            {str(c) for c in chosen or []},
            {str(k): str(v) for k, v in (raw_headers or {}).items()},
            code,
            to_bool(self.get("removeNulls")),
            ctx.settings,
            link,
        )
