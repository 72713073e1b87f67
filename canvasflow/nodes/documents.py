"""Documents and text splitters. A document is ``{"pageContent": str, "metadata": {}}``,
as in Flowise; splitting is done by ``langchain-text-splitters``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_text_splitters import (
    CharacterTextSplitter as _Character,
)
from langchain_text_splitters import (
    MarkdownTextSplitter as _Markdown,
)
from langchain_text_splitters import (
    RecursiveCharacterTextSplitter as _Recursive,
)

from canvasflow.nodes.base import Input, Node, register, to_int
from canvasflow.nodes.prompts import parse_values

if TYPE_CHECKING:
    from canvasflow.engine.context import RunContext

Document = dict[str, Any]

_SPLITTER_INPUTS = (
    Input("chunkSize", "number", optional=True, default=1000),
    Input("chunkOverlap", "number", optional=True, default=200),
)
_SPLITTER_BASES = ("TextSplitter", "BaseDocumentTransformer", "Runnable")


class _Splitter(Node):
    category = "Text Splitters"

    def sizes(self) -> dict[str, int]:
        size = to_int(self.get("chunkSize"), 1000) or 1000
        overlap = min(to_int(self.get("chunkOverlap"), 200) or 0, max(0, size - 1))
        return {"chunk_size": size, "chunk_overlap": overlap}


@register
class RecursiveCharacterTextSplitter(_Splitter):
    name = "recursiveCharacterTextSplitter"
    label = "Recursive Character Text Splitter"
    base_classes = ("RecursiveCharacterTextSplitter", *_SPLITTER_BASES)
    inputs = (*_SPLITTER_INPUTS, Input("separators", "string", optional=True))

    async def build(self, ctx: RunContext) -> Any:
        raw = self.get("separators")
        separators = parse_separators(raw) if raw else None
        return _Recursive(separators=separators, **self.sizes())


@register
class CharacterTextSplitter(_Splitter):
    name = "characterTextSplitter"
    label = "Character Text Splitter"
    base_classes = ("CharacterTextSplitter", *_SPLITTER_BASES)
    inputs = (*_SPLITTER_INPUTS, Input("separator", "string", optional=True))

    async def build(self, ctx: RunContext) -> Any:
        return _Character(separator=self.get("separator") or "\n\n", **self.sizes())


@register
class MarkdownTextSplitter(_Splitter):
    name = "markdownTextSplitter"
    label = "Markdown Text Splitter"
    base_classes = ("MarkdownTextSplitter", *_SPLITTER_BASES)
    inputs = _SPLITTER_INPUTS

    async def build(self, ctx: RunContext) -> Any:
        return _Markdown(**self.sizes())


def parse_separators(raw: Any) -> list[str]:
    """Flowise takes a JSON list, or plain text with one separator per line."""
    if isinstance(raw, list):
        return [str(s) for s in raw]
    text = str(raw)
    try:
        import orjson

        value = orjson.loads(text)
        if isinstance(value, list):
            return [str(s) for s in value]
    except ValueError:
        pass
    return [line.encode().decode("unicode_escape") for line in text.splitlines() if line]


def split(splitter: Any, docs: list[Document]) -> list[Document]:
    if splitter is None:
        return docs
    out: list[Document] = []
    for doc in docs:
        for i, chunk in enumerate(splitter.split_text(doc["pageContent"])):
            out.append({"pageContent": chunk, "metadata": {**doc["metadata"], "chunk": i}})
    return out


@register
class PlainText(Node):
    name = "plainText"
    label = "Plain Text"
    category = "Document Loaders"
    base_classes = ("Document",)
    inputs = (
        Input("text", "string"),
        Input("textSplitter", "TextSplitter", optional=True),
        Input("metadata", "json", optional=True),
        Input("omitMetadataKeys", "string", optional=True),
    )

    async def build(self, ctx: RunContext) -> list[Document]:
        metadata = parse_values(self.get("metadata"))
        omit = {k.strip() for k in str(self.get("omitMetadataKeys") or "").split(",") if k.strip()}
        docs = split(
            self.get("textSplitter"),
            [{"pageContent": str(self.get("text")), "metadata": dict(metadata)}],
        )
        for doc in docs:
            for key in omit:
                doc["metadata"].pop(key, None)
        return docs
