"""Agentflow v2 nodes, by Flowise's names and input names.

Each node's ``execute(run, node)`` yields events (tokens when its answer ends a path,
the report events of its model calls, tool steps) and last a :class:`Done` with
Flowise's executed data (``input``, ``output``, ``chatHistory``) and where the run goes
next. Models are the existing chat-model nodes, named by ``llmModel`` and built from
``llmModelConfig``; tools are the existing tool nodes; user code runs in the sandbox.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from canvasflow.agentflow.runner import Done, FlowRun, usage_metadata
from canvasflow.agentflow.template import as_text, html_to_text
from canvasflow.errors import BadRequest, CanvasInvalid, RunFailed
from canvasflow.events import Event, source, step, token
from canvasflow.events import model as model_event
from canvasflow.events import output as output_event
from canvasflow.models.base import Usage, supports
from canvasflow.nodes import REGISTRY
from canvasflow.nodes.base import Input, Node, register, to_bool, to_int
from canvasflow.nodes.chains import stream_answer, with_uploads
from canvasflow.nodes.tools import (
    RetrieverTool,
    ToolError,
    sandbox_fetch,
    tool_turns,
    tools_of,
)
from canvasflow.sandbox import SandboxError, allowed_fetch, run_js

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode
    from canvasflow.engine.graph import Problem

Item = Event | Done


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _rows(value: Any) -> list[dict[str, Any]]:
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


class AgentflowNode(Node):
    agentflow: ClassVar[bool] = True
    category = "Agent Flows"
    base_classes = ()
    # inputs that must have a value, and the inputs naming a chat model
    required: ClassVar[tuple[str, ...]] = ()
    model_inputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:
        from canvasflow.engine.graph import Problem

        where = f"node {node.id} ({node.label})"
        problems = [
            Problem(f"{where}: required input {name!r} is missing", node.id, name)
            for name in cls.required
            if _empty(node.inputs.get(name))
        ]
        for name in cls.model_inputs:
            model = node.inputs.get(name)
            if _empty(model):
                continue
            found = REGISTRY.get(str(model))
            if found is None or found.category != "Chat Models":
                from canvasflow.engine.catalog import explain_unknown

                problems.append(Problem(explain_unknown(node.id, str(model)), node.id, name))
        return problems

    def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        raise NotImplementedError


def _tool_problems(node: FlowNode, names: list[str]) -> list[Problem]:
    from canvasflow.engine.catalog import explain_unknown
    from canvasflow.engine.graph import Problem

    out = []
    for name in names:
        cls = REGISTRY.get(name)
        if cls is None or cls.category not in ("Tools", "Tools (MCP)"):
            out.append(Problem(explain_unknown(node.id, name), node.id))
    return out


# -- memory and model calls -----------------------------------------------------------


async def memory(run: FlowRun, node: FlowNode, prefix: str, model: Any) -> list[dict[str, Any]]:
    """The chat so far (earlier exchanges, then this run's), as the node's memory type
    keeps it: all messages, the last N, or a summary (of all, or of what does not fit
    the token limit)."""
    inputs = node.inputs
    if not to_bool(inputs.get(f"{prefix}EnableMemory"), True):
        return []
    messages: list[dict[str, Any]] = [
        {"role": m["role"], "content": m["content"]} for m in await run.past()
    ] + [{"role": m["role"], "content": m["content"]} for m in run.runtime]
    kind = str(inputs.get(f"{prefix}MemoryType") or "allMessages")
    if kind == "windowSize":
        size = to_int(inputs.get(f"{prefix}MemoryWindowSize"), 20) or 20
        return messages[-size:]
    if kind in ("conversationSummary", "conversationSummaryBuffer") and messages:
        keep: list[dict[str, Any]] = []
        if kind == "conversationSummaryBuffer":
            limit = (to_int(inputs.get(f"{prefix}MemoryMaxTokenLimit"), 2000) or 2000) * 4
            used = 0
            while messages and used + len(str(messages[-1]["content"])) <= limit:
                used += len(str(messages[-1]["content"]))
                keep.insert(0, messages.pop())
        if messages:
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
            prompt = "Summarise this conversation in a few sentences:\n\n" + text
            pieces = []
            async for event in stream_answer(model, [{"role": "user", "content": prompt}]):
                if event.kind == "token":
                    pieces.append(event.data)
            summary = "".join(pieces).strip()
            keep.insert(0, {"role": "system", "content": f"Summary of the conversation: {summary}"})
        return keep
    return messages


def _messages(run: FlowRun, raw: Any) -> list[dict[str, Any]]:
    return [
        {"role": str(m.get("role") or "user"), "content": run.render(m.get("content"))}
        for m in _rows(raw)
    ]


def _with_history(
    messages: list[dict[str, Any]], history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """History after the leading system messages."""
    i = 0
    while i < len(messages) and messages[i]["role"] == "system":
        i += 1
    return messages[:i] + history + messages[i:]


def _user_turn(
    run: FlowRun, node: FlowNode, prefix: str, own: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The user message a model node adds: its own ``...UserMessage``, else the
    question (unless its messages have a user message, or this run already has it)."""
    custom = node.inputs.get(f"{prefix}UserMessage")
    if not _empty(custom):
        return {"role": "user", "content": run.render(custom)}
    question = run.ctx.question
    if not question or any(m["role"] == "user" for m in own):
        return None
    if any(m["role"] == "user" and m["content"] == question for m in run.runtime):
        return None
    return {"role": "user", "content": question}


def _structured_schema(rows: list[dict[str, Any]]) -> dict[str, Any]:
    types = {"string": "string", "number": "number", "boolean": "boolean"}
    props: dict[str, Any] = {}
    for row in rows:
        key = str(row.get("key") or "")
        if not key:
            continue
        kind = str(row.get("type") or "string")
        spec: dict[str, Any]
        if kind == "enum":
            values = [v.strip() for v in str(row.get("enumValues") or "").split(",") if v.strip()]
            spec = {"type": "string", "enum": values}
        elif kind == "stringArray":
            spec = {"type": "array", "items": {"type": "string"}}
        elif kind == "jsonArray":
            raw = row.get("jsonSchema")
            try:
                items = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
            except orjson.JSONDecodeError:
                items = {}
            spec = {"type": "array", "items": items if isinstance(items, dict) else {}}
        else:
            spec = {"type": types.get(kind, "string")}
        if row.get("description"):
            spec["description"] = str(row["description"])
        props[key] = spec
    return {"type": "object", "properties": props, "required": list(props)}


def parse_json_answer(text: str) -> Any:
    """A model's JSON answer, also when it wraps it in a code fence or words."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    m = re.search(r"\{.*\}", text, re.S)
    if m:
        try:
            return orjson.loads(m.group(0))
        except orjson.JSONDecodeError:
            pass
    raise RunFailed(f"the model did not answer with JSON: {text[:200]!r}", code="output_invalid")


def _shown_input(node: FlowNode, skip: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.inputs.items():
        if key in skip or _empty(value):
            continue
        if key.endswith("UpdateState") and isinstance(value, list):
            value = [
                {**r, "value": html_to_text(r["value"])} if isinstance(r.get("value"), str) else r
                for r in _rows(value)
            ]
        out[key] = value
    return out


async def converse(
    run: FlowRun,
    node: FlowNode,
    prefix: str,
    tools: list[Any] | None = None,
) -> AsyncIterator[Item]:
    """What the LLM and Agent nodes share: build the messages (their own, the memory,
    the user turn), call the model (with tools, in turns, for an agent), stream the
    answer when it ends a path, update the flow state, report the executed data."""
    inputs = node.inputs
    model = await run.model(inputs.get(f"{prefix}Model"), inputs.get(f"{prefix}ModelConfig"), node)
    own = _messages(run, inputs.get(f"{prefix}Messages"))
    messages = _with_history(own, await memory(run, node, prefix, model))
    added = _user_turn(run, node, prefix, own)
    if added is not None:
        messages.append(added)
    structured = _rows(inputs.get(f"{prefix}StructuredOutput"))
    if structured:
        schema = orjson.dumps(_structured_schema(structured)).decode()
        messages.insert(
            0,
            {
                "role": "system",
                "content": "Answer only with one JSON object that matches this JSON schema, "
                f"and nothing else: {schema}",
            },
        )
    call_messages: list[Any] = messages
    if added is not None and added["content"] == run.ctx.question:
        call_messages = with_uploads(messages, run.ctx, model)  # type: ignore[arg-type]
    streamed = run.streams(node) and not structured
    started = time.time()
    used = Usage()
    pieces: list[str] = []
    called: list[dict[str, Any]] = []
    if tools:
        if not supports(model, "tools"):
            raise CanvasInvalid(f"{model.model_name} cannot call tools", code="tools_unsupported")
        yield model_event(model.model_name)
        async for event in tool_turns(model, call_messages, tools, 10, streamed, pieces, called):
            if event.kind == "usage":
                used.add(*event.data)
            yield event
    else:
        async for event in stream_answer(model, call_messages):
            if event.kind == "token":
                pieces.append(event.data)
                if not streamed:
                    continue
            elif event.kind == "usage":
                used.add(*event.data)
            yield event
    content = "".join(pieces)
    ended = time.time()
    output: dict[str, Any] = {
        "content": content,
        "timeMetadata": {
            "start": round(started * 1000),
            "end": round(ended * 1000),
            "delta": round((ended - started) * 1000),
        },
        "calledTools": called,
        "usageMetadata": usage_metadata(used.prompt_tokens, used.completion_tokens),
        "responseMetadata": {"model_name": model.model_name},
    }
    if called:
        output["usedTools"] = called
    if structured:
        value = parse_json_answer(content)
        if isinstance(value, dict):
            output.update({k: v for k, v in value.items() if k not in output})
        if run.streams(node):
            yield output_event(value)
    run.update_state(inputs.get(f"{prefix}UpdateState"), content)
    shown = _shown_input(node, (f"{prefix}Messages", f"{prefix}UserMessage"))
    user = added or next((m for m in reversed(own) if m["role"] == "user"), None)
    as_assistant = str(inputs.get(f"{prefix}ReturnResponseAs") or "") == "assistantMessage"
    answer: dict[str, Any] = (
        {"role": "assistant", "content": content}
        if as_assistant
        else {"role": "user", "content": content, "name": node.label.lower().replace(" ", "_")}
    )
    yield Done(
        output=output,
        input={"messages": messages, **shown},
        chat_history=([user] if user else []) + [answer],
        streamed=streamed,
        usage=usage_metadata(used.prompt_tokens, used.completion_tokens),
        called_tools=called,
    )


def answered(
    run: FlowRun, node: FlowNode, content: str, shown: dict[str, Any], prefix: str
) -> Iterator[Item]:
    """A node's answer: the flow state updated from it (its ``<prefix>UpdateState``
    rules), then as :func:`ending`."""
    run.update_state(node.inputs.get(f"{prefix}UpdateState"), content)
    yield from ending(run, node, content, shown)


def ending(
    run: FlowRun, node: FlowNode, content: str, shown: dict[str, Any], **output: Any
) -> Iterator[Item]:
    """A token of the answer when the node ends a path, then its executed data."""
    streamed = run.streams(node) and bool(content)
    if streamed:
        yield token(content)
    yield Done(output={**output, "content": content}, input=shown, streamed=streamed)


# -- the nodes ------------------------------------------------------------------------

ROLES = ("system", "assistant", "developer", "user")
OPERATIONS = (
    "equal",
    "notEqual",
    "contains",
    "notContains",
    "startsWith",
    "endsWith",
    "regex",
    "larger",
    "largerEqual",
    "smaller",
    "smallerEqual",
    "isEmpty",
    "notEmpty",
)
MESSAGE = (Input("role", "options", options=ROLES, default="system"), Input("content", "string"))
KEY_VALUE = (Input("key", "string"), Input("value", "string", optional=True))
STATE = KEY_VALUE
STRUCTURED = (
    Input("key", "string"),
    Input(
        "type",
        "options",
        options=("string", "stringArray", "number", "boolean", "enum", "jsonArray"),
        default="string",
    ),
    Input("enumValues", "string", optional=True),
    Input("jsonSchema", "code", optional=True),
    Input("description", "string", optional=True),
)
STORES = (
    Input("documentStore", "string", description="A document store collection (id or name)"),
    Input("docStoreDescription", "string", optional=True),
    Input("returnSourceDocuments", "boolean", optional=True),
)


WEBHOOK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@register
class StartAgentflow(AgentflowNode):
    name = "startAgentflow"
    label = "Start"
    description = "Starting point of the agentflow"
    inputs = (
        Input(
            "startInputType",
            "options",
            default="chatInput",
            options=("chatInput", "formInput", "webhookTrigger", "scheduleInput"),
        ),
        Input("formTitle", "string", optional=True),
        Input("formDescription", "string", optional=True),
        Input(
            "formInputTypes",
            "array",
            optional=True,
            array=(
                Input("type", "options", options=("string", "number", "boolean", "options")),
                Input("label", "string"),
                Input("name", "string"),
            ),
        ),
        # a webhook's request starts the flow (triggers/webhook.py reads these)
        Input("webhookMethod", "options", optional=True, default="POST", options=WEBHOOK_METHODS),
        Input("webhookContentType", "string", optional=True),
        Input("webhookURL", "string", optional=True),
        Input("webhookInputMode", "options", optional=True, options=("text", "none", "payload")),
        Input("webhookDefaultInput", "string", optional=True),
        Input("webhookEnableAuth", "boolean", optional=True),
        Input("webhookSecret", "string", optional=True),
        Input("webhookSignatureHeader", "string", optional=True),
        Input("webhookSignatureType", "string", optional=True),
        Input("webhookResponseMode", "options", optional=True, options=("sync", "async", "stream")),
        Input("callbackUrl", "string", optional=True),
        Input("callbackSecret", "string", optional=True),
        Input("webhookEnableValidation", "boolean", optional=True),
        Input("webhookQueryParams", "array", optional=True),
        Input("webhookBodyParams", "array", optional=True),
        Input("webhookHeaderParams", "array", optional=True),
        # a schedule starts the flow (triggers/schedule.py reads these)
        Input("scheduleType", "options", optional=True, options=("visualPicker", "cronExpression")),
        Input("scheduleCronExpression", "string", optional=True),
        Input("scheduleFrequency", "string", optional=True),
        Input("scheduleOnMinute", "number", optional=True),
        Input("scheduleOnTime", "string", optional=True),
        Input("scheduleOnDayOfWeek", "string", optional=True),
        Input("scheduleOnDayOfMonth", "string", optional=True),
        Input("scheduleEndDate", "string", optional=True),
        Input("scheduleTimezone", "string", optional=True),
        Input("scheduleInputMode", "options", optional=True, options=("text", "form", "none")),
        Input("scheduleDefaultInput", "string", optional=True),
        Input("scheduleFormInputTypes", "array", optional=True),
        Input("scheduleFormDefaults", "json", optional=True),
        Input("startEphemeralMemory", "boolean", optional=True),
        Input("startState", "array", optional=True, array=KEY_VALUE),
        Input("startPersistState", "boolean", optional=True),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        for row in _rows(node.inputs.get("startState")):
            if row.get("key") and str(row["key"]) not in run.state:
                run.state[str(row["key"])] = run.render(row.get("value"))
        kind = node.inputs.get("startInputType")
        if kind == "formInput" or (kind == "scheduleInput" and run.ctx.form is not None):
            form = dict(run.ctx.form or {})
            yield Done(output={"form": form}, input={"form": form})
            return
        question = run.ctx.question
        if kind == "webhookTrigger" and run.ctx.webhook is not None:
            hook = run.ctx.webhook
            yield Done(
                output={"question": question, "webhook": hook},
                input={"question": question, "webhook": hook},
            )
            return
        yield Done(output={"question": question}, input={"question": question})


@register
class LLMAgentflow(AgentflowNode):
    name = "llmAgentflow"
    label = "LLM"
    description = "Large language models to analyze user-provided inputs and generate responses"
    required = ("llmModel",)
    model_inputs = ("llmModel",)
    inputs = (
        Input("llmModel", "asyncOptions"),
        Input("llmModelConfig", "json", optional=True),
        Input("llmMessages", "array", optional=True, array=MESSAGE),
        Input("llmEnableMemory", "boolean", optional=True, default=True),
        Input("llmMemoryType", "options", optional=True, default="allMessages"),
        Input("llmMemoryWindowSize", "number", optional=True, default=20),
        Input("llmMemoryMaxTokenLimit", "number", optional=True, default=2000),
        Input("llmUserMessage", "string", optional=True),
        Input("llmReturnResponseAs", "options", optional=True, default="userMessage"),
        Input("llmStructuredOutput", "array", optional=True, array=STRUCTURED),
        Input("llmUpdateState", "array", optional=True, array=STATE),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        async for item in converse(run, node, "llm"):
            yield item


class DocumentStoreSearch:
    """A canvasflow document store collection searched by keywords (BM25) over its
    stored chunks: agentflows name stores as ``id:name`` and bring no embedding model."""

    def __init__(self, run: FlowRun, ref: str, k: int = 4) -> None:
        self.run = run
        self.ref = ref
        self.k = k

    async def retrieve(self, query: str, k: int | None = None) -> list[dict[str, Any]]:
        from canvasflow.nodes.retrieval import BM25Store

        store = self.run.ctx.store
        if store is None:
            return []
        rows = []
        for name in dict.fromkeys([self.ref, *self.ref.split(":", 1)]):
            rows = await store.chunks(name)
            if rows:
                break
        docs = [{"pageContent": r.content, "metadata": r.metadata_} for r in rows]
        return await BM25Store(docs, k or self.k).retrieve(query)


VS_PARTS = (("vectorStore", "Vector Stores"), ("embeddingModel", "Embeddings"))


def _config(value: Any, selector: str) -> dict[str, Any]:
    """A chosen node's configuration as Flowise stores it (the choice's own key and the
    empty values left out)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k != selector and not _empty(v)}


