"""Chroma (``chromadb``): embedded, kept in the data directory, or a Chroma server at
an allowed address. canvasflow always gives Chroma the vectors (the node's embeddings),
so Chroma never loads a model of its own; its telemetry is off. chromadb's client is
synchronous: its calls run in a worker thread."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from canvasflow.errors import CanvasInvalid
from canvasflow.nodes.kept import KeptStore, doc_id, engine_errors, flat_metadata, mark_of
from canvasflow.nodes.retrieval import _docs_of
from canvasflow.nodes.services import allowed_host, credential_value, json_input
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]
_CLIENTS: dict[tuple[str, str | None], Any] = {}


def chroma_client(where: str, key: str | None, tenant: str | None, database: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    found = _CLIENTS.get((where, key))
    if found is None:
        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if where.startswith(("http://", "https://")):
            parts = urlsplit(where)
            found = chromadb.HttpClient(
                host=parts.hostname or "",
                port=parts.port or (443 if parts.scheme == "https" else 8000),
                ssl=parts.scheme == "https",
                headers={"x-chroma-token": key} if key else None,
                settings=settings,
                tenant=tenant or chromadb.DEFAULT_TENANT,
                database=database or chromadb.DEFAULT_DATABASE,
            )
        else:
            found = chromadb.PersistentClient(path=where, settings=settings)
        _CLIENTS[(where, key)] = found
    return found


class ChromaStore(KeptStore):
    engine = "Chroma"

    def __init__(
        self,
        client: Any,
        name: str,
        embedder: Any,
        docs: list[Document],
        k: int,
        where: dict[str, Any] | None,
        mark: str,
    ) -> None:
        self.client = client
        self.name = name
        self.embedder = embedder
        self.docs = docs
        self.k = k
        self.where = where
        self.mark = mark

    def _collection(self) -> Any:
        return self.client.get_or_create_collection(
            self.name, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    async def write(self, part: list[Document], vectors: Any) -> None:
        def upsert() -> None:
            self._collection().upsert(
                ids=[doc_id(d) for d in part],
                embeddings=[[float(x) for x in v] for v in vectors],
                documents=[d["pageContent"] for d in part],
                metadatas=[flat_metadata(d.get("metadata") or {}) or None for d in part],
            )

        await asyncio.to_thread(upsert)

    async def remove(self, docs: list[Document]) -> None:
        if docs:
            ids = [doc_id(d) for d in docs]
            await asyncio.to_thread(lambda: self._collection().delete(ids=ids))

    async def search(self, query: str, k: int) -> list[tuple[Document, float]]:
        vector = (await self.embedder.embed([query]))[0]

        def read() -> Any:
            return self._collection().query(
                query_embeddings=[[float(x) for x in vector]],
                n_results=k,
                where=self.where or None,
                include=["documents", "metadatas", "distances"],
            )

        found = await asyncio.to_thread(read)
        texts = (found.get("documents") or [[]])[0]
        metas = (found.get("metadatas") or [[]])[0]
        distances = (found.get("distances") or [[]])[0] or [1.0] * len(texts)
        return [  # the collection's space is cosine: its distance is 1 - similarity
            ({"pageContent": str(t or ""), "metadata": dict(m or {})}, 1.0 - float(d))
            for t, m, d in zip(texts, metas, distances, strict=False)
        ]

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        async with self.errors():
            await self.written()
            return [doc for doc, _ in await self.search(query, k or self.k)]


@register
class Chroma(Node):
    name = "chroma"
    needs = (("chromadb", "chroma"),)
    label = "Chroma"
    category = "Vector Stores"
    description = "Chroma: embedded in the data directory, or a server at an allowed address"
    base_classes = ("Chroma", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = flowise_inputs(
        name,
        Input("chromaURL", "string", optional=True, placeholder="empty: embedded"),
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> ChromaStore:
        name = str(self.get("collectionName") or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,61}[A-Za-z0-9]", name):
            raise CanvasInvalid(
                f"node {self.id}: a Chroma collection name is 3 to 63 letters, digits, _ . -",
                code="bad_input",
            )
        url = str(self.get("chromaURL") or "").strip()
        ref = self.get("credential")
        if url:
            allowed_host(ctx, self, url, "Chroma")
            where = url
            key = await credential_value(ctx, ref, "chromaApiKey")
            tenant = await credential_value(ctx, ref, "chromaTenant")
            database = await credential_value(ctx, ref, "chromaDatabase")
        else:
            where, key, tenant, database = str(ctx.settings.data_dir / "chroma"), None, None, None
        raw = json_input(self, "chromaMetadataFilter")
        docs = _docs_of(self.get("document"))
        mark = mark_of(f"{where}|{name}", docs)
        async with engine_errors("Chroma"):
            client = await asyncio.to_thread(chroma_client, where, key, tenant, database)
        return ChromaStore(
            client,
            name,
            self.get("embeddings"),
            docs,
            to_int(self.get("topK"), 4) or 4,
            raw if isinstance(raw, dict) else None,
            mark,
        )
