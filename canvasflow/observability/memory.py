"""Giving memory back after a burst.

CPython frees the objects of finished predictions, but its own small-object allocator
(pymalloc) returns a 1 MiB arena to the system only when every object in it is gone:
after a burst of thousands of streams, a few objects that outlive it (an idle upstream
connection, a cache entry) are scattered over every arena the burst made, and the process
stays near its peak. With glibc's ``malloc`` instead (``PYTHONMALLOC=malloc``, which
``canvasflow serve`` sets for itself, see :func:`use_malloc`), such an object holds only
its own page, and ``malloc_trim`` returns every free page when the server is idle: the
:class:`Trimmer` collects reference cycles and trims a few times while it stays quiet
(idle upstream connections close over the first seconds). Before trimming it re-makes
the tables a burst grew (:func:`compact`): a set or dict keeps the table it had at its
largest, 0.5-2 MiB each for the loop's timers, the task registries and the server's own
registries, until it is made small again. Elsewhere (no glibc) the trims are no-ops."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import os
import sys
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

log = logging.getLogger("canvasflow.memory")

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


MIN_TABLE_BYTES = 64 << 10  # a smaller table is not worth re-making
_WEAK = (weakref.WeakSet, weakref.WeakKeyDictionary, weakref.WeakValueDictionary)
_TABLES = (set, dict, *_WEAK)
# re-made only when of these exact types, whose copy, clear and update are the builtins'
_PLAIN = (set, dict, OrderedDict, defaultdict)


def compact(table: object) -> bool:
    """Re-make a set's or dict's table, in place, for the items it holds now.

    A set or dict grows its table for the most items it ever held and, as CPython's do,
    keeps it on removal until later insertions make it resize: a registry that held a
    burst's ten thousand tasks, timers or connections keeps a table of 0.5-2 MiB (a map
    of its own, outside the heap) while holding a handful, as long as the server stays
    quiet. Copying the items, clearing (which frees the table) and putting them back
    keeps the object, so every reference to it stays good. Weak collections are done on
    their ``data``, and skipped while an iteration over them is open or left removals
    pending. Tables under ``MIN_TABLE_BYTES``, mostly full, or of a subclass (whose
    methods may do more) are left as they are.

    Only for tables nothing iterates across an ``await``: it runs from a timer callback,
    between two steps of the loop, so no synchronous iteration is open."""
    data: Any = table
    if isinstance(table, _WEAK):
        if getattr(table, "_iterating", True) or getattr(table, "_pending_removals", True):
            return False
        data = cast(Any, table).data
    if type(data) not in _PLAIN or sys.getsizeof(data) < MIN_TABLE_BYTES:
        return False
    live = data.copy()
    if sys.getsizeof(live) * 2 > sys.getsizeof(data):
        return False  # mostly full: nothing to give back
    data.clear()
    data.update(live)
    return True


def tables_of(owner: object) -> list[object]:
    """The sets, dicts and weak collections an object holds directly, as attributes
    (of a Python object) or fields (of an extension type's, uvloop's loop)."""
    attributes = getattr(owner, "__dict__", None)
    found: list[object] = []
    for ref in gc.get_referents(owner):
        if ref is attributes and isinstance(ref, dict):
            found.extend(value for value in ref.values() if isinstance(value, _TABLES))
        elif isinstance(ref, _TABLES):
            found.append(ref)
    return found


def task_registries() -> list[object]:
    """Tables kept per task, outside the loop: asyncio's registry of tasks (a
    ``WeakSet``; 3.11: ``_all_tasks``, 3.12+: ``_scheduled_tasks``) and, when loaded,
    anyio's state per task (Starlette runs a task group per streamed response)."""
    registry = getattr(asyncio.tasks, "_all_tasks", None)
    registry = getattr(asyncio.tasks, "_scheduled_tasks", registry)
    anyio = sys.modules.get("anyio._backends._asyncio")
    return [t for t in (registry, getattr(anyio, "_task_states", None)) if t is not None]


def compact_tables(owners: Iterable[object] = ()) -> int:
    """Compact the running loop's tables, the registries kept per task, and the tables
    of ``owners`` (the server's own: running predictions, event logs, connections).
    Returns how many were re-made."""
    tables = [*tables_of(asyncio.get_running_loop()), *task_registries()]
    for owner in owners:
        tables.extend(tables_of(owner))
    return sum(compact(table) for table in tables)


class Trimmer:
    """Told when the last running prediction ends; trims while the quiet lasts.

    Each trim compacts the tables a burst grew (the loop's, the per-task registries, and
    those of ``owners()``) and returns free pages to the system. The first and the last
    of a spell also collect reference cycles first: a full collection holds the event
    loop for 20-900 ms (the more a burst left, the longer) and the ones between found
    nothing a burst had not already left to the first. The last trim of a quiet spell
    (some 20 s without a prediction) first awaits ``release()``: caches that are filled
    again on demand (the SQLite store's connections and their page caches), which a
    server with a request every few seconds keeps (opening a connection again costs the
    next query some milliseconds)."""

    def __init__(
        self,
        running: Callable[[], int],
        owners: Callable[[], Iterable[object]] = tuple,
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._trim = _libc_trim()
        self._running = running
        self._owners = owners
        self._release = release
        self._pending: asyncio.TimerHandle | None = None
        self._releasing: asyncio.Task[None] | None = None
        self._left = 0

    def idle(self) -> None:
        if self._trim is None:
            return
        self._left = QUIET_TRIMS
        if self._pending is None and self._releasing is None:
            self._pending = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._maybe_trim)

    def _maybe_trim(self) -> None:
        self._pending = None
        if self._running() or self._trim is None or self._left <= 0:
            return  # busy again: the next idle starts a new spell
        first = self._left == QUIET_TRIMS
        self._left -= 1
        if self._left == 0 and self._release is not None:  # quiet for some 20 s
            self._releasing = asyncio.get_running_loop().create_task(self._release_then_trim())
            return
        self._trim_now(collect=first)

    async def _release_then_trim(self) -> None:
        try:
            if self._release is not None:
                await self._release()
        except Exception:  # a cache that could not be dropped is only kept
            log.warning("releasing caches when idle failed", exc_info=True)
        finally:
            self._releasing = None
        if self._running():
            return  # busy again while releasing
        self._trim_now(collect=True)

    def _trim_now(self, collect: bool) -> None:
        assert self._trim is not None
        if collect:  # a burst's reference cycles hold pages until a full collection
            gc.collect()
        compact_tables(self._owners())
        self._trim(0)
        if self._left > 0 and self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(AGAIN_SECONDS, self._maybe_trim)