async def _build_tools(run: FlowRun, node: FlowNode) -> list[Any]:

    tools: list[Any] = []
    for i, row in enumerate(_rows(node.inputs.get("agentTools"))):
        name = str(row.get("agentSelectedTool") or "")
        cls = REGISTRY.get(name)
        if cls is None:
            raise CanvasInvalid(f"node {node.id}: tool {name!r} is not one canvasflow has")
        config = row.get("agentSelectedToolConfig")
        values = {
            k: v
            for k, v in (config if isinstance(config, dict) else {}).items()
            if k != "agentSelectedTool" and not _empty(v)
        }
        tools.extend(tools_of(await cls(f"{node.id}.tool{i}", values).build(run.ctx)))
    for i, row in enumerate(_rows(node.inputs.get("agentKnowledgeVSEmbeddings"))):
        # a vector store node and its embeddings node, each with its configuration
        embed_cls = REGISTRY[str(row.get("embeddingModel"))]
        store_cls = REGISTRY[str(row.get("vectorStore"))]
        embeddings = await embed_cls(
            f"{node.id}.embeddings{i}", _config(row.get("embeddingModelConfig"), "embeddingModel")
        ).build(run.ctx)
        values = {**_config(row.get("vectorStoreConfig"), "vectorStore"), "embeddings": embeddings}
        store = await store_cls(f"{node.id}.store{i}", values).build(run.ctx)
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(row.get("knowledgeName") or "")).strip("_")
        tools.append(
            RetrieverTool(
                (name or f"knowledge{i}")[:60],
                str(row.get("knowledgeDescription") or "Searches the knowledge base"),
                store,
                to_bool(row.get("returnSourceDocuments")),
            )
        )
    for i, row in enumerate(_rows(node.inputs.get("agentKnowledgeDocumentStores"))):
        ref = str(row.get("documentStore") or "")
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", ref.split(":", 1)[-1]).strip("_") or f"store{i}"
        tools.append(
            RetrieverTool(
                name[:60],
                str(row.get("docStoreDescription") or f"Searches the document store {ref}"),
                DocumentStoreSearch(run, ref),
                to_bool(row.get("returnSourceDocuments")),
            )
        )
    return tools


