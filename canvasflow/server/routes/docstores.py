"""Document stores in Flowise's shape (``/api/v1/document-store``, admin): knowledge kept
outside canvases under a name. The stores (create, list, get, update, delete), each with
its chunk and character counts and the canvases that read it; their loaders (previewed,
saved, processed in the background with progress, deleted); their chunks (paged,
edited, deleted); their vector store (configured, queried with scores, emptied); and
Flowise's API for programs (``/upsert`` with files, ``/refresh``). The work itself is
``docstore/service.py``'s; the CLI calls it too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from canvasflow.docstore.service import (
    EMBEDDINGS,
    LOADERS,
    OUTSIDE,
    RECORD_MANAGER,
    SEARCHED,
    DocStores,
    Progress,
    node_of,
    require_inputs,
    totals,
)
from canvasflow.engine.catalog import describe
from canvasflow.errors import AlreadyExists, CanvasflowError, InputInvalid, NotFound, Unavailable
from canvasflow.queue.jobs import QueueFull
from canvasflow.runtime.node import REGISTRY, load_all
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    Chunk,
    ChunkEditIn,
    ChunkPageOut,
    DocumentStoreIn,
    DocumentStoreOut,
    DocumentStoreUpdate,
    JobOut,
    LoaderOut,
    LoaderPreviewIn,
    LoaderPreviewOut,
    LoaderSaveIn,
    ProcessIn,
    QueryIn,
    QueryOut,
    StoredChunk,
    UpsertOut,
    VectorStoreIn,
    WhereUsed,
)
from canvasflow.store.models import Canvas, DocumentStoreRow
from canvasflow.store.repo import Conflict, Store

router = APIRouter(
    prefix="/api/v1/document-store",
    tags=["document stores"],
    dependencies=[Depends(require_admin)],
    responses=ERRORS,
)

# the nodes that read a document store by its id (Flowise's names)
READERS = frozenset({"documentStore", "documentStoreVS"})


def _readers(canvas: Canvas) -> set[str]:
    """The document stores a canvas's nodes read (their ``selectedStore``)."""
    try:
        flow = orjson.loads(canvas.flow_data)
    except orjson.JSONDecodeError:
        return set()
    found: set[str] = set()
    for node in flow.get("nodes") or () if isinstance(flow, dict) else ():
        data = node.get("data") if isinstance(node, dict) else None
        if isinstance(data, dict) and data.get("name") in READERS:
            selected = (data.get("inputs") or {}).get("selectedStore")
            if isinstance(selected, str) and selected:
                found.add(selected)
    return found


async def _out(store: Store, rows: list[DocumentStoreRow]) -> list[DocumentStoreOut]:
    counted = await totals(store, rows)
    used: dict[str, list[WhereUsed]] = {}
    for canvas in await store.list_canvases():
        for store_id in _readers(canvas):
            used.setdefault(store_id, []).append(WhereUsed(id=canvas.id, name=canvas.name))
    return [
        DocumentStoreOut(
            id=row.id,
            name=row.name,
            description=row.description,
            status=row.status,
            loaders=[LoaderOut.model_validate(e) for e in row.loaders or []],
            whereUsed=used.get(row.id, []) + used.get(row.name, []),
            vectorStoreConfig=row.vector_store_config,
            embeddingConfig=row.embedding_config,
            recordManagerConfig=row.record_manager_config,
            totalChunks=counted[row.id][0],
            totalChars=counted[row.id][1],
            createdDate=row.created_at,
            updatedDate=row.updated_at,
        )
        for row in rows
    ]


async def _row(store: Store, store_id: str) -> DocumentStoreRow:
    row = await store.document_store(store_id)
    if row is None:
        raise NotFound(f"no document store {store_id}")
    return row


@router.post("/store", response_model=DocumentStoreOut, status_code=201)
async def create_store(body: DocumentStoreIn, request: Request) -> DocumentStoreOut:
    """A new, empty document store (its name is its own)."""
    service = _service(request)
    row = await service.create(body.name, body.description)
    return (await _out(service.store, [row]))[0]


@router.get("/store", response_model=list[DocumentStoreOut])
async def list_stores(request: Request) -> list[DocumentStoreOut]:
    """Every document store, by name."""
    store = state(request).store
    return await _out(store, await store.library(DocumentStoreRow))


@router.get("/store/{store_id}", response_model=DocumentStoreOut)
async def get_store(store_id: str, request: Request) -> DocumentStoreOut:
    """One document store, by id or name."""
    store = state(request).store
    return (await _out(store, [await _row(store, store_id)]))[0]


