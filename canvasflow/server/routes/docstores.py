"""Document stores in Flowise's shape (``/api/v1/document-store``, admin): knowledge kept
outside canvases under a name. This part: the stores themselves (create, list, get,
update, delete), each with its chunk and character counts and the canvases that read
it; the loader catalogue and a loader's chunks previewed without saving anything.

A store's chunks live in canvasflow's persistent vector store under the collection
``docstore:<id>``, indexed with a record manager (``docstore/indexing.py``); deleting
the store deletes them and its records."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from canvasflow.engine.catalog import describe
from canvasflow.errors import AlreadyExists, BadRequest, CanvasflowError, InputInvalid, NotFound
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.node import REGISTRY, Node
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    Chunk,
    DocumentStoreIn,
    DocumentStoreOut,
    DocumentStoreUpdate,
    LoaderPreviewIn,
    LoaderPreviewOut,
    WhereUsed,
)
from canvasflow.store.models import Canvas, DocumentStoreRow, utcnow
from canvasflow.store.repo import Conflict, Store

router = APIRouter(
    prefix="/api/v1/document-store",
    tags=["document stores"],
    dependencies=[Depends(require_admin)],
    responses=ERRORS,
)

# the nodes that read a document store by its id (Flowise's names)
READERS = frozenset({"documentStore", "documentStoreVS"})


def namespace(store_id: str) -> str:
    """A store's chunk collection and record manager namespace."""
    return f"docstore:{store_id}"


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
    totals = await store.chunk_totals([namespace(r.id) for r in rows])
    used: dict[str, list[WhereUsed]] = {}
    for canvas in await store.list_canvases():
        for store_id in _readers(canvas):
            used.setdefault(store_id, []).append(WhereUsed(id=canvas.id, name=canvas.name))
    out = []
    for row in rows:
        chunks, chars = totals.get(namespace(row.id), (0, 0))
        out.append(
            DocumentStoreOut(
                id=row.id,
                name=row.name,
                description=row.description,
                status=row.status,
                loaders=list(row.loaders or []),
                whereUsed=used.get(row.id, []),
                vectorStoreConfig=row.vector_store_config,
                embeddingConfig=row.embedding_config,
                recordManagerConfig=row.record_manager_config,
                totalChunks=chunks,
                totalChars=chars,
                createdDate=row.created_at,
                updatedDate=row.updated_at,
            )
        )
    return out


async def _row(store: Store, store_id: str) -> DocumentStoreRow:
    row = await store.document_store(store_id)
    if row is None:
        raise NotFound(f"no document store {store_id}")
    return row


@router.post("/store", response_model=DocumentStoreOut, status_code=201)
async def create_store(body: DocumentStoreIn, request: Request) -> DocumentStoreOut:
    """A new, empty document store (its name is its own)."""
    store = state(request).store
    now = utcnow()
    row = DocumentStoreRow(
        id=str(uuid.uuid4()),
        name=body.name,
        description=body.description,
        status="EMPTY",
        loaders=[],
        created_at=now,
        updated_at=now,
    )
    try:
        await store.add_named(row)
    except Conflict:
        raise AlreadyExists(f"a document store named {body.name!r} exists") from None
    return (await _out(store, [row]))[0]


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
    store = state(request).store
    row = await _row(store, store_id)
    await store.drop_namespace(namespace(row.id))
    if not await store.delete_named(DocumentStoreRow, row.id):
        raise NotFound(f"no document store {store_id}")
    return Response(status_code=204)


# -- loaders ----------------------------------------------------------------------------

LOADERS, SPLITTERS = "Document Loaders", "Text Splitters"


def _of(category: str, name: str, what: str) -> type[Node]:
    cls = REGISTRY.get(name)
    if cls is None or cls.category != category:
        known = ", ".join(sorted(n for n, c in REGISTRY.items() if c.category == category))
        raise BadRequest(f"{name!r} is not a {what} canvasflow has (it has: {known})")
    return cls


@router.get("/components/loaders", response_model=list[dict[str, Any]])
async def loaders() -> list[dict[str, Any]]:
    """The document loaders, described as Flowise describes nodes (their inputs are the
    loader form's fields)."""
    return [describe(c) for n, c in sorted(REGISTRY.items()) if c.category == LOADERS]


@router.post("/loader/preview", response_model=LoaderPreviewOut)
async def preview(body: LoaderPreviewIn, request: Request) -> LoaderPreviewOut:
    """A loader's chunks with its text splitter, the first ``previewChunkCount`` of
    them and how many there are; nothing is saved or embedded."""
    loader = _of(LOADERS, body.loaderName, "document loader")
    st = state(request)
    ctx = RunContext(question="", settings=st.settings, credentials=st.credentials, store=st.store)
    values = dict(body.loaderConfig)
    splitter = _of(SPLITTERS, body.splitterName, "text splitter") if body.splitterName else None
    try:
        if splitter is not None:
            values["textSplitter"] = await splitter("splitter", dict(body.splitterConfig)).build(
                ctx
            )
        docs = await loader("loader", values).build(ctx)
    except CanvasflowError:
        raise
    except Exception as exc:  # a configuration the loader cannot read: the caller's to fix
        raise InputInvalid(f"{body.loaderName}: {type(exc).__name__}: {exc}") from None
    docs = docs if isinstance(docs, list) else [docs]
    shown = [
        Chunk(pageContent=str(d.get("pageContent") or ""), metadata=dict(d.get("metadata") or {}))
        for d in docs[: body.previewChunkCount]
    ]
    return LoaderPreviewOut(
        chunks=shown, totalChunks=len(docs), previewChunkCount=body.previewChunkCount
    )