@register
class AgentAgentflow(AgentflowNode):
    name = "agentAgentflow"
    label = "Agent"
    description = "Dynamically choose and utilize tools during runtime"
    required = ("agentModel",)
    model_inputs = ("agentModel",)
    inputs = (
        Input("agentModel", "asyncOptions"),
        Input("agentModelConfig", "json", optional=True),
        Input("agentMessages", "array", optional=True, array=MESSAGE),
        Input(
            "agentTools",
            "array",
            optional=True,
            array=(Input("agentSelectedTool", "asyncOptions"),),
        ),
        Input("agentKnowledgeDocumentStores", "array", optional=True, array=STORES),
        Input(
            "agentKnowledgeVSEmbeddings",
            "array",
            optional=True,
            array=(
                Input("vectorStore", "asyncOptions"),
                Input("embeddingModel", "asyncOptions"),
                Input("knowledgeName", "string"),
                Input("knowledgeDescription", "string"),
                Input("returnSourceDocuments", "boolean", optional=True),
            ),
        ),
        Input("agentEnableMemory", "boolean", optional=True, default=True),
        Input("agentMemoryType", "options", optional=True, default="allMessages"),
        Input("agentMemoryWindowSize", "number", optional=True, default=20),
        Input("agentMemoryMaxTokenLimit", "number", optional=True, default=2000),
        Input("agentUserMessage", "string", optional=True),
        Input("agentReturnResponseAs", "options", optional=True, default="userMessage"),
        Input("agentStructuredOutput", "array", optional=True, array=STRUCTURED),
        Input("agentUpdateState", "array", optional=True, array=STATE),
    )

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:
        names = [
            str(r.get("agentSelectedTool") or "") for r in _rows(node.inputs.get("agentTools"))
        ]
        problems = super().check(node, nodes) + _tool_problems(node, [n for n in names if n])
        from canvasflow.engine.catalog import explain_unknown
        from canvasflow.engine.graph import Problem

        for row in _rows(node.inputs.get("agentKnowledgeVSEmbeddings")):
            for key, category in VS_PARTS:
                name = str(row.get(key) or "")
                cls = REGISTRY.get(name)
                if cls is None or cls.category != category:
                    problems.append(
                        Problem(
                            explain_unknown(node.id, name), node.id, "agentKnowledgeVSEmbeddings"
                        )
                    )
        return problems

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        tools = await _build_tools(run, node)
        async for item in converse(run, node, "agent", tools):
            yield item


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def condition_holds(kind: str, operation: str, left: str, right: str) -> bool:
    """One of Flowise's condition operations on two rendered values."""
    if operation == "isEmpty":
        return left.strip() == ""
    if operation == "notEmpty":
        return left.strip() != ""
    if kind == "number":
        a, b = _number(left), _number(right)
        if a is None or b is None:
            return False
        return {
            "equal": a == b,
            "notEqual": a != b,
            "larger": a > b,
            "largerEqual": a >= b,
            "smaller": a < b,
            "smallerEqual": a <= b,
        }.get(operation, False)
    if kind == "boolean":
        a_bool = left.strip().lower() in ("true", "1", "yes")
        b_bool = right.strip().lower() in ("true", "1", "yes")
        return a_bool == b_bool if operation == "equal" else a_bool != b_bool
    if operation == "regex":  # time-limited: an author's pattern may backtrack forever
        from canvasflow.sandbox.regex import search

        return search(right, left)
    return {
        "equal": left == right,
        "notEqual": left != right,
        "contains": right in left,
        "notContains": right not in left,
        "startsWith": left.startswith(right),
        "endsWith": left.endswith(right),
    }.get(operation, False)


