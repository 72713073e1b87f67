"""Flowise's LlamaIndex nodes, by their names, on the implementations canvasflow already
has: the chat models and embeddings are the same nodes under another name; the chat
engines are the conversation and retrieval chains; query engines answer from a vector
index retriever through a response synthesizer (compact-and-refine, refine, tree
summarize, simple)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.events import Event, source, step
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Message, Usage, complete
from canvasflow.nodes.chains import load_memory, stream_answer
from canvasflow.nodes.chat_models import AzureChatOpenAI, ChatAnthropic, ChatOpenAI
from canvasflow.nodes.pinecone import pinecone_store
from canvasflow.nodes.retrieval import Faiss, OpenAIEmbeddings, context_of
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

LLAMA_CHAT = ("BaseChatModel_LlamaIndex", "ToolCallLLM", "BaseLLM")
Document = dict[str, Any]


# -- models and embeddings: the same nodes, LlamaIndex's names and classes --------------


@register
class ChatOpenAILlamaIndex(ChatOpenAI):
    name = "chatOpenAI_LlamaIndex"
    label = "ChatOpenAI (LlamaIndex)"
    base_classes = ("ChatOpenAI", *LLAMA_CHAT)
    inputs = flowise_inputs(name)


@register
class AzureChatOpenAILlamaIndex(AzureChatOpenAI):
    name = "azureChatOpenAI_LlamaIndex"
    label = "AzureChatOpenAI (LlamaIndex)"
    base_classes = ("AzureChatOpenAI", *LLAMA_CHAT)
    inputs = flowise_inputs(
        name,
        Input("modelName", "asyncOptions", optional=True, default="gpt-3.5-turbo-16k"),
    )


@register
class ChatAnthropicLlamaIndex(ChatAnthropic):
    name = "chatAnthropic_LlamaIndex"
    label = "ChatAnthropic (LlamaIndex)"
    base_classes = ("ChatAnthropic", *LLAMA_CHAT)
    inputs = flowise_inputs(name)


@register
class OpenAIEmbeddingLlamaIndex(OpenAIEmbeddings):
    name = "openAIEmbedding_LlamaIndex"
    label = "OpenAI Embedding (LlamaIndex)"
    base_classes = ("OpenAIEmbedding", "BaseEmbedding_LlamaIndex", "BaseEmbedding")
    inputs = flowise_inputs(name)


# -- vector index retrievers: a store that knows the model its query engine answers with -


class IndexRetriever:
    """A vector store's retriever with the chat model LlamaIndex attaches to it."""

    def __init__(self, store: Any, model: Any) -> None:
        self.store = store
        self.model = model
        if hasattr(store, "upsert"):  # a store that keeps documents: the upsert route's
            self.upsert = store.upsert

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        return await self.store.retrieve(query, k)


@register
class PineconeLlamaIndex(Node):
    name = "pineconeLlamaIndex"
    label = "Pinecone (LlamaIndex)"
    category = "Vector Stores"
    description = "Upsert documents to Pinecone and search them, for LlamaIndex engines"
    base_classes = ("Pinecone", "VectorIndexRetriever")
    inputs = flowise_inputs(
        name,
        Input("topK", "number", optional=True, default=4),
    )

    async def build(self, ctx: RunContext) -> IndexRetriever:
        return IndexRetriever(await pinecone_store(self, ctx), self.get("model"))


@register
class SimpleStoreLlamaIndex(Node):
    name = "simpleStoreLlamaIndex"
    label = "SimpleStore (LlamaIndex)"
    category = "Vector Stores"
    description = "Documents kept in a local index (under the data directory)"
    base_classes = ("SimpleVectorStore", "VectorIndexRetriever")
    inputs = flowise_inputs(name, Input("topK", "number", optional=True, default=4))

    async def build(self, ctx: RunContext) -> IndexRetriever:
        store = await Faiss(self.id, self.values).build(ctx)
        return IndexRetriever(store, self.get("model"))


# -- response synthesizers -----------------------------------------------------------------

