"""Retrievers over another retriever: Cohere's reranking (its API), a model's filter
(keeps what it judges relevant), an embeddings filter (a similarity threshold)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import numpy as np

from canvasflow.errors import UpstreamError
from canvasflow.models.base import Usage, complete
from canvasflow.nodes import services
from canvasflow.nodes.retrieval import unit_rows
from canvasflow.nodes.services import ServiceError, call, required_key, service_url
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_float, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]
BASES = ("BaseRetriever", "VectorStoreRetriever")


class CohereReranker:
    def __init__(self, base: Any, url: str, key: str, model: str, k: int, fetch: int) -> None:
        self.base = base
        self.url = url
        self.key = key
        self.model = model
        self.k = k
        self.fetch = fetch

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        docs = await self.base.retrieve(query, self.fetch)
        if not docs:
            return []
        try:
            data = await call(
                "POST",
                f"{self.url}/v2/rerank",
                what="Cohere",
                json={
                    "model": self.model,
                    "query": query,
                    "documents": [d["pageContent"] for d in docs],
                    "top_n": k or self.k,
                },
                headers={"Authorization": f"Bearer {self.key}"},
            )
        except ServiceError as exc:
            raise UpstreamError(str(exc)) from None
        out = []
        for row in data.get("results") or []:
            doc = docs[int(row["index"])]
            score = row.get("relevance_score")
            out.append({**doc, "metadata": {**doc.get("metadata", {}), "relevance_score": score}})
        return out


@register
class CohereRerankRetriever(Node):
    name = "cohereRerankRetriever"
    label = "Cohere Rerank Retriever"
    category = "Retrievers"
    description = "Reranks another retriever's documents with Cohere's rerank API"
    base_classes = ("Cohere Rerank Retriever", *BASES)
    inputs = flowise_inputs(
        name,
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> CohereReranker:
        key = await required_key(ctx, self, services.COHERE)
        k = to_int(self.get("topK"), 4) or 4
        return CohereReranker(
            self.get("baseRetriever"),
            service_url(ctx.settings, services.COHERE),
            key,
            str(self.get("model")),
            k,
            max(k * 5, 20),
        )


FILTER_PROMPT = """Given the following question and context, answer YES if the context \
is relevant to the question and NO if it isn't.

> Question: {question}
> Context:
>>>
{context}
>>>
> Relevant (YES / NO):"""


class LLMFilter:
    def __init__(self, base: Any, model: Any) -> None:
        self.base = base
        self.model = model
        self.usage = Usage()

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        docs = await self.base.retrieve(query, k)

        async def relevant(doc: Document) -> bool:
            prompt = FILTER_PROMPT.replace("{question}", query)
            prompt = prompt.replace("{context}", doc["pageContent"])
            verdict = await complete(self.model, prompt, self.usage)
            return verdict.strip().upper().startswith("YES")

        keep = await asyncio.gather(*(relevant(d) for d in docs))
        return [d for d, ok in zip(docs, keep, strict=True) if ok]


@register
class LLMFilterRetriever(Node):
    name = "llmFilterRetriever"
    label = "LLM Filter Retriever"
    category = "Retrievers"
    description = "Keeps only the documents a model judges relevant to the question"
    base_classes = ("LLMFilterRetriever", *BASES)
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> LLMFilter:
        return LLMFilter(self.get("baseRetriever"), self.get("model"))


class EmbeddingsFilter:
    def __init__(self, base: Any, embedder: Any, threshold: float, k: int) -> None:
        self.base = base
        self.embedder = embedder
        self.threshold = threshold
        self.k = k

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        docs = await self.base.retrieve(query, max(self.k * 5, 20))
        if not docs:
            return []
        vectors = unit_rows(await self.embedder.embed([query] + [d["pageContent"] for d in docs]))
        scores = vectors[1:] @ vectors[0]
        order = [int(i) for i in np.argsort(-scores) if scores[i] >= self.threshold]
        return [docs[i] for i in order][: k or self.k]


@register
class EmbeddingsFilterRetriever(Node):
    name = "embeddingsFilterRetriever"
    label = "Embeddings Filter Retriever"
    category = "Retrievers"
    description = "Keeps the documents whose embeddings are similar enough to the question's"
    base_classes = ("EmbeddingsFilterRetriever", *BASES)
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> EmbeddingsFilter:
        return EmbeddingsFilter(
            self.get("baseRetriever"),
            self.get("embeddings"),
            to_float(self.get("similarityThreshold")) or 0.8,
            to_int(self.get("k"), 20) or 20,
        )