async def holds(kind: str, operation: str, left: str, right: str) -> bool:
    """:func:`condition_holds`, a regex in a worker thread (never on the event loop)."""
    from canvasflow.sandbox.errors import SandboxError

    try:
        if operation == "regex" and kind not in ("number", "boolean"):
            return await asyncio.to_thread(condition_holds, kind, operation, left, right)
        return condition_holds(kind, operation, left, right)
    except SandboxError as exc:
        raise RunFailed(str(exc), code="regex_timeout") from None


@register
class ConditionAgentflow(AgentflowNode):
    name = "conditionAgentflow"
    label = "Condition"
    description = "Split flows based on If Else conditions"
    required = ("conditions",)
    inputs = (
        Input(
            "conditions",
            "array",
            array=(
                Input("type", "options", options=("string", "number", "boolean"), default="string"),
                Input("value1", "string"),
                Input("operation", "options", options=OPERATIONS, default="equal"),
                Input("value2", "string", optional=True),
            ),
        ),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        rendered = [
            {
                "type": str(c.get("type") or "string"),
                "value1": run.render(c.get("value1")),
                "operation": str(c.get("operation") or "equal"),
                "value2": run.render(c.get("value2")),
            }
            for c in _rows(node.inputs.get("conditions"))
        ]
        results = [dict(c) for c in rendered]
        chosen = len(rendered)  # the else branch
        for i, c in enumerate(results):
            if await holds(c["type"], c["operation"], c["value1"], c["value2"]):
                c["isFulfilled"] = True
                chosen = i
                break
        results.append(
            {
                "type": "string",
                "value1": "",
                "operation": "equal",
                "value2": "",
                "isFulfilled": chosen == len(rendered),
            }
        )
        yield Done(
            output={"conditions": results},
            input={"conditions": {str(i): c for i, c in enumerate(rendered)}},
            branches={str(chosen)},
        )


CONDITION_AGENT_SYSTEM = (
    "You decide which scenario fits. Read the instructions and the input, then pick "
    "exactly one of the scenarios. Answer only with JSON of the form "
    '{"output": "<the scenario, word for word>"} and nothing else.'
)


@register
class ConditionAgentAgentflow(AgentflowNode):
    name = "conditionAgentAgentflow"
    label = "Condition Agent"
    description = "Utilize an agent to split flows based on dynamic conditions"
    required = ("conditionAgentModel", "conditionAgentScenarios")
    model_inputs = ("conditionAgentModel",)
    inputs = (
        Input("conditionAgentModel", "asyncOptions"),
        Input("conditionAgentModelConfig", "json", optional=True),
        Input("conditionAgentInstructions", "string", optional=True),
        Input("conditionAgentInput", "string", optional=True, default="{{ question }}"),
        Input("conditionAgentScenarios", "array", array=(Input("scenario", "string"),)),
        Input("conditionAgentEnableMemory", "boolean", optional=True, default=True),
        Input("conditionAgentMemoryType", "options", optional=True, default="allMessages"),
        Input("conditionAgentMemoryWindowSize", "number", optional=True, default=20),
        Input("conditionAgentMemoryMaxTokenLimit", "number", optional=True, default=2000),
        Input("conditionAgentOverrideSystemPrompt", "boolean", optional=True),
        Input("conditionAgentSystemPrompt", "string", optional=True),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        inputs = node.inputs
        model = await run.model(
            inputs.get("conditionAgentModel"), inputs.get("conditionAgentModelConfig"), node
        )
        scenarios = [
            str(r.get("scenario") or "") for r in _rows(inputs.get("conditionAgentScenarios"))
        ]
        system = CONDITION_AGENT_SYSTEM
        if to_bool(inputs.get("conditionAgentOverrideSystemPrompt")) and inputs.get(
            "conditionAgentSystemPrompt"
        ):
            system = run.render(inputs["conditionAgentSystemPrompt"])
        instructions = run.render(inputs.get("conditionAgentInstructions"))
        listing = "\n".join(f"- {s}" for s in scenarios)
        given = inputs.get("conditionAgentInput")
        text = run.render(given if not _empty(given) else "{{ question }}")
        messages: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": f"{system}\n\nInstructions: {instructions}\n\nScenarios:\n{listing}",
            },
            *await memory(run, node, "conditionAgent", model),
            {"role": "user", "content": text},
        ]
        pieces: list[str] = []
        used = Usage()
        async for event in stream_answer(model, messages):  # type: ignore[arg-type]
            if event.kind == "token":
                pieces.append(event.data)
                continue
            if event.kind == "usage":
                used.add(*event.data)
            yield event
        answer = "".join(pieces).strip()
        try:
            parsed = parse_json_answer(answer)
            picked = str(parsed.get("output", "")) if isinstance(parsed, dict) else str(parsed)
        except RunFailed:
            picked = answer
        chosen = _pick(picked, scenarios)
        yield Done(
            output={
                "conditions": [
                    {"scenario": s, **({"isFulfilled": True} if i == chosen else {})}
                    for i, s in enumerate(scenarios)
                ],
                "content": scenarios[chosen] if scenarios else picked,
                "usageMetadata": usage_metadata(used.prompt_tokens, used.completion_tokens),
            },
            input={"messages": messages},
            branches={str(chosen)},
        )