TEXT_QA = (
    "Context information is below.\n---------------------\n{context}\n"
    "---------------------\nGiven the context information and not prior knowledge, "
    "answer the query.\nQuery: {query}\nAnswer: "
)
REFINE = (
    "The original query is as follows: {query}\nWe have provided an existing answer: "
    "{existingAnswer}\nWe have the opportunity to refine the existing answer (only if "
    "needed) with some more context below.\n------------\n{context}\n------------\n"
    "Given the new context, refine the original answer to better answer the query. If "
    "the context isn't useful, return the original answer.\nRefined Answer: "
)
TREE = (
    "Context information from multiple sources is below.\n---------------------\n"
    "{context}\n---------------------\nGiven the information from multiple sources and "
    "not prior knowledge, answer the query.\nQuery: {query}\nAnswer: "
)
# what a synthesizer packs into one prompt before it refines (characters)
PACK_CHARS = 12_000


def fill(template: str, **values: str) -> str:
    """A prompt with Flowise's placeholders (``{context}``) or LlamaIndex's own
    (``{context_str}``, ``{query_str}``, ``{existing_answer}``) filled in."""
    aliases = {"context": "context_str", "query": "query_str", "existingAnswer": "existing_answer"}
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
        if name in aliases:
            template = template.replace("{" + aliases[name] + "}", value)
    return template


def packed(docs: list[Document], limit: int = PACK_CHARS) -> list[str]:
    """The documents' texts in as few chunks of at most ``limit`` characters as they fit."""
    chunks: list[str] = []
    for doc in docs:
        text = doc["pageContent"]
        if chunks and len(chunks[-1]) + len(text) + 2 <= limit:
            chunks[-1] += "\n\n" + text
        else:
            chunks.append(text)
    return chunks or [""]


class Synthesizer:
    """Turns retrieved documents and a query into an answer: the last model call
    streams, earlier ones (refining, summarising) are steps."""

    kind = "compactrefine"

    def __init__(self, qa: str = TEXT_QA, refine: str = REFINE, compact: bool = True) -> None:
        self.qa = qa
        self.refine = refine
        self.compact = compact

    async def answer(self, model: Any, query: str, docs: list[Document]) -> AsyncIterator[Event]:
        chunks = packed(docs) if self.compact else [d["pageContent"] for d in docs] or [""]
        used = Usage()
        existing = ""
        for i, chunk in enumerate(chunks):
            if i == 0:
                prompt = fill(self.qa, context=chunk, query=query)
            else:
                prompt = fill(self.refine, context=chunk, query=query, existingAnswer=existing)
            if i == len(chunks) - 1:
                if used.total_tokens:
                    yield usage_event(used.prompt_tokens, used.completion_tokens)
                async for event in stream_answer(model, [{"role": "user", "content": prompt}]):
                    yield event
                return
            existing = await complete(model, prompt, used)
            yield step("refine", "chain", query, existing)


class TreeSynthesizer(Synthesizer):
    kind = "treeSummarize"

    def __init__(self, prompt: str = TREE) -> None:
        super().__init__(prompt)

    async def answer(self, model: Any, query: str, docs: list[Document]) -> AsyncIterator[Event]:
        chunks = packed(docs)
        used = Usage()
        while len(chunks) > 1:  # summarise each chunk, then the summaries, to one
            summaries = [
                await complete(model, fill(self.qa, context=c, query=query), used) for c in chunks
            ]
            yield step("summarize", "chain", query, summaries)
            chunks = packed([{"pageContent": s} for s in summaries])
        if used.total_tokens:
            yield usage_event(used.prompt_tokens, used.completion_tokens)
        prompt = fill(self.qa, context=chunks[0], query=query)
        async for event in stream_answer(model, [{"role": "user", "content": prompt}]):
            yield event


class _SynthesizerNode(Node):
    category = "Response Synthesizer"


@register
class CompactRefine(_SynthesizerNode):
    name = "compactrefineLlamaIndex"
    label = "Compact and Refine"
    description = "Packs the retrieved texts into as few prompts as fit, refining the answer"
    base_classes = ("CompactRefine", "ResponseSynthesizer")
    inputs = flowise_inputs(
        name,
        Input("refinePrompt", "string", optional=True, default=REFINE, rows=4),
        Input("textQAPrompt", "string", optional=True, default=TEXT_QA, rows=4),
    )

    async def build(self, ctx: RunContext) -> Synthesizer:
        return Synthesizer(str(self.get("textQAPrompt")), str(self.get("refinePrompt")))


