"""API chains: the model writes the request from the API's documentation (GET: the URL;
POST: the URL and the JSON body), canvasflow makes it (allowed hosts only), the model
answers from the response. ``openApiChain`` gives the model an OpenAPI document's
operations as tools (it needs a model with tool calling)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from canvasflow.errors import CanvasInvalid, RunFailed
from canvasflow.events import Event, step
from canvasflow.events import model as model_event
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Usage, complete, supports
from canvasflow.nodes.chains import stream_answer
from canvasflow.nodes.openapi import OpenAPIToolkit
from canvasflow.nodes.safety import moderate
from canvasflow.nodes.tools import tool_turns
from canvasflow.runtime.node import Input, Node, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

MAX_RESPONSE = 6000
URL_PROMPT = """You are given the below API Documentation:
{api_docs}
Using this documentation, generate the full API url to call for answering the user \
question.
You should build the API url in order to get a response that is as short as possible, \
while still getting the necessary information to answer the question. Pay attention to \
deliberately exclude any unnecessary pieces of data in the API call.

Question:{question}
API url:"""
POST_PROMPT = """You are given the below API Documentation:
{api_docs}
Using this documentation, generate a JSON object with the full API url to call ("url") \
and the JSON body to send it ("data"), to answer the user question.

Question:{question}
API request (JSON):"""
ANSWER_PROMPT = """{request}

Here is the response from the API:

{api_response}

Summarize this response to answer the original question.

Summary:"""


class APIRefused(RunFailed):
    code = "api_refused"


async def call_api(
    method: str, url: str, body: Any, headers: dict[str, str], hosts: frozenset[str]
) -> str:
    from canvasflow.models.native import http
    from canvasflow.sandbox import HostNotAllowed, allowed_fetch

    init: dict[str, Any] = {"method": method, "headers": dict(headers)}
    if body is not None:
        init["headers"].setdefault("Content-Type", "application/json")
        init["body"] = orjson.dumps(body).decode()
    try:
        answer = await allowed_fetch(http(), url, init, hosts)
    except HostNotAllowed as exc:
        raise APIRefused(str(exc)) from None
    except httpx.HTTPError as exc:
        raise APIRefused(f"{url}: {exc}") from None
    return str(answer["body"])[:MAX_RESPONSE]


class _APIChain(Node):
    category = "Chains"
    ending = True
    method = "GET"
    default_prompt = URL_PROMPT
    inputs = (
        Input("model", "BaseLanguageModel"),
        Input("apiDocs", "string", rows=4),
        Input("headers", "json", optional=True),
        Input("urlPrompt", "string", optional=True, rows=4),
        Input("ansPrompt", "string", optional=True, rows=4),
        Input("inputModeration", "Moderation", optional=True, list=True),
    )

    def request_of(self, text: str) -> tuple[str, Any]:
        return text.strip().split()[0] if text.strip() else "", None

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        raw_headers = self.get("headers")
        if isinstance(raw_headers, str) and raw_headers.strip():
            raw_headers = orjson.loads(raw_headers)
        headers = {str(k): str(v) for k, v in (raw_headers or {}).items()}
        prompt = (
            str(self.get("urlPrompt") or self.default_prompt)
            .replace("{api_docs}", str(self.get("apiDocs")))
            .replace("{question}", ctx.question)
        )
        used = Usage()
        written = await complete(model, prompt, used)
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        url, body = self.request_of(written)
        if not url.startswith(("http://", "https://")):
            raise APIRefused(f"the model wrote no API url: {written[:200]!r}")
        response = await call_api(self.method, url, body, headers, ctx.settings.outbound_hosts)
        yield step("api", "tool", {"url": url, "data": body} if body is not None else url, response)
        answer = (
            str(self.get("ansPrompt") or ANSWER_PROMPT)
            .replace("{request}", f"{prompt} {written.strip()}")
            .replace("{api_url}", url)
            .replace("{api_response}", response)
            .replace("{api_docs}", str(self.get("apiDocs")))
            .replace("{question}", ctx.question)
        )
        async for event in stream_answer(model, [{"role": "user", "content": answer}]):
            yield event


@register
class GETApiChain(_APIChain):
    name = "getApiChain"
    label = "GET API Chain"
    description = "Chain to run queries against GET API"
    base_classes = ("GETApiChain", "BaseChain", "Runnable")


@register
class POSTApiChain(_APIChain):
    name = "postApiChain"
    label = "POST API Chain"
    description = "Chain to run queries against POST API"
    base_classes = ("POSTApiChain", "BaseChain", "Runnable")
    method = "POST"
    default_prompt = POST_PROMPT

    def request_of(self, text: str) -> tuple[str, Any]:
        start, end = text.find("{"), text.rfind("}")
        try:
            value = orjson.loads(text[start : end + 1]) if 0 <= start < end else {}
        except orjson.JSONDecodeError:
            value = {}
        return str(value.get("url") or ""), value.get("data") or {}


@register
class OpenApiChain(Node):
    name = "openApiChain"
    label = "OpenAPI Chain"
    category = "Chains"
    description = "Answers by calling the operations of an OpenAPI document (tool calling)"
    base_classes = ("OpenAPIChain", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(
        name, Input("yamlLink", "string", optional=True), Input("yamlFile", "file", optional=True)
    )

    @classmethod
    def required_now(cls, inputs: dict[str, Any]) -> tuple[str, ...]:
        return () if inputs.get("yamlLink") else ("yamlFile",)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        if not supports(model, "tools"):
            raise CanvasInvalid(f"{model.model_name} cannot call tools", code="tools_unsupported")
        link = self.get("yamlLink")
        toolkit = OpenAPIToolkit(
            f"{self.id}.toolkit",
            {
                "inputType": "link" if link else "file",
                "openApiLink": link,
                "openApiFile": self.get("yamlFile"),
                "headers": self.get("headers"),
                "customCode": "",  # direct requests to allowed hosts
                "removeNulls": True,
            },
        )
        tools = await toolkit.build(ctx)
        yield model_event(model.model_name)
        messages = [{"role": "user", "content": ctx.question}]
        async for event in tool_turns(model, messages, tools, 5):
            yield event
