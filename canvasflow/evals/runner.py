"""Running an evaluation: every dataset row asked of every version chosen, a few at a
time, each answer judged by the evaluators, rows written in batches as they finish, a
summary at the end. Predictions start as any other (``start_prediction``: here, or on a
worker in queue mode), recorded as executions with the trigger ``evaluation``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from canvasflow.errors import BadRequest, CanvasflowError, NotFound
from canvasflow.evals.datasets import digest
from canvasflow.evals.evaluators import (
    Answered,
    Spec,
    Verdict,
    builtin,
    check_plain,
    cosine,
    judge_prompt,
    judge_verdict,
    similarity_verdict,
    spec_from,
)
from canvasflow.evals.prices import Prices
from canvasflow.evals.summary import summarize
from canvasflow.models.base import Usage
from canvasflow.runtime.context import RunContext
from canvasflow.store.models import utcnow

if TYPE_CHECKING:
    from canvasflow.server.state import ServerState
    from canvasflow.store.models import Canvas, Dataset, DatasetRow, Evaluation

log = logging.getLogger("canvasflow.evals")
FLUSH_SECONDS = 0.5
FLUSH_ROWS = 25
MAX_CONCURRENCY = 32
JUDGE_DEFAULT: dict[str, Any] = {
    "name": "chatLocal",
    "inputs": {"temperature": 0, "maxTokens": 120},
}


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(process: str) -> bool:
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's: it is not this one's to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def repair(st: ServerState) -> int:
    """Evaluations left running by a process of this machine that is gone: aborted."""
    stale = [
        e.id
        for e in await st.store.evaluations(status=("pending", "running"))
        if not _alive(str(e.config.get("process", "")))
    ]
    for evaluation_id in stale:
        await st.store.update_evaluation(
            evaluation_id,
            status="aborted",
            error="the process running it stopped",
            ended_at=utcnow(),
        )
    return len(stale)


async def resolve(st: ServerState, refs: list[Any]) -> list[Spec]:
    """Evaluators by stored id or name, builtin reference, or inline configuration."""
    specs: list[Spec] = []
    for ref in refs:
        if isinstance(ref, dict):
            specs.append(
                spec_from(str(ref.get("name") or ref.get("type")), str(ref.get("type")), ref)
            )
            continue
        stored = await st.store.evaluator(str(ref))
        if stored is not None:
            specs.append(spec_from(stored.name, stored.type, stored.config, stored.id))
            continue
        found = builtin(str(ref))
        if found is None:
            raise BadRequest(
                f"no evaluator {ref!r}: neither a saved one (id or name) nor a builtin "
                "(exact, contains, not-contains, regex:..., json, json-schema:..., "
                "similarity, latency<MS, tokens<N, cost<USD, judge)"
            )
        specs.append(found)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise BadRequest("two evaluators have the same name")
    return specs


class Checks:
    """The evaluators of one run. The plain ones are functions of the row; the semantic
    similarity uses the embedded embeddings; a judge's chat model is built once."""

    def __init__(self, st: ServerState, canvas: Canvas, specs: list[Spec]) -> None:
        self.st = st
        self.canvas = canvas
        self.specs = specs
        self._models: dict[str, Any] = {}
        self._embedder: Any = None

    def _ctx(self) -> RunContext:
        return RunContext(
            question="",
            canvas_id=self.canvas.id,
            store=self.st.store,
            settings=self.st.settings,
            credentials=self.st.credentials,
            trigger="evaluation",
        )

    async def _similarity(self, spec: Spec, row: Answered) -> Verdict:
        if not (row.expected or "").strip():
            return Verdict(spec.name, spec.type, "Error", None, "the row has no expected answer")
        if self._embedder is None:
            from canvasflow.nodes.retrieval import WordLlamaEmbedder

            self._embedder = WordLlamaEmbedder()
        vectors = await self._embedder.embed([row.expected or "", row.answer])
        return similarity_verdict(spec, cosine(vectors[0], vectors[1]))

    async def _judge(self, spec: Spec, row: Answered) -> Verdict:
        from canvasflow.runtime.node import REGISTRY

        config = spec.model or JUDGE_DEFAULT
        model = self._models.get(spec.name)
        if model is None:
            cls = REGISTRY.get(str(config.get("name")))
            if cls is None or cls.category != "Chat Models":
                return Verdict(
                    spec.name,
                    spec.type,
                    "Error",
                    None,
                    f"{config.get('name')!r} is not a chat model node canvasflow has",
                )
            given = config.get("inputs")
            inputs: dict[str, Any] = given if isinstance(given, dict) else {}
            model = self._models[spec.name] = await cls(f"judge:{spec.name}", inputs).build(
                self._ctx()
            )
        usage = Usage()
        pieces = [
            piece
            async for piece in model.stream(
                [{"role": "user", "content": judge_prompt(spec, row)}], usage
            )
        ]
        return judge_verdict(spec, "".join(pieces))

    async def verdicts(self, row: Answered) -> list[Verdict]:
        out = []
        for spec in self.specs:
            try:
                if spec.type == "similarity":
                    out.append(await self._similarity(spec, row))
                elif spec.type == "llm":
                    out.append(await self._judge(spec, row))
                else:
                    out.append(check_plain(spec, row))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                message = exc.message if isinstance(exc, CanvasflowError) else str(exc)
                out.append(Verdict(spec.name, spec.type, "Error", None, message[:2000]))
        return out