@router.put("/store/{store_id}", response_model=DocumentStoreOut)
async def update_store(
    store_id: str, body: DocumentStoreUpdate, request: Request
) -> DocumentStoreOut:
    """A store's name or description changed."""
    store = state(request).store
    row = await _row(store, store_id)
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    try:
        changed = await store.update_named(DocumentStoreRow, row.id, **changes)
    except Conflict:
        raise AlreadyExists(f"a document store named {changes.get('name')!r} exists") from None
    if changed is None:  # deleted meanwhile
        raise NotFound(f"no document store {store_id}")
    return (await _out(store, [changed]))[0]


@router.delete("/store/{store_id}", status_code=204)
async def delete_store(store_id: str, request: Request) -> Response:
    """A store, its chunks and its record manager's keys."""
    await _service(request).delete_store(store_id)
    return Response(status_code=204)


# -- loaders ----------------------------------------------------------------------------


def _service(request: Request) -> DocStores:
    st = state(request)
    return DocStores(st.store, st.settings, st.credentials)


def _of_category(category: str) -> list[dict[str, Any]]:
    load_all()
    return [describe(c) for n, c in sorted(REGISTRY.items()) if c.category == category]


@router.get("/components/loaders", response_model=list[dict[str, Any]])
async def loaders() -> list[dict[str, Any]]:
    """The document loaders, described as Flowise describes nodes (their inputs are the
    loader form's fields)."""
    return _of_category(LOADERS)


@router.get("/components/embeddings", response_model=list[dict[str, Any]])
async def embeddings() -> list[dict[str, Any]]:
    """The embeddings a store may use (Embedded WordLlama, the default, needs nothing)."""
    return _of_category(EMBEDDINGS)


@router.get("/components/vectorstore", response_model=list[dict[str, Any]])
async def vector_stores() -> list[dict[str, Any]]:
    """The vector stores a document store may use: canvasflow's own (the default), the
    in-memory one and FAISS (searched over the store's own chunks), and Qdrant, Chroma,
    Pinecone and Postgres (each chunk written to the engine as well)."""
    return [
        describe(node_of("Vector Stores", n, "vector store")) for n in sorted(SEARCHED | OUTSIDE)
    ]


@router.get("/components/recordmanager", response_model=list[dict[str, Any]])
async def record_managers() -> list[dict[str, Any]]:
    """The record managers (canvasflow's database keeps a hash of every chunk)."""
    return [
        {
            "name": RECORD_MANAGER,
            "label": "canvasflow Record Manager",
            "category": "Record Manager",
            "description": "Chunk hashes in canvasflow's database (SQLite or PostgreSQL): "
            "re-processing embeds only what changed",
            "inputs": [],
        }
    ]


@router.post("/loader/preview", response_model=LoaderPreviewOut)
async def preview(body: LoaderPreviewIn, request: Request) -> LoaderPreviewOut:
    """A loader's chunks with its text splitter, the first ``previewChunkCount`` of
    them and how many there are; nothing is saved or embedded."""
    try:
        name = body.loader_node()
    except ValueError as exc:
        raise InputInvalid(str(exc)) from None
    loader = node_of(LOADERS, name, "document loader")
    require_inputs(loader, body.loaderConfig)
    service = _service(request)
    try:
        node = await service.loader_node(
            loader, body.loaderConfig, body.splitter_node(), body.splitterConfig
        )
        docs = await node.build(service.ctx())
    except CanvasflowError:
        raise
    except Exception as exc:  # a configuration the loader cannot read: the caller's to fix
        raise InputInvalid(f"{name}: {type(exc).__name__}: {exc}") from None
    docs = docs if isinstance(docs, list) else [docs]
    shown = [
        Chunk(pageContent=str(d.get("pageContent") or ""), metadata=dict(d.get("metadata") or {}))
        for d in docs[: body.previewChunkCount]
    ]
    return LoaderPreviewOut(
        chunks=shown, totalChunks=len(docs), previewChunkCount=body.previewChunkCount
    )


@router.post("/loader/save", response_model=LoaderOut)
async def save_loader(body: LoaderSaveIn, request: Request) -> LoaderOut:
    """A loader added to a store (or, with ``id``, changed); nothing is processed yet."""
    try:
        name = body.loader_node()
    except ValueError as exc:
        raise InputInvalid(str(exc)) from None
    entry = await _service(request).save_loader(
        body.storeId,
        loader_name=name,
        loader_config=body.loaderConfig,
        splitter_name=body.splitter_node(),
        splitter_config=body.splitterConfig,
        loader_id=body.id,
    )
    return LoaderOut.model_validate(entry)


