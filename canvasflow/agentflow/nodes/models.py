"""Memory and model calls: an LLM or agent node's conversation, and its answer as the
path's output."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.agentflow.nodes.base import Item, empty, rows_of
from canvasflow.agentflow.runner import Done, FlowRun, usage_metadata
from canvasflow.errors import CanvasInvalid, RunFailed
from canvasflow.events import model as model_event
from canvasflow.events import output as output_event
from canvasflow.events import token
from canvasflow.models.base import Usage, supports
from canvasflow.nodes.chains import stream_answer, with_uploads
from canvasflow.nodes.tools import (
    tool_turns,
)
from canvasflow.runtime.node import to_bool, to_int
from canvasflow.runtime.template import html_to_text

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode


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
        for m in rows_of(raw)
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
    if not empty(custom):
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
        if key in skip or empty(value):
            continue
        if key.endswith("UpdateState") and isinstance(value, list):
            value = [
                {**r, "value": html_to_text(r["value"])} if isinstance(r.get("value"), str) else r
                for r in rows_of(value)
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
    structured = rows_of(inputs.get(f"{prefix}StructuredOutput"))
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
        call_messages = with_uploads(messages, run.ctx, model)  # type: ignore[arg-type]  # plain dict messages
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