@dataclass
class Plan:
    """What an evaluation is asked to run, checked before it starts."""

    canvas: Canvas
    dataset: Dataset
    rows: list[DatasetRow]
    versions: list[int]
    specs: list[Spec]
    concurrency: int


async def plan(
    st: ServerState,
    canvas: Canvas,
    dataset_ref: str,
    versions: list[int] | None,
    evaluators: list[Any] | None,
    concurrency: int,
) -> Plan:
    dataset = await st.store.dataset(dataset_ref)
    if dataset is None:
        raise NotFound(f"Dataset {dataset_ref} not found")
    rows, _ = await st.store.dataset_rows(dataset.id)
    if not rows:
        raise BadRequest(f"dataset {dataset.name!r} has no rows")
    chosen = sorted(set(versions or [canvas.published or canvas.version]))
    for number in chosen:
        if number != canvas.version and await st.store.version(canvas.id, number) is None:
            raise NotFound(f"Canvas {canvas.slug} has no version {number}")
    specs = await resolve(st, list(evaluators or []))
    if not specs and any((r.output or "").strip() for r in rows):
        specs = [s for s in (builtin("contains"),) if s is not None]
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BadRequest(f"concurrency is from 1 to {MAX_CONCURRENCY}")
    return Plan(canvas, dataset, rows, chosen, specs, concurrency)


async def start(
    st: ServerState,
    p: Plan,
    name: str | None = None,
    previous: str | None = None,
    changes: list[str] | None = None,
) -> Evaluation:
    """Save the evaluation and start it in the background."""
    config = {
        "versions": p.versions,
        "evaluators": [s.as_dict() for s in p.specs],
        "concurrency": p.concurrency,
        "rows": {r.id: digest(r) for r in p.rows},
        "datasetName": p.dataset.name,
        "canvasName": p.canvas.name,
        "latest": p.canvas.version,
        "process": this_process(),
        "previous": previous,
        "changes": changes or [],
    }
    evaluation = await st.store.create_evaluation(
        name=name or f"{p.canvas.name} on {p.dataset.name}",
        canvas_id=p.canvas.id,
        dataset_id=p.dataset.id,
        config=config,
        total=len(p.rows) * len(p.versions),
    )
    task = asyncio.create_task(run(st, evaluation.id, p), name=f"evaluation {evaluation.id}")
    st.evaluations[evaluation.id] = task
    task.add_done_callback(lambda _t: st.evaluations.pop(evaluation.id, None))
    return evaluation


async def _ask(
    st: ServerState, p: Plan, row: DatasetRow, version: int, prices: Prices
) -> tuple[Answered, dict[str, Any]]:
    """One row asked of one version: what the evaluators see, and the row's columns."""
    from canvasflow.server.running import start_prediction

    started = time.perf_counter()
    cols: dict[str, Any] = {
        "row_id": row.id,
        "seq": row.seq,
        "version": version,
        "input": row.input,
        "expected": row.output,
        "answer": None,
        "execution_id": None,
        "error": None,
        "latency_ms": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost": None,
    }
    answered = Answered(question=row.input, answer="", expected=row.output)
    try:
        running = await start_prediction(
            st,
            p.canvas,
            row.input,
            history=[{"role": h["role"], "content": h["content"]} for h in row.history or ()],
            form=row.form,
            streaming=False,
            trigger="evaluation",
            version=version,
        )
    except CanvasflowError as exc:
        cols["error"] = exc.message
        return answered, cols
    cols["execution_id"] = running.ctx.chat_message_id
    try:
        await asyncio.wait({running.finished()})
    except asyncio.CancelledError:
        running.abort("abort")
        raise
    answer = running.answer()
    usage = answer.get("usage") or {}
    latency = round((time.perf_counter() - started) * 1000)
    prompt, completion = (
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )
    cost = prices.cost(answer.get("model"), prompt, completion)
    cols.update(
        answer=answer.get("text") or "",
        latency_ms=latency,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost=cost,
    )
    if running.error:
        cols["error"] = running.error.get("message") or "the prediction failed"
    answered.answer = cols["answer"]
    answered.latency_ms = latency
    answered.prompt_tokens, answered.completion_tokens, answered.cost = prompt, completion, cost
    return answered, cols


