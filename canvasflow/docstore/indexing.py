"""Indexing documents into a vector store with a record manager: LangChain's ``index``
semantics, which Flowise's document stores use.

Each chunk's key is the hash of its text and metadata. The record manager (a table of
canvasflow's database, ``store/records.py``) knows which keys a namespace holds, the
source (file) each came from, and when an indexing run last saw it. A run embeds and
writes only the chunks whose keys are new, marks every chunk it sees, and then, with
``cleanup``:

- ``incremental``: after each batch, the chunks of that batch's sources that this run
  did not see leave the vector store (a changed file's old chunks);
- ``full``: at the end, every chunk this run did not see leaves it (a deleted file's
  chunks too: the run must be given every document of the store);
- ``None``: nothing is deleted.

Re-indexing an unchanged store embeds nothing. Chunks are taken a batch at a time from
any iterable, so a large store is never held in memory whole."""

from __future__ import annotations

import hashlib
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
)
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from canvasflow.errors import InputInvalid

if TYPE_CHECKING:
    from canvasflow.store.repo import Store

Document = dict[str, Any]
Cleanup = Literal["incremental", "full"] | None


class Sink(Protocol):
    """A vector store as indexing writes to it: chunks added under their keys, and
    removed by them."""

    async def add(self, keys: list[str], docs: list[Document]) -> None: ...

    async def delete(self, keys: list[str]) -> None: ...


@dataclass
class Indexed:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0

    def counts(self) -> dict[str, int]:
        """Flowise's names (its upsert answers and document store jobs)."""
        return {
            "numAdded": self.added,
            "numUpdated": self.updated,
            "numSkipped": self.skipped,
            "numDeleted": self.deleted,
        }


