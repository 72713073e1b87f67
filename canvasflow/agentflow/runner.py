"""One agentflow run as typed events.

The runner walks the graph from the Start node (or, with ``humanInput``, from the node
a paused run waits at): it runs one node at a time, follows the edges a node chose
(conditions), jumps back (loops), waits for every branch that feeds a node before
running it (joins), runs iteration sub-flows, and stops at a human input. It yields:

- ``flow`` (``INPROGRESS``, then ``FINISHED`` / ``STOPPED`` / ``ERROR``);
- per node a ``step`` of type ``agentflow`` when it starts and when it finishes (with
  the executed data so far), and the ``node`` events the studio lights nodes up with;
- the tokens of the nodes whose answer the user sees (those that end a path), the
  report events of every model call (usage is summed over nodes by the reducer);
- ``action`` when it stops for a person.

Nothing here touches the database per token: a run is written once, when it pauses
(so any process can resume it, after a restart too) or when it keeps its flow state.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from canvasflow.errors import AlreadyExists, BadRequest, CanvasInvalid, RunFailed
from canvasflow.events import Event, action, flow, flow_step, token
from canvasflow.events import node as node_event
from canvasflow.models.base import Message
from canvasflow.runtime.node import REGISTRY
from canvasflow.runtime.template import MISSING, Lookup, lookup_in, render

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import AgentGraph, FlowNode
    from canvasflow.runtime.context import RunContext

MAX_DEPTH = 4  # canvases run by Execute Flow inside one another


@dataclass
class Done:
    """What a node made: Flowise's ``output`` and ``input`` of its executed data, what
    it adds to the run's chat history, and where the run goes next."""

    output: dict[str, Any]
    input: dict[str, Any] = field(default_factory=dict)
    chat_history: list[dict[str, Any]] | None = None
    branches: set[str] | None = None  # the output handles to follow (None: all)
    loop_to: str | None = None
    pause: dict[str, Any] | None = None  # the action a human input asks
    streamed: bool = False
    usage: dict[str, Any] | None = None  # Flowise's usageMetadata of a model call
    called_tools: list[dict[str, Any]] | None = None


class _Scope:
    """The names a field may use: the run's (computed on demand) and the node's own
    (``output`` in update-state rules)."""

    __slots__ = ("extra", "run")

    def __init__(self, run: FlowRun, extra: dict[str, Any]) -> None:
        self.run = run
        self.extra = extra

    def get(self, name: str, default: Any = MISSING) -> Any:
        if name in self.extra:
            return self.extra[name]
        value = self.run.value_of(name)
        return default if value is MISSING else value


def usage_metadata(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
        "input_token_details": {},
        "output_token_details": {},
    }


def _summary(output: dict[str, Any]) -> str:
    content = output.get("content")
    text = content if isinstance(content, str) else ""
    return text if len(text) <= 200 else text[:199] + "…"