def _pick(answer: str, scenarios: list[str]) -> int:
    """The scenario a model named: word for word, then by containment; else the last."""
    norm = answer.strip().strip("\"'.").lower()
    for i, s in enumerate(scenarios):
        if s.strip().lower() == norm:
            return i
    for i, s in enumerate(scenarios):
        if s.strip() and (s.strip().lower() in norm or (norm and norm in s.lower())):
            return i
    return max(len(scenarios) - 1, 0)


@register
class LoopAgentflow(AgentflowNode):
    name = "loopAgentflow"
    label = "Loop"
    description = "Loop back to a previous node"
    required = ("loopBackToNode",)
    inputs = (
        Input("loopBackToNode", "asyncOptions"),
        Input("maxLoopCount", "number", optional=True, default=5),
        Input("fallbackMessage", "string", optional=True),
        Input("loopUpdateState", "array", optional=True, array=STATE),
    )

    @staticmethod
    def target(value: Any, nodes: Any) -> str | None:
        text = str(value or "")
        for nid in nodes:
            if text == nid or text.startswith(nid + "-"):
                return str(nid)
        return None

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:
        from canvasflow.engine.graph import Problem

        problems = super().check(node, nodes)
        value = node.inputs.get("loopBackToNode")
        if not _empty(value) and cls.target(value, nodes) is None:
            problems.append(
                Problem(
                    f"node {node.id} ({node.label}): loops back to {value!r}, which is not a "
                    "node of this agentflow",
                    node.id,
                    "loopBackToNode",
                )
            )
        return problems

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        target = self.target(node.inputs.get("loopBackToNode"), run.graph.nodes)
        assert target is not None
        count = run.loop_counts.get(node.id, 0)
        limit = to_int(node.inputs.get("maxLoopCount"), 5) or 5
        if count < limit:
            run.loop_counts[node.id] = count + 1
            run.update_state(node.inputs.get("loopUpdateState"), run.last_content)
            yield Done(
                output={"nodeID": target, "loopCount": count + 1},
                input={"loopBackToNode": target, "maxLoopCount": limit},
                loop_to=target,
            )
            return
        message = run.render(node.inputs.get("fallbackMessage"))
        output: dict[str, Any] = {"loopCount": count, "maxLoopCount": limit}
        if message:
            output["content"] = message
            yield token(message)
        yield Done(
            output=output,
            input={"loopBackToNode": target, "maxLoopCount": limit},
            streamed=bool(message),
        )


