"""Giving memory back after a burst.

CPython frees the objects of finished predictions, but its own small-object allocator
(pymalloc) returns a 1 MiB arena to the system only when every object in it is gone:
after a burst of thousands of streams, a few objects that outlive it (an idle upstream
connection, a cache entry) are scattered over every arena the burst made, and the process
stays near its peak. With glibc's ``malloc`` instead (``PYTHONMALLOC=malloc``, which
``canvasflow serve`` sets for itself, see :func:`use_malloc`), such an object holds only
its own page, and ``malloc_trim`` returns every free page when the server is idle: the
:class:`Trimmer` collects reference cycles and trims a few times while it stays quiet
(idle upstream connections close over the first seconds). Elsewhere (no glibc) both are
no-ops."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from collections.abc import Callable

IDLE_SECONDS = 2.0  # quiet this long before the first trim
AGAIN_SECONDS = 3.0  # then again while quiet: what lingers (idle connections) goes later
QUIET_TRIMS = 8  # trims per quiet spell (some 23 s)


M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
MMAP_THRESHOLD = 128 << 10  # glibc's own starting value, kept


@functools.cache  # find_library runs ldconfig: once per process, not per caller
def _libc() -> ctypes.CDLL | None:
    try:
        path = ctypes.util.find_library("c")
        return ctypes.CDLL(path) if path else None
    except OSError:
        return None


def _libc_function(name: str) -> Callable[..., int] | None:
    libc = _libc()
    return getattr(libc, name, None) if libc is not None else None


def _libc_trim() -> Callable[[int], int] | None:
    return _libc_function("malloc_trim")


def fix_mmap_threshold() -> bool:
    """Keep glibc's threshold for serving a block from a map of its own at 128 KiB.

    Such a block goes back to the system the moment it is freed. But glibc raises the
    threshold to the size of every mapped block freed (up to 32 MiB), so after a burst's
    tables and buffers of a few hundred KiB to 2 MiB come and go, blocks of that size are
    carved from the heap, where the small blocks that outlive the burst settle among
    them and keep their pages. Setting the threshold turns the raising off (measured: a
    3-4 MB lower level after three 5,000-stream bursts, BENCHMARKS.md)."""
    mallopt = _libc_function("mallopt")
    return mallopt is not None and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def pymalloc_in_use() -> bool:
    """Whether CPython's small-object allocator is on (it counts its blocks; with
    ``PYTHONMALLOC=malloc`` the count is 0)."""
    return sys.getallocatedblocks() > 0


def use_malloc(allocator: str) -> None:
    """Start this process again with ``PYTHONMALLOC=malloc`` (same pid, arguments and
    environment) when ``allocator`` asks for it, pymalloc is on and glibc can trim.

    The allocator is chosen when the interpreter starts, so this runs first thing in
    ``canvasflow serve``; its worker processes inherit the environment. ``allocator`` is
    the setting (``CANVASFLOW_ALLOCATOR``, or ``PYTHONMALLOC`` itself when set). An
    interpreter that ignores the environment (``python -E``) is left as it is."""
    if allocator != "malloc" or sys.flags.ignore_environment:
        return
    if not pymalloc_in_use() or _libc_trim() is None:
        return
    os.putenv("PYTHONMALLOC", "malloc")  # the environment execv passes on
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)


def compact_task_registry() -> bool:
    """Re-make asyncio's registry of tasks for the tasks alive now.

    The registry (a ``WeakSet`` in ``asyncio.tasks``) grows its table for the tens of
    thousands of tasks a burst runs at once, and a set's table never shrinks on removal:
    1-2 MiB stay allocated (a block of its own, outside the heap) for a registry
    holding a few tasks. Done when idle, between two steps of the loop, so nothing
    iterates over it; skipped when an iteration left removals pending."""
    registry = getattr(asyncio.tasks, "_all_tasks", None)  # 3.11; 3.12+: _scheduled_tasks
    registry = getattr(asyncio.tasks, "_scheduled_tasks", registry)
    data = getattr(registry, "data", None)
    if not isinstance(data, set) or getattr(registry, "_iterating", True):
        return False
    if getattr(registry, "_pending_removals", True):
        return False
    live = set(data)  # a table sized for these
    data.clear()  # back to the set's own small table
    data |= live
    return True


class Trimmer:
    """Told when the last running prediction ends; trims while the quiet lasts."""

    def __init__(self, running: Callable[[], int]) -> None:
        self._trim = _libc_trim()
        self._running = running
        self._pending: asyncio.TimerHandle | None = None
        self._left = 0

    def idle(self) -> None:
        if self._trim is None:
            return
        self._left = QUIET_TRIMS
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._maybe_trim)

    def _maybe_trim(self) -> None:
        self._pending = None
        if self._running() or self._trim is None or self._left <= 0:
            return  # busy again: the next idle starts a new spell
        self._left -= 1
        gc.collect()  # a burst's reference cycles hold pages until a full collection
        compact_task_registry()
        self._trim(0)
        if self._left > 0:
            self._pending = asyncio.get_running_loop().call_later(AGAIN_SECONDS, self._maybe_trim)
