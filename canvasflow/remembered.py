"""Values read from the store and remembered for a while, shared by every request: the
canvases by id or slug (``server/state.py``) and the API keys (``auth.py``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger("canvasflow.remembered")

K = TypeVar("K")
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Each value is remembered for ``ttl`` seconds after it was read.

    - Callers that miss together share one read. It is shielded: a caller that goes
      away does not cancel it for the others.
    - Just past its time (by less than another ``ttl``), a value is answered at once
      while one read refreshes it: a burst of requests never waits in line behind that
      read. Older than that, callers wait for the read.
    - ``forget`` drops every value, and a read still in flight is then not remembered: a
      change made through this process shows at once.
    - A read that finds nothing (None) or fails drops the value."""

    def __init__(
        self, read: Callable[[K], Awaitable[V | None]], ttl: float, limit: int = 10_000
    ) -> None:
        self._read = read
        self.ttl = ttl
        self._limit = limit
        self._entries: dict[K, tuple[float, V]] = {}  # key: (expiry, value)
        self._loading: dict[K, asyncio.Future[V | None]] = {}
        self._generation = 0

    async def get(self, key: K) -> V | None:
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(key, self._generation))
            self._loading[key] = loading
            loading.add_done_callback(lambda f: self._loaded(key, f))
        if hit is not None and hit[0] + self.ttl > now:
            return hit[1]
        return await asyncio.shield(loading)

    def forget(self) -> None:
        self._entries.clear()
        self._loading.clear()  # later callers read again
        self._generation += 1  # and a read still in flight is not remembered

    async def _load(self, key: K, generation: int) -> V | None:
        value = await self._read(key)
        if generation != self._generation:
            return value
        if value is None:
            self._entries.pop(key, None)  # gone: not answered from memory any more
        else:
            if len(self._entries) > self._limit:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, value)
        return value

    def _loaded(self, key: K, future: asyncio.Future[V | None]) -> None:
        if self._loading.get(key) is future:
            del self._loading[key]
        if not future.cancelled() and future.exception() is not None:
            # the next caller reads again, and sees the error (a read aside has no caller)
            log.warning("reading %r failed: %s", key, future.exception())
            self._entries.pop(key, None)
