"""Qdrant (``qdrant-client``): a Qdrant server at an allowed address, or, with no
address, Qdrant's local mode kept in the data directory (one process at a time: local
mode locks its folder). Connected documents are written as ``kept.py`` says."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from canvasflow.errors import CanvasInvalid
from canvasflow.nodes.kept import KeptStore, doc_id, mark_of
from canvasflow.nodes.retrieval import _docs_of
from canvasflow.nodes.services import allowed_host, credential_value, json_input
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]
DISTANCES = {"Cosine": "COSINE", "Euclid": "EUCLID", "Dot": "DOT"}
_CLIENTS: dict[tuple[str, str | None], Any] = {}


def point_id(doc: Document) -> str:
    return str(uuid.UUID(doc_id(doc)))


def client_for(where: str, key: str | None) -> Any:
    """One client per address (or local folder) in this process."""
    from qdrant_client import AsyncQdrantClient

    found = _CLIENTS.get((where, key))
    if found is None:
        if where.startswith(("http://", "https://")):
            found = AsyncQdrantClient(url=where, api_key=key, timeout=30)
        else:
            found = AsyncQdrantClient(path=where)
        _CLIENTS[(where, key)] = found
    return found


class QdrantStore(KeptStore):
    engine = "Qdrant"

    def __init__(
        self,
        client: Any,
        collection: str,
        embedder: Any,
        docs: list[Document],
        k: int,
        distance: str,
        content_key: str,
        metadata_key: str,
        filter_: dict[str, Any] | None,
        batch: int,
        mark: str,
    ) -> None:
        self.client = client
        self.collection = collection
        self.embedder = embedder
        self.docs = docs
        self.k = k
        self.distance = distance
        self.content_key = content_key
        self.metadata_key = metadata_key
        self.filter = filter_
        self.batch = batch
        self.mark = mark

    async def _ensure(self, size: int) -> None:
        from qdrant_client import models

        if not await self.client.collection_exists(self.collection):
            await self.client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(
                    size=size, distance=getattr(models.Distance, DISTANCES[self.distance])
                ),
            )

    async def write(self, part: list[Document], vectors: Any) -> None:
        from qdrant_client import models

        await self._ensure(int(vectors.shape[1]))
        payloads = [
            {self.content_key: d["pageContent"], self.metadata_key: d.get("metadata") or {}}
            for d in part
        ]
        await self.client.upsert(
            self.collection,
            points=[
                models.PointStruct(id=point_id(d), vector=[float(x) for x in v], payload=p)
                for d, v, p in zip(part, vectors, payloads, strict=True)
            ],
        )

    async def remove(self, docs: list[Document]) -> None:
        from qdrant_client import models

        if docs and await self.client.collection_exists(self.collection):
            await self.client.delete(
                self.collection,
                points_selector=models.PointIdsList(points=[point_id(d) for d in docs]),
            )

    async def search(self, query: str, k: int) -> list[tuple[Document, float]]:
        from qdrant_client import models

        if not await self.client.collection_exists(self.collection):
            return []
        vector = (await self.embedder.embed([query]))[0]
        found = await self.client.query_points(
            self.collection,
            query=[float(x) for x in vector],
            limit=k,
            with_payload=True,
            query_filter=models.Filter(**self.filter) if self.filter else None,
        )
        out = []
        for point in found.points:
            payload = point.payload or {}
            metadata = payload.get(self.metadata_key)
            doc = {
                "pageContent": str(payload.get(self.content_key, "")),
                "metadata": dict(metadata) if isinstance(metadata, dict) else {},
            }
            out.append((doc, float(point.score)))
        return out

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        async with self.errors():
            await self.written()
            return [doc for doc, _ in await self.search(query, k or self.k)]


@register
class Qdrant(Node):
    name = "qdrant"
    needs = (("qdrant_client", "qdrant"),)
    label = "Qdrant"
    category = "Vector Stores"
    description = "Qdrant: a server at an allowed address, or local mode in the data directory"
    base_classes = ("Qdrant", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = flowise_inputs(
        name,
        Input("qdrantServerUrl", "string", optional=True, placeholder="empty: local mode"),
        Input("qdrantVectorDimension", "number", optional=True, default=1536),
        Input("batchSize", "number", optional=True, default=100),
        Input("qdrantSimilarity", "options", optional=True, default="Cosine"),
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> QdrantStore:
        collection = str(self.get("qdrantCollection") or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", collection):
            raise CanvasInvalid(
                f"node {self.id}: a collection name is letters, digits, _ . - only",
                code="bad_input",
            )
        url = str(self.get("qdrantServerUrl") or "").strip()
        if url:
            allowed_host(ctx, self, url, "Qdrant")
            key = await credential_value(ctx, self.get("credential"), "qdrantApiKey")
            client = client_for(url, key)
            where = url
        else:  # local mode, inside the data directory
            where = str(ctx.settings.data_dir / "qdrant")
            client = client_for(where, None)
        raw = json_input(self, "qdrantFilter")
        docs = _docs_of(self.get("document"))
        similarity = str(self.get("qdrantSimilarity"))
        mark = mark_of(f"{where}|{collection}", docs)
        return QdrantStore(
            client,
            collection,
            self.get("embeddings"),
            docs,
            to_int(self.get("topK"), 4) or 4,
            similarity if similarity in DISTANCES else "Cosine",
            str(self.get("contentPayloadKey")),
            str(self.get("metadataPayloadKey")),
            raw if isinstance(raw, dict) else None,
            to_int(self.get("batchSize"), 100) or 100,
            mark,
        )
