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
from tests.support import edge, make_canvas, node, poll, ref


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


# -- loaders processed, chunks, the vector store, Flowise's upsert (a real server) ---------


def _upload(client: Any, store_id: str, files: dict[str, bytes], **form: str) -> Any:
    return client.post(
        f"/api/v1/document-store/upsert/{store_id}",
        files=[("files", (name, data)) for name, data in files.items()],
        data=form,
    )


def test_files_are_upserted_queried_edited_and_kept_in_sync(client: Any) -> None:
    base = "/api/v1/document-store"
    store = client.post(f"{base}/store", json={"name": "atlas"}).json()
    sid = store["id"]
    paris = b"Paris is the capital of France. It lies on the Seine."
    rome = b"Rome is the capital of Italy. The Colosseum is there."
    r = _upload(
        client,
        sid,
        {
            "france.txt": paris,
            "italy.md": rome,
            "empty.txt": b"",
            "photo.bmp": b"BM not a text",
        },
        splitter='{"name": "recursiveCharacterTextSplitter", "config": {"chunkSize": 30, '
        '"chunkOverlap": 0}}',
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["numAdded"] >= 4 and done["numSkipped"] == 0 and done["numDeleted"] == 0
    failed = {f["source"]: f["error"] for f in done["failed"]}
    assert set(failed) == {"empty.txt", "photo.bmp"}
    assert failed["empty.txt"] == "the file is empty"
    assert failed["photo.bmp"].startswith("no loader reads .bmp files")
    (lid,) = done["loaderIds"]
    got = client.get(f"{base}/store/{sid}").json()
    assert got["status"] == "UPSERTED" and got["totalChunks"] == done["numAdded"]
    (loader,) = got["loaders"]
    assert loader["loaderId"] == "fileLoader" and loader["status"] == "SYNC"
    assert [f["name"] for f in loader["files"]] == [
        "empty.txt",
        "france.txt",
        "italy.md",
        "photo.bmp",
    ]
    assert loader["job"]["state"] == "done" and loader["job"]["files"] == 4

    # the test box: the nearest chunks, best first, with scores
    r = client.post(
        f"{base}/vectorstore/query", json={"storeId": sid, "query": "Colosseum", "topK": 2}
    )
    assert r.status_code == 200, r.text
    docs = r.json()["docs"]
    assert len(docs) == 2 and docs[0]["metadata"]["source"] == "italy.md"
    assert "Colosseum" in docs[0]["pageContent"] and docs[0]["score"] >= docs[1]["score"]

    # nothing changed: nothing embedded
    again = client.post(f"{base}/refresh/{sid}").json()
    assert again["numAdded"] == 0 and again["numSkipped"] == done["numAdded"]
    assert again["numDeleted"] == 0

    # one file changed, into the same loader: only its new chunks embedded, its old gone
    changed = _upload(
        client, sid, {"france.txt": b"Paris is the capital of France. Lyon is not."}, docId=lid
    ).json()
    assert changed["numAdded"] >= 1 and changed["numDeleted"] >= 1
    assert changed["numSkipped"] >= 2  # italy.md's chunks, and France's first sentence

    # the chunk browser: a page, an edit (embedded again, a new id), a delete
    page = client.get(f"{base}/chunks/{sid}/{lid}/1").json()
    assert page["count"] == len(page["chunks"]) and page["storeName"] == "atlas"
    assert page["chunks"][0]["chunkNo"] == 1 and page["file"]["id"] == lid
    first = page["chunks"][0]
    r = client.put(
        f"{base}/chunks/{sid}/{lid}/{first['id']}", json={"pageContent": "Zanzibar spice trade."}
    )
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["id"] != first["id"] and edited["metadata"] == first["metadata"]
    top = client.post(f"{base}/vectorstore/query", json={"storeId": sid, "query": "Zanzibar spice"})
    assert top.json()["docs"][0]["pageContent"] == "Zanzibar spice trade."
    assert client.delete(f"{base}/chunks/{sid}/{lid}/{edited['id']}").status_code == 204
    assert client.get(f"{base}/chunks/{sid}/{lid}/1").json()["count"] == page["count"] - 1
    assert client.delete(f"{base}/chunks/{sid}/{lid}/{edited['id']}").status_code == 404
    assert client.get(f"{base}/chunks/{sid}/{lid}/0").status_code == 400

    # processing in the background: 202 at once, its progress readable until it is done
    r = client.post(f"{base}/loader/process/{lid}", json={"storeId": sid})
    assert r.status_code == 202, r.text
    job = poll(
        lambda: (j := client.get(f"{base}/job/{sid}/{lid}").json())["state"] != "running" and j,
        timeout=30,
    )
    assert job["state"] == "done" and job["files"] == 4 and job["embedded"] == 1  # re-made

    # the vector store emptied (loaders stay, STALE), then the loader deleted
    assert client.delete(f"{base}/vectorstore/{sid}").status_code == 204
    emptied = client.get(f"{base}/store/{sid}").json()
    assert emptied["totalChunks"] == 0 and emptied["status"] == "STALE"
    assert client.delete(f"{base}/loader/{sid}/{lid}").status_code == 204
    assert client.get(f"{base}/store/{sid}").json()["status"] == "EMPTY"
    assert client.delete(f"{base}/store/{sid}").status_code == 204


def test_loaders_are_saved_and_the_vector_store_is_configured(client: Any) -> None:
    base = "/api/v1/document-store"
    sid = client.post(f"{base}/store", json={"name": "notes"}).json()["id"]
    for kind, name in (
        ("embeddings", "wordLlamaEmbeddings"),
        ("vectorstore", "canvasflowDocumentStore"),
        ("recordmanager", "canvasflowRecordManager"),
    ):
        assert name in {c["name"] for c in client.get(f"{base}/components/{kind}").json()}
    text = "\n\n".join(f"Note {i}: the meeting moved to room {i}." for i in range(6))
    r = client.post(
        f"{base}/loader/save",
        json={
            "storeId": sid,
            "loaderId": "plainText",
            "loaderConfig": {"text": text},
            "splitterId": "characterTextSplitter",
            "splitterConfig": {"chunkSize": 50, "chunkOverlap": 0, "separator": "\n\n"},
        },
    )
    assert r.status_code == 200, r.text
    loader = r.json()
    assert loader["status"] == "NEW" and loader["loaderName"] == "Plain Text"
    assert client.get(f"{base}/store/{sid}").json()["status"] == "NEW"
    r = client.post(
        f"{base}/vectorstore/insert",
        json={"storeId": sid, "vectorStoreConfig": {"topK": 2}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["numAdded"] == 6 and r.json()["loaderIds"] == [loader["id"]]
    found = client.post(f"{base}/vectorstore/query", json={"storeId": sid, "query": "room 3"})
    assert len(found.json()["docs"]) == 2  # the store's topK
    # other embeddings: the chunks made with the old ones go (process again)
    r = client.post(
        f"{base}/vectorstore/save",
        json={"storeId": sid, "embeddingName": "openAIEmbeddings", "embeddingConfig": {}},
    )
    assert r.status_code == 200 and r.json()["totalChunks"] == 0
    assert r.json()["loaders"][0]["status"] == "STALE"
    # what it cannot do says so
    for body in (
        {"storeId": sid, "embeddingName": "chatOpenAI"},
        {"storeId": sid, "vectorStoreName": "documentStoreVS"},
    ):
        r = client.post(f"{base}/vectorstore/save", json=body)
        assert r.status_code == 400 and r.json()["message"], r.text
    r = client.post(f"{base}/loader/save", json={"storeId": sid, "loaderId": "chatOpenAI"})
    assert r.status_code == 400
    r = client.post(f"{base}/loader/save", json={"storeId": sid, "loaderId": "plainText"})
    assert r.status_code == 400 and "text required" in r.json()["message"]
    r = client.post(f"{base}/loader/save", json={"storeId": "nope", "loaderId": "plainText"})
    assert r.status_code == 404
    assert client.get(f"{base}/job/{sid}/{loader['id']}").json()["state"] == "done"
    assert client.get(f"{base}/job/{sid}/nope").status_code == 404
    assert client.delete(f"{base}/store/{sid}").status_code == 204


def test_flowises_document_store_nodes_read_a_store(client: Any) -> None:
    """Flowise's Document Store (Vector) as a chain's retriever, and its Document Store
    loader's documents in a vector store of the canvas."""
    base = "/api/v1/document-store"
    sid = client.post(f"{base}/store", json={"name": "capitals"}).json()["id"]
    _upload(
        client,
        sid,
        {"capitals.txt": b"Rome is the capital of Italy.\n\nParis is the capital of France."},
        splitter='{"name": "characterTextSplitter", "config": {"chunkSize": 40, '
        '"chunkOverlap": 0, "separator": "\\n\\n"}}',
    )
    flow = {
        "nodes": [
            node("documentStoreVS_0", "documentStoreVS", {"selectedStore": sid}),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock?tokens=3"}),
            node(
                "chain_0",
                "retrievalQAChain",
                {"model": ref("chatOpenAI_0"), "vectorStoreRetriever": ref("documentStoreVS_0")},
            ),
        ],
        "edges": [edge("documentStoreVS_0", "chain_0"), edge("chatOpenAI_0", "chain_0")],
    }
    canvas = make_canvas(str(client.base_url), flow)
    r = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "capital of Italy?", "overrideConfig": {"returnSourceDocuments": True}},
    )
    assert r.status_code == 200, r.text
    sources = r.json()["sourceDocuments"]
    assert sources[0]["pageContent"] == "Rome is the capital of Italy."
    assert sources[0]["metadata"]["score"] > 0
    assert client.get(f"{base}/store/{sid}").json()["whereUsed"][0]["id"] == canvas["id"]
    # the loader: the store's chunks as documents, into the canvas's own vector store
    flow = {
        "nodes": [
            node("documentStore_0", "documentStore", {"selectedStore": "capitals"}),
            node("embeddings_0", "wordLlamaEmbeddings", {}),
            node(
                "store_0",
                "memoryVectorStore",
                {
                    "document": [ref("documentStore_0")],
                    "embeddings": ref("embeddings_0"),
                    "topK": 1,
                },
            ),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock?tokens=3"}),
            node(
                "chain_0",
                "retrievalQAChain",
                {"model": ref("chatOpenAI_0"), "vectorStoreRetriever": ref("store_0")},
            ),
        ],
        "edges": [
            edge("documentStore_0", "store_0"),
            edge("embeddings_0", "store_0"),
            edge("store_0", "chain_0"),
            edge("chatOpenAI_0", "chain_0"),
        ],
    }
    loader_canvas = make_canvas(str(client.base_url), flow)
    r = client.post(
        f"/api/v1/prediction/{loader_canvas['id']}",
        json={"question": "capital of France?", "overrideConfig": {"returnSourceDocuments": True}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["sourceDocuments"][0]["pageContent"] == "Paris is the capital of France."
    for c in (canvas, loader_canvas):
        client.delete(f"/api/v1/canvases/{c['id']}")
    client.delete(f"{base}/store/{sid}")


# -- a job stopped by deleting its store (in-process, both databases) ----------------------


async def held_in_second_batch(service: Any, store_id: str, loader_id: str) -> Any:
    """A loader's job started with embeddings that wait in its second batch until the
    gate given back is set (its first batch written): the job and the gate."""
    import asyncio

    gate, calls = asyncio.Event(), [0]

    class Held:
        async def embed(self, texts: list[str]) -> np.ndarray:
            calls[0] += 1
            if calls[0] > 1:
                await gate.wait()
            return await Counting().embed(texts)

    async def held(_row: Any) -> Held:
        return Held()

    service.embedder = held
    task = await service.start(store_id, loader_id)
    for _ in range(600):  # polled, with a deadline of 30 s
        if calls[0] >= 2:
            break
        await asyncio.sleep(0.05)
    assert calls[0] >= 2, "the job never reached its second batch"
    return task, gate


async def a_held_job(
    store: Store, tmp_path: Any, name: str, count: int, words: int, chunk_size: int
) -> Any:
    """A store with a file loader of ``count`` files of ``words`` words, split at
    ``chunk_size``, its job held in its second batch (:func:`held_in_second_batch`): the
    service, the store's row, the loader, the job and its gate."""
    from canvasflow.config import Settings
    from canvasflow.docstore.service import DocStores

    service = DocStores(store, Settings(data_dir=tmp_path / "data"))
    row = await service.create(name)
    files = [(f"f{i:03}.txt", f"File {i} says {'word ' * words}".encode()) for i in range(count)]
    loader = await service.save_loader(
        row.id,
        loader_name="fileLoader",
        splitter_name="recursiveCharacterTextSplitter",
        splitter_config={"chunkSize": chunk_size, "chunkOverlap": 0},
        files=files,
    )
    task, gate = await held_in_second_batch(service, row.id, loader["id"])
    return service, row, loader, task, gate


async def test_a_store_deleted_while_processing_stops_its_job(store: Store, tmp_path: Any) -> None:

    from canvasflow.docstore.service import collection

    service, row, loader, task, _gate = await a_held_job(store, tmp_path, "big", 300, 200, 200)
    assert not task.done()
    assert await store.chunks_of([collection(row.id, loader["id"])])  # the first batch
    await service.delete_store(row.id)
    assert task.done()
    coll = collection(row.id, loader["id"])
    assert await store.chunks_of([coll]) == [] and await store.records_keys(coll) == []
    assert await store.file_data(loader["id"], "f000.txt") is None


async def test_unchanged_files_are_not_read_again(
    store: Store, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose bytes and loader settings are as last time is not read again (its
    chunks are marked seen); an edited chunk's file is, and gets its text back."""
    from canvasflow.config import Settings
    from canvasflow.docstore.service import DocStores
    from canvasflow.nodes.documents import FileLoader

    read: list[str] = []
    original = FileLoader.documents

    def counting(self: FileLoader, name: str, data: bytes) -> list[dict[str, Any]]:
        read.append(name)
        return original(self, name, data)

    monkeypatch.setattr(FileLoader, "documents", counting)
    service = DocStores(store, Settings(data_dir=tmp_path / "data"))
    row = await service.create("kept")
    files = [(f"f{i}.txt", f"File {i} is about topic {i}.".encode()) for i in range(3)]
    loader = await service.save_loader(row.id, loader_name="fileLoader", files=files)
    first = await service.process(row.id, loader["id"])
    assert first.embedded == 3 and sorted(read) == ["f0.txt", "f1.txt", "f2.txt"]
    read.clear()
    again = await service.process(row.id, loader["id"])
    assert read == [] and (again.embedded, again.skipped, again.deleted) == (0, 3, 0)
    page = await service.chunk_page(row.id, loader["id"], 1)
    chunk = next(c for c in page["chunks"] if c["metadata"]["source"] == "f1.txt")
    await service.edit_chunk(row.id, loader["id"], chunk["id"], "Edited.")
    third = await service.process(row.id, loader["id"])
    assert read == ["f1.txt"] and (third.embedded, third.skipped, third.deleted) == (1, 2, 1)
    texts = {
        c["pageContent"] for c in (await service.chunk_page(row.id, loader["id"], 1))["chunks"]
    }
    assert "File 1 is about topic 1." in texts and "Edited." not in texts


async def test_bad_files_fail_with_their_reason_and_the_rest_go_on(
    store: Store, tmp_path: Any
) -> None:
    import io
    import zipfile

    from pypdf import PdfWriter

    from canvasflow.config import Settings
    from canvasflow.docstore.service import DocStores

    def pdf(password: str | None) -> bytes:
        writer = PdfWriter()
        writer.add_blank_page(width=200, height=200)
        if password:
            writer.encrypt(password)
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.txt", b"\0" * 10_000_000)
    service = DocStores(store, Settings(data_dir=tmp_path / "data"))
    row = await service.create("mixed")
    files = [
        ("good.txt", b"The good file is read."),
        ("broken.pdf", b"%PDF-1.4 not really a PDF"),
        ("locked.pdf", pdf("secret")),
        ("blank.pdf", pdf(None)),
        ("bomb.zip", bomb.getvalue()),
        ("empty.md", b""),
    ]
    loader = await service.save_loader(row.id, loader_name="fileLoader", files=files)
    done = await service.process(row.id, loader["id"])
    reasons = {f["source"]: f["error"] for f in done.failed}
    assert done.state == "done" and done.embedded == 1 and done.files == 6
    assert set(reasons) == {"broken.pdf", "locked.pdf", "blank.pdf", "bomb.zip", "empty.md"}
    assert reasons["broken.pdf"].startswith("not a PDF that can be read")
    assert reasons["locked.pdf"] == "the PDF is encrypted (it needs a password)"
    assert reasons["blank.pdf"] == "the PDF has no text to read"
    assert reasons["bomb.zip"].startswith("no loader reads .zip files")
    assert reasons["empty.md"] == "the file is empty"


async def changed_file(service: Any, store_id: str, loader_id: str, name: str, data: bytes) -> Any:
    """A file of a file loader uploaded again with other content, then processed."""
    await service.save_loader(
        store_id, loader_name="fileLoader", loader_id=loader_id, files=[(name, data)]
    )
    return await service.process(store_id, loader_id)


async def test_a_store_kept_in_qdrant_or_searched_with_faiss(store: Store, tmp_path: Any) -> None:
    """Qdrant (local mode): each chunk is written to it as well and leaves it with its
    file; queries ask it and show its scores. Moving to FAISS empties Qdrant; FAISS
    searches the store's own chunks."""
    from canvasflow.config import Settings
    from canvasflow.docstore.service import DocStores
    from canvasflow.nodes.qdrant import client_for

    settings = Settings(data_dir=tmp_path / "data")
    service = DocStores(store, settings)
    row = await service.create("kept outside")
    await service.configure(
        row.id, vector_store_name="qdrant", vector_store_config={"qdrantCollection": "atlas"}
    )
    qdrant = client_for(str(settings.data_dir / "qdrant"), None)

    async def points() -> int:
        if not await qdrant.collection_exists("atlas"):
            return 0
        return int((await qdrant.count("atlas")).count)

    files = [
        ("rome.txt", b"Rome is the capital of Italy."),
        ("paris.txt", b"Paris is the capital of France."),
        ("bern.txt", b"Bern is the capital of Switzerland."),
    ]
    loader = await service.save_loader(row.id, loader_name="fileLoader", files=files)
    done = await service.process(row.id, loader["id"])
    assert done.embedded == 3 and await points() == 3
    found = await service.query(row.id, "capital of France", 2)
    assert found[0]["pageContent"] == "Paris is the capital of France."
    assert len(found) == 2 and found[0]["score"] >= found[1]["score"] > 0
    # a changed file: its old chunk leaves Qdrant too
    again = await changed_file(
        service, row.id, loader["id"], "bern.txt", b"Bern is the Swiss city."
    )
    assert (again.embedded, again.skipped, again.deleted) == (1, 2, 1) and await points() == 3
    # a chunk deleted in the browser goes from Qdrant
    page = await service.chunk_page(row.id, loader["id"], 1)
    await service.delete_chunk(row.id, loader["id"], page["chunks"][0]["id"])
    assert await points() == 2
    # FAISS instead: Qdrant emptied, the chunks searched where they are kept
    await service.configure(row.id, vector_store_name="faiss")
    assert await points() == 0
    await service.process(row.id, loader["id"])
    found = await service.query(row.id, "the Swiss city", 1)
    assert found[0]["metadata"]["source"] == "bern.txt" and 0 < found[0]["score"] <= 1.0001
    # the in-memory store searches the same chunks, nothing moved (the same scores)
    await service.configure(row.id, vector_store_name="memoryVectorStore")
    assert (await service.query(row.id, "the Swiss city", 1))[0]["score"] == pytest.approx(
        found[0]["score"], abs=1e-4
    )
    await service.delete_store(row.id)


@pytest.mark.parametrize("engine", ["chroma", "pinecone"])
def test_a_store_kept_in_an_outside_engine(client: Any, engine: str) -> None:
    """Chroma (embedded) and Pinecone (its API's double): the store's chunks are written
    to the engine, queried there with its scores, and leave it with their file."""
    base = "/api/v1/document-store"
    configs = {
        "chroma": {"collectionName": "ds_outside"},
        "pinecone": {"pineconeIndex": "ds", "pineconeNamespace": "outside"},
    }
    sid = client.post(f"{base}/store", json={"name": f"on {engine}"}).json()["id"]
    r = client.post(
        f"{base}/vectorstore/save",
        json={"storeId": sid, "vectorStoreName": engine, "vectorStoreConfig": configs[engine]},
    )
    assert r.status_code == 200, r.text
    files = {
        "rome.txt": b"Rome is the capital of Italy.",
        "paris.txt": b"Paris is the capital of France.",
    }
    done = _upload(client, sid, files).json()
    assert done.get("numAdded") == 2, done
    lid = done["loaderIds"][0]
    query = {"storeId": sid, "query": "capital of France"}
    found = client.post(f"{base}/vectorstore/query", json=query).json()["docs"]
    assert found[0]["pageContent"] == "Paris is the capital of France."
    assert found[0]["score"] > found[1]["score"]
    changed = _upload(client, sid, {"paris.txt": b"Paris is on the Seine."}, docId=lid)
    assert changed.json()["numDeleted"] == 1
    query = {"storeId": sid, "query": "capital", "topK": 5}
    found = client.post(f"{base}/vectorstore/query", json=query).json()["docs"]
    assert sorted(d["pageContent"] for d in found) == [
        "Paris is on the Seine.",
        "Rome is the capital of Italy.",
    ]
    assert client.delete(f"{base}/store/{sid}").status_code == 204


async def test_a_store_kept_in_a_postgres_table(tmp_path: Any) -> None:
    """A PostgreSQL table (Flowise's Postgres vector store): the chunks are rows there,
    and leave it with their file and with the store."""
    import subprocess
    from urllib.parse import urlsplit

    from canvasflow.config import Settings
    from canvasflow.docstore.service import DocStores
    from tests.support import create_pg_database, drop_pg_database

    pg = create_pg_database()

    def count() -> str:
        got = subprocess.run(
            ["psql", pg, "-Atc", "select count(*) from chunks"], capture_output=True, text=True
        )
        return got.stdout.strip()

    own = Store(Settings(data_dir=tmp_path / "data").resolved_database_url())
    await own.migrate()
    try:
        db = urlsplit(pg)
        service = DocStores(
            own, Settings(data_dir=tmp_path / "data", allowed_hosts=str(db.hostname))
        )
        row = await service.create("on postgres")
        config = {
            "host": db.hostname,
            "port": db.port,
            "database": db.path.lstrip("/"),
            "tableName": "chunks",
        }
        await service.configure(row.id, vector_store_name="postgres", vector_store_config=config)
        files = [("a.txt", b"Apples are red."), ("b.txt", b"Bananas are yellow.")]
        loader = await service.save_loader(row.id, loader_name="fileLoader", files=files)
        assert (await service.process(row.id, loader["id"])).embedded == 2 and count() == "2"
        found = await service.query(row.id, "yellow bananas", 1)
        assert found[0]["pageContent"] == "Bananas are yellow." and found[0]["score"] > 0
        again = await changed_file(service, row.id, loader["id"], "a.txt", b"Apples are green.")
        assert (again.embedded, again.deleted) == (1, 1) and count() == "2"
        await service.delete_store(row.id)
        assert count() == "0"
    finally:
        await own.close()
        drop_pg_database(pg)


async def test_a_loader_saved_while_its_job_runs(store: Store, tmp_path: Any) -> None:
    """Saving a loader (a file added) while its job runs keeps the job's progress and
    the files of both; the job ends STALE, since it did not read the new file."""
    service, row, loader, task, gate = await a_held_job(store, tmp_path, "busy", 40, 60, 100)
    saved = await service.save_loader(
        row.id,
        loader_name="fileLoader",
        splitter_name="recursiveCharacterTextSplitter",
        splitter_config={"chunkSize": 100, "chunkOverlap": 0},
        loader_id=loader["id"],
        files=[("new.txt", b"New.")],
    )
    assert len(saved["files"]) == 41 and saved["job"]["state"] == "running"
    gate.set()
    done = await task
    assert done.state == "done"
    now = service.loader(await service.row(row.id), loader["id"])
    assert now["status"] == "STALE" and len(now["files"]) == 41
    again = await service.process(row.id, loader["id"])
    assert again.embedded == 1 and again.skipped == done.embedded  # only the new file read
    assert service.loader(await service.row(row.id), loader["id"])["status"] == "SYNC"
