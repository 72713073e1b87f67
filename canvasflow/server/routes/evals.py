"""Evaluations, in Flowise's shapes where it has them: datasets (``/datasets``, with
``/set`` and ``/rows``), evaluators (``/evaluators``), runs (``/evaluations``, with
``is-outdated`` and ``run-again``); canvasflow's own: importing and exporting a
dataset's file, comparing two runs, aborting one, the model price table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from canvasflow.errors import BadRequest, NotFound
from canvasflow.evals import datasets as files
from canvasflow.evals import evaluators as ev
from canvasflow.evals import prices as pricing
from canvasflow.evals import runner
from canvasflow.evals.summary import compare, summarize
from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    Comparison,
    DatasetImport,
    DatasetIn,
    DatasetOut,
    DatasetRowIn,
    DatasetRowOut,
    DatasetUpdate,
    DeletedCount,
    EvaluationIn,
    EvaluationOut,
    EvaluationRowOut,
    EvaluatorCatalog,
    EvaluatorIn,
    EvaluatorOut,
    ImportResult,
    ModelPriceIn,
    Outdated,
    Prices,
    RowIds,
    RowProblem,
    RunAgainIn,
)
from canvasflow.server.state import ServerState
from canvasflow.store.models import Dataset, DatasetRow, Evaluation, EvaluationRow, Evaluator

router = APIRouter(
    prefix="/api/v1",
    tags=["evaluations"],
    dependencies=[Depends(require_admin)],
    responses=ERRORS,
)
EXPORT_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The rows as a file",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


# -- datasets ---------------------------------------------------------------------------


def row_out(r: DatasetRow) -> DatasetRowOut:
    return DatasetRowOut(
        id=r.id,
        datasetId=r.dataset_id,
        sequenceNo=r.seq,
        input=r.input,
        output=r.output,
        form=r.form,
        history=r.history,
        metadata=r.meta,
        updatedDate=r.updated_at,
    )


def dataset_out(
    d: Dataset, count: int, rows: list[DatasetRow] | None = None, problems: Any = ()
) -> DatasetOut:
    return DatasetOut(
        id=d.id,
        name=d.name,
        description=d.description or "",
        createdDate=d.created_at,
        updatedDate=d.updated_at,
        rowCount=count,
        rows=[row_out(r) for r in rows] if rows is not None else None,
        problems=[RowProblem(**p.as_dict()) for p in problems],
    )


def _row_values(body: DatasetRowIn) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True)
    try:
        return files.row_from(data)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


async def _dataset(st: ServerState, ref: str) -> Dataset:
    found = await st.store.dataset(ref)
    if found is None:
        raise NotFound(f"Dataset {ref} not found")
    return found


@router.get("/datasets", response_model=list[DatasetOut])
async def list_datasets(request: Request) -> list[DatasetOut]:
    return [dataset_out(d, n) for d, n in await state(request).store.datasets()]


@router.post("/datasets/set", response_model=DatasetOut, status_code=201)
async def create_dataset(request: Request, body: DatasetIn) -> DatasetOut:
    st = state(request)
    rows = [_row_values(r) for r in body.rows or ()]
    problems: list[files.Problem] = []
    if body.csvFile:
        read, problems = files.read_csv(files.data_uri_text(body.csvFile), body.firstRowHeaders)
        rows.extend(read)
    d = await st.store.create_dataset(body.name, body.description)
    if rows:
        await st.store.add_dataset_rows(d.id, rows)
    stored, total = await st.store.dataset_rows(d.id)
    return dataset_out(d, total, stored, problems)


@router.get("/datasets/set/{dataset_id}", response_model=DatasetOut)
async def get_dataset(
    request: Request,
    dataset_id: str,
    page: int = Query(1, ge=1),
    limit: int | None = Query(None, ge=1, le=1000),
) -> DatasetOut:
    st = state(request)
    d = await _dataset(st, dataset_id)
    rows, total = await st.store.dataset_rows(d.id, page, limit)
    return dataset_out(d, total, rows)


@router.put("/datasets/set/{dataset_id}", response_model=DatasetOut)
async def update_dataset(request: Request, dataset_id: str, body: DatasetUpdate) -> DatasetOut:
    st = state(request)
    d = await _dataset(st, dataset_id)
    changes = body.model_dump(include={"name", "description"}, exclude_none=True)
    if changes:
        d = await st.store.update_dataset(d.id, **changes) or d
    problems: list[files.Problem] = []
    if body.csvFile:
        rows, problems = files.read_csv(files.data_uri_text(body.csvFile), body.firstRowHeaders)
        await st.store.add_dataset_rows(d.id, rows)
    rows_now, total = await st.store.dataset_rows(d.id)
    return dataset_out(d, total, rows_now, problems)


@router.delete("/datasets/set/{dataset_id}", response_model=DeletedCount)
async def delete_dataset(request: Request, dataset_id: str) -> DeletedCount:
    st = state(request)
    d = await _dataset(st, dataset_id)
    return DeletedCount(deletedCount=int(await st.store.delete_dataset(d.id)))


@router.post("/datasets/set/{dataset_id}/import", response_model=ImportResult)
async def import_rows(request: Request, dataset_id: str, body: DatasetImport) -> ImportResult:
    """A CSV, JSON Lines or JSON file's rows added (or in place of every row): a bad row
    is named with its line and reason, the others are imported."""
    st = state(request)
    d = await _dataset(st, dataset_id)
    rows, problems = files.read(body.content, body.format, body.firstRowHeaders)
    if rows or body.replace:
        await st.store.add_dataset_rows(d.id, rows, replace=body.replace)
    return ImportResult(added=len(rows), problems=[RowProblem(**p.as_dict()) for p in problems])


@router.get("/datasets/set/{dataset_id}/export", response_class=Response, responses=EXPORT_DOC)
async def export_rows(
    request: Request, dataset_id: str, format: str = Query("jsonl", pattern="^(csv|jsonl)$")
) -> Response:
    st = state(request)
    d = await _dataset(st, dataset_id)
    rows, _ = await st.store.dataset_rows(d.id)
    body = files.write_csv(rows) if format == "csv" else files.write_jsonl(rows)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    name = files.slug(d.name) + "." + format
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post("/datasets/rows", response_model=DatasetRowOut, status_code=201)
async def add_row(request: Request, body: DatasetRowIn) -> DatasetRowOut:
    st = state(request)
    if not body.datasetId:
        raise BadRequest("datasetId is required")
    d = await _dataset(st, body.datasetId)
    (row,) = await st.store.add_dataset_rows(d.id, [_row_values(body)])
    return row_out(row)


@router.put("/datasets/rows/{row_id}", response_model=DatasetRowOut)
async def update_row(request: Request, row_id: str, body: DatasetRowIn) -> DatasetRowOut:
    row = await state(request).store.update_dataset_row(row_id, **_row_values(body))
    if row is None:
        raise NotFound(f"Dataset row {row_id} not found")
    return row_out(row)


@router.delete("/datasets/rows/{row_id}", response_model=DeletedCount)
async def delete_row(request: Request, row_id: str) -> DeletedCount:
    return DeletedCount(deletedCount=await state(request).store.delete_dataset_rows([row_id]))


@router.patch("/datasets/rows", response_model=DeletedCount)
async def delete_rows(request: Request, body: RowIds) -> DeletedCount:
    return DeletedCount(deletedCount=await state(request).store.delete_dataset_rows(body.ids))


# -- evaluators -------------------------------------------------------------------------


def evaluator_out(spec: ev.Spec, row: Evaluator | None = None) -> EvaluatorOut:
    return EvaluatorOut(
        **spec.as_dict(),
        createdDate=row.created_at if row else None,
        updatedDate=row.updated_at if row else None,
    )


def _spec(body: EvaluatorIn) -> ev.Spec:
    return ev.spec_from(body.name, body.type, body.model_dump(exclude={"name", "type"}))


@router.get("/evaluators", response_model=list[EvaluatorOut])
async def list_evaluators(request: Request) -> list[EvaluatorOut]:
    return [
        evaluator_out(ev.spec_from(e.name, e.type, e.config, e.id), e)
        for e in await state(request).store.evaluators()
    ]


@router.get("/evaluators/catalog", response_model=EvaluatorCatalog)
async def evaluator_catalog() -> EvaluatorCatalog:
    return EvaluatorCatalog(
        textOperators=list(ev.TEXT_OPERATORS),
        jsonOperators=list(ev.JSON_OPERATORS),
        numericOperators=list(ev.NUMERIC_OPERATORS),
        measures=list(ev.MEASURES),
        judgePrompt=ev.JUDGE_PROMPT,
        judgeRubric=ev.DEFAULT_RUBRIC,
        judgeModel=runner.JUDGE_DEFAULT,
        builtins=[
            "exact",
            "contains",
            "not-contains",
            "regex:PATTERN",
            "json",
            "json-schema:SCHEMA",
            "similarity:0.8",
            "latency<2000",
            "tokens<500",
            "cost<0.01",
            "judge:RUBRIC",
        ],
    )


@router.get("/evaluators/{evaluator_id}", response_model=EvaluatorOut)
async def get_evaluator(request: Request, evaluator_id: str) -> EvaluatorOut:
    e = await state(request).store.evaluator(evaluator_id)
    if e is None:
        raise NotFound(f"Evaluator {evaluator_id} not found")
    return evaluator_out(ev.spec_from(e.name, e.type, e.config, e.id), e)


@router.post("/evaluators", response_model=EvaluatorOut, status_code=201)
async def create_evaluator(request: Request, body: EvaluatorIn) -> EvaluatorOut:
    spec = _spec(body)
    e = await state(request).store.create_evaluator(spec.name, spec.type, spec.config())
    return evaluator_out(ev.spec_from(e.name, e.type, e.config, e.id), e)


@router.put("/evaluators/{evaluator_id}", response_model=EvaluatorOut)
async def update_evaluator(request: Request, evaluator_id: str, body: EvaluatorIn) -> EvaluatorOut:
    spec = _spec(body)
    e = await state(request).store.update_evaluator(
        evaluator_id, name=spec.name, type=spec.type, config=spec.config()
    )
    if e is None:
        raise NotFound(f"Evaluator {evaluator_id} not found")
    return evaluator_out(ev.spec_from(e.name, e.type, e.config, e.id), e)


@router.delete("/evaluators/{evaluator_id}", response_model=DeletedCount)
async def delete_evaluator(request: Request, evaluator_id: str) -> DeletedCount:
    return DeletedCount(deletedCount=int(await state(request).store.delete_evaluator(evaluator_id)))


# -- evaluations ------------------------------------------------------------------------


def eval_row_out(r: EvaluationRow) -> EvaluationRowOut:
    return EvaluationRowOut(
        id=r.id,
        rowId=r.row_id,
        sequenceNo=r.seq,
        version=r.version,
        input=r.input,
        expected=r.expected,
        answer=r.answer,
        executionId=r.execution_id,
        outcome=r.outcome,
        error=r.error,
        latencyMs=r.latency_ms,
        promptTokens=r.prompt_tokens,
        completionTokens=r.completion_tokens,
        cost=r.cost,
        verdicts=r.verdicts or [],
    )


def evaluation_out(e: Evaluation, rows: list[EvaluationRow] | None = None) -> EvaluationOut:
    config = e.config or {}
    summary = e.summary
    if summary is None and rows is not None:  # still running: the summary so far
        summary = summarize(rows)
    return EvaluationOut(
        id=e.id,
        name=e.name,
        canvasId=e.canvas_id,
        canvasName=config.get("canvasName"),
        datasetId=e.dataset_id,
        datasetName=config.get("datasetName"),
        status=e.status,
        versions=config.get("versions") or [],
        evaluators=[EvaluatorOut(**s) for s in config.get("evaluators") or []],
        concurrency=int(config.get("concurrency") or 1),
        total=e.total,
        done=e.done,
        summary=summary,
        error=e.error,
        changes=config.get("changes") or [],
        previous=config.get("previous"),
        createdDate=e.created_at,
        endedDate=e.ended_at,
        rows=[eval_row_out(r) for r in rows] if rows is not None else None,
    )


async def _evaluation(st: ServerState, evaluation_id: str) -> Evaluation:
    e = await st.store.evaluation(evaluation_id)
    if e is None:
        raise NotFound(f"Evaluation {evaluation_id} not found")
    return e


@router.get("/evaluations", response_model=list[EvaluationOut])
async def list_evaluations(
    request: Request, canvasId: str | None = Query(None)
) -> list[EvaluationOut]:
    st = state(request)
    canvas_id = (await canvas_or_404(st, canvasId)).id if canvasId else None
    return [evaluation_out(e) for e in await st.store.evaluations(canvas_id)]


@router.post("/evaluations", response_model=EvaluationOut, status_code=202)
async def create_evaluation(request: Request, body: EvaluationIn) -> EvaluationOut:
    """Start a run of a canvas's versions over a dataset, in the background; follow it
    with ``GET /evaluations/{id}``."""
    st = state(request)
    canvas = await canvas_or_404(st, body.canvasId)
    p = await runner.plan(
        st, canvas, body.datasetId, body.versions, body.evaluators, body.concurrency
    )
    return evaluation_out(await runner.start(st, p, body.name))


@router.get("/evaluations/prices", response_model=Prices)
async def get_prices(request: Request) -> Prices:
    """The price table costs are counted with: the operator's, over the defaults."""
    table = pricing.Prices(await state(request).store.prices()).table
    return Prices(prices={m: ModelPriceIn(input=i, output=o) for m, (i, o) in table.items()})


