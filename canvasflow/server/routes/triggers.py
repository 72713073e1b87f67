"""Runs nobody typed: a canvas's webhook (``/webhook/{canvas}``), its signing secret,
and its schedule's state and trigger log (Flowise's routes under ``/chatflows/{id}``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from canvasflow.engine.graph import parse
from canvasflow.errors import (
    CanvasflowError,
    CanvasInvalid,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
    from_event,
)
from canvasflow.server.deps import canvas_admin_routes, canvas_or_404, state
from canvasflow.server.errors import JSONBody
from canvasflow.server.formats import encoder_for
from canvasflow.server.guards import check_canvas_access, client_id
from canvasflow.server.routes.predictions import ERRORS, STREAM_DOC, wait_or_leave
from canvasflow.server.running import start_prediction, stream_response
from canvasflow.server.schemas import (
    PredictionResponse,
    ScheduleEnabled,
    ScheduleRecord,
    ScheduleStatus,
    TickList,
    TickOut,
    WebhookAccepted,
    WebhookSecret,
)
from canvasflow.store.models import Canvas
from canvasflow.triggers import schedule, webhook

router = APIRouter(prefix="/api/v1", tags=["triggers"])


# -- the webhook ------------------------------------------------------------------------------


async def receive(canvas_id: str, request: Request) -> Response:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    try:
        graph = st.graph_for(canvas)
    except CanvasInvalid:
        graph = None
    config = webhook.config_of(graph, canvas.settings) if graph is not None else None
    if config is None:
        raise NotFound(f"canvas {canvas.slug} does not take webhooks")
    if request.method != config.method:
        raise MethodNotAllowed(
            f"this webhook takes {config.method}, not {request.method}",
            headers={"Allow": config.method},
        )
    raw = await request.body()  # its size and time: the gate's limits (413, 408)
    headers = {k.lower(): v for k, v in request.headers.items()}
    sealed = webhook.sealed_secret(canvas.settings)
    if sealed is not None or config.require_signature:
        try:
            if sealed is None:
                raise Unauthorized(
                    "this webhook must be signed but has no secret yet: make one with "
                    f"POST /api/v1/canvases/{canvas.id}/webhook-secret"
                )
            webhook.verify(st.credentials.open(sealed)["secret"], raw, headers)
        except Unauthorized:
            st.metrics.webhooks_refused.labels("signature").inc()  # nothing else is kept
            raise
    caller = await check_canvas_access(request, canvas)  # the canvas's API keys apply
    await st.limiter.check(canvas, client_id(request, caller, st.settings.trusted_proxy_header))
    ctype = headers.get("content-type", "")
    if config.content_type and raw and not ctype.lower().startswith(config.content_type.lower()):
        raise UnsupportedMediaType(
            f"this webhook takes {config.content_type}, not {ctype or 'none'}"
        )
    payload = webhook.payload_of(request.method, raw, dict(request.query_params), headers)
    question = webhook.question_of(config, payload)
    run_id = str(uuid.uuid4())
    delivery = webhook.delivery_id(headers)
    if delivery is not None:  # a retry of a delivery already taken runs nothing
        earlier = await st.store.claim_delivery(canvas.id, delivery, run_id)
        if earlier is not None:
            return JSONBody(
                WebhookAccepted(executionId=earlier, chatId="", status="duplicate").model_dump(),
                status_code=200,
            )
    try:
        prediction = await start_prediction(
            st,
            canvas,
            question,
            streaming=config.response_mode == "stream",
            trigger="webhook",
            webhook=payload,
            message_id=run_id,
        )
    except CanvasflowError:
        if delivery is not None:
            await st.store.release_delivery(canvas.id, delivery)
        raise
    if config.response_mode == "async":
        return JSONBody(
            WebhookAccepted(
                executionId=prediction.id, chatId=prediction.ctx.chat_id, status="accepted"
            ).model_dump(),
            status_code=202,
        )
    if config.response_mode == "stream":
        encoder = encoder_for(
            str((canvas.settings or {}).get("streamFormat") or st.settings.stream_format)
        )
        return stream_response(st, prediction.log, encoder)
    # a sender that hangs up does not stop the run: it was delivered
    await wait_or_leave(request, prediction, keep_going=True)
    if prediction.status == "error" and prediction.error is not None:
        raise from_event(prediction.error)
    return JSONBody({**prediction.answer(), "executionId": prediction.id})


# one route per method (Flowise's webhook takes the method its Start node names), so
# each has an operation id of its own in the OpenAPI schema
for _method in webhook.METHODS:
    router.add_api_route(
        "/webhook/{canvas_id}",
        receive,
        methods=[_method],
        operation_id=f"receive_webhook_{_method.lower()}",
        response_model=PredictionResponse,
        responses={200: STREAM_DOC, 202: {"model": WebhookAccepted}, **ERRORS},
        summary="Start a canvas from a webhook (its body, query and headers are $webhook)",
    )


# -- its secret -------------------------------------------------------------------------------


async def make_secret(canvas_id: str, request: Request) -> WebhookSecret:
    """Make (or rotate) the canvas's webhook secret; the answer is the only time it shows."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    secret = webhook.new_secret()
    settings = webhook.with_secret(canvas.settings, st.credentials.seal({"secret": secret}))
    await st.store.update_canvas(canvas.id, settings=settings)
    st.forget_canvases()
    return WebhookSecret(webhookSecret=secret)


