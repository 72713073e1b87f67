"""Nodes that act: Custom Function (in the sandbox), HTTP request, Tool, Retriever."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.agentflow.nodes.base import (
    KEY_VALUE,
    STATE,
    STORES,
    AgentflowNode,
    Item,
    empty,
    rows_of,
    tool_problems,
)
from canvasflow.agentflow.nodes.flow import flow_of
from canvasflow.agentflow.nodes.llm import DocumentStoreSearch
from canvasflow.agentflow.nodes.models import answered, ending
from canvasflow.agentflow.runner import FlowRun
from canvasflow.errors import CanvasInvalid, RunFailed
from canvasflow.events import source, step
from canvasflow.nodes.tools import (
    ToolError,
    sandbox_fetch,
    tools_of,
)
from canvasflow.runtime.node import REGISTRY, Input, flowise_inputs, register
from canvasflow.runtime.problems import Problem
from canvasflow.runtime.template import as_text
from canvasflow.sandbox import SandboxError, allowed_fetch, run_js

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode


@register
class CustomFunctionAgentflow(AgentflowNode):
    name = "customFunctionAgentflow"
    label = "Custom Function"
    description = "Execute custom function"
    required = ("customFunctionJavascriptFunction",)
    inputs = flowise_inputs(
        name,
        Input(
            "customFunctionInputVariables",
            "array",
            optional=True,
            array=(Input("variableName", "string"), Input("variableValue", "string")),
        ),
        Input("customFunctionUpdateState", "array", optional=True, array=STATE),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        settings = run.ctx.settings
        variables = {
            str(r["variableName"]): run.render(r.get("variableValue"))
            for r in rows_of(node.inputs.get("customFunctionInputVariables"))
            if r.get("variableName")
        }
        globals_: dict[str, Any] = {"$vars": run.ctx.vars, "$flow": flow_of(run)}
        globals_.update({f"${k}": v for k, v in variables.items() if k.isidentifier()})
        try:
            result = await run_js(
                str(node.inputs.get("customFunctionJavascriptFunction")),
                globals_,
                fetch=sandbox_fetch(settings.outbound_hosts),
                time_limit=settings.tool_timeout,
                memory_mb=settings.tool_memory_mb,
            )
        except SandboxError as exc:
            raise RunFailed(f"node {node.id} ({node.label}): {exc}", code="sandbox_error") from None
        for item in answered(run, node, result, {"inputVariables": variables}, "customFunction"):
            yield item


@register
class HttpAgentflow(AgentflowNode):
    name = "httpAgentflow"
    label = "HTTP"
    description = "Send a HTTP request"
    required = ("url",)
    inputs = flowise_inputs(
        name,
        Input(
            "method", "options", default="GET", options=("GET", "POST", "PUT", "DELETE", "PATCH")
        ),
        Input("headers", "array", optional=True, array=KEY_VALUE),
        Input("queryParams", "array", optional=True, array=KEY_VALUE),
        Input("body", "string", optional=True),
        drop=("credential",),  # not taken yet
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        from urllib.parse import urlencode

        from canvasflow.models.native import http

        inputs = node.inputs
        method = str(inputs.get("method") or "GET").upper()
        url = run.render(inputs.get("url")).strip()
        headers = {
            str(r["key"]): run.render(r.get("value"))
            for r in rows_of(inputs.get("headers"))
            if r.get("key")
        }
        query = {
            str(r["key"]): run.render(r.get("value"))
            for r in rows_of(inputs.get("queryParams"))
            if r.get("key")
        }
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        body_type = str(inputs.get("bodyType") or "")
        raw_body = inputs.get("body")
        body: str | None = None
        if isinstance(raw_body, list):
            pairs = {
                str(r["key"]): run.render(r.get("value")) for r in rows_of(raw_body) if r.get("key")
            }
            if body_type == "xWwwFormUrlencoded":
                body = urlencode(pairs)
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                body = orjson.dumps(pairs).decode()
                headers.setdefault("Content-Type", "application/json")
        elif not empty(raw_body):
            body = run.render(raw_body)
            if body_type == "json":
                headers.setdefault("Content-Type", "application/json")
        try:
            answer = await allowed_fetch(
                http(),
                url,
                {"method": method, "headers": headers, "body": body},
                run.ctx.settings.outbound_hosts,
            )
        except SandboxError as exc:
            raise RunFailed(
                f"node {node.id} ({node.label}): {exc}", code="host_not_allowed"
            ) from None
        except Exception as exc:
            raise RunFailed(
                f"node {node.id} ({node.label}): {method} {url} failed: {exc}", code="http_error"
            ) from None
        data: Any = answer["body"]
        if str(inputs.get("responseType") or "json") == "json":
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        if answer["status"] >= 400:
            raise RunFailed(
                f"node {node.id} ({node.label}): {method} {url} answered {answer['status']}",
                code="http_error",
            )
        shown = {"http": {"method": method, "url": url, "headers": headers, "body": body}}
        got = {"data": data, "status": answer["status"], "headers": answer["headers"]}
        for item in ending(run, node, as_text(data), shown, http=got):
            yield item


@register
class ToolAgentflow(AgentflowNode):
    name = "toolAgentflow"
    label = "Tool"
    description = "Tools allow LLM to interact with external systems"
    required = ("toolAgentflowSelectedTool",)
    inputs = flowise_inputs(
        name,
        Input(
            "toolInputArgs",
            "array",
            optional=True,
            array=(Input("inputArgName", "string"), Input("inputArgValue", "string")),
        ),
        Input("toolUpdateState", "array", optional=True, array=STATE),
        add=(Input("toolAgentflowSelectedToolConfig", "json", optional=True),),
    )

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:
        name = node.inputs.get("toolAgentflowSelectedTool")
        return super().check(node, nodes) + (
            tool_problems(node, [str(name)]) if not empty(name) else []
        )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        inputs = node.inputs
        name = str(inputs.get("toolAgentflowSelectedTool"))
        config = inputs.get("toolAgentflowSelectedToolConfig")
        values = {
            k: v
            for k, v in (config if isinstance(config, dict) else {}).items()
            if k != "toolAgentflowSelectedTool" and not empty(v)
        }
        built = tools_of(await REGISTRY[name](f"{node.id}.tool", values).build(run.ctx))
        if len(built) != 1:  # an MCP node gives its server's tools: one must be chosen
            raise CanvasInvalid(
                f"node {node.id} ({node.label}): tool {name} offers {len(built)} tools; "
                "choose one in its available actions (mcpActions)"
            )
        tool = built[0]
        args = {
            str(r["inputArgName"]): run.render(r.get("inputArgValue"))
            for r in rows_of(inputs.get("toolInputArgs"))
            if r.get("inputArgName")
        }
        try:
            result = await tool.call(args)
        except ToolError as exc:
            raise RunFailed(f"node {node.id} ({node.label}): tool {name} failed: {exc}") from None
        yield step(name, "tool", args, result)
        shown = {"toolInputArgs": args, "selectedTool": name}
        for item in answered(run, node, result, shown, "tool"):
            yield item


@register
class RetrieverAgentflow(AgentflowNode):
    name = "retrieverAgentflow"
    label = "Retriever"
    description = "Retrieve information from vector database"
    required = ("retrieverKnowledgeDocumentStores",)
    inputs = flowise_inputs(
        name,
        Input("retrieverKnowledgeDocumentStores", "array", array=STORES[:1]),
        Input("retrieverQuery", "string", optional=True, default="{{ question }}"),
        Input("outputFormat", "options", optional=True, default="text"),
        Input("retrieverUpdateState", "array", optional=True, array=STATE),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        inputs = node.inputs
        query = run.render(
            inputs.get("retrieverQuery")
            if not empty(inputs.get("retrieverQuery"))
            else "{{ question }}"
        )
        docs: list[dict[str, Any]] = []
        for row in rows_of(inputs.get("retrieverKnowledgeDocumentStores")):
            docs += await DocumentStoreSearch(run, str(row.get("documentStore") or "")).retrieve(
                query
            )
        if inputs.get("outputFormat") == "textWithMetadata":
            content = "\n\n".join(
                f"{d['pageContent']}\n[metadata]: {as_text(d['metadata'])}" for d in docs
            )
        else:
            content = "\n\n".join(d["pageContent"] for d in docs)
        if docs:
            yield source(docs)
        for item in answered(run, node, content, {"question": query}, "retriever"):
            yield item
