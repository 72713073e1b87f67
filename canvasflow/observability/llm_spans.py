"""A prediction's trace in the conventions LLM trace viewers read: OpenInference (Arize
Phoenix, Langfuse and others ingest it over OTLP) and OpenTelemetry's GenAI attributes,
named by the maintained convention packages, never typed here.

The spans the engine makes as it runs get their kinds: the prediction (a chain, an
agent for an agentflow: with its session, canvas, version, trigger, question, answer and
tokens), each chatflow node (chain, LLM, retriever, embedding, tool, agent, by its
category), and the model call (LLM: model, messages, answer, token counts). What the
engine does not make a span for is added once the prediction has ended, from what it
recorded (never on the token path): the retrieval (documents and scores), each tool call
(arguments and result), and an agentflow's nodes (from their node events' times).
Prompts, answers, documents and tool data are left out when ``CANVASFLOW_TRACE_CONTENT``
is off; a node's configuration (where credentials and keys live) never goes in a span."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.observability.tracing import BUILDERS, Later, recording

if TYPE_CHECKING:
    from canvasflow.engine.prediction import Prediction

try:
    from openinference.semconv.trace import (
        DocumentAttributes,
        MessageAttributes,
        OpenInferenceSpanKindValues,
        SpanAttributes,
        ToolCallAttributes,
    )
    from opentelemetry import trace
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.trace import Status, StatusCode
except ImportError:  # canvasflow[otel] is not installed: there are no spans to make
    trace = None

# whether prompts, answers, documents and tool data go in spans (tracing.setup sets it
# from the settings)
CONTENT = True

# a node's category, the kind of span it makes
KIND_OF_CATEGORY = {
    "Chat Models": "LLM",
    "LLMs": "LLM",
    "Embeddings": "EMBEDDING",
    "Retrievers": "RETRIEVER",
    "Vector Stores": "RETRIEVER",
    "Tools": "TOOL",
    "Tools (MCP)": "TOOL",
    "Agents": "AGENT",
}
KIND_OF_AGENTFLOW = {
    "llmAgentflow": "LLM",
    "agentAgentflow": "AGENT",
    "retrieverAgentflow": "RETRIEVER",
    "toolAgentflow": "TOOL",
}
MAX_TEXT = 16_000  # characters of one value kept in a span


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def kind_of(name: str, category: str) -> str:
    """The OpenInference span kind of a node."""
    return KIND_OF_AGENTFLOW.get(name) or KIND_OF_CATEGORY.get(category, "CHAIN")


def node_attributes(name: str, category: str) -> dict[str, Any]:
    """A node span's kind (the engine's ``node ...`` spans); nothing when no trace
    records."""
    if trace is None or not recording():
        return {}
    return {SpanAttributes.OPENINFERENCE_SPAN_KIND: kind_of(name, category)}


def model_call(model: str, messages: list[Any]) -> Later | None:
    """What a model call's attributes are worked out from when its span is written
    (``llm input``): nothing, and no work, when no trace records."""
    if trace is None or not recording():
        return None
    return ("llm input", (model, messages, CONTENT))


def _llm_input(model: str, messages: list[Any], content: bool) -> dict[str, Any]:
    """A model call's kind, model and (``content``) input messages."""
    attrs: dict[str, Any] = {
        SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
        SpanAttributes.LLM_MODEL_NAME: model,
        gen_ai.GEN_AI_OPERATION_NAME: "chat",
        gen_ai.GEN_AI_REQUEST_MODEL: model,
    }
    if content:
        for i, m in enumerate(messages):
            prefix = f"{SpanAttributes.LLM_INPUT_MESSAGES}.{i}."
            attrs[prefix + MessageAttributes.MESSAGE_ROLE] = str(m.get("role"))
            text = m.get("content")
            if not isinstance(text, str):  # content parts: their text, no image data
                text = [p for p in text or [] if p.get("type") == "text"]
            attrs[prefix + MessageAttributes.MESSAGE_CONTENT] = _text(text)
    return attrs


def model_answered(
    span: Any, answer: str | None, prompt_tokens: int, completion_tokens: int
) -> None:
    """A model call's answer and tokens, when it ends (``llm output``)."""
    if trace is None or span is None:
        return
    span.add_later(("llm output", (answer, prompt_tokens, completion_tokens, CONTENT)))


def _llm_output(
    answer: str | None, prompt_tokens: int, completion_tokens: int, content: bool
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        SpanAttributes.LLM_TOKEN_COUNT_PROMPT: prompt_tokens,
        SpanAttributes.LLM_TOKEN_COUNT_COMPLETION: completion_tokens,
        SpanAttributes.LLM_TOKEN_COUNT_TOTAL: prompt_tokens + completion_tokens,
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS: prompt_tokens,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: completion_tokens,
    }
    if content and answer is not None:
        prefix = f"{SpanAttributes.LLM_OUTPUT_MESSAGES}.0."
        attrs[prefix + MessageAttributes.MESSAGE_ROLE] = "assistant"
        attrs[prefix + MessageAttributes.MESSAGE_CONTENT] = _text(answer)
        attrs[SpanAttributes.OUTPUT_VALUE] = _text(answer)
    return attrs


