"""A canvas run on a schedule: its configuration, which ticks are due, and the beat
that runs them, exactly once per tick across every process of a cluster.

An agentflow is scheduled when its Start node's input type is Flowise's
``scheduleInput`` (``scheduleType``: a ``cronExpression`` or the ``visualPicker``'s
frequency and time, ``scheduleTimezone``, ``scheduleEndDate``, ``scheduleInputMode``,
``scheduleDefaultInput``, ``scheduleFormDefaults``); a chatflow when its settings hold a
``schedule`` (``cron``, ``timezone``, ``input``). Either may be turned off (settings'
``schedule.enabled``), and says what a tick missed while no process ran does
(``misfire``: ``once``, the default, runs the latest missed tick once; ``skip`` skips it).

Cron expressions are read by croniter: five fields, or six with seconds first (as
Flowise's). Every process runs a beat; a tick is claimed by inserting its
(canvas, time) pair, which the database lets exactly one process do."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from croniter import croniter

from canvasflow.errors import SettingsInvalid
from canvasflow.values import to_bool

if TYPE_CHECKING:
    from canvasflow.server.state import ServerState

log = logging.getLogger("canvasflow.schedule")

KEY = "schedule"  # the canvas settings' entry
GRACE = 30.0  # seconds late a tick may be and still be on time (else it was missed)
WAKE = 5.0  # seconds a beat sleeps at most: it sees new schedules and clock jumps by then
_WEEKDAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4}
_WEEKDAYS |= {"friday": 5, "saturday": 6}


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    input_mode: str = "text"  # text | form | none
    input: str = ""
    form: dict[str, Any] | None = None
    end: datetime | None = None
    misfire: str = "once"  # once | skip


def _number(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _days(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = orjson.loads(value) if value.strip().startswith("[") else value.split(",")
        except orjson.JSONDecodeError:
            value = value.split(",")
    days = []
    for day in value if isinstance(value, list) else [value]:
        text = str(day).strip().lower()
        days.append(str(_WEEKDAYS.get(text, text)))
    return ",".join(d for d in days if d) or "*"


def visual_cron(inputs: dict[str, Any]) -> str:
    """The visual picker's choice as a cron expression."""
    frequency = str(inputs.get("scheduleFrequency") or "daily")
    if frequency == "hourly":
        return f"{_number(inputs.get('scheduleOnMinute'), 0)} * * * *"
    hour, _, minute = str(inputs.get("scheduleOnTime") or "00:00").partition(":")
    at = f"{_number(minute, 0)} {_number(hour, 0)}"
    if frequency == "weekly":
        return f"{at} * * {_days(inputs.get('scheduleOnDayOfWeek') or '1')}"
    if frequency == "monthly":
        days = inputs.get("scheduleOnDayOfMonth") or "1"
        month_days = ",".join(str(d) for d in days) if isinstance(days, list) else str(days)
        return f"{at} {month_days} * *"
    return f"{at} * * *"


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        found = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SettingsInvalid(f"schedule end date {value!r} is not a date") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def config_of(graph: Any, settings: dict[str, Any] | None) -> ScheduleConfig | None:
    """A canvas's schedule, or None when it has none."""
    own = (settings or {}).get(KEY)
    own = own if isinstance(own, dict) else {}
    enabled = to_bool(own.get("enabled"), True)
    misfire = "skip" if own.get("misfire") == "skip" else "once"
    inputs = graph.start_inputs() if graph is not None else None
    if inputs is not None:  # the Start node says how (an agentflow)
        if inputs.get("startInputType") != "scheduleInput":
            return None
        if inputs.get("scheduleType") == "cronExpression":
            cron = str(inputs.get("scheduleCronExpression") or "").strip()
        else:
            cron = visual_cron(inputs)
        form = inputs.get("scheduleFormDefaults")
        if isinstance(form, str) and form.strip():
            try:
                form = orjson.loads(form)
            except orjson.JSONDecodeError:
                raise SettingsInvalid("scheduleFormDefaults is not a JSON object") from None
        return ScheduleConfig(
            cron=cron,
            timezone=str(inputs.get("scheduleTimezone") or "UTC"),
            enabled=enabled,
            input_mode=str(inputs.get("scheduleInputMode") or "text"),
            input=str(inputs.get("scheduleDefaultInput") or ""),
            form=form if isinstance(form, dict) else None,
            end=_date(inputs.get("scheduleEndDate")),
            misfire=misfire,
        )
    if not own.get("cron"):
        return None
    return ScheduleConfig(
        cron=str(own["cron"]).strip(),
        timezone=str(own.get("timezone") or "UTC"),
        enabled=enabled,
        input=str(own.get("input") or ""),
        end=_date(own.get("endDate")),
        misfire=misfire,
    )


