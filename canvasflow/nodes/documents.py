"""Documents and text splitters. A document is ``{"pageContent": str, "metadata": {}}``,
as in Flowise; splitting is done by ``langchain-text-splitters``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from canvasflow.errors import InputInvalid, RunFailed
from canvasflow.nodes.prompts import parse_values
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]

_SPLITTER_BASES = ("TextSplitter", "BaseDocumentTransformer", "Runnable")


def _splitters() -> Any:
    """``langchain-text-splitters``, an extra: ``pip install 'canvasflow[splitters]'``."""
    try:
        import langchain_text_splitters
    except ImportError:
        raise RunFailed(
            "text splitters need canvasflow[splitters]: pip install 'canvasflow[splitters]'",
            code="model_missing",
        ) from None
    return langchain_text_splitters


class _Splitter(Node):
    category = "Text Splitters"

    def sizes(self) -> dict[str, int]:
        size = to_int(self.get("chunkSize"), 1000) or 1000
        overlap = min(to_int(self.get("chunkOverlap"), 200) or 0, max(0, size - 1))
        return {"chunk_size": size, "chunk_overlap": overlap}


@register
class RecursiveCharacterTextSplitter(_Splitter):
    name = "recursiveCharacterTextSplitter"
    needs = (("langchain_text_splitters", "splitters"),)
    label = "Recursive Character Text Splitter"
    base_classes = ("RecursiveCharacterTextSplitter", *_SPLITTER_BASES)
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> Any:
        raw = self.get("separators")
        separators = parse_separators(raw) if raw else None
        return _splitters().RecursiveCharacterTextSplitter(separators=separators, **self.sizes())


@register
class CharacterTextSplitter(_Splitter):
    name = "characterTextSplitter"
    needs = (("langchain_text_splitters", "splitters"),)
    label = "Character Text Splitter"
    base_classes = ("CharacterTextSplitter", *_SPLITTER_BASES)
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> Any:
        return _splitters().CharacterTextSplitter(
            separator=self.get("separator") or "\n\n", **self.sizes()
        )


@register
class MarkdownTextSplitter(_Splitter):
    name = "markdownTextSplitter"
    needs = (("langchain_text_splitters", "splitters"),)
    label = "Markdown Text Splitter"
    base_classes = ("MarkdownTextSplitter", *_SPLITTER_BASES)
    inputs = flowise_inputs(name, drop=("splitByHeaders",))  # not taken yet

    async def build(self, ctx: RunContext) -> Any:
        return _splitters().MarkdownTextSplitter(**self.sizes())


@register
class TokenTextSplitter(_Splitter):
    """Chunks measured in tokens. tiktoken's encodings (``encodingName``) are downloaded
    at first use, which cannot happen offline; tokens are counted with the Llama
    tokenizer that ships with the embedded WordLlama embeddings (default install) instead."""

    name = "tokenTextSplitter"
    needs = (("langchain_text_splitters", "splitters"),)
    label = "Token Text Splitter"
    base_classes = ("TokenTextSplitter", *_SPLITTER_BASES)
    inputs = flowise_inputs(name, Input("encodingName", "options", optional=True, default="gpt2"))

    async def build(self, ctx: RunContext) -> Any:
        from canvasflow.nodes.retrieval import WordLlamaEmbedder

        tokenizer = (await asyncio.to_thread(WordLlamaEmbedder.load)).tokenizer

        def count(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False).ids)

        return _splitters().RecursiveCharacterTextSplitter(length_function=count, **self.sizes())


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


def finish_loaded(node: Node, docs: list[Document]) -> list[Document]:
    """What every loader does with what it read: the node's ``metadata`` added, its text
    splitter applied, the keys of ``omitMetadataKeys`` dropped. The documents given are
    not changed (a loader may keep them cached)."""
    metadata = parse_values(node.get("metadata"))
    omit = {k.strip() for k in str(node.get("omitMetadataKeys") or "").split(",") if k.strip()}
    docs = split(
        node.get("textSplitter"),
        [{**d, "metadata": {**d["metadata"], **metadata}} for d in docs],
    )
    for doc in docs:
        for key in omit:
            doc["metadata"].pop(key, None)
    return docs


@register
class PlainText(Node):
    name = "plainText"
    label = "Plain Text"
    category = "Document Loaders"
    base_classes = ("Document",)
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> list[Document]:
        return finish_loaded(self, [{"pageContent": str(self.get("text")), "metadata": {}}])


def decode_files(raw: Any) -> list[tuple[str, bytes]]:
    """Flowise's file inputs: ``data:<mime>;base64,<data>,filename:<name>``, or a JSON
    list of them. (Flowise's ``FILE-STORAGE::`` references point into a Flowise server's
    own storage and cannot be read here: they are refused with a clear error.)"""
    import base64

    import orjson

    if isinstance(raw, str) and raw.startswith("["):
        raw = orjson.loads(raw)
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        text = str(item or "")
        if text.startswith("FILE-STORAGE::"):
            raise InputInvalid(
                "files kept in a Flowise server's storage cannot be read; "
                "embed the file as a data URL",
                code="file_unavailable",
            )
        if not text.startswith("data:") or ";base64," not in text:
            raise InputInvalid("a file input must be a base64 data URL", code="file_invalid")
        payload, _, name = text.split(";base64,", 1)[1].partition(",filename:")
        out.append((name or "file", base64.b64decode(payload)))
    return out


class _FileLoader(Node):
    category = "Document Loaders"
    base_classes = ("Document",)
    file_input = "txtFile"

    def documents(self, name: str, data: bytes) -> list[Document]:
        raise NotImplementedError

    async def build(self, ctx: RunContext) -> list[Document]:
        docs: list[Document] = []
        for name, data in decode_files(self.get(self.file_input)):
            for doc in self.documents(name, data):
                docs.append({**doc, "metadata": {"source": name, **doc["metadata"]}})
        return finish_loaded(self, docs)


@register
class TextFile(_FileLoader):
    name = "textFile"
    label = "Text File"
    inputs = flowise_inputs(name)

    def documents(self, name: str, data: bytes) -> list[Document]:
        return [{"pageContent": data.decode("utf-8", "replace"), "metadata": {}}]


@register
class CsvFile(_FileLoader):
    name = "csvFile"
    label = "Csv File"
    file_input = "csvFile"
    inputs = flowise_inputs(name)

    def documents(self, name: str, data: bytes) -> list[Document]:
        import csv
        import io

        column = self.get("columnName")
        rows = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))
        docs = []
        for i, row in enumerate(rows):
            text = (
                str(row.get(column, ""))
                if column
                else "\n".join(f"{k}: {v}" for k, v in row.items())
            )
            docs.append({"pageContent": text, "metadata": {"row": i}})
        return docs


@register
class JsonFile(_FileLoader):
    name = "jsonFile"
    label = "Json File"
    file_input = "jsonFile"
    inputs = flowise_inputs(name)

    def documents(self, name: str, data: bytes) -> list[Document]:
        import orjson

        value = orjson.loads(data)
        pointers = [p.strip() for p in str(self.get("pointersName") or "").split(",") if p.strip()]

        def strings(v: Any) -> list[str]:
            if isinstance(v, dict):
                keys = pointers or list(v)
                return [s for k in keys if k in v for s in strings(v[k])]
            if isinstance(v, list):
                return [s for item in v for s in strings(item)]
            return [] if v is None else [str(v)]

        if self.get("separateByObject") and isinstance(value, list):
            return [
                {"pageContent": "\n".join(strings(item)), "metadata": {"index": i}}
                for i, item in enumerate(value)
            ]
        return [{"pageContent": "\n".join(strings(value)), "metadata": {}}]


@register
class PdfFile(_FileLoader):
    name = "pdfFile"
    needs = (("pypdf", "pdf"),)
    label = "Pdf File"
    file_input = "pdfFile"
    inputs = flowise_inputs(name, Input("usage", "options", optional=True, default="perPage"))

    def documents(self, name: str, data: bytes) -> list[Document]:
        return pdf_documents(data, str(self.get("usage") or "perPage"))


def pdf_documents(data: bytes, usage: str) -> list[Document]:
    import io

    from pypdf import PdfReader

    pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]
    if usage == "perFile":
        return [{"pageContent": "\n".join(pages), "metadata": {}}]
    return [{"pageContent": text, "metadata": {"page": i + 1}} for i, text in enumerate(pages)]


@register
class FileLoader(_FileLoader):
    """Flowise's File Loader: each file read by what its name ends with (PDF, CSV, JSON,
    text); a file no loader reads is refused with its name."""

    name = "fileLoader"
    label = "File Loader"
    file_input = "file"
    inputs = flowise_inputs(name, drop=("legacyBuild",))

    def documents(self, name: str, data: bytes) -> list[Document]:
        suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
        if not data:
            raise InputInvalid(f"{name} is empty", code="file_invalid")
        if suffix == ".pdf":
            try:
                docs = pdf_documents(data, str(self.get("usage") or "perPage"))
            except Exception as exc:  # pypdf's errors for broken or encrypted files
                if type(exc).__name__ == "FileNotDecryptedError":
                    raise InputInvalid(
                        f"{name}: the PDF is encrypted (it needs a password)",
                        code="file_invalid",
                    ) from None
                raise InputInvalid(
                    f"{name}: not a PDF that can be read ({type(exc).__name__}: {exc})",
                    code="file_invalid",
                ) from None
            if not any(d["pageContent"].strip() for d in docs):
                raise InputInvalid(f"{name}: the PDF has no text to read", code="file_invalid")
            return docs
        if suffix == ".csv":
            return CsvFile.documents(self, name, data)  # type: ignore[arg-type]
        if suffix == ".json":
            try:
                return JsonFile.documents(self, name, data)  # type: ignore[arg-type]
            except ValueError as exc:
                raise InputInvalid(f"{name}: not JSON ({exc})", code="file_invalid") from None
        if suffix in TEXT_SUFFIXES:
            return [{"pageContent": data.decode("utf-8", "replace"), "metadata": {}}]
        raise InputInvalid(
            f"{name}: no loader reads {suffix or 'files without a suffix'} files "
            f"(it reads .pdf and {', '.join(sorted(TEXT_SUFFIXES))})",
            code="file_invalid",
        )

    def get(self, name: str, default: Any = None) -> Any:
        if name == "pointersName":  # JsonFile's input is pointerName here
            return super().get("pointerName", default)
        return super().get(name, default)


TEXT_SUFFIXES = {
    ".txt",
    ".md",
    ".markdown",
    ".csv",
    ".json",
    ".html",
    ".xml",
    ".yaml",
    ".yml",
    ".py",
    ".js",
    ".ts",
    ".rst",
    ".log",
}


@register
class FolderFiles(Node):
    """Files of a folder under ``CANVASFLOW_FILES_DIR`` (the data directory's ``files``
    by default): a canvas cannot read anywhere else on the server."""

    name = "folderFiles"
    label = "Folder with Files"
    category = "Document Loaders"
    base_classes = ("Document",)
    inputs = flowise_inputs(name, Input("recursive", "boolean", optional=True))

    async def build(self, ctx: RunContext) -> list[Document]:
        import asyncio

        root = ctx.settings.files_root
        metadata = parse_values(self.get("metadata"))
        recursive = bool(self.get("recursive"))
        usage = str(self.get("pdfUsage") or "perPage")

        wanted = str(self.get("folderPath")).lstrip("/")

        def read() -> list[Document]:
            top = root.resolve()
            folder = (root / wanted).resolve()
            if not folder.is_relative_to(top) or not folder.is_dir():
                raise InputInvalid(
                    f"folder {wanted!r} is not a folder under {root}",
                    code="file_unavailable",
                )
            docs: list[Document] = []
            paths = sorted(folder.rglob("*") if recursive else folder.glob("*"))
            for path in paths:
                # a symlink (or anything else) leading out of the files folder is refused
                if not path.resolve().is_relative_to(top):
                    raise InputInvalid(
                        f"{path.relative_to(root)} leads outside the files folder",
                        code="file_unavailable",
                    )
                if not path.is_file():
                    continue
                suffix = path.suffix.lower()
                if suffix == ".pdf":
                    found = pdf_documents(path.read_bytes(), usage)
                elif suffix in TEXT_SUFFIXES:
                    found = [{"pageContent": path.read_text("utf-8", "replace"), "metadata": {}}]
                else:
                    continue
                for doc in found:
                    doc["metadata"] = {
                        "source": str(path.relative_to(folder)),
                        **doc["metadata"],
                        **metadata,
                    }
                docs.extend(found)
            return docs

        return split(self.get("textSplitter"), await asyncio.to_thread(read))
