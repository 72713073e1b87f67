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


# -- the stores' routes (Flowise's /api/v1/document-store/store) ---------------------------


def test_stores_are_made_read_renamed_and_deleted(client: Any) -> None:
    base = "/api/v1/document-store/store"
    r = client.post(base, json={"name": "handbook", "description": "the staff handbook"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] == "EMPTY" and made["loaders"] == [] and made["whereUsed"] == []
    assert made["totalChunks"] == 0 and made["totalChars"] == 0
    assert made["vectorStoreConfig"] is None and made["createdDate"].endswith("Z")
    store_id = made["id"]

    assert client.post(base, json={"name": "handbook"}).status_code == 409
    assert client.post(base, json={"name": ""}).status_code == 400  # invalid body
    assert [s["name"] for s in client.get(base).json()].count("handbook") == 1
    assert client.get(f"{base}/{store_id}").json()["name"] == "handbook"
    assert client.get(f"{base}/handbook").json()["id"] == store_id  # by name too

    # a canvas whose Document Store node reads it is listed where it is used
    flow = {
        "nodes": [
            {
                "id": "documentStoreVS_0",
                "data": {
                    "id": "documentStoreVS_0",
                    "name": "documentStoreVS",
                    "inputs": {"selectedStore": store_id},
                },
            }
        ],
        "edges": [],
    }
    canvas = client.post("/api/v1/canvases", json={"name": "reads handbook", "flowData": flow})
    assert canvas.status_code in (200, 201), canvas.text
    got = client.get(f"{base}/{store_id}").json()
    assert got["whereUsed"] == [{"id": canvas.json()["id"], "name": "reads handbook"}]

    r = client.put(f"{base}/{store_id}", json={"name": "staff handbook", "description": "v2"})
    assert r.status_code == 200 and r.json()["name"] == "staff handbook"
    assert r.json()["description"] == "v2" and r.json()["updatedDate"] >= made["updatedDate"]
    other = client.post(base, json={"name": "other"}).json()
    assert client.put(f"{base}/{other['id']}", json={"name": "staff handbook"}).status_code == 409

    assert client.delete(f"{base}/{store_id}").status_code == 204
    assert client.get(f"{base}/{store_id}").status_code == 404
    assert client.delete(f"{base}/{store_id}").status_code == 404
    assert client.put(f"{base}/nope", json={"name": "x"}).status_code == 404
    assert client.delete(f"{base}/{other['id']}").status_code == 204
    client.delete(f"/api/v1/canvases/{canvas.json()['id']}")


def test_a_loaders_chunks_are_previewed_without_saving(client: Any) -> None:
    base = "/api/v1/document-store"
    catalogue = {c["name"]: c for c in client.get(f"{base}/components/loaders").json()}
    assert {"plainText", "textFile", "pdfFile"} <= set(catalogue)
    assert "text" in {i["name"] for i in catalogue["plainText"]["inputs"]}
    assert all(c["category"] == "Document Loaders" for c in catalogue.values())

    text = " ".join(f"sentence number {i}." for i in range(40))
    body = {
        "loaderName": "plainText",
        "loaderConfig": {"text": text, "metadata": '{"team": "docs"}'},
        "splitterName": "recursiveCharacterTextSplitter",
        "splitterConfig": {"chunkSize": 100, "chunkOverlap": 0},
        "previewChunkCount": 3,
    }
    r = client.post(f"{base}/loader/preview", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["previewChunkCount"] == 3 and len(got["chunks"]) == 3
    assert got["totalChunks"] > 3 and all(len(c["pageContent"]) <= 100 for c in got["chunks"])
    assert got["chunks"][0]["pageContent"].startswith("sentence number 0.")
    assert got["chunks"][0]["metadata"]["team"] == "docs"
    # a bigger chunk size: fewer chunks (the form's live preview as sizes change)
    bigger = client.post(
        f"{base}/loader/preview", json={**body, "splitterConfig": {"chunkSize": 400}}
    ).json()
    assert bigger["totalChunks"] < got["totalChunks"]

    # a file, as Flowise's form sends it
    import base64

    data = base64.b64encode(b"line one\\n\\nline two").decode()
    r = client.post(
        f"{base}/loader/preview",
        json={
            "loaderName": "textFile",
            "loaderConfig": {"txtFile": f"data:text/plain;base64,{data},filename:a.txt"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["chunks"][0]["metadata"]["source"] == "a.txt"

    # not a loader, not a splitter, a file that is not one: 400 saying why
    r = client.post(f"{base}/loader/preview", json={**body, "loaderName": "chatOpenAI"})
    assert r.status_code == 400 and "plainText" in r.json()["message"]
    r = client.post(f"{base}/loader/preview", json={**body, "splitterName": "plainText"})
    assert r.status_code == 400
    r = client.post(
        f"{base}/loader/preview",
        json={"loaderName": "textFile", "loaderConfig": {"txtFile": "not a data url"}},
    )
    assert r.status_code == 400
    # nothing was saved: no store appeared
    assert client.get(f"{base}/store").json() == [] or all(
        s["totalChunks"] == 0 for s in client.get(f"{base}/store").json()
    )