async def run(st: ServerState, evaluation_id: str, p: Plan) -> None:
    store = st.store
    try:
        await store.update_evaluation(evaluation_id, status="running")
        prices = Prices(await store.prices())
    except asyncio.CancelledError:  # aborted before it began
        await asyncio.shield(
            store.update_evaluation(
                evaluation_id, status="aborted", error="aborted", ended_at=utcnow()
            )
        )
        return
    checks = Checks(st, p.canvas, p.specs)
    gate = asyncio.Semaphore(p.concurrency)
    waiting: list[dict[str, Any]] = []
    last = time.monotonic()

    async def flush() -> None:
        nonlocal last
        if waiting:
            batch = waiting[:]
            del waiting[:]
            await store.add_evaluation_rows(evaluation_id, batch)
        last = time.monotonic()

    async def one(row: DatasetRow, version: int) -> None:
        async with gate:
            answered, cols = await _ask(st, p, row, version, prices)
            if cols["error"]:
                verdicts: list[Verdict] = []
                outcome = "error"
            else:
                verdicts = await checks.verdicts(answered)
                if any(v.result == "Error" for v in verdicts):
                    outcome = "error"
                    cols["error"] = next(
                        f"{v.name}: {v.detail}" for v in verdicts if v.result == "Error"
                    )
                elif all(v.passed for v in verdicts):
                    outcome = "passed"
                else:
                    outcome = "failed"
            cols.update(outcome=outcome, verdicts=[v.as_dict() for v in verdicts])
            waiting.append(cols)
            if len(waiting) >= FLUSH_ROWS or time.monotonic() - last >= FLUSH_SECONDS:
                await flush()

    tasks = [asyncio.create_task(one(row, version)) for version in p.versions for row in p.rows]
    status, error = "completed", None
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        status, error = "aborted", "aborted"
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    except Exception as exc:  # the database away, a bug: the run says so
        log.exception("evaluation %s failed", evaluation_id)
        status, error = "error", str(exc)[:2000]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    try:
        await asyncio.shield(_finish(st, evaluation_id, flush, status, error))
    except asyncio.CancelledError:
        pass


async def _finish(st: ServerState, evaluation_id: str, flush: Any, status: str, error: Any) -> None:
    await flush()
    rows = await st.store.evaluation_rows(evaluation_id)
    await st.store.update_evaluation(
        evaluation_id, status=status, error=error, summary=summarize(rows), ended_at=utcnow()
    )


async def changes_since(st: ServerState, evaluation: Evaluation) -> list[str]:
    """What differs now from what an evaluation ran on: its dataset's rows, the canvas's
    latest version, its saved evaluators' configuration. Empty when nothing does."""
    config = evaluation.config or {}
    out: list[str] = []
    dataset = await st.store.dataset(evaluation.dataset_id)
    if dataset is None:
        out.append("the dataset was deleted")
    else:
        rows, _ = await st.store.dataset_rows(dataset.id)
        now = {r.id: digest(r) for r in rows}
        then: dict[str, str] = config.get("rows") or {}
        added = len(now.keys() - then.keys())
        removed = len(then.keys() - now.keys())
        changed = sum(now[k] != then[k] for k in now.keys() & then.keys())
        if added or removed or changed:
            out.append(
                f"dataset {dataset.name!r}: {added} rows added, {removed} removed, "
                f"{changed} changed"
            )
    canvas = await st.store.get_canvas(evaluation.canvas_id)
    versions = config.get("versions") or []
    if canvas is None:
        out.append("the canvas was deleted")
    elif versions and canvas.version > max(versions):
        shown = ", ".join(str(v) for v in versions)
        out.append(
            f"the canvas has version {canvas.version} now; this run answered with version {shown}"
        )
    for given in config.get("evaluators") or []:
        if not given.get("id"):
            continue
        stored = await st.store.evaluator(given["id"])
        if stored is None:
            out.append(f"evaluator {given['name']!r} was deleted")
            continue
        now_spec = spec_from(stored.name, stored.type, stored.config, stored.id).as_dict()
        if now_spec != given:
            out.append(f"evaluator {given['name']!r} was changed")
    return out


async def again(st: ServerState, evaluation: Evaluation, latest: bool) -> Evaluation:
    """The same evaluation run again: the same versions (or the canvas's latest), the
    dataset as it is now, saved evaluators as they are now; what changed is said."""
    config = evaluation.config or {}
    canvas = await st.store.get_canvas(evaluation.canvas_id)
    if canvas is None:
        raise NotFound(f"Canvas {evaluation.canvas_id} not found")
    changes = await changes_since(st, evaluation)
    refs: list[Any] = []
    for given in config.get("evaluators") or []:
        refs.append(given["id"] if given.get("id") else given)
    versions = [canvas.version] if latest else list(config.get("versions") or [])
    p = await plan(
        st, canvas, evaluation.dataset_id, versions, refs, int(config.get("concurrency") or 4)
    )
    if not changes:
        shown = ", ".join(str(v) for v in p.versions)
        changes = [
            f"nothing changed since {evaluation.name!r}: version {shown}, the dataset's "
            f"{len(p.rows)} rows and the evaluators are as they were; every question is "
            "asked again"
        ]
    elif latest and versions != config.get("versions"):
        changes.append(f"this run answers with version {canvas.version}")
    return await start(st, p, evaluation.name, previous=evaluation.id, changes=changes)


async def settled(task: asyncio.Task[None], seconds: float = 30.0) -> None:
    """Wait (bounded) for a cancelled run to write what it has and its status."""
    await asyncio.wait({task}, timeout=seconds)