@router.post(
    "/loader/process/{loader_id}",
    response_model=LoaderOut,
    status_code=202,
    responses={200: {"model": LoaderOut, "description": "Processed (wait)"}},
)
async def process_loader(
    loader_id: str, body: ProcessIn, request: Request, response: Response
) -> LoaderOut:
    """A loader processed: its sources read a file at a time, split, and indexed into
    the store's vector store (only new or changed chunks embedded). In the background
    (its progress at ``GET /job/{store}/{loader}``), or with ``wait`` before answering.
    In queue mode a worker processes it."""
    st = state(request)
    service = _service(request)
    row = await service.row(body.storeId)
    service.loader(row, loader_id)
    if st.settings.mode == "queue" and st.queue is not None:  # a worker processes it
        await service.mark_running(row.id, loader_id)
        try:
            await st.queue.submit_docstore(row.id, loader_id)
        except QueueFull as exc:
            raise Unavailable(f"the queue is full: {exc}") from None
        if body.wait:
            await service.finished(row.id, loader_id, st.settings.docstore_wait)
            response.status_code = 200
    else:
        task = await service.start(row.id, loader_id)  # its job written: running
        if body.wait:
            await asyncio.shield(task)
            response.status_code = 200
    return LoaderOut.model_validate(service.loader(await service.row(row.id), loader_id))


@router.get("/job/{store_id}/{loader_id}", response_model=JobOut)
async def job(store_id: str, loader_id: str, request: Request) -> JobOut:
    """A loader's processing as it goes (written by whichever process runs it)."""
    service = _service(request)
    entry = service.loader(await service.row(store_id), loader_id)
    if not entry.get("job"):
        raise NotFound(f"loader {loader_id} has not been processed")
    return JobOut.model_validate(entry["job"])


@router.get(
    "/job/{store_id}/{loader_id}/stream",
    responses={200: {"content": {"text/event-stream": {"schema": JobOut.model_json_schema()}}}},
)
async def job_stream(store_id: str, loader_id: str, request: Request) -> StreamingResponse:
    """A loader's processing as server-sent events (``data: <job>``), one each time it
    changes, until it ends (the studio's progress bar)."""
    service = _service(request)
    row = await service.row(store_id)
    service.loader(row, loader_id)

    async def events() -> AsyncIterator[bytes]:
        last = None
        while not await request.is_disconnected():
            try:
                entry = service.loader(await service.row(row.id), loader_id)
            except NotFound:
                yield b"event: gone\ndata: {}\n\n"
                return
            job = entry.get("job")
            if job != last:
                last = job
                yield b"data: " + orjson.dumps(job) + b"\n\n"
            if not job or job.get("state") != "running":
                if entry.get("status") != "SYNCING":
                    return
            await asyncio.sleep(0.25)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


@router.delete("/loader/{store_id}/{loader_id}", status_code=204)
async def delete_loader(store_id: str, loader_id: str, request: Request) -> Response:
    """A loader with its files, chunks and record manager keys (its job stops)."""
    await _service(request).delete_loader(store_id, loader_id)
    return Response(status_code=204)


# -- chunks -----------------------------------------------------------------------------


@router.get("/chunks/{store_id}/{loader_id}/{page}", response_model=ChunkPageOut)
async def chunks(store_id: str, loader_id: str, page: int, request: Request) -> ChunkPageOut:
    """A page (50) of a loader's chunks."""
    if page < 1:
        raise InputInvalid("pages are counted from 1")
    found = await _service(request).chunk_page(store_id, loader_id, page)
    return ChunkPageOut.model_validate(found)


@router.put("/chunks/{store_id}/{loader_id}/{chunk_id}", response_model=StoredChunk)
async def edit_chunk(
    store_id: str, loader_id: str, chunk_id: str, body: ChunkEditIn, request: Request
) -> StoredChunk:
    """A chunk's text (and metadata) changed and embedded again; it has a new id."""
    found = await _service(request).edit_chunk(
        store_id, loader_id, chunk_id, body.pageContent, body.metadata
    )
    return StoredChunk.model_validate(found)


@router.delete("/chunks/{store_id}/{loader_id}/{chunk_id}", status_code=204)
async def delete_chunk(store_id: str, loader_id: str, chunk_id: str, request: Request) -> Response:
    await _service(request).delete_chunk(store_id, loader_id, chunk_id)
    return Response(status_code=204)


# -- the vector store -------------------------------------------------------------------


async def _configure(body: VectorStoreIn, request: Request) -> DocumentStoreOut:
    service = _service(request)
    row = await service.configure(
        body.storeId,
        embedding_name=body.embeddingName,
        embedding_config=body.embeddingConfig,
        vector_store_name=body.vectorStoreName,
        vector_store_config=body.vectorStoreConfig,
        record_manager_name=body.recordManagerName,
        record_manager_config=body.recordManagerConfig,
    )
    return (await _out(service.store, [row]))[0]