async def remove_secret(canvas_id: str, request: Request) -> Response:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await st.store.update_canvas(canvas.id, settings=webhook.with_secret(canvas.settings, None))
    st.forget_canvases()
    return Response(status_code=204)


# -- the schedule -----------------------------------------------------------------------------


def _schedule_of(canvas: Canvas) -> tuple[schedule.ScheduleConfig | None, str | None]:
    try:
        graph = parse(canvas.flow_data)
    except CanvasInvalid as exc:
        return None, f"the canvas cannot run: {exc.message}"
    try:
        found = schedule.config_of(graph, canvas.settings)
    except CanvasflowError as exc:
        return None, exc.message
    if found is None:
        return (
            None,
            "the canvas has no schedule (a Start node's Schedule Input, or settings.schedule)",
        )
    return found, None


async def _status(st: Any, canvas: Canvas) -> ScheduleStatus:
    found, reason = _schedule_of(canvas)
    if found is None:
        return ScheduleStatus(enabled=False, canEnable=False, reason=reason)
    try:
        schedule.check(found, st.settings.min_schedule_s)
    except CanvasflowError as exc:
        return ScheduleStatus(enabled=False, canEnable=False, reason=exc.message)
    ticks, _ = await st.store.ticks(canvas.id, 1, 1)
    now = datetime.now(UTC)
    following = schedule.ticks_after(found, now).get_next(datetime).astimezone(UTC)
    return ScheduleStatus(
        enabled=found.enabled,
        canEnable=True,
        record=ScheduleRecord(
            cron=found.cron,
            timezone=found.timezone,
            misfire=found.misfire,
            nextRunAt=following if found.end is None or following <= found.end else None,
            lastRunAt=ticks[0].tick if ticks else None,
            endDate=found.end,
        ),
    )


async def schedule_status(canvas_id: str, request: Request) -> ScheduleStatus:
    st = state(request)
    return await _status(st, await canvas_or_404(st, canvas_id))


async def set_schedule_enabled(
    canvas_id: str, body: ScheduleEnabled, request: Request
) -> ScheduleStatus:
    """Turn a canvas's schedule on or off (every process sees it within seconds)."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    found, reason = _schedule_of(canvas)
    if found is None:
        raise NotFound(reason or "no schedule")
    settings = dict(canvas.settings or {})
    settings[schedule.KEY] = {**(settings.get(schedule.KEY) or {}), "enabled": body.enabled}
    updated = await st.store.update_canvas(canvas.id, settings=settings)
    st.forget_canvases()
    return await _status(st, updated or canvas)


async def schedule_logs(
    canvas_id: str,
    request: Request,
    page: int = Query(1, ge=1),
    limit: int = Query(20, ge=1, le=200),
    status: list[str] | None = Query(None),
) -> TickList:
    """The ticks of a canvas's schedule, newest first: which ran, which failed or were
    skipped, and the execution each started."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    rows, total = await st.store.ticks(canvas.id, page, limit, [s.upper() for s in status or []])
    return TickList(
        data=[
            TickOut(
                id=r.id,
                scheduledAt=r.tick,
                status=r.status,
                executionId=r.execution_id,
                error=r.error,
                elapsedTimeMs=r.elapsed_ms,
                process=r.process,
            )
            for r in rows
        ],
        total=total,
        page=page,
        limit=limit,
    )


async def delete_schedule_logs(canvas_id: str, request: Request) -> Response:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await st.store.delete_ticks(canvas.id)
    return Response(status_code=204)


canvas_admin_routes(
    router,
    "triggers",
    [
        ("/webhook-secret", make_secret, "POST", WebhookSecret),
        ("/webhook-secret", remove_secret, "DELETE", 204),
        ("/schedule/status", schedule_status, "GET", ScheduleStatus),
        ("/schedule/enabled", set_schedule_enabled, "PATCH", ScheduleStatus),
        *(
            route
            for logs in ("/schedule/logs", "/schedule/trigger-logs")
            for route in (
                (logs, schedule_logs, "GET", TickList),
                (logs, delete_schedule_logs, "DELETE", 204),
            )
        ),
    ],
    ERRORS,
)
