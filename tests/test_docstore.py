"""Document stores' record manager (LangChain's indexing semantics) on SQLite and
PostgreSQL: re-indexing an unchanged store embeds nothing, a changed file re-embeds its
own chunks and loses its old ones, a deleted file's chunks leave with ``full``, other
namespaces are untouched. The embeddings are the embedded WordLlama model's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from canvasflow.docstore.indexing import ChunkSink, chunk_key, index
from canvasflow.errors import InputInvalid
from canvasflow.store.repo import Store


class Counting:
    """The embedded WordLlama embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        from canvasflow.nodes.retrieval import WordLlamaEmbedder

        self.inner = WordLlamaEmbedder()
        self.texts = 0

    async def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return await self.inner.embed(texts)


def files(**texts: str) -> list[dict[str, Any]]:
    """Each file's paragraphs as chunks, with the file as their source."""
    return [
        {"pageContent": para, "metadata": {"source": name, "part": i}}
        for name, text in texts.items()
        for i, para in enumerate(text.split("\n\n"))
    ]


async def contents(store: Store, collection: str) -> set[str]:
    return {c.content for c in await store.chunks(collection)}


async def test_unchanged_embeds_nothing_changed_reembeds_its_own(store: Store) -> None:
    embedder = Counting()
    sink = ChunkSink(store, "kb", embedder)
    first = files(a="apples are red\n\napples are sweet", b="bananas are long", c="cherries")
    got = await index(first, sink, store, "kb", cleanup="incremental", batch=2)
    assert got.counts() == {"numAdded": 4, "numUpdated": 0, "numSkipped": 0, "numDeleted": 0}
    assert embedder.texts == 4
    assert len(await store.chunks("kb")) == 4

    # the same documents again: nothing embedded, nothing written, nothing deleted
    again = await index(first, sink, store, "kb", cleanup="incremental", batch=2)
    assert again.counts()["numSkipped"] == 4 and again.added == again.deleted == 0
    assert embedder.texts == 4

    # b changed: its new chunk embedded, its old one gone; a and c untouched
    changed = files(a="apples are red\n\napples are sweet", b="bananas are yellow", c="cherries")
    got = await index(changed, sink, store, "kb", cleanup="incremental", batch=2)
    assert (got.added, got.skipped, got.deleted) == (1, 3, 1)
    assert embedder.texts == 5
    assert await contents(store, "kb") == {
        "apples are red",
        "apples are sweet",
        "bananas are yellow",
        "cherries",
    }

    # c deleted: incremental cannot know (it sees no chunk of c); full removes it
    without_c = files(a="apples are red\n\napples are sweet", b="bananas are yellow")
    got = await index(without_c, sink, store, "kb", cleanup="incremental")
    assert got.deleted == 0 and "cherries" in await contents(store, "kb")
    got = await index(without_c, sink, store, "kb", cleanup="full")
    assert (got.added, got.skipped, got.deleted) == (0, 3, 1)
    assert await contents(store, "kb") == {
        "apples are red",
        "apples are sweet",
        "bananas are yellow",
    }
    assert embedder.texts == 5
    assert sorted(await store.records_keys("kb")) == sorted(chunk_key(d) for d in without_c)


async def test_namespaces_are_apart_and_bad_input_is_refused(store: Store) -> None:
    embedder = Counting()
    one, two = ChunkSink(store, "one", embedder), ChunkSink(store, "two", embedder)
    docs = files(x="the same text in two stores")
    await index(docs, one, store, "one", cleanup="full")
    await index(docs, two, store, "two", cleanup="full")
    # emptying one store (full, no documents) leaves the other as it was
    got = await index([], one, store, "one", cleanup="full")
    assert got.deleted == 1 and await store.chunks("one") == []
    assert await contents(store, "two") == {"the same text in two stores"}

    # without cleanup no source is needed, and nothing is ever deleted
    got = await index([{"pageContent": "no source", "metadata": {}}], two, store, "two")
    assert got.added == 1 and got.deleted == 0
    with pytest.raises(InputInvalid, match="source"):
        await index([{"pageContent": "no source"}], two, store, "two", cleanup="incremental")
    with pytest.raises(InputInvalid, match="cleanup"):
        await index(docs, two, store, "two", cleanup="sometimes")  # type: ignore[arg-type]
    # a chunk given twice in one batch is written once
    twice = files(y="twice") * 2
    got = await index(twice, two, store, "two", cleanup="incremental")
    assert (got.added, got.skipped) == (1, 1)


async def test_a_thousand_chunks_stream_through_in_batches(store: Store) -> None:
    """Chunks come from an async generator a batch at a time (a large store is never
    held whole); a second run over the same stream embeds nothing."""
    embedder = Counting()
    sink = ChunkSink(store, "big", embedder)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        for i in range(1000):
            yield {"pageContent": f"chunk number {i}", "metadata": {"source": f"f{i // 10}"}}

    got = await index(stream(), sink, store, "big", cleanup="full", batch=128)
    assert got.added == 1000 and embedder.texts == 1000
    got = await index(stream(), sink, store, "big", cleanup="full", batch=128)
    assert (got.added, got.skipped, got.deleted) == (0, 1000, 0) and embedder.texts == 1000
    assert len(await store.chunks("big")) == 1000
