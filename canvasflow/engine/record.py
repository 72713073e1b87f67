"""The record of a run (an *execution*): what started it, which canvas version answered,
how it ended, its timings and tokens, and a trace of its nodes, built from the same
events the answer is (``node`` events, an agentflow's executed nodes, tool steps).

Two rows go to the store's writer, never a transaction of their own: one as the run
starts (``running``), one as it ends; the writer merges them when they meet in one
batch. Large values are cut, with their size noted, so a record stays small."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from canvasflow.engine.outcome import Outcome
    from canvasflow.runtime.context import RunContext

VALUE_LIMIT = 4000  # characters of a value kept in a trace; beyond it, a cut and its size
TEXT_LIMIT = 20000  # characters of a question or an answer kept in a record
_SECRET_WORDS = ("key", "secret", "password", "token", "credential")


def cut(value: Any, limit: int = VALUE_LIMIT) -> Any:
    """A value as a record keeps it: as it is when small, else its start and its size."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return {"truncated": True, "size": len(value), "preview": value[:limit]}
    try:
        raw = orjson.dumps(value, default=str)
    except TypeError:
        return cut(str(value), limit)
    if len(raw) <= limit:
        return orjson.loads(raw)
    text = raw.decode(errors="replace")
    return {"truncated": True, "size": len(raw), "preview": text[:limit]}


def _text(value: str | None) -> str | None:
    if value is None or len(value) <= TEXT_LIMIT:
        return value
    return value[:TEXT_LIMIT] + f"… [{len(value)} characters in all]"


def _inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """A chatflow node's configured inputs, secrets hidden, values cut."""
    shown: dict[str, Any] = {}
    for name, value in inputs.items():
        if value in (None, "", [], {}):
            continue
        if any(word in name.lower() for word in _SECRET_WORDS) and name != "credential":
            shown[name] = "••••"
            continue
        shown[name] = cut(value, 1000)
    return shown


def _now() -> datetime:
    return datetime.now(UTC)


def start_row(ctx: RunContext) -> dict[str, Any]:
    """The record of a run that has just started (every column: the writer inserts rows
    of one shape)."""
    # what the run was asked besides its question (the question has its own column)
    request: dict[str, Any] = {}
    if ctx.form:
        request["form"] = cut(ctx.form)
    if ctx.webhook is not None:
        request["webhook"] = cut(ctx.webhook)
    if ctx.human_input:
        request["humanInput"] = cut(ctx.human_input)
    return {
        "id": ctx.chat_message_id,
        "canvas_id": ctx.canvas_id,
        "version": ctx.version,
        "trigger": ctx.trigger,
        "chat_id": ctx.chat_id,
        "session_id": ctx.session_id,
        "status": "running",
        "question": _text(ctx.question),
        "answer": None,
        "error": None,
        "request": request or None,
        "trace": None,
        "latency_ms": None,
        "ttft_ms": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "is_public": False,
        "started_at": _now(),
        "ended_at": None,
    }


def trace(graph: Any, node_events: list[dict[str, Any]], outcome: Outcome) -> list[dict[str, Any]]:
    """Each node the run reached, in the order it started: its status, time, tokens,
    inputs and outputs (an agentflow's from its executed data; a chatflow's from its
    configuration, and the ending node's answer, tool calls and sources)."""
    entries: dict[str, dict[str, Any]] = {}
    for data in node_events:
        node_id = data["nodeId"]
        entry = entries.get(node_id)
        if entry is None:
            entry = entries[node_id] = {"nodeId": node_id, "status": "running"}
        status = data["status"]
        entry["status"] = status
        if "ms" in data:  # a node run more than once (a loop) adds up
            entry["ms"] = entry.get("ms", 0) + data["ms"]
        if data.get("tokens") is not None:
            entry["tokens"] = entry.get("tokens", 0) + data["tokens"]
    nodes = getattr(graph, "nodes", {})
    for node_id, entry in entries.items():
        spec = nodes.get(node_id)
        if spec is not None:
            entry["name"] = spec.name
            label = getattr(spec, "label", None)
            if label:
                entry["label"] = label
    if outcome.execution_id is not None:  # a flow's run (its ``flow`` events say so)
        for executed in outcome.executed or ():
            entry = entries.setdefault(
                executed["nodeId"], {"nodeId": executed["nodeId"], "status": "done"}
            )
            data = executed.get("data") or {}
            entry["label"] = executed.get("nodeLabel") or entry.get("label")
            entry["name"] = data.get("name") or entry.get("name")
            entry["input"] = cut(data.get("input"))
            entry["output"] = cut(data.get("output"))
            if executed.get("status") == "ERROR":
                entry["status"] = "error"
                entry["error"] = cut((data.get("output") or {}).get("error"))
            elif executed.get("status") == "STOPPED":
                entry["status"] = "paused"
    else:
        ending = getattr(graph, "ending", None)
        shown = getattr(graph, "shown_inputs", {})
        for node_id, entry in entries.items():
            spec = nodes.get(node_id)
            if spec is not None:
                if node_id not in shown:
                    shown[node_id] = _inputs(spec.inputs)
                entry["input"] = shown[node_id]
            if node_id == ending:
                entry["input"] = {"question": cut(outcome.who.question), **entry.get("input", {})}
                # its text is the record's answer (kept once; the API puts it back here)
                entry["ending"] = True
                output: dict[str, Any] = {}
                if outcome.steps:
                    output["steps"] = cut(outcome.steps)
                if outcome.sources:
                    output["sourceDocuments"] = cut(outcome.sources)
                if outcome.json_output is not None:
                    output["json"] = cut(outcome.json_output)
                entry["output"] = output
    if outcome.error is not None:
        failed = [e for e in entries.values() if e["status"] == "error"]
        for entry in failed or [e for e in entries.values() if e["status"] == "running"][-1:]:
            entry["status"] = "error"
            entry.setdefault("error", outcome.error.get("message"))
    return list(entries.values())


def end_row(
    ctx: RunContext,
    graph: Any,
    outcome: Outcome,
    node_events: list[dict[str, Any]],
    ttft_ms: int | None,
    started: dict[str, Any] | None,
) -> dict[str, Any]:
    """The whole record of a run that ended."""
    row = dict(started) if started is not None else start_row(ctx)
    status = outcome.status  # a record's statuses are the outcome's, and "paused"
    if outcome.flow_status == "STOPPED" and status == "completed":
        status = "paused"  # an agentflow waiting for a person
    if outcome.execution_id and outcome.execution_id != ctx.chat_message_id:
        request = dict(row.get("request") or {})
        request["resumes"] = outcome.execution_id  # the paused run this one goes on with
        row["request"] = request
    row.update(
        status=status,
        answer=_text("".join(outcome.pieces)),
        error=outcome.error,
        trace=trace(graph, node_events, outcome),
        latency_ms=outcome.latency_ms,
        ttft_ms=ttft_ms,
        prompt_tokens=outcome.usage.prompt_tokens,
        completion_tokens=outcome.usage.completion_tokens,
        ended_at=_now(),
    )
    return row
