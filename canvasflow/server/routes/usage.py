"""Usage at a glance: per day, the predictions of a canvas (or of all), its errors, tokens
in and out, and the p50/p95 of latency and time to first token, from the record of
every run (``executions``)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request

from canvasflow.server.deps import canvas_or_404, state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import UsageDay, UsageOut

router = APIRouter(
    prefix="/api/v1", tags=["usage"], dependencies=[Depends(require_admin)], responses=ERRORS
)

ERRORED = {"error", "interrupted"}
# one run's figures: started, status, tokens in, tokens out, latency, time to first token
Run = tuple[datetime, str, int, int, int | None, int | None]


def percentile(values: list[int], p: float) -> int | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(date: str, runs: list[Run]) -> UsageDay:
    latency = [r[4] for r in runs if r[4] is not None]
    ttft = [r[5] for r in runs if r[5] is not None]
    return UsageDay(
        date=date,
        predictions=len(runs),
        errors=sum(1 for r in runs if r[1] in ERRORED),
        promptTokens=sum(r[2] or 0 for r in runs),
        completionTokens=sum(r[3] or 0 for r in runs),
        latencyP50=percentile(latency, 50),
        latencyP95=percentile(latency, 95),
        ttftP50=percentile(ttft, 50),
        ttftP95=percentile(ttft, 95),
    )


@router.get("/usage", response_model=UsageOut)
async def usage(
    request: Request,
    canvas_id: str | None = Query(None, alias="canvasId", description="One canvas (id or slug)"),
    days: int = Query(30, ge=1, le=366, description="How many days, today included"),
) -> UsageOut:
    """Per day (UTC) of the last ``days``: predictions, errors, tokens in and out, and
    p50/p95 latency and time to first token, of one canvas or of all."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id) if canvas_id else None
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    runs = await st.store.run_figures(canvas.id if canvas else None, since)
    by_day: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        started = run[0] if run[0].tzinfo else run[0].replace(tzinfo=UTC)
        by_day[started.astimezone(UTC).date().isoformat()].append(run)
    dates = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    return UsageOut(
        canvasId=canvas.id if canvas else None,
        days=[summary(d, by_day.get(d, [])) for d in dates],
        total=summary(dates[0], runs),
    )
