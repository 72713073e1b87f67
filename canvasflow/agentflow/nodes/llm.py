"""The LLM and Agent nodes (an agent's tools and knowledge: document stores, vector
stores)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from canvasflow.agentflow.nodes.base import (
    MESSAGE,
    STATE,
    STORES,
    STRUCTURED,
    AgentflowNode,
    Item,
    empty,
    rows_of,
    tool_problems,
)
from canvasflow.agentflow.nodes.models import converse
from canvasflow.agentflow.runner import FlowRun
from canvasflow.engine.catalog import explain_unknown
from canvasflow.errors import CanvasInvalid
from canvasflow.nodes.tools import (
    RetrieverTool,
    tools_of,
)
from canvasflow.runtime.node import REGISTRY, Input, flowise_inputs, register, to_bool
from canvasflow.runtime.problems import Problem

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode


@register
class LLMAgentflow(AgentflowNode):
    name = "llmAgentflow"
    label = "LLM"
    description = "Large language models to analyze user-provided inputs and generate responses"
    required = ("llmModel",)
    model_inputs = ("llmModel",)
    inputs = flowise_inputs(
        name,
        Input("llmMessages", "array", optional=True, array=MESSAGE),
        Input("llmMemoryWindowSize", "number", optional=True, default=20),
        Input("llmMemoryMaxTokenLimit", "number", optional=True, default=2000),
        Input("llmReturnResponseAs", "options", optional=True, default="userMessage"),
        Input("llmStructuredOutput", "array", optional=True, array=STRUCTURED),
        Input("llmUpdateState", "array", optional=True, array=STATE),
        add=(Input("llmModelConfig", "json", optional=True),),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        async for item in converse(run, node, "llm"):
            yield item


class DocumentStoreSearch:
    """A document store as agentflows name it (``id:name``): canvasflow's document store
    of that id, searched with its own embeddings; else a collection of the persistent
    vector store of that id or name, searched by keywords (BM25) over its chunks."""

    def __init__(self, run: FlowRun, ref: str, k: int = 4) -> None:
        self.run = run
        self.ref = ref
        self.k = k

    async def retrieve(self, query: str, k: int | None = None) -> list[dict[str, Any]]:
        from canvasflow.nodes.retrieval import BM25Store

        store = self.run.ctx.store
        if store is None:
            return []
        found = await store.document_store(self.ref.split(":", 1)[0])
        if found is not None:  # a document store of canvasflow's: its vector search
            from canvasflow.nodes.retrieval import StoreRetriever

            return await StoreRetriever(self.run.ctx, found.id, self.k).retrieve(query, k)
        rows = []
        for name in dict.fromkeys([self.ref, *self.ref.split(":", 1)]):
            rows = await store.chunks(name)
            if rows:
                break
        docs = [{"pageContent": r.content, "metadata": r.metadata_} for r in rows]
        return await BM25Store(docs, k or self.k).retrieve(query)


VS_PARTS = (("vectorStore", "Vector Stores"), ("embeddingModel", "Embeddings"))


def _config(value: Any, selector: str) -> dict[str, Any]:
    """A chosen node's configuration as Flowise stores it (the choice's own key and the
    empty values left out)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k != selector and not empty(v)}