@router.put("/evaluations/prices", response_model=Prices)
async def set_prices(request: Request, body: Prices) -> Prices:
    """The operator's prices (USD per million tokens), replacing their earlier table;
    models not named keep the defaults."""
    st = state(request)
    await st.store.set_prices({m: (p.input, p.output) for m, p in body.prices.items()})
    return await get_prices(request)


@router.get("/evaluations/compare", response_model=Comparison)
async def compare_evaluations(
    request: Request,
    a: str = Query(description="An evaluation's id"),
    b: str = Query(description="Another's (or the same one's, with versions)"),
    aVersion: int | None = Query(None),
    bVersion: int | None = Query(None),
) -> Comparison:
    """Two runs (or two versions of one run) row by row: rows that changed outcome
    first, those that got worse before those that got better."""
    st = state(request)
    left, right = await _evaluation(st, a), await _evaluation(st, b)
    rows_a = await st.store.evaluation_rows(left.id)
    rows_b = rows_a if b == a else await st.store.evaluation_rows(right.id)
    if aVersion is not None:
        rows_a = [r for r in rows_a if r.version == aVersion]
    if bVersion is not None:
        rows_b = [r for r in rows_b if r.version == bVersion]
    if a == b and (aVersion is None or bVersion is None):
        raise BadRequest("comparing a run with itself needs aVersion and bVersion")
    return Comparison(a=evaluation_out(left), b=evaluation_out(right), rows=compare(rows_a, rows_b))