def ticks_after(config: ScheduleConfig, start: datetime) -> Any:
    zone = ZoneInfo(config.timezone)
    six = len(config.cron.split()) == 6
    return croniter(config.cron, start.astimezone(zone), second_at_beginning=six)


def check(config: ScheduleConfig, min_seconds: float) -> None:
    """A schedule that can be kept, or 422 naming what is wrong with it."""
    if not config.cron:
        raise SettingsInvalid("the schedule has no cron expression")
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsInvalid(f"schedule time zone {config.timezone!r} is not known") from None
    if len(config.cron.split()) not in (5, 6) or not croniter.is_valid(
        config.cron, second_at_beginning=len(config.cron.split()) == 6
    ):
        raise SettingsInvalid(f"cron expression {config.cron!r} does not parse") from None
    ticks = ticks_after(config, datetime.now(UTC))
    times = [ticks.get_next(datetime) for _ in range(30)]
    shortest = min((b - a).total_seconds() for a, b in pairwise(times))
    if shortest < min_seconds:
        raise SettingsInvalid(
            f"cron expression {config.cron!r} runs every {shortest:g} s; the shortest interval "
            f"allowed is {min_seconds:g} s (CANVASFLOW_MIN_SCHEDULE_S)"
        )


def due(
    config: ScheduleConfig, last: datetime | None, now: datetime, grace: float = GRACE
) -> tuple[list[datetime], list[datetime]]:
    """The ticks to run now, and those to skip, since ``last`` (the latest tick taken;
    a tick at or before it never runs again, whatever the clock does). On time: a tick
    at most ``grace`` seconds ago. Missed ones (no process ran, the clock jumped) run
    once, the latest of them, or are skipped, as the schedule says."""
    if last is None:
        last = now - timedelta(seconds=grace)
    ticks = ticks_after(config, last)
    found: list[datetime] = []
    for _ in range(10_000):  # a clock that jumped years: not a loop without end
        tick = ticks.get_next(datetime).astimezone(UTC)
        if tick > now:
            break
        found.append(tick)
    if config.end is not None:
        ended = [t for t in found if t > config.end]
        found = [t for t in found if t <= config.end]
    else:
        ended = []
    on_time = [t for t in found if (now - t).total_seconds() <= grace]
    missed = [t for t in found if (now - t).total_seconds() > grace]
    if on_time:
        return on_time, missed + ended
    if missed and config.misfire == "once":
        return missed[-1:], missed[:-1] + ended
    return [], missed + ended


def question_of(config: ScheduleConfig) -> tuple[str, dict[str, Any] | None]:
    if config.input_mode == "form":
        return "", dict(config.form or {})
    if config.input_mode == "none":
        return " ", None
    return config.input or " ", None


