"""Pinecone, on its HTTP API: the control plane names an index's host, the data plane
upserts and queries vectors (connected documents written as ``kept.py`` says)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from canvasflow.nodes import services
from canvasflow.nodes.kept import KeptStore, doc_id, flat_metadata, mark_of
from canvasflow.nodes.retrieval import _docs_of
from canvasflow.nodes.services import call, json_input, required_key, service_url
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]

_HOSTS: dict[tuple[str, str], str] = {}  # (control plane, index) -> data plane URL


class PineconeStore(KeptStore):
    """One index (and namespace) of Pinecone, searched with the node's embeddings."""

    engine = "Pinecone"

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
        text_key: str,
        mark: str,
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
        self.mark = mark

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

    async def write(self, part: list[Document], vectors: Any) -> None:
        body: dict[str, Any] = {
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
                for d, v in zip(part, vectors, strict=True)
            ],
        }
        host = await self.host()
        await call(
            "POST", f"{host}/vectors/upsert", what="Pinecone", json=body, headers=self.headers
        )

    async def remove(self, docs: list[Document]) -> None:
        if docs:
            host = await self.host()
            body = {"namespace": self.namespace, "ids": [doc_id(d) for d in docs]}
            await call(
                "POST", f"{host}/vectors/delete", what="Pinecone", json=body, headers=self.headers
            )

    async def search(self, query: str, k: int) -> list[tuple[Document, float]]:
        host = await self.host()
        vector: np.ndarray = (await self.embedder.embed([query]))[0]
        body: dict[str, Any] = {
            "namespace": self.namespace,
            "vector": [float(x) for x in vector],
            "topK": k,
            "includeMetadata": True,
        }
        if self.filter:
            body["filter"] = self.filter
        data = await call("POST", f"{host}/query", what="Pinecone", json=body, headers=self.headers)
        out: list[tuple[Document, float]] = []
        for match in data.get("matches") or []:
            metadata = dict(match.get("metadata") or {})
            text = str(metadata.pop(self.text_key, ""))
            out.append(({"pageContent": text, "metadata": metadata}, float(match.get("score", 0))))
        return out

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        async with self.errors():
            await self.written()
            return [doc for doc, _ in await self.search(query, k or self.k)]


async def pinecone_store(node: Node, ctx: RunContext, text_key: str = "text") -> PineconeStore:
    key = await required_key(ctx, node, services.PINECONE)
    raw_filter = json_input(node, "pineconeMetadataFilter")
    index = str(node.get("pineconeIndex"))
    namespace = str(node.get("pineconeNamespace") or "")
    docs = _docs_of(node.get("document"))
    control = service_url(ctx.settings, services.PINECONE)
    return PineconeStore(
        control,
        key,
        index,
        namespace,
        node.get("embeddings"),
        docs,
        to_int(node.get("topK"), 4) or 4,
        raw_filter if isinstance(raw_filter, dict) else None,
        text_key,
        mark_of(f"{control}|{index}|{namespace}", docs),
    )


@register
class Pinecone(Node):
    name = "pinecone"
    label = "Pinecone"
    category = "Vector Stores"
    description = "Upsert documents to Pinecone and search them by similarity"
    base_classes = ("Pinecone", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = flowise_inputs(
        name,
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> PineconeStore:
        return await pinecone_store(self, ctx, str(self.get("pineconeTextKey") or "text"))