@router.get("/evaluations/is-outdated/{evaluation_id}", response_model=Outdated)
async def is_outdated(request: Request, evaluation_id: str) -> Outdated:
    st = state(request)
    changes = await runner.changes_since(st, await _evaluation(st, evaluation_id))
    return Outdated(outdated=bool(changes), changes=changes)


@router.post(
    "/evaluations/run-again/{evaluation_id}", response_model=EvaluationOut, status_code=202
)
async def run_again(
    request: Request, evaluation_id: str, body: RunAgainIn | None = None
) -> EvaluationOut:
    """The same run again (a new evaluation): what changed since is in its ``changes``,
    and when nothing did, it says so."""
    st = state(request)
    e = await _evaluation(st, evaluation_id)
    return evaluation_out(await runner.again(st, e, (body or RunAgainIn()).latest))


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationOut)
async def get_evaluation(request: Request, evaluation_id: str) -> EvaluationOut:
    st = state(request)
    e = await _evaluation(st, evaluation_id)
    return evaluation_out(e, await st.store.evaluation_rows(e.id))


@router.post("/evaluations/{evaluation_id}/abort", response_model=EvaluationOut)
async def abort_evaluation(request: Request, evaluation_id: str) -> EvaluationOut:
    st = state(request)
    e = await _evaluation(st, evaluation_id)
    task = st.evaluations.get(e.id)
    if task is not None:
        task.cancel()
        await runner.settled(task)
    elif e.status in ("pending", "running"):  # another process runs it
        raise BadRequest("this run is not running in this process; abort it where it runs")
    return evaluation_out(await _evaluation(st, evaluation_id))


@router.delete("/evaluations/{evaluation_id}", response_model=DeletedCount)
async def delete_evaluation(request: Request, evaluation_id: str) -> DeletedCount:
    st = state(request)
    task = st.evaluations.get(evaluation_id)
    if task is not None:
        task.cancel()
        await runner.settled(task)
    return DeletedCount(deletedCount=int(await st.store.delete_evaluation(evaluation_id)))