def chunk_key(doc: Document) -> str:
    """A chunk's key: the hash of its text and metadata (its keys sorted)."""
    raw = orjson.dumps(
        [doc.get("pageContent") or "", doc.get("metadata") or {}],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(raw).hexdigest()


async def _batches(
    docs: Iterable[Document] | AsyncIterable[Document], size: int
) -> AsyncIterator[list[Document]]:
    batch: list[Document] = []
    async for doc in _each(docs):
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _each(docs: Iterable[Document] | AsyncIterable[Document]) -> AsyncIterator[Document]:
    if isinstance(docs, AsyncIterable):
        async for doc in docs:
            yield doc
    else:
        for doc in docs:
            yield doc


async def index(
    docs: Iterable[Document] | AsyncIterable[Document],
    sink: Sink,
    records: Store,
    namespace: str,
    *,
    cleanup: Cleanup = None,
    source_key: str = "source",
    batch: int = 100,
    clock: Callable[[], float] = time.time,
    keep: Collection[str] = (),
    on_batch: Callable[[Indexed], Awaitable[None]] | None = None,
) -> Indexed:
    """Index ``docs`` into ``sink`` under ``namespace`` (see the module's text); the
    counts of what was added, skipped (already there) and deleted. ``full`` cleanup
    keeps the chunks of the sources in ``keep`` (looked at when the docs are done: the
    sources that could not be read this time); ``on_batch`` hears the counts after each
    batch."""
    if cleanup not in (None, "incremental", "full"):
        raise InputInvalid(f"cleanup must be incremental, full or none, not {cleanup!r}")
    started = clock()
    done = Indexed()
    async for part in _batches(docs, batch):
        keys: list[str] = []
        kept: list[Document] = []
        groups: list[str | None] = []
        seen: set[str] = set()
        for doc in part:
            key = chunk_key(doc)
            if key in seen:  # the same chunk twice in a batch: written once
                done.skipped += 1
                continue
            seen.add(key)
            source = (doc.get("metadata") or {}).get(source_key)
            if cleanup is not None and source is None:
                raise InputInvalid(
                    f"{cleanup} cleanup needs each chunk's source in its metadata "
                    f"({source_key!r}); a chunk has none"
                )
            keys.append(key)
            kept.append(doc)
            groups.append(None if source is None else str(source))
        there = await records.records_exist(namespace, keys)
        new = [(k, d) for k, d in zip(keys, kept, strict=True) if k not in there]
        if new:
            await sink.add([k for k, _ in new], [d for _, d in new])
        done.added += len(new)
        done.skipped += len(keys) - len(new)
        await records.records_update(namespace, keys, groups, started)
        if cleanup == "incremental":
            sources = sorted({g for g in groups if g is not None})
            done.deleted += await _drop(
                sink, records, namespace, await records.records_keys(namespace, started, sources)
            )
        if on_batch is not None:
            await on_batch(done)
    if cleanup == "full":
        stale = await records.records_keys(namespace, started)
        if keep:
            held = set(await records.records_keys(namespace, started, sorted(keep)))
            stale = [k for k in stale if k not in held]
        done.deleted += await _drop(sink, records, namespace, stale)
        if on_batch is not None:
            await on_batch(done)
    return done


async def _drop(sink: Sink, records: Store, namespace: str, keys: list[str]) -> int:
    if not keys:
        return 0
    await sink.delete(keys)
    await records.records_delete(namespace, keys)
    return len(keys)


class ChunkSink:
    """canvasflow's persistent vector store (its database's ``document_chunks``) as an
    indexing sink: one collection, its chunks embedded by ``embedder`` as they are
    added. A chunk's row id is its key within the collection (the same chunk may be in
    several collections)."""

    def __init__(self, store: Store, collection: str, embedder: Any) -> None:
        self.store = store
        self.collection = collection
        self.embedder = embedder

    def row_id(self, key: str) -> str:
        return hashlib.sha256(f"{self.collection}\0{key}".encode()).hexdigest()

    async def add(
        self,
        keys: list[str],
        docs: list[Document],
        created_at: datetime | None = None,
        vectors: Any = None,
    ) -> None:
        """Chunks embedded (unless their ``vectors`` are given) and written
        (``created_at``: where they stand in the order chunks are listed in; now unless
        given)."""
        import numpy as np

        from canvasflow.store.models import utcnow

        if vectors is None:
            vectors = await self.embedder.embed([d.get("pageContent") or "" for d in docs])
        await self.store.upsert_chunks(
            [
                {
                    "id": self.row_id(k),
                    "collection": self.collection,
                    "content": d.get("pageContent") or "",
                    "metadata": d.get("metadata") or {},
                    "embedding": np.asarray(v, dtype=np.float32).tobytes(),
                    "dims": len(v),
                    "created_at": created_at or utcnow(),
                }
                for k, d, v in zip(keys, docs, vectors, strict=True)
            ]
        )

    async def delete(self, keys: list[str]) -> None:
        await self.store.delete_chunks(self.collection, [self.row_id(k) for k in keys])


class OutsideSink:
    """An outside engine's vector store (a ``KeptStore``: Qdrant...) beside canvasflow's
    own chunks: each chunk embedded once and written to both, removed from both (the
    chunk browser reads canvasflow's; queries ask the engine)."""

    def __init__(self, own: ChunkSink, outside: Any) -> None:
        self.own = own
        self.outside = outside
        self.store = own.store
        self.collection = own.collection

    def row_id(self, key: str) -> str:
        return self.own.row_id(key)

    async def add(
        self, keys: list[str], docs: list[Document], created_at: datetime | None = None
    ) -> None:
        vectors = await self.own.embedder.embed([d.get("pageContent") or "" for d in docs])
        async with self.outside.errors():
            await self.outside.write(docs, vectors)
        await self.own.add(keys, docs, created_at, vectors)

    async def delete(self, keys: list[str]) -> None:
        rows = await self.store.chunks_by_id(self.collection, [self.row_id(k) for k in keys])
        docs = [{"pageContent": r.content, "metadata": dict(r.metadata_ or {})} for r in rows]
        async with self.outside.errors():
            await self.outside.remove(docs)
        await self.own.delete(keys)
