"""How many children running authors' code (V8 isolates, Python tools) may live at once.

Each child is limited in memory on its own (``CANVASFLOW_TOOL_MEMORY_MB``); the number of
children bounds their total, so many calls at once cannot take the host's memory. A call
that finds every slot taken waits, within its own time limit, then fails clearly."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from canvasflow.sandbox.errors import SandboxError

_LIMIT = 8
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def configure(limit: int) -> None:
    """Set the number of slots (``CANVASFLOW_SANDBOX_PROCESSES``), once at start."""
    global _LIMIT
    _LIMIT = max(1, int(limit))
    _SLOTS.clear()


def _semaphore() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    sem = _SLOTS.get(loop)
    if sem is None:
        sem = _SLOTS[loop] = asyncio.Semaphore(_LIMIT)
    return sem


def in_use() -> int:
    """Slots taken now on this loop (for tests and metrics)."""
    sem = _semaphore()
    return _LIMIT - sem._value


@asynccontextmanager
async def slot(seconds: float) -> AsyncIterator[None]:
    sem = _semaphore()
    try:
        async with asyncio.timeout(seconds):
            await sem.acquire()
    except TimeoutError:
        raise SandboxError(
            f"all {_LIMIT} sandboxes are busy (CANVASFLOW_SANDBOX_PROCESSES); try again"
        ) from None
    try:
        yield
    finally:
        sem.release()
