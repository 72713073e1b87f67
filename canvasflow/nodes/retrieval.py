"""Embeddings, an in-memory vector store, and the chains that answer from documents
(they send the ``source`` event and a ``retriever`` step)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import numpy as np

from canvasflow.events import Event, source, step
from canvasflow.models.base import ModelError
from canvasflow.models.openai_compat import client_for
from canvasflow.nodes.base import Input, Node, register, to_bool, to_float, to_int
from canvasflow.nodes.chains import stream_answer
from canvasflow.nodes.chat_models import credential_value
from canvasflow.nodes.safety import moderate

if TYPE_CHECKING:
    from canvasflow.engine.context import RunContext
    from canvasflow.models.base import ChatModel, Message
    from canvasflow.nodes.memory import Memory

Document = dict[str, Any]


class OpenAIEmbedder:
    def __init__(self, client: Any, model: str, batch: int, dimensions: int | None) -> None:
        self.client = client
        self.model = model
        self.batch = max(1, batch)
        self.dimensions = dimensions

    async def embed(self, texts: list[str]) -> np.ndarray:
        vectors: list[list[float]] = []
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            for i in range(0, len(texts), self.batch):
                resp = await self.client.embeddings.create(
                    model=self.model, input=texts[i : i + self.batch], **extra
                )
                vectors.extend(item.embedding for item in resp.data)
        except Exception as exc:
            raise ModelError(f"embeddings failed: {exc}", "upstream_error") from None
        return np.asarray(vectors, dtype=np.float32)


@register
class OpenAIEmbeddings(Node):
    name = "openAIEmbeddings"
    label = "OpenAI Embeddings"
    category = "Embeddings"
    base_classes = ("OpenAIEmbeddings", "Embeddings")
    inputs = (
        Input("credential", "credential", optional=True),
        Input("modelName", "asyncOptions", default="text-embedding-ada-002"),
        Input("stripNewLines", "boolean", optional=True),
        Input("batchSize", "number", optional=True),
        Input("timeout", "number", optional=True),
        Input("basepath", "string", optional=True),
        Input("baseOptions", "json", optional=True),
        Input("dimensions", "number", optional=True),
        Input("encodingFormat", "options", optional=True),
    )

    async def build(self, ctx: RunContext) -> OpenAIEmbedder:
        key = await credential_value(ctx, self.get("credential"), "openAIApiKey")
        timeout_ms = to_float(self.get("timeout"))
        client = client_for(
            self.get("basepath") or os.environ.get("OPENAI_BASE_URL"),
            key or os.environ.get("OPENAI_API_KEY"),
            timeout_ms / 1000 if timeout_ms else 600.0,
        )
        return OpenAIEmbedder(
            client,
            str(self.get("modelName")),
            to_int(self.get("batchSize"), 512) or 512,
            to_int(self.get("dimensions")),
        )


@register
class LocalAIEmbeddings(Node):
    name = "localAIEmbeddings"
    label = "LocalAI Embeddings"
    category = "Embeddings"
    base_classes = ("LocalAI Embeddings", "Embeddings")
    inputs = (
        Input("credential", "credential", optional=True),
        Input("basePath", "string"),
        Input("modelName", "string"),
    )

    async def build(self, ctx: RunContext) -> OpenAIEmbedder:
        key = await credential_value(ctx, self.get("credential"), "localAIApiKey")
        client = client_for(str(self.get("basePath")), key or os.environ.get("LOCALAI_API_KEY"))
        return OpenAIEmbedder(client, str(self.get("modelName")), 512, None)


class MemoryStore:
    """Documents and their vectors, searched by cosine similarity."""

    def __init__(self, embedder: OpenAIEmbedder, docs: list[Document], k: int) -> None:
        self.embedder = embedder
        self.docs = docs
        self.k = k
        self.matrix: np.ndarray | None = None

    async def _vectors(self) -> np.ndarray:
        if self.matrix is None:
            m = await self.embedder.embed([d["pageContent"] for d in self.docs])
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            self.matrix = m / np.where(norms == 0, 1, norms)
        return self.matrix

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        if not self.docs:
            return []
        matrix = await self._vectors()
        q = (await self.embedder.embed([query]))[0]
        q = q / (np.linalg.norm(q) or 1)
        scores = matrix @ q
        top = np.argsort(-scores)[: k or self.k]
        return [self.docs[i] for i in top]


@register
class MemoryVectorStore(Node):
    name = "memoryVectorStore"
    label = "In-Memory Vector Store"
    category = "Vector Stores"
    base_classes = ("Memory", "VectorStoreRetriever", "BaseRetriever")
    inputs = (
        Input("document", "Document", optional=True, list=True),
        Input("embeddings", "Embeddings"),
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> MemoryStore:
        raw = self.get("document") or []
        docs: list[Document] = []
        for item in raw if isinstance(raw, list) else [raw]:
            docs.extend(item if isinstance(item, list) else [item])
        return MemoryStore(self.get("embeddings"), docs, to_int(self.get("topK"), 4) or 4)


DEFAULT_RESPONSE = (
    "Answer the question using only the context below. If the context does not "
    "contain the answer, say that you do not know.\n\nContext:\n{context}"
)
DEFAULT_REPHRASE = (
    "Given the conversation so far and a follow-up question, rewrite the follow-up as a "
    "question that stands on its own. Reply with the question only.\n\n"
    "Conversation:\n{chat_history}\n\nFollow-up: {question}"
)


async def retrieve(retriever: MemoryStore, query: str) -> AsyncIterator[Event]:
    docs = await retriever.retrieve(query)
    yield step(
        "retriever",
        "retriever",
        query,
        [d["metadata"].get("title") or d["pageContent"][:60] for d in docs],
    )
    yield source(docs)


def context_of(docs: list[Document]) -> str:
    return "\n\n".join(d["pageContent"] for d in docs)


@register
class RetrievalQAChain(Node):
    name = "retrievalQAChain"
    label = "Retrieval QA Chain"
    category = "Chains"
    base_classes = ("RetrievalQAChain", "BaseChain", "Runnable")
    ending = True
    inputs = (
        Input("model", "BaseLanguageModel"),
        Input("vectorStoreRetriever", "BaseRetriever"),
        Input("inputModeration", "Moderation", optional=True, list=True),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:  # type: ignore[override]
        moderate(self.get("inputModeration"), ctx.question)
        docs: list[Document] = []
        async for event in retrieve(self.get("vectorStoreRetriever"), ctx.question):
            if event.kind == "source":
                docs = event.data
            yield event
        messages: list[Message] = [
            {"role": "system", "content": DEFAULT_RESPONSE.replace("{context}", context_of(docs))},
            {"role": "user", "content": ctx.question},
        ]
        async for event in stream_answer(self.get("model"), messages, ctx):
            yield event


@register
class ConversationalRetrievalQAChain(Node):
    name = "conversationalRetrievalQAChain"
    label = "Conversational Retrieval QA Chain"
    category = "Chains"
    base_classes = ("ConversationalRetrievalQAChain", "BaseChain", "Runnable")
    ending = True
    inputs = (
        Input("model", "BaseChatModel"),
        Input("vectorStoreRetriever", "BaseRetriever"),
        Input("memory", "BaseMemory", optional=True),
        Input("returnSourceDocuments", "boolean", optional=True),
        Input("rephrasePrompt", "string", optional=True, default=DEFAULT_REPHRASE),
        Input("responsePrompt", "string", optional=True, default=DEFAULT_RESPONSE),
        Input("inputModeration", "Moderation", optional=True, list=True),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:  # type: ignore[override]
        moderate(self.get("inputModeration"), ctx.question)
        model: ChatModel = self.get("model")
        memory: Memory | None = self.get("memory")
        history = await memory.load(ctx) if memory is not None else list(ctx.history or [])
        if to_bool(self.get("returnSourceDocuments")):
            ctx.return_source_documents = True
        question = ctx.question
        if history:  # a follow-up: make it a question that stands on its own
            transcript = "\n".join(f"{m['role']}: {m['content']}" for m in history)
            prompt = str(self.get("rephrasePrompt")).replace("{chat_history}", transcript)
            prompt = prompt.replace("{question}", ctx.question)
            pieces = [
                p async for p in model.stream([{"role": "user", "content": prompt}], ctx.usage)
            ]
            question = "".join(pieces).strip() or ctx.question
            yield step("rephrase", "chain", ctx.question, question)
        docs: list[Document] = []
        async for event in retrieve(self.get("vectorStoreRetriever"), question):
            if event.kind == "source":
                docs = event.data
            yield event
        system = str(self.get("responsePrompt")).replace("{context}", context_of(docs))
        messages: list[Message] = [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": ctx.question},
        ]
        async for event in stream_answer(model, messages, ctx):
            yield event