class FlowRun:
    def __init__(
        self,
        graph: AgentGraph,
        ctx: RunContext,
        *,
        depth: int = 0,
    ) -> None:
        self.graph = graph
        self.ctx = ctx
        self.depth = depth
        # the run's execution: the prediction's own id (its record's), a new one inside
        self.execution_id = (
            ctx.chat_message_id if depth == 0 and ctx.chat_message_id else str(uuid.uuid4())
        )
        self.state: dict[str, Any] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.executed: list[dict[str, Any]] = []
        self.runtime: list[dict[str, Any]] = []  # messages nodes added during this run
        self.loop_counts: dict[str, int] = {}
        self.tokens = 0
        self.last_content: Any = None
        self.paused: dict[str, Any] | None = None
        self.resuming: dict[str, Any] | None = None  # the request's humanInput, once
        self.iteration: dict[str, Any] | None = None  # $iteration inside an iteration
        self._past: list[Message] | None = None
        self.keep_state = False

    # -- what nodes use ---------------------------------------------------------------

    def value_of(self, name: str) -> Any:
        """A name of the run's scope, computed when a field names it (``MISSING`` when
        the scope has no such name)."""
        ctx = self.ctx
        if name == "question":
            return ctx.question
        if name == "$flow":
            return {
                "state": self.state,
                "chatId": ctx.chat_id,
                "sessionId": ctx.session_id,
                "chatflowId": ctx.canvas_id,
                "input": ctx.question,
            }
        if name == "$vars":
            return ctx.vars
        if name == "$form":
            return dict(ctx.form or {})
        if name == "$webhook":
            return dict(ctx.webhook or {})
        if name == "$iteration" and self.iteration is not None:
            return self.iteration
        if name == "chat_history":
            return self.history_text()
        if name == "runtime_messages_length":
            return len(self.runtime)
        if name == "current_date_time":
            return datetime.now(UTC).isoformat()
        if name == "loop_count":
            return sum(self.loop_counts.values())
        return MISSING

    def lookup(self, **extra: Any) -> Lookup:
        return lookup_in(_Scope(self, extra), self.outputs)

    def render(self, value: Any, **extra: Any) -> str:
        return render(value, self.lookup(**extra))

    def streams(self, node: FlowNode) -> bool:
        """Whether a node's answer goes to the user token by token: it ends its path,
        outside any iteration."""
        return node.parent is None and self.iteration is None and self.graph.last(node.id)

    async def past(self) -> list[Message]:
        """The chat's earlier exchanges (none with an ephemeral Start)."""
        if self._past is None:
            self._past = []
            ctx = self.ctx
            if ctx.history is not None:
                self._past = list(ctx.history)
            elif ctx.store is not None and not self.ephemeral:
                rows = await ctx.store.session_history(ctx.canvas_id, ctx.session_id)
                self._past = [
                    {
                        "role": "user" if r.role == "userMessage" else "assistant",
                        "content": r.content,
                    }
                    for r in rows
                    if r.content
                ]
        return self._past

    def history_text(self) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in (self._past or []) + self.runtime)

    @property
    def ephemeral(self) -> bool:
        start = self.graph.nodes[self.graph.start]
        from canvasflow.values import to_bool

        return to_bool(start.inputs.get("startEphemeralMemory"), False)

    async def model(self, name: Any, config: Any, node: FlowNode) -> Any:
        """The chat model a node names (``llmModel``: a chat-model node's name) built with
        its configuration (``llmModelConfig``: that node's inputs and credential)."""
        cls = REGISTRY.get(str(name or ""))
        if cls is None or cls.category != "Chat Models":
            raise CanvasInvalid(
                f"node {node.id} ({node.label}): {name!r} is not a chat model canvasflow has",
                node.id,
            )
        values = {
            k: v
            for k, v in (config if isinstance(config, dict) else {}).items()
            if v not in ("", None) and not k.endswith("Model") and k != "FLOWISE_CREDENTIAL_ID"
        }
        return await cls(f"{node.id}.model", values).build(self.ctx)

    def update_state(self, rules: Any, output: Any) -> None:
        """Flowise's "update flow state": ``[{key, value}]``, ``{{ output }}`` being the
        node's output."""
        if not isinstance(rules, list):
            return
        for rule in rules:
            if isinstance(rule, dict) and rule.get("key"):
                self.state[str(rule["key"])] = self.render(rule.get("value"), output=output)

    # -- the run ----------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        ctx = self.ctx
        first = [self.graph.start]
        parents: dict[str, list[str]] = {}
        if ctx.human_input:
            first, parents = await self._resume(ctx.human_input)
        else:
            await self._start_state()
        yield flow("INPROGRESS", self.execution_id)
        try:
            async for event in self.walk(first, parents):
                yield event
        except Exception:  # (an abort is a cancellation: it ends the run as it is)
            yield flow("ERROR", self.execution_id)
            await self._save("ERROR")
            raise
        if self.paused is not None:
            await self._save("STOPPED")
            yield flow("STOPPED", self.execution_id)
            yield action(self.paused["action"])
            yield flow("STOPPED", self.execution_id)
            return
        if not self.tokens and self.last_content:  # nothing ended a path: the last word
            text = self.last_content
            yield token(text if isinstance(text, str) else str(text))
        await self._save("FINISHED")
        yield flow("FINISHED", self.execution_id)

    async def walk(
        self, first: list[str], parents: dict[str, list[str]], within: set[str] | None = None
    ) -> AsyncIterator[Event]:
        graph = self.graph
        queue = deque(first)
        received: dict[str, list[str]] = {k: list(v) for k, v in parents.items()}
        waiting: dict[str, None] = {}
        while queue or waiting:
            if not queue:  # the branches still awaited were not taken: run what came
                nid = next(iter(waiting))
                del waiting[nid]
                queue.append(nid)
            nid = queue.popleft()
            node = graph.nodes[nid]
            done: Done | None = None
            async for item in self.run_node(node, received.pop(nid, [])):
                if isinstance(item, Done):
                    done = item
                else:
                    yield item
            assert done is not None
            if done.pause is not None:
                return
            if done.loop_to is not None:
                received[done.loop_to] = [nid]
                waiting.pop(done.loop_to, None)
                queue.append(done.loop_to)
                continue
            for handle, target in graph.out.get(nid, ()):
                if done.branches is not None and handle not in done.branches:
                    continue
                if within is not None and target not in within:
                    continue
                got = received.setdefault(target, [])
                if nid not in got:
                    got.append(nid)
                needed = set(graph.incoming[target])
                if within is not None:
                    needed &= within
                if needed <= set(got):
                    waiting.pop(target, None)
                    if target not in queue:
                        queue.append(target)
                else:
                    waiting[target] = None

    async def run_node(self, node: FlowNode, parents: list[str]) -> AsyncIterator[Event | Done]:
        self.ctx.budget.step(self.ctx.settings.run_timeout)
        base = {"nodeId": node.id, "label": node.label, "kind": node.name}
        yield flow_step({**base, "status": "INPROGRESS"})
        yield node_event(node.id, "running")
        started = time.perf_counter()
        tokens_before = self.tokens
        done: Done | None = None
        try:
            async for item in node.cls(node.id, node.inputs).execute(self, node):
                if isinstance(item, Done):
                    done = item
                    continue
                if item.kind == "token":
                    self.tokens += 1
                yield item
        except Exception as exc:
            ms = round((time.perf_counter() - started) * 1000)
            entry = self._entry(node, parents, "ERROR", {"error": str(exc)}, {}, None)
            self.executed.append(entry)
            yield flow_step(
                {
                    **base,
                    "status": "ERROR",
                    "ms": ms,
                    "error": str(exc),
                    "executed": list(self.executed),
                }
            )
            yield node_event(node.id, "error", ms, self.tokens - tokens_before)
            raise
        if done is None:
            raise RunFailed(f"node {node.id} ({node.label}) gave no output")
        ms = round((time.perf_counter() - started) * 1000)
        self.outputs[node.id] = done.output
        self.last_content = done.output.get("content")
        if done.chat_history:
            self.runtime.extend(done.chat_history)
        status = "STOPPED" if done.pause is not None else "FINISHED"
        entry = self._entry(node, parents, status, done.output, done.input, done.chat_history)
        self.executed.append(entry)
        if done.pause is not None:
            self.paused = {"action": done.pause, "nodeId": node.id, "parents": parents}
        data: dict[str, Any] = {
            **base,
            "status": status,
            "ms": ms,
            "output": _summary(done.output),
            "streamed": done.streamed,
            "executed": list(self.executed),
        }
        if done.usage is not None:
            data["usage"] = done.usage
            data["calledTools"] = done.called_tools or []
        yield flow_step(data)
        yield node_event(node.id, "done", ms, self.tokens - tokens_before)
        yield done

    def _entry(
        self,
        node: FlowNode,
        parents: list[str],
        status: str,
        output: dict[str, Any],
        input_: dict[str, Any],
        chat_history: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": node.id,
            "name": node.name,
            "input": input_,
            "output": output,
            "state": dict(self.state),
        }
        if chat_history is not None:
            data["chatHistory"] = chat_history
        if node.parent is not None:
            data["parentNodeId"] = node.parent
        entry = {
            "nodeId": node.id,
            "nodeLabel": node.label,
            "data": data,
            "previousNodeIds": list(parents),
            "status": status,
        }
        return entry

    # -- pausing, resuming, keeping state ---------------------------------------------

    async def _start_state(self) -> None:
        from canvasflow.values import to_bool

        start = self.graph.nodes[self.graph.start]
        self.keep_state = to_bool(start.inputs.get("startPersistState"), False)
        store = self.ctx.store
        if self.keep_state and store is not None:
            last = await store.last_flow_state(self.ctx.canvas_id, session_id=self.ctx.session_id)
            if last is not None:
                self.state.update(last.data.get("state") or {})

    async def _resume(self, human: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
        ctx = self.ctx
        if ctx.store is None:
            raise BadRequest("resuming a paused run needs the database")
        row = await ctx.store.last_flow_state(ctx.canvas_id, chat_id=ctx.chat_id)
        if row is None or row.status != "STOPPED":
            if row is not None and row.status == "INPROGRESS":  # being answered right now
                raise AlreadyExists(
                    f"the run of chat {ctx.chat_id} waiting for human input was already answered",
                    code="already_resumed",
                )
            answered = (
                " (its pause was already answered)" if row and row.data.get("resumed") else ""
            )
            raise BadRequest(f"chat {ctx.chat_id} has no run waiting for human input{answered}")
        data = row.data
        node_id = str(human.get("startNodeId") or data.get("nodeId"))
        if node_id != data.get("nodeId") or node_id not in self.graph.nodes:
            raise BadRequest(f"the paused run waits at {data.get('nodeId')!r}, not at {node_id!r}")
        if str(human.get("type")) not in ("proceed", "reject"):
            raise BadRequest("humanInput.type must be 'proceed' or 'reject'")
        # a pause is answered once: of concurrent answers, one takes it, the others 409
        if not await ctx.store.claim_flow_state(row.id, "STOPPED", "INPROGRESS"):
            raise AlreadyExists(
                f"the run of chat {ctx.chat_id} waiting for human input was already answered",
                code="already_resumed",
            )
        self.execution_id = row.id
        self.state = dict(data.get("state") or {})
        self.outputs = dict(data.get("outputs") or {})
        # what the run said before it stopped is in the chat's stored exchanges now
        self.runtime = []
        self.loop_counts = dict(data.get("loopCounts") or {})
        self.keep_state = bool(data.get("keepState"))
        self.executed = [
            e
            for e in data.get("executed") or []
            if not (e["nodeId"] == node_id and e["status"] == "STOPPED")
        ]
        self.resuming = dict(human)
        return [node_id], {node_id: list(data.get("parents") or [])}

    async def _save(self, status: str) -> None:
        """One write: when the run pauses, when a resumed run ends (so it cannot be
        resumed twice), when it keeps its flow state."""
        store = self.ctx.store
        if store is None or self.depth:
            return
        if status != "STOPPED" and self.resuming is None and not self.keep_state:
            return
        ctx = self.ctx
        data: dict[str, Any] = {"state": self.state, "keepState": self.keep_state}
        if self.resuming is not None and status != "STOPPED":
            data["resumed"] = True  # a later answer to the same pause is a 409
        if status == "STOPPED" and self.paused is not None:
            data.update(
                nodeId=self.paused["nodeId"],
                parents=self.paused["parents"],
                executed=self.executed,
                outputs=self.outputs,
                loopCounts=self.loop_counts,
            )
        await store.save_flow_state(
            self.execution_id, ctx.canvas_id, ctx.chat_id, ctx.session_id, status, data
        )


async def run(graph: AgentGraph, ctx: RunContext) -> AsyncIterator[Event]:
    depth = ctx.depth
    if depth > MAX_DEPTH:
        raise RunFailed(f"flows run inside one another more than {MAX_DEPTH} deep")
    async for event in FlowRun(graph, ctx, depth=depth).events():
        yield event
