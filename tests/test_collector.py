"""The cycle collector waits while predictions run (``observability/collector.py``)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest

from canvasflow.observability import collector
from canvasflow.observability.collector import CollectorPause


@pytest.fixture(autouse=True)
def collection_on_after() -> Iterator[None]:
    yield
    gc.enable()


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks every 10 ms; a quiet spell of 3 checks."""
    monkeypatch.setattr(collector, "CHECK_SECONDS", 0.01)
    monkeypatch.setattr(collector, "QUIET_CHECKS", 3)


async def poll_async(check: Callable[[], bool]) -> None:
    """Until ``check`` holds, for 10 s at most."""
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110 - the timers under test set no event
            await asyncio.sleep(0.01)


async def test_collection_waits_while_predictions_run_and_resumes_when_quiet(
    quick: None,
) -> None:
    pause = CollectorPause(limit=10_000_000)
    pause.started()
    assert not gc.isenabled() and pause.paused
    pause.started()  # a second prediction: still one pause
    pause.idle()
    pause.started()  # one starts before the quiet spell ends: it goes on waiting
    await asyncio.sleep(0.1)
    assert not gc.isenabled()
    pause.idle()
    await poll_async(gc.isenabled)
    assert not pause.paused and pause._check is None  # no timer left behind
    pause.started()  # the next spell pauses again
    assert not gc.isenabled()


async def test_a_spell_that_makes_too_many_objects_collects_as_usual_until_quiet(
    quick: None,
) -> None:
    pause = CollectorPause(limit=1_000)
    pause.started()
    assert not gc.isenabled()
    kept = [[i] for i in range(5_000)]  # young objects past the limit
    await poll_async(gc.isenabled)
    assert pause.spent and not pause.paused
    pause.started()  # more predictions in the same spell: collection stays on
    assert gc.isenabled()
    pause.idle()
    pause.started()  # a new spell may wait again
    assert not gc.isenabled() and pause.paused
    del kept


async def test_no_pause_with_a_limit_of_zero_or_when_collection_was_already_off() -> None:
    CollectorPause(limit=0).started()
    assert gc.isenabled()
    gc.disable()  # someone else's choice: left as it is, and not turned on at the end
    pause = CollectorPause(limit=1_000)
    pause.started()
    assert not pause.paused
    pause.idle()
    assert not gc.isenabled()


async def test_a_server_that_stops_turns_collection_on_again() -> None:
    pause = CollectorPause(limit=1_000_000)
    pause.started()
    assert not gc.isenabled()
    pause.close()
    assert gc.isenabled() and pause._check is None