class ScheduleBeat:
    """Runs the schedules of every canvas from this process; the claim in the database
    makes each tick run once, whichever processes are up."""

    def __init__(self, st: ServerState, clock: Any = None) -> None:
        self.st = st
        self.clock = clock or (lambda: datetime.now(UTC))
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self._configs: dict[str, tuple[datetime, Any, ScheduleConfig | None]] = {}
        self._runs: set[asyncio.Task[None]] = set()

    async def schedules(self) -> dict[str, tuple[Any, ScheduleConfig]]:
        """The canvases with a schedule turned on (each parsed once per version)."""
        from canvasflow.engine.graph import parse

        out: dict[str, tuple[Any, ScheduleConfig]] = {}
        versions = await self.st.store.canvas_versions()
        for stale in set(self._configs) - set(versions):
            del self._configs[stale]
        for canvas_id, updated in versions.items():
            known = self._configs.get(canvas_id)
            if known is None or known[0] != updated:
                canvas = await self.st.store.get_canvas(canvas_id)
                if canvas is None:
                    continue
                try:
                    config = config_of(parse(canvas.flow_data), canvas.settings)
                except Exception:  # a draft that does not parse has no schedule
                    config = None
                known = self._configs[canvas_id] = (updated, canvas, config)
            _, canvas, config = known
            if config is not None and config.enabled and config.cron:
                out[canvas_id] = (canvas, config)
        return out

    async def beat(self) -> float:
        """Run what is due now; the seconds until the next tick (at most WAKE)."""
        now = self.clock()
        schedules = await self.schedules()
        if not schedules:
            return WAKE
        last = await self.st.store.last_ticks()
        wake = WAKE
        for canvas_id, (canvas, config) in schedules.items():
            saved = (
                canvas.updated_at
                if canvas.updated_at.tzinfo
                else canvas.updated_at.replace(tzinfo=UTC)
            )
            since = last.get(canvas_id)
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            if since is None:  # a new schedule: nothing from before it was saved
                since = max(saved, now - timedelta(seconds=GRACE)) - timedelta(microseconds=1)
            try:
                run, skipped = due(config, since, now)
            except Exception as exc:
                log.warning("schedule of canvas %s cannot run: %s", canvas_id, exc)
                continue
            if skipped and (not run or skipped[-1] > run[-1]):
                tick_id = await self.st.store.claim_tick(canvas_id, skipped[-1], self.process)
                if tick_id is not None:
                    await self.st.store.finish_tick(
                        tick_id, status="SKIPPED", error=f"{len(skipped)} ticks missed"
                    )
            for tick in run:
                tick_id = await self.st.store.claim_tick(canvas_id, tick, self.process)
                if tick_id is not None:  # this process won the tick
                    task = asyncio.create_task(self._run(canvas, config, tick_id))
                    self._runs.add(task)
                    task.add_done_callback(self._runs.discard)
            following = ticks_after(config, now).get_next(datetime).astimezone(UTC)
            wake = min(wake, max(0.05, (following - self.clock()).total_seconds()))
        return wake

    async def _run(self, canvas: Any, config: ScheduleConfig, tick_id: str) -> None:
        from canvasflow.server.running import start_prediction

        store = self.st.store
        started = time.perf_counter()
        question, form = question_of(config)
        try:
            prediction = await start_prediction(
                self.st, canvas, question, form=form, streaming=False, trigger="schedule"
            )
        except Exception as exc:
            await store.finish_tick(tick_id, status="FAILED", error=str(exc)[:2000])
            return
        await store.finish_tick(tick_id, execution_id=prediction.id)
        await asyncio.wait({prediction.finished()})
        error = prediction.error
        await store.finish_tick(
            tick_id,
            status="FAILED" if prediction.status == "error" else "SUCCEEDED",
            error=(error or {}).get("message") if error else None,
            elapsed_ms=round((time.perf_counter() - started) * 1000),
        )

    async def run(self) -> None:
        while True:
            try:
                wake = await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: the next beat tries again
                log.warning("the schedule beat failed: %s", exc)
                wake = WAKE
            await asyncio.sleep(wake)

    async def close(self) -> None:
        for task in list(self._runs):
            task.cancel()
        if self._runs:
            await asyncio.wait(self._runs, timeout=5)
