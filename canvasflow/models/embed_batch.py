"""Embeddings computed on this server, for many callers at once: calls that arrive
while the model is busy wait, and go together in its next call (continuous batching, as
the embedded chat model's decode loop does for sequences). One model call is in flight
at a time; each caller gets its own rows back, or the model's error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

MAX_TEXTS = 256  # texts in one model call (a caller with more has its own call)


class BatchedEmbedder:
    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray],
        max_texts: int = MAX_TEXTS,
        loop: asyncio.AbstractEventLoop | None = None,
    ):
        self._embed = embed  # texts -> one row each (run in a worker thread)
        self.loop = loop  # the event loop its callers are on
        self.max_texts = max_texts
        self._waiting: list[tuple[list[str], asyncio.Future[np.ndarray]]] = []
        self._running = False
        self.calls = 0  # model calls made (tests, the bench)

    async def embed(self, texts: list[str]) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((texts, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = [self._waiting.pop(0)]
                size = len(batch[0][0])
                while self._waiting and size + len(self._waiting[0][0]) <= self.max_texts:
                    texts, future = self._waiting.pop(0)
                    batch.append((texts, future))
                    size += len(texts)
                batch = [(t, f) for t, f in batch if not f.cancelled()]
                if not batch:
                    continue
                everything = [text for texts, _ in batch for text in texts]
                self.calls += 1
                try:
                    rows = await asyncio.to_thread(self._embed, everything)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                at = 0
                for texts, future in batch:
                    if not future.done():
                        future.set_result(rows[at : at + len(texts)])
                    at += len(texts)
        finally:
            self._running = False