async def _build_tools(run: FlowRun, node: FlowNode) -> list[Any]:

    tools: list[Any] = []
    for i, row in enumerate(rows_of(node.inputs.get("agentTools"))):
        name = str(row.get("agentSelectedTool") or "")
        cls = REGISTRY.get(name)
        if cls is None:
            raise CanvasInvalid(f"node {node.id}: tool {name!r} is not one canvasflow has")
        config = row.get("agentSelectedToolConfig")
        values = {
            k: v
            for k, v in (config if isinstance(config, dict) else {}).items()
            if k != "agentSelectedTool" and not empty(v)
        }
        tools.extend(tools_of(await cls(f"{node.id}.tool{i}", values).build(run.ctx)))
    for i, row in enumerate(rows_of(node.inputs.get("agentKnowledgeVSEmbeddings"))):
        # a vector store node and its embeddings node, each with its configuration
        embed_cls = REGISTRY[str(row.get("embeddingModel"))]
        embeddings = await embed_cls(
            f"{node.id}.embeddings{i}", _config(row.get("embeddingModelConfig"), "embeddingModel")
        ).build(run.ctx)
        values = {**_config(row.get("vectorStoreConfig"), "vectorStore"), "embeddings": embeddings}
        store_cls = REGISTRY[str(row.get("vectorStore"))]
        store_cls = store_cls.instead(values) or store_cls
        store = await store_cls(f"{node.id}.store{i}", values).build(run.ctx)
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(row.get("knowledgeName") or "")).strip("_")
        tools.append(
            RetrieverTool(
                (name or f"knowledge{i}")[:60],
                str(row.get("knowledgeDescription") or "Searches the knowledge base"),
                store,
                to_bool(row.get("returnSourceDocuments")),
            )
        )
    for i, row in enumerate(rows_of(node.inputs.get("agentKnowledgeDocumentStores"))):
        ref = str(row.get("documentStore") or "")
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", ref.split(":", 1)[-1]).strip("_") or f"store{i}"
        tools.append(
            RetrieverTool(
                name[:60],
                str(row.get("docStoreDescription") or f"Searches the document store {ref}"),
                DocumentStoreSearch(run, ref),
                to_bool(row.get("returnSourceDocuments")),
            )
        )
    return tools


@register
class AgentAgentflow(AgentflowNode):
    name = "agentAgentflow"
    label = "Agent"
    description = "Dynamically choose and utilize tools during runtime"
    required = ("agentModel",)
    model_inputs = ("agentModel",)
    inputs = flowise_inputs(
        name,
        Input("agentMessages", "array", optional=True, array=MESSAGE),
        Input(
            "agentTools",
            "array",
            optional=True,
            array=(Input("agentSelectedTool", "asyncOptions"),),
        ),
        Input("agentKnowledgeDocumentStores", "array", optional=True, array=STORES),
        Input(
            "agentKnowledgeVSEmbeddings",
            "array",
            optional=True,
            array=(
                Input("vectorStore", "asyncOptions"),
                Input("embeddingModel", "asyncOptions"),
                Input("knowledgeName", "string"),
                Input("knowledgeDescription", "string"),
                Input("returnSourceDocuments", "boolean", optional=True),
            ),
        ),
        Input("agentMemoryWindowSize", "number", optional=True, default=20),
        Input("agentMemoryMaxTokenLimit", "number", optional=True, default=2000),
        Input("agentReturnResponseAs", "options", optional=True, default="userMessage"),
        Input("agentStructuredOutput", "array", optional=True, array=STRUCTURED),
        Input("agentUpdateState", "array", optional=True, array=STATE),
        drop=("agentToolsBuiltInOpenAI", "agentToolsBuiltInGemini", "agentToolsBuiltInAnthropic"),
        add=(Input("agentModelConfig", "json", optional=True),),
    )

    @classmethod
    def check(cls, node: FlowNode, nodes: dict[str, FlowNode]) -> list[Problem]:
        names = [
            str(r.get("agentSelectedTool") or "") for r in rows_of(node.inputs.get("agentTools"))
        ]
        problems = super().check(node, nodes) + tool_problems(node, [n for n in names if n])

        for row in rows_of(node.inputs.get("agentKnowledgeVSEmbeddings")):
            for key, category in VS_PARTS:
                name = str(row.get(key) or "")
                found = REGISTRY.get(name)
                if found is not None:  # canvasflow's older documentStore: it has embeddings
                    given = {**_config(row.get(f"{key}Config"), key), "embeddings": True}
                    found = found.instead(given) or found
                if found is None or found.category != category:
                    problems.append(
                        Problem(
                            explain_unknown(node.id, name), node.id, "agentKnowledgeVSEmbeddings"
                        )
                    )
        return problems

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        tools = await _build_tools(run, node)
        async for item in converse(run, node, "agent", tools):
            yield item