@register
class Refine(_SynthesizerNode):
    name = "refineLlamaIndex"
    label = "Refine"
    description = "Answers from the first retrieved text, then refines with each next one"
    base_classes = ("Refine", "ResponseSynthesizer")
    inputs = CompactRefine.inputs

    async def build(self, ctx: RunContext) -> Synthesizer:
        return Synthesizer(
            str(self.get("textQAPrompt")), str(self.get("refinePrompt")), compact=False
        )


@register
class SimpleResponseBuilder(_SynthesizerNode):
    name = "simpleResponseBuilderLlamaIndex"
    label = "Simple Response Builder"
    description = "All retrieved texts in one prompt, one answer"
    base_classes = ("SimpleResponseBuilder", "ResponseSynthesizer")

    async def build(self, ctx: RunContext) -> Synthesizer:
        return Synthesizer()


@register
class TreeSummarize(_SynthesizerNode):
    name = "treeSummarizeLlamaIndex"
    label = "TreeSummarize"
    description = "Summarises the retrieved texts chunk by chunk, then answers from the summaries"
    base_classes = ("TreeSummarize", "ResponseSynthesizer")
    inputs = flowise_inputs(name, Input("prompt", "string", optional=True, default=TREE, rows=4))

    async def build(self, ctx: RunContext) -> Synthesizer:
        return TreeSynthesizer(str(self.get("prompt")))


# -- engines ------------------------------------------------------------------------------


class QueryEngine:
    """What a query engine node builds: retrieve, then synthesize with the index's model."""

    def __init__(self, retriever: IndexRetriever, synthesizer: Synthesizer, sources: bool):
        self.retriever = retriever
        self.synthesizer = synthesizer
        self.sources = sources

    async def query(self, question: str) -> AsyncIterator[Event]:
        docs = await self.retriever.retrieve(question)
        yield step("retriever", "retriever", question, [d["pageContent"][:60] for d in docs])
        if self.sources:
            yield source(docs)
        async for event in self.synthesizer.answer(self.retriever.model, question, docs):
            yield event


@register
class QueryEngineNode(Node):
    name = "queryEngine"
    label = "Query Engine"
    category = "Engine"
    description = "Answers a question from a vector index, with no chat history"
    base_classes = ("QueryEngine", "BaseQueryEngine")
    ending = True
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> QueryEngine:
        return QueryEngine(
            self.get("vectorStoreRetriever"),
            self.get("responseSynthesizer") or Synthesizer(),
            to_bool(self.get("returnSourceDocuments")),
        )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        engine = await self.build(ctx)
        async for event in engine.query(ctx.question):
            yield event


