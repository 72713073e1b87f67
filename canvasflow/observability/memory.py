"""Giving memory back after a burst.

CPython frees the objects of finished predictions, but the C allocator keeps the freed
pages of its heap for reuse: after a burst of thousands of streams a process stays at its
peak. When the server has been idle for a moment, ``malloc_trim`` (glibc) returns those
pages to the system. Elsewhere (no glibc) it is a no-op."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

log = logging.getLogger("canvasflow.memory")

IDLE_SECONDS = 2.0  # quiet this long before trimming
EVERY_SECONDS = 10.0  # at most this often


def _libc_trim() -> Callable[[int], int] | None:
    try:
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        return libc.malloc_trim if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


class Trimmer:
    """Told when the last running prediction ends; trims once the quiet lasts."""

    def __init__(self, running: Callable[[], int]) -> None:
        self._trim = _libc_trim()
        self._running = running
        self._last = 0.0
        self._pending: asyncio.TimerHandle | None = None

    def idle(self) -> None:
        if self._trim is None or self._pending is not None:
            return
        self._pending = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._maybe_trim)

    def _maybe_trim(self) -> None:
        self._pending = None
        now = time.monotonic()
        if self._running() or now - self._last < EVERY_SECONDS or self._trim is None:
            return
        self._last = now
        self._trim(0)