@register
class IterationAgentflow(AgentflowNode):
    name = "iterationAgentflow"
    label = "Iteration"
    description = "Execute the nodes within the iteration block through N iterations"
    required = ("iterationInput",)
    inputs = (Input("iterationInput", "string"),)

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        raw = run.render(node.inputs.get("iterationInput"))
        try:
            items = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest(
                f"node {node.id} ({node.label}): the iteration input is not a JSON array: "
                f"{raw[:200]!r}"
            ) from None
        if not isinstance(items, list):
            raise BadRequest(f"node {node.id} ({node.label}): the iteration input must be an array")
        inside = set(run.graph.children.get(node.id, ()))
        results: list[Any] = []
        outer = run.iteration
        try:
            for index, item in enumerate(items):
                run.iteration = item if not isinstance(item, dict) else {**item, "index": index}
                run.last_content = None
                async for event in run.walk(list(run.graph.entries.get(node.id, ())), {}, inside):
                    yield event
                if run.paused is not None:
                    raise CanvasInvalid(
                        "a human input inside an iteration is not supported", node.id
                    )
                results.append(run.last_content)
        finally:
            run.iteration = outer
        content = "\n\n".join(as_text(r) for r in results if r is not None)
        yield Done(
            output={"content": content, "iterations": results}, input={"iterationInput": items}
        )


