"""What the vector stores on outside engines (Pinecone, Qdrant, Chroma, Postgres) share:
the documents connected to the node are written once per process (the first search
writes them; ids are content hashes, so writing again changes nothing), or on demand by
the upsert route and ``canvasflow ingest``."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from canvasflow.errors import CanvasflowError, UpstreamError

Document = dict[str, Any]

_WRITTEN: set[str] = set()  # the document sets this process has written, by mark


def doc_id(doc: Document) -> str:
    """A document's id: the hash of its text and metadata."""
    raw = orjson.dumps(
        [doc.get("pageContent"), doc.get("metadata") or {}], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(raw).hexdigest()[:32]


def mark_of(where: str, docs: list[Document]) -> str:
    """One set of documents in one place (engine, index or table, namespace)."""
    return hashlib.sha256(
        f"{where}|".encode() + "".join(doc_id(d) for d in docs).encode()
    ).hexdigest()


def flat_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata as Pinecone and Chroma keep it: strings, numbers, booleans, lists of
    strings; anything else as JSON text."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, str | int | float | bool):
            out[key] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = value
        elif value is not None:
            out[key] = orjson.dumps(value).decode()
    return out


class KeptStore:
    """Subclasses set ``engine`` (its name in errors), ``embedder``, ``docs``, ``mark``
    and ``batch``, and write one batch of documents with their vectors in ``write``;
    ``errors()`` wraps their reads."""

    engine = "the vector store"
    embedder: Any
    docs: list[Document]
    mark: str
    batch = 100

    async def write(self, part: list[Document], vectors: Any) -> None:
        raise NotImplementedError

    async def remove(self, docs: list[Document]) -> None:
        """These documents gone from the engine (a document store's stale chunks)."""
        raise NotImplementedError(f"{self.engine} cannot remove documents yet")

    async def search(self, query: str, k: int) -> list[tuple[Document, float]]:
        """The documents nearest the query with the engine's scores, best first."""
        raise NotImplementedError(f"{self.engine} cannot search with scores yet")

    async def add(self, docs: list[Document], progress: Any = None) -> int:
        """Embed and write documents, a batch at a time."""
        done = 0
        for start in range(0, len(docs), self.batch):
            part = docs[start : start + self.batch]
            await self.write(part, await self.embedder.embed([d["pageContent"] for d in part]))
            done += len(part)
            if progress is not None:
                progress(done, len(docs))
        return done

    async def upsert(self, progress: Any = None) -> dict[str, int]:
        """The connected documents into the store; Flowise's counts."""
        async with self.errors():
            added = await self.add(self.docs, progress)
        _WRITTEN.add(self.mark)
        return {"numAdded": added, "numSkipped": 0, "numUpdated": 0, "numDeleted": 0}

    async def written(self) -> None:
        """Write the connected documents if this process has not yet."""
        if self.docs and self.mark not in _WRITTEN:
            await self.add(self.docs)
            _WRITTEN.add(self.mark)

    def errors(self) -> Any:
        return engine_errors(self.engine)


def engine_errors(engine: str) -> Any:
    """``async with engine_errors("Qdrant"):``: an engine's failures (its client's
    exceptions have no common base) become upstream errors naming it; canvasflow's own
    errors pass through."""
    return _EngineErrors(engine)


class _EngineErrors:
    def __init__(self, engine: str) -> None:
        self.engine = engine

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if exc is None or isinstance(exc, CanvasflowError):
            return False
        if isinstance(exc, Exception):
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            named = first if first.startswith(self.engine) else f"{self.engine}: {first}"
            raise UpstreamError(named) from None
        return False