def _prediction(
    agentflow: bool,
    session: str,
    metadata: dict[str, Any],
    usage: tuple[int, int, int],
    model: str | None,
    question: str | None,
    answer: str | None,
) -> dict[str, Any]:
    """A prediction's own attributes (``prediction``); its question and answer are
    None when content is left out."""
    attrs: dict[str, Any] = {
        SpanAttributes.OPENINFERENCE_SPAN_KIND: (
            OpenInferenceSpanKindValues.AGENT if agentflow else OpenInferenceSpanKindValues.CHAIN
        ).value,
        SpanAttributes.SESSION_ID: session,
        SpanAttributes.METADATA: _text(metadata),
        SpanAttributes.TAG_TAGS: [
            f"canvas:{metadata['canvasId']}",
            f"trigger:{metadata['trigger']}",
        ],
        SpanAttributes.LLM_TOKEN_COUNT_PROMPT: usage[0],
        SpanAttributes.LLM_TOKEN_COUNT_COMPLETION: usage[1],
        SpanAttributes.LLM_TOKEN_COUNT_TOTAL: usage[2],
    }
    if model:
        attrs[SpanAttributes.LLM_MODEL_NAME] = model
    if question is not None:
        attrs[SpanAttributes.INPUT_VALUE] = _text(question)
    if answer is not None:
        attrs[SpanAttributes.OUTPUT_VALUE] = _text(answer)
    return attrs


def record(root: Any, prediction: Prediction) -> None:
    """Once a prediction has ended: its own span's attributes, and the spans the engine
    did not note as it ran (retrieval, tool calls, an agentflow's nodes), added to its
    noted trace (``root``, a :class:`~canvasflow.observability.tracing.Pending`)."""
    if trace is None or root is None:
        return
    ctx, outcome, graph = prediction.ctx, prediction.outcome, prediction.graph
    agentflow = getattr(graph, "kind", "") == "agentflow" or outcome.execution_id is not None
    metadata = {
        "canvasId": ctx.canvas_id,
        "version": ctx.version,
        "chatId": ctx.chat_id,
        "chatMessageId": ctx.chat_message_id,
        "trigger": ctx.trigger,
        "status": outcome.status,
    }
    usage = outcome.usage
    args = (
        agentflow,
        ctx.session_id or ctx.chat_id,
        metadata,
        (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        outcome.model,
        ctx.question if CONTENT else None,
        outcome.text if CONTENT else None,
    )
    root.add_later(("prediction", args))  # worked out where the span is written
    if outcome.error:
        root.set_status(Status(StatusCode.ERROR, str(outcome.error.get("message"))))
    if agentflow:
        _agentflow_nodes(root, prediction)
    if outcome.sources or outcome.used_tools:  # they take the run's nodes' time
        times = [e["at"] for e in prediction.node_times] or [prediction.started_ns]
        start, end = min(times), max(times)
    if outcome.sources:
        found: dict[str, Any] = {
            SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.RETRIEVER.value,
        }
        for i, doc in enumerate(outcome.sources):
            prefix = f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}."
            metadata = doc.get("metadata") or {}
            score = metadata.get("score") if isinstance(metadata, dict) else None
            if isinstance(score, int | float):
                found[prefix + DocumentAttributes.DOCUMENT_SCORE] = float(score)
            if CONTENT:
                found[prefix + DocumentAttributes.DOCUMENT_CONTENT] = _text(doc.get("pageContent"))
                found[prefix + DocumentAttributes.DOCUMENT_METADATA] = _text(metadata)
        if CONTENT:
            found[SpanAttributes.INPUT_VALUE] = _text(ctx.question)
        root.add("retrieval", start, end, found)
    for used in outcome.used_tools:
        name = str(used.get("tool"))
        call: dict[str, Any] = {
            SpanAttributes.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.TOOL.value,
            SpanAttributes.TOOL_NAME: name,
            ToolCallAttributes.TOOL_CALL_FUNCTION_NAME: name,
        }
        if CONTENT:
            call[SpanAttributes.TOOL_PARAMETERS] = _text(used.get("toolInput"))
            call[SpanAttributes.INPUT_VALUE] = _text(used.get("toolInput"))
            call[SpanAttributes.OUTPUT_VALUE] = _text(used.get("toolOutput"))
        root.add(name, start, end, call)


def _agentflow_nodes(root: Any, prediction: Prediction) -> None:
    """An agentflow's nodes, from the times of their node events."""
    from canvasflow.runtime.node import REGISTRY

    outcome = prediction.outcome
    labels = {e["nodeId"]: e.get("nodeLabel") for e in outcome.executed or ()}
    names = {e["nodeId"]: (e.get("data") or {}).get("name") for e in outcome.executed or ()}
    spans: dict[str, list[Any]] = {}
    for event in prediction.node_times:
        entry = spans.setdefault(event["nodeId"], [event["at"], event["at"], "running"])
        entry[1], entry[2] = event["at"], event["status"]
    for node_id, (start, end, status) in spans.items():
        name = str(names.get(node_id) or node_id.rsplit("_", 1)[0])
        cls = REGISTRY.get(name)
        attrs = {
            SpanAttributes.OPENINFERENCE_SPAN_KIND: kind_of(name, cls.category if cls else ""),
            "node_id": node_id,
        }
        root.add(f"node {labels.get(node_id) or name}", start, end, attrs, status == "error")


if trace is not None:  # what the spans' attributes are worked out with (tracing.expand)
    BUILDERS.update({"llm input": _llm_input, "llm output": _llm_output, "prediction": _prediction})
