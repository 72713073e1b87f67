"""Pinecone, on its HTTP API: the control plane names an index's host, the data plane
upserts and queries vectors. Documents connected to the node are upserted once per
process (ids are content hashes, so upserting again changes nothing)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import orjson

from canvasflow.errors import CanvasInvalid, UpstreamError
from canvasflow.nodes import services
from canvasflow.nodes.base import Input, Node, register, to_int
from canvasflow.nodes.retrieval import _docs_of
from canvasflow.nodes.services import ServiceError, call, service_key, service_url

if TYPE_CHECKING:
    from canvasflow.engine.context import RunContext

Document = dict[str, Any]

_HOSTS: dict[tuple[str, str], str] = {}  # (control plane, index) -> data plane URL
_UPSERTED: set[str] = set()  # what this process already upserted
BATCH = 100


def doc_id(doc: Document) -> str:
    raw = orjson.dumps(
        [doc.get("pageContent"), doc.get("metadata") or {}], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(raw).hexdigest()[:32]


def flat_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Pinecone keeps strings, numbers, booleans and lists of strings as metadata."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, str | int | float | bool):
            out[key] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = value
        elif value is not None:
            out[key] = orjson.dumps(value).decode()
    return out


class PineconeStore:
    """One index (and namespace) of Pinecone, searched with the node's embeddings."""

    def __init__(
        self,
        control: str,
        key: str,
        index: str,
        namespace: str,
        embedder: Any,
        docs: list[Document],
        k: int,
        filter_: dict[str, Any] | None,
        text_key: str = "text",
    ) -> None:
        self.control = control
        self.key = key
        self.index = index
        self.namespace = namespace
        self.embedder = embedder
        self.docs = docs
        self.k = k
        self.filter = filter_ or None
        self.text_key = text_key

    @property
    def headers(self) -> dict[str, str]:
        return {"Api-Key": self.key, "X-Pinecone-API-Version": "2025-01"}

    async def host(self) -> str:
        found = _HOSTS.get((self.control, self.index))
        if found is None:
            data = await call(
                "GET",
                f"{self.control}/indexes/{self.index}",
                what="Pinecone",
                headers=self.headers,
            )
            host = str(data["host"])
            # the data plane is reached the way the control plane is (https, or plain
            # http for the operator's local test double or proxy)
            scheme = urlsplit(self.control).scheme or "https"
            found = host if "://" in host else f"{scheme}://{host}"
            _HOSTS[(self.control, self.index)] = found
        return found

    async def upsert(self, progress: Any = None) -> dict[str, int]:
        """The connected documents into the index (the upsert route, ``canvasflow
        ingest``); Flowise's counts."""
        try:
            added = await self.add(self.docs, progress)
        except ServiceError as exc:
            raise UpstreamError(str(exc)) from None
        return {"numAdded": added, "numSkipped": 0, "numUpdated": 0, "numDeleted": 0}

    async def add(self, docs: list[Document], progress: Any = None) -> int:
        host = await self.host()
        done = 0
        for i in range(0, len(docs), BATCH):
            batch = docs[i : i + BATCH]
            vectors = await self.embedder.embed([d["pageContent"] for d in batch])
            body = {
                "namespace": self.namespace,
                "vectors": [
                    {
                        "id": doc_id(d),
                        "values": [float(x) for x in v],
                        "metadata": {
                            **flat_metadata(d.get("metadata") or {}),
                            self.text_key: d["pageContent"],
                        },
                    }
                    for d, v in zip(batch, vectors, strict=True)
                ],
            }
            data = await call(
                "POST", f"{host}/vectors/upsert", what="Pinecone", json=body, headers=self.headers
            )
            done += int(data.get("upsertedCount", len(batch)))
            if progress is not None:
                progress(done, len(docs))
        return done

    async def _upsert_connected(self) -> None:
        if not self.docs:
            return
        mark = hashlib.sha256(
            f"{self.control}|{self.index}|{self.namespace}|".encode()
            + "".join(doc_id(d) for d in self.docs).encode()
        ).hexdigest()
        if mark not in _UPSERTED:
            await self.add(self.docs)
            _UPSERTED.add(mark)

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        try:
            await self._upsert_connected()
            host = await self.host()
            vector: np.ndarray = (await self.embedder.embed([query]))[0]
            body: dict[str, Any] = {
                "namespace": self.namespace,
                "vector": [float(x) for x in vector],
                "topK": k or self.k,
                "includeMetadata": True,
            }
            if self.filter:
                body["filter"] = self.filter
            data = await call(
                "POST", f"{host}/query", what="Pinecone", json=body, headers=self.headers
            )
        except ServiceError as exc:
            raise UpstreamError(str(exc)) from None
        out: list[Document] = []
        for match in data.get("matches") or []:
            metadata = dict(match.get("metadata") or {})
            text = str(metadata.pop(self.text_key, ""))
            out.append({"pageContent": text, "metadata": metadata})
        return out


async def pinecone_store(node: Node, ctx: RunContext, text_key: str = "text") -> PineconeStore:
    key = await service_key(ctx, node, services.PINECONE)
    if not key:
        raise CanvasInvalid(
            f"node {node.id} ({node.name}) has no key: give it a pineconeApi credential, or "
            "set PINECONE_API_KEY on the server",
            code="credential_missing",
        )
    raw_filter = node.get("pineconeMetadataFilter")
    if isinstance(raw_filter, str) and raw_filter.strip():
        try:
            raw_filter = orjson.loads(raw_filter)
        except orjson.JSONDecodeError:
            raise CanvasInvalid(
                f"node {node.id}: pineconeMetadataFilter is not JSON", code="bad_input"
            ) from None
    return PineconeStore(
        service_url(ctx.settings, services.PINECONE),
        key,
        str(node.get("pineconeIndex")),
        str(node.get("pineconeNamespace") or ""),
        node.get("embeddings"),
        _docs_of(node.get("document")),
        to_int(node.get("topK"), 4) or 4,
        raw_filter if isinstance(raw_filter, dict) else None,
        text_key,
    )


@register
class Pinecone(Node):
    name = "pinecone"
    label = "Pinecone"
    category = "Vector Stores"
    description = "Upsert documents to Pinecone and search them by similarity"
    base_classes = ("Pinecone", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = (
        Input("credential", "credential", optional=True),
        Input("document", "Document", optional=True, list=True),
        Input("embeddings", "Embeddings"),
        Input("recordManager", "RecordManager", optional=True),
        Input("pineconeIndex", "string"),
        Input("pineconeNamespace", "string", optional=True),
        Input("fileUpload", "boolean", optional=True),
        Input("pineconeTextKey", "string", optional=True),
        Input("pineconeMetadataFilter", "json", optional=True),
        Input("topK", "number", optional=True, default=4),
        Input("searchType", "options", optional=True, default="similarity"),
        Input("fetchK", "number", optional=True),
        Input("lambda", "number", optional=True),
    )

    async def build(self, ctx: RunContext) -> PineconeStore:
        return await pinecone_store(self, ctx, str(self.get("pineconeTextKey") or "text"))
