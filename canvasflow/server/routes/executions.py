"""Executions: the record of every run, as Flowise's routes shape them (``/executions``,
``/public-executions``), and running one again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from canvasflow.errors import BadRequest, NotFound
from canvasflow.server.deps import canvas_or_404, json_body, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.running import start_prediction
from canvasflow.server.schemas import (
    FLOWISE_STATE,
    DeletedCount,
    ExecutionIds,
    ExecutionList,
    ExecutionOut,
    ExecutionUpdate,
    RunAgain,
)
from canvasflow.store.repo import RunFilter

router = APIRouter(prefix="/api/v1", tags=["executions"])
admin = [Depends(require_admin)]
_FROM_FLOWISE = {
    "INPROGRESS": ["running"],
    "FINISHED": ["completed"],
    "ERROR": ["error"],
    "TERMINATED": ["aborted", "interrupted"],
    "TIMEOUT": ["aborted"],
    "STOPPED": ["paused"],
}


def execution_out(row: Any, names: dict[str, str], full: bool = False) -> ExecutionOut:
    # a page's row (a mapping of its columns) or a whole record (the ORM object)
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k, None)
    started = get("started_at")
    ended = get("ended_at")
    trace = get("trace") if full else None
    if trace:  # a chatflow's ending node: its text is the answer, kept once
        for entry in trace:
            if entry.get("ending") and isinstance(entry.get("output"), dict):
                entry["output"] = {"text": get("answer") or "", **entry["output"]}
    return ExecutionOut(
        id=get("id"),
        canvasId=get("canvas_id"),
        agentflowId=get("canvas_id"),
        canvasName=names.get(str(get("canvas_id"))),
        version=get("version"),
        trigger=get("trigger"),
        chatId=get("chat_id"),
        sessionId=get("session_id"),
        status=get("status"),
        state=FLOWISE_STATE.get(str(get("status")), "INPROGRESS"),
        question=get("question"),
        answer=get("answer"),
        error=get("error"),
        latencyMs=get("latency_ms"),
        ttftMs=get("ttft_ms"),
        promptTokens=get("prompt_tokens") or 0,
        completionTokens=get("completion_tokens") or 0,
        isPublic=bool(get("is_public")),
        createdDate=started,
        updatedDate=ended or started,
        stoppedDate=ended,
        request=get("request") if full else None,
        trace=trace,
        executionData=orjson.dumps(trace).decode() if full and trace is not None else None,
    )


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a date or a date and time (ISO 8601)") from None
    return found


@router.get(
    "/executions",
    response_model=ExecutionList,
    responses=ERRORS,
    dependencies=admin,
    summary="List executions (every run of every canvas), newest first",
)
async def list_executions(
    request: Request,
    canvas_id: str | None = Query(None, alias="canvasId"),
    agentflow_id: str | None = Query(None, alias="agentflowId"),
    session_id: str | None = Query(None, alias="sessionId"),
    status: list[str] | None = Query(None, description="running, completed, error..."),
    flowise_state: str | None = Query(None, alias="state", description="Flowise's state"),
    trigger: str | None = Query(None, description="prediction, studio, openai, mcp, webhook..."),
    start_date: str | None = Query(None, alias="startDate"),
    end_date: str | None = Query(None, alias="endDate"),
    page: int = Query(1, ge=1),
    limit: int = Query(20, ge=1, le=200),
) -> ExecutionList:
    st = state(request)
    statuses = list(status or [])
    if flowise_state:
        statuses += _FROM_FLOWISE.get(flowise_state.upper(), [flowise_state])
    ref = canvas_id or agentflow_id
    if ref:
        ref = (await canvas_or_404(st, ref)).id
    rows, total = await st.store.executions(
        RunFilter(
            canvas_id=ref,
            session_id=session_id,
            status=statuses or None,
            trigger=trigger,
            start=_date(start_date, "startDate"),
            end=_date(end_date, "endDate"),
        ),
        page,
        limit,
    )
    names = {c.id: c.name for c in await st.store.list_canvases()} if rows else {}
    return ExecutionList(
        data=[execution_out(r, names) for r in rows], total=total, page=page, limit=limit
    )


async def _one(request: Request, execution_id: str) -> Any:
    row = await state(request).store.get_execution(execution_id)
    if row is None:
        raise NotFound(f"execution {execution_id} not found")
    return row


async def _names(request: Request, canvas_id: str) -> dict[str, str]:
    canvas = await state(request).canvas(canvas_id)
    return {canvas.id: canvas.name} if canvas is not None else {}


@router.get(
    "/executions/{execution_id}",
    response_model=ExecutionOut,
    responses=ERRORS,
    dependencies=admin,
    summary="One execution with the trace of its nodes",
)
async def get_execution(execution_id: str, request: Request) -> ExecutionOut:
    row = await _one(request, execution_id)
    return execution_out(row, await _names(request, row.canvas_id), full=True)


@router.put(
    "/executions/{execution_id}",
    response_model=ExecutionOut,
    responses=ERRORS,
    dependencies=admin,
    summary="Share an execution read-only (isPublic), or stop sharing it",
)
async def update_execution(
    execution_id: str, body: ExecutionUpdate, request: Request
) -> ExecutionOut:
    row = await state(request).store.set_execution_public(execution_id, body.isPublic)
    if row is None:
        raise NotFound(f"execution {execution_id} not found")
    return execution_out(row, await _names(request, row.canvas_id), full=True)


@router.delete(
    "/executions/{execution_id}",
    response_model=DeletedCount,
    responses=ERRORS,
    dependencies=admin,
)
async def delete_execution(execution_id: str, request: Request) -> DeletedCount:
    deleted = await state(request).store.delete_executions([execution_id])
    if not deleted:
        raise NotFound(f"execution {execution_id} not found")
    return DeletedCount(deletedCount=deleted)


@router.delete(
    "/executions",
    response_model=DeletedCount,
    responses=ERRORS,
    dependencies=admin,
    summary="Delete several executions ({executionIds: [...]})",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ExecutionIds.model_json_schema()}},
        }
    },
)
async def delete_executions(request: Request) -> DeletedCount:
    body = await json_body(request)
    try:
        ids = ExecutionIds.model_validate(body).executionIds
    except Exception:
        raise BadRequest('send {"executionIds": [ids]} (1 to 1000 of them)') from None
    return DeletedCount(deletedCount=await state(request).store.delete_executions(ids))


@router.post(
    "/executions/{execution_id}/run",
    response_model=RunAgain,
    status_code=202,
    responses=ERRORS,
    dependencies=admin,
    summary="Run an execution's canvas again with the same input",
)
async def run_again(execution_id: str, request: Request) -> RunAgain:
    st = state(request)
    row = await _one(request, execution_id)
    canvas = await canvas_or_404(st, row.canvas_id)
    asked = row.request or {}
    prediction = await start_prediction(
        st,
        canvas,
        str(asked["question"]) if isinstance(asked.get("question"), str) else row.question or "",
        form=asked.get("form") if isinstance(asked.get("form"), dict) else None,
        webhook=asked.get("webhook") if isinstance(asked.get("webhook"), dict) else None,
        streaming=False,
        trigger="studio",
    )
    return RunAgain(executionId=prediction.id, chatId=prediction.ctx.chat_id)


@router.get(
    "/public-executions/{execution_id}",
    response_model=ExecutionOut,
    responses=ERRORS,
    summary="A shared execution, read-only (404 unless it is shared)",
)
async def public_execution(execution_id: str, request: Request) -> Response | ExecutionOut:
    row = await state(request).store.get_execution(execution_id)
    if row is None or not row.is_public:
        # a private execution and none at all answer alike: nothing of it shows
        raise NotFound(f"execution {execution_id} not found")
    shown = execution_out(row, await _names(request, row.canvas_id), full=True)
    shown.request = None  # what the caller sent (a webhook's headers) stays private
    shown.chatId = shown.sessionId = None
    return shown