@register
class SimpleChatEngine(Node):
    name = "simpleChatEngine"
    label = "Simple Chat Engine"
    category = "Engine"
    description = "A chat with a model and a memory"
    base_classes = ("SimpleChatEngine",)
    ending = True
    inputs = flowise_inputs(
        name,
        Input(
            "systemMessagePrompt",
            "string",
            optional=True,
            default="You are a helpful assistant.",
            rows=4,
        ),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        reported, history = await load_memory(self.get("memory"), ctx)
        for event in reported:
            yield event
        messages: list[Message] = [
            {"role": "system", "content": str(self.get("systemMessagePrompt"))},
            *history,
            {"role": "user", "content": ctx.question},
        ]
        async for event in stream_answer(self.get("model"), messages):
            yield event


CONTEXT_SYSTEM = (
    "Context information is below.\n---------------------\n{context}\n---------------------"
)


@register
class ContextChatEngine(Node):
    name = "contextChatEngine"
    label = "Context Chat Engine"
    category = "Engine"
    description = "A chat that retrieves from a vector index for every message, with memory"
    base_classes = ("ContextChatEngine",)
    ending = True
    inputs = flowise_inputs(
        name,
        Input(
            "systemMessagePrompt",
            "string",
            optional=True,
            default="You are a helpful assistant.",
            rows=4,
        ),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        reported, history = await load_memory(self.get("memory"), ctx)
        for event in reported:
            yield event
        docs = await self.get("vectorStoreRetriever").retrieve(ctx.question)
        yield step("retriever", "retriever", ctx.question, [d["pageContent"][:60] for d in docs])
        if to_bool(self.get("returnSourceDocuments")):
            yield source(docs)
        system = str(self.get("systemMessagePrompt")) + "\n\n"
        system += CONTEXT_SYSTEM.replace("{context}", context_of(docs))
        messages: list[Message] = [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": ctx.question},
        ]
        async for event in stream_answer(self.get("model"), messages):
            yield event


class QueryEngineTool:
    def __init__(self, engine: QueryEngine, name: str, description: str) -> None:
        self.engine = engine
        self.name = name
        self.description = description


@register
class QueryEngineToolNode(Node):
    name = "queryEngineToolLlamaIndex"
    label = "QueryEngine Tool"
    category = "Tools"
    description = "A query engine offered to the sub-question engine under a name"
    base_classes = ("QueryEngineTool", "Tool_LlamaIndex")
    inputs = flowise_inputs(name, Input("toolDesc", "string", rows=4))

    async def build(self, ctx: RunContext) -> QueryEngineTool:
        return QueryEngineTool(
            self.get("baseQueryEngine"), str(self.get("toolName")), str(self.get("toolDesc"))
        )


SUB_QUESTIONS = (
    "Given a user question and the tools below, write the sub-questions that, answered "
    "each by one tool, answer the user question.\n\nTools:\n{tools}\n\nUser question: "
    '{question}\n\nAnswer with a JSON array of objects {{"sub_question": ..., '
    '"tool_name": ...}} and nothing else.'
)


def sub_questions(
    raw: str, tools: dict[str, QueryEngineTool], question: str
) -> list[tuple[str, str]]:
    """The model's sub-questions, each with a tool it names (the first tool when it names
    none of them); the question itself to every tool when the answer is not JSON."""
    text = raw.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [(question, name) for name in tools]
    if isinstance(items, dict):
        items = items.get("items") or items.get("sub_questions") or [items]
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not item.get("sub_question"):
            continue
        name = str(item.get("tool_name") or "")
        out.append((str(item["sub_question"]), name if name in tools else next(iter(tools))))
    return out or [(question, name) for name in tools]


@register
class SubQuestionQueryEngine(Node):
    name = "subQuestionQueryEngine"
    label = "Sub Question Query Engine"
    category = "Engine"
    description = "Splits a question into sub-questions for several query engines, then answers"
    base_classes = ("SubQuestionQueryEngine", "BaseQueryEngine")
    ending = True
    inputs = flowise_inputs(name)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        raw = self.get("queryEngineTools") or []
        tools = {t.name: t for t in (raw if isinstance(raw, list) else [raw])}
        model = self.get("model")
        listed = "\n".join(f"- {t.name}: {t.description}" for t in tools.values())
        used = Usage()
        prompt = SUB_QUESTIONS.replace("{tools}", listed).replace("{question}", ctx.question)
        planned = sub_questions(await complete(model, prompt, used), tools, ctx.question)
        yield step("sub questions", "chain", ctx.question, [q for q, _ in planned])
        answers: list[Document] = []
        all_docs: list[Document] = []
        for question, name in planned:
            engine = tools[name].engine
            docs = await engine.retriever.retrieve(question)
            all_docs.extend(docs)
            qa = fill(engine.synthesizer.qa, context=context_of(docs), query=question)
            answer = await complete(engine.retriever.model, qa, used)
            yield step(name, "tool", question, answer)
            answers.append({"pageContent": f"Sub question: {question}\nResponse: {answer}"})
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        if to_bool(self.get("returnSourceDocuments")):
            yield source(all_docs)
        synthesizer = self.get("responseSynthesizer") or Synthesizer()
        async for event in synthesizer.answer(model, ctx.question, answers):
            yield event