@register
class HumanInputAgentflow(AgentflowNode):
    name = "humanInputAgentflow"
    label = "Human Input"
    description = "Request human input, approval or rejection during execution"
    model_inputs = ("humanInputModel",)
    inputs = (
        Input("humanInputDescriptionType", "options", optional=True, default="fixed"),
        Input("humanInputDescription", "string", optional=True),
        Input("humanInputModel", "asyncOptions", optional=True),
        Input("humanInputModelConfig", "json", optional=True),
        Input("humanInputModelPrompt", "string", optional=True),
        Input("humanInputEnableFeedback", "boolean", optional=True, default=True),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        inputs = node.inputs
        feedback_on = to_bool(inputs.get("humanInputEnableFeedback"), True)
        human = run.resuming
        if human is not None and human.get("startNodeId", node.id) == node.id:
            run.resuming = {**human, "startNodeId": "-"}  # once per resume
            async for item in self._answered(run, node, human):
                yield item
            return
        if inputs.get("humanInputDescriptionType") == "dynamic" and not _empty(
            inputs.get("humanInputModel")
        ):
            model = await run.model(
                inputs.get("humanInputModel"), inputs.get("humanInputModelConfig"), node
            )
            prompt = run.render(inputs.get("humanInputModelPrompt"))
            history = [{"role": m["role"], "content": m["content"]} for m in await run.past()] + [
                {"role": m["role"], "content": m["content"]} for m in run.runtime
            ]
            pieces = []
            async for event in stream_answer(
                model, [*history, {"role": "user", "content": prompt}]
            ):  # type: ignore[list-item]
                if event.kind == "token":
                    pieces.append(event.data)
                else:
                    yield event
            content = "".join(pieces)
        else:
            # Flowise sends a fixed description with two newlines before it
            content = "\n\n" + run.render(inputs.get("humanInputDescription"))
        yield token(content)
        shown = {"messages": [], "humanInputEnableFeedback": feedback_on}
        act = {
            "id": str(uuid.uuid4()),
            "mapping": {"approve": "Proceed", "reject": "Reject"},
            "elements": [
                {"type": "agentflowv2-approve-button", "label": "Proceed"},
                {"type": "agentflowv2-reject-button", "label": "Reject"},
            ],
            "data": {"nodeId": node.id, "nodeLabel": node.label, "input": shown},
        }
        yield Done(
            output={"content": content, "humanInputAction": act},
            input=shown,
            chat_history=[{"role": "assistant", "content": content}],
            pause=act,
            streamed=True,
        )

    async def _answered(
        self, run: FlowRun, node: FlowNode, human: dict[str, Any]
    ) -> AsyncIterator[Item]:
        kind = str(human.get("type"))
        feedback = str(human.get("feedback") or "")
        past = [{"content": m["content"], "role": m["role"]} for m in await run.past()]
        said = [{"role": "user", "content": feedback}] if feedback else []
        common = {"startNodeId": node.id, "feedback": feedback}
        yield Done(
            output={
                "content": feedback,
                "conditions": [
                    {"type": "proceed", **common, "isFulfilled": kind == "proceed"},
                    {"type": "reject", **common, "isFulfilled": kind == "reject"},
                ],
            },
            input={"type": kind, **common, "messages": past + said},
            chat_history=said,
            branches={"0" if kind == "proceed" else "1"},
        )


@register
class DirectReplyAgentflow(AgentflowNode):
    name = "directReplyAgentflow"
    label = "Direct Reply"
    description = "Directly reply to the user with a message"
    required = ("directReplyMessage",)
    inputs = (Input("directReplyMessage", "string"),)

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        content = run.render(node.inputs.get("directReplyMessage"))
        yield token(content)
        yield Done(output={"content": content}, input={}, streamed=True)


def _flow(run: FlowRun) -> dict[str, Any]:
    ctx = run.ctx
    return {
        "chatflowId": ctx.canvas_id,
        "sessionId": ctx.session_id,
        "chatId": ctx.chat_id,
        "input": ctx.question,
        "state": run.state,
    }


@register
class CustomFunctionAgentflow(AgentflowNode):
    name = "customFunctionAgentflow"
    label = "Custom Function"
    description = "Execute custom function"
    required = ("customFunctionJavascriptFunction",)
    inputs = (
        Input(
            "customFunctionInputVariables",
            "array",
            optional=True,
            array=(Input("variableName", "string"), Input("variableValue", "string")),
        ),
        Input("customFunctionJavascriptFunction", "code"),
        Input("customFunctionUpdateState", "array", optional=True, array=STATE),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        settings = run.ctx.settings
        variables = {
            str(r["variableName"]): run.render(r.get("variableValue"))
            for r in _rows(node.inputs.get("customFunctionInputVariables"))
            if r.get("variableName")
        }
        globals_: dict[str, Any] = {"$vars": run.ctx.vars, "$flow": _flow(run)}
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
    inputs = (
        Input(
            "method", "options", default="GET", options=("GET", "POST", "PUT", "DELETE", "PATCH")
        ),
        Input("url", "string"),
        Input("headers", "array", optional=True, array=KEY_VALUE),
        Input("queryParams", "array", optional=True, array=KEY_VALUE),
        Input("bodyType", "options", optional=True),
        Input("body", "string", optional=True),
        Input("responseType", "options", optional=True),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        from urllib.parse import urlencode

        from canvasflow.models.native import http

        inputs = node.inputs
        method = str(inputs.get("method") or "GET").upper()
        url = run.render(inputs.get("url")).strip()
        headers = {
            str(r["key"]): run.render(r.get("value"))
            for r in _rows(inputs.get("headers"))
            if r.get("key")
        }
        query = {
            str(r["key"]): run.render(r.get("value"))
            for r in _rows(inputs.get("queryParams"))
            if r.get("key")
        }
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        body_type = str(inputs.get("bodyType") or "")
        raw_body = inputs.get("body")
        body: str | None = None
        if isinstance(raw_body, list):
            pairs = {
                str(r["key"]): run.render(r.get("value")) for r in _rows(raw_body) if r.get("key")
            }
            if body_type == "xWwwFormUrlencoded":
                body = urlencode(pairs)
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                body = orjson.dumps(pairs).decode()
                headers.setdefault("Content-Type", "application/json")
        elif not _empty(raw_body):
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
    inputs = (
        Input("toolAgentflowSelectedTool", "asyncOptions"),
        Input("toolAgentflowSelectedToolConfig", "json", optional=True),
        Input(
            "toolInputArgs",
            "array",
            optional=True,
            array=(Input("inputArgName", "string"), Input("inputArgValue", "string")),
        ),
        Input("toolUpdateState", "array", optional=True, array=STATE),
    )

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:
        name = node.inputs.get("toolAgentflowSelectedTool")
        return super().check(node, nodes) + (
            _tool_problems(node, [str(name)]) if not _empty(name) else []
        )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        inputs = node.inputs
        name = str(inputs.get("toolAgentflowSelectedTool"))
        config = inputs.get("toolAgentflowSelectedToolConfig")
        values = {
            k: v
            for k, v in (config if isinstance(config, dict) else {}).items()
            if k != "toolAgentflowSelectedTool" and not _empty(v)
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
            for r in _rows(inputs.get("toolInputArgs"))
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
    inputs = (
        Input("retrieverKnowledgeDocumentStores", "array", array=STORES[:1]),
        Input("retrieverQuery", "string", optional=True, default="{{ question }}"),
        Input("outputFormat", "options", optional=True, default="text"),
        Input("retrieverUpdateState", "array", optional=True, array=STATE),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        inputs = node.inputs
        query = run.render(
            inputs.get("retrieverQuery")
            if not _empty(inputs.get("retrieverQuery"))
            else "{{ question }}"
        )
        docs: list[dict[str, Any]] = []
        for row in _rows(inputs.get("retrieverKnowledgeDocumentStores")):
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


@register
class ExecuteFlowAgentflow(AgentflowNode):
    name = "executeFlowAgentflow"
    label = "Execute Flow"
    description = "Execute another flow"
    required = ("executeFlowSelectedFlow",)
    inputs = (
        Input("executeFlowSelectedFlow", "asyncOptions"),
        Input("executeFlowInput", "string", optional=True, default="{{ question }}"),
        Input("executeFlowOverrideConfig", "json", optional=True),
        Input("executeFlowBaseURL", "string", optional=True),
        Input("executeFlowReturnResponseAs", "options", optional=True, default="userMessage"),
        Input("executeFlowUpdateState", "array", optional=True, array=STATE),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        from canvasflow.agentflow.runner import run as run_agentflow
        from canvasflow.engine.graph import allowed_overrides, parse
        from canvasflow.engine.run import run as run_chatflow

        inputs = node.inputs
        ctx = run.ctx
        if ctx.store is None:
            raise RunFailed("Execute Flow needs the database")
        ref = str(inputs.get("executeFlowSelectedFlow"))
        canvas = await ctx.store.get_canvas(ref)
        if canvas is None:
            raise RunFailed(f"node {node.id} ({node.label}): no canvas {ref!r}", code="not_found")
        given = inputs.get("executeFlowInput")
        question = run.render(given if not _empty(given) else "{{ question }}")
        raw = inputs.get("executeFlowOverrideConfig")
        try:
            overrides = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
        except orjson.JSONDecodeError:
            overrides = {}
        sub = dataclasses.replace(
            ctx,
            question=question,
            canvas_id=canvas.id,
            chat_id=str(uuid.uuid4()),
            session_id="",
            history=[],
            overrides=overrides if isinstance(overrides, dict) else {},
            human_input=None,
            form=None,
            images=(),
            attachments=(),
        )
        graph = parse(canvas.flow_data)
        events = (
            run_agentflow(graph, sub, run.depth + 1)  # type: ignore[arg-type]
            if getattr(graph, "kind", "") == "agentflow"
            else run_chatflow(graph, sub, allowed_overrides(canvas.settings))  # type: ignore[arg-type]
        )
        pieces = []
        async for event in events:
            if event.kind == "token":
                pieces.append(event.data)
            elif event.kind in ("usage", "model"):
                yield event
        shown = {"executeFlowInput": question, "executeFlowSelectedFlow": canvas.id}
        for item in answered(run, node, "".join(pieces), shown, "executeFlow"):
            yield item


@register
class StickyNoteAgentflow(AgentflowNode):
    name = "stickyNoteAgentflow"
    label = "Sticky Note"
    description = "Add notes to the agent flow"
    inputs = (Input("note", "string", optional=True),)

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:  # type: ignore[override]
        yield Done(output={})