@router.post("/vectorstore/save", response_model=DocumentStoreOut)
async def save_vector_store(body: VectorStoreIn, request: Request) -> DocumentStoreOut:
    """The store's embeddings, vector store and record manager (other embeddings than
    before make its chunks go: process it again)."""
    return await _configure(body, request)


@router.post("/vectorstore/update", response_model=DocumentStoreOut)
async def update_vector_store(body: VectorStoreIn, request: Request) -> DocumentStoreOut:
    """The same as ``/vectorstore/save`` (Flowise has both)."""
    return await _configure(body, request)


def _counts(done: Progress, loader_ids: list[str]) -> UpsertOut:
    return UpsertOut(
        numAdded=done.embedded,
        numSkipped=done.skipped,
        numDeleted=done.deleted,
        failed=done.failed,
        loaderIds=loader_ids,
    )


@router.post("/vectorstore/insert", response_model=UpsertOut)
async def insert(body: VectorStoreIn, request: Request) -> UpsertOut:
    """The configuration saved, and every loader processed into the vector store."""
    await _configure(body, request)
    service = _service(request)
    row = await service.row(body.storeId)
    return _counts(await service.refresh(row.id), [e["id"] for e in row.loaders or []])


@router.post("/vectorstore/query", response_model=QueryOut)
async def query(body: QueryIn, request: Request) -> QueryOut:
    """The chunks nearest the query, best first, with their scores."""
    started = time.perf_counter()
    docs = await _service(request).query(body.storeId, body.query, body.topK)
    return QueryOut(
        timeTaken=round((time.perf_counter() - started) * 1000, 2),
        docs=[StoredChunk.model_validate(d) for d in docs],
    )


@router.delete("/vectorstore/{store_id}", status_code=204)
async def delete_vectors(store_id: str, request: Request) -> Response:
    """The store's chunks gone from its vector store; its loaders stay (STALE)."""
    await _service(request).forget_vectors(store_id)
    return Response(status_code=204)


# -- Flowise's API for programs ---------------------------------------------------------


@router.post("/upsert/{store_id}", response_model=UpsertOut)
async def upsert(
    store_id: str,
    request: Request,
    files: Annotated[list[UploadFile], File(description="The files to add")],
    docId: Annotated[str | None, Form(description="The loader to add them to")] = None,
    replaceExisting: Annotated[bool, Form(description="Its files replaced")] = False,
    loader: Annotated[
        str | None, Form(description='A new loader: {"name": ..., "config": {...}}')
    ] = None,
    splitter: Annotated[str | None, Form(description='{"name": ..., "config": {...}}')] = None,
) -> UpsertOut:
    """Files uploaded (multipart, as Flowise's API) into a loader of the store, which is
    then processed: into ``docId``'s loader, or a new loader (a File Loader unless
    ``loader`` names another, with a recursive character splitter unless ``splitter``
    does)."""
    service = _service(request)
    row = await service.row(store_id)
    limit = service.settings.max_document_bytes
    given: list[tuple[str, bytes]] = []
    for upload in files:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise InputInvalid(
                f"{upload.filename} is over the limit of {limit} bytes", code="file_too_large"
            )
        given.append((upload.filename or "file", data))
    if docId:
        entry = service.loader(row, docId)
        saved = await service.save_loader(
            row.id,
            loader_name=entry["loaderId"],
            loader_config=entry.get("loaderConfig"),
            splitter_name=entry.get("splitterId"),
            splitter_config=entry.get("splitterConfig"),
            loader_id=docId,
            files=given,
            replace_files=replaceExisting,
        )
    else:
        chosen = _json_form("loader", loader) or {"name": "fileLoader"}
        split = _json_form("splitter", splitter) or {
            "name": "recursiveCharacterTextSplitter",
            "config": {"chunkSize": 1000, "chunkOverlap": 200},
        }
        saved = await service.save_loader(
            row.id,
            loader_name=str(chosen.get("name") or "fileLoader"),
            loader_config=dict(chosen.get("config") or {}),
            splitter_name=split.get("name"),
            splitter_config=dict(split.get("config") or {}),
            files=given,
        )
    done = await service.process(row.id, saved["id"])
    return _counts(done, [saved["id"]])


def _json_form(field: str, raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InputInvalid(f"{field} must be JSON") from None
    if not isinstance(value, dict):
        raise InputInvalid(f"{field} must be a JSON object")
    return value


@router.post("/refresh/{store_id}", response_model=UpsertOut)
async def refresh(store_id: str, request: Request) -> UpsertOut:
    """Every loader processed again (their files and configurations as saved)."""
    service = _service(request)
    row = await service.row(store_id)
    return _counts(await service.refresh(row.id), [e["id"] for e in row.loaders or []])
