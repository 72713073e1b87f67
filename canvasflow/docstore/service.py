"""Document stores' work, for the routes and the CLI alike.

A store holds loaders (Flowise's shape: a loader node's configuration, a text splitter's,
the files uploaded to it). Processing a loader reads its sources one at a time (a file,
or the loader's one source), splits them, and indexes the chunks with the record manager
(``docstore/indexing.py``, ``full`` cleanup) into the loader's collection of the store's
vector store, ``docstore:<store>/<loader>``: only new or changed chunks are embedded, and
chunks no source gives any more leave. A file whose bytes and loader settings hash as
last time is not read again: its chunks are marked seen. A file that cannot be read is
listed with its reason (its chunks from an earlier run stay) and the others go on.
Progress is written to the loader's ``job`` (at most twice a second), so any process of
a cluster can read it; a job whose store or loader has been deleted stops at its next
write and removes what it wrote."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from canvasflow.docstore.indexing import (
    ChunkSink,
    Document,
    Indexed,
    OutsideSink,
    chunk_key,
    index,
)
from canvasflow.errors import (
    AlreadyExists,
    BadRequest,
    CanvasflowError,
    InputInvalid,
    NotFound,
    StillRunning,
)
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.node import REGISTRY, Node, load_all
from canvasflow.store.models import DocumentStoreRow, utcnow

if TYPE_CHECKING:
    from canvasflow.config import Settings
    from canvasflow.store.models import DocumentChunk
    from canvasflow.store.repo import Store

log = logging.getLogger("canvasflow.docstore")

LOADERS, SPLITTERS, EMBEDDINGS = "Document Loaders", "Text Splitters", "Embeddings"
DEFAULT_EMBEDDINGS = "wordLlamaEmbeddings"  # no key, no network
VECTOR_STORE = "canvasflowDocumentStore"  # canvasflow's persistent vector store
RECORD_MANAGER = "canvasflowRecordManager"  # the record manager of canvasflow's database
# vector stores a document store may use: searched over its own chunks (their embeddings
# are in canvasflow's database), or an outside engine each chunk is written to as well
SEARCHED = frozenset({VECTOR_STORE, "memoryVectorStore", "faiss"})
OUTSIDE = frozenset({"qdrant", "chroma", "pinecone", "postgres"})
PAGE = 50  # chunks on a page of the chunk browser (Flowise's)
FILES = "FILE-STORAGE::"  # a file loader's files, as Flowise keeps them in its config
SETUP = ("loaderId", "loaderConfig", "splitterId", "splitterConfig", "files")  # a loader's own


def collection(store_id: str, loader_id: str) -> str:
    """A loader's chunk collection, which is also its record manager namespace."""
    return f"docstore:{store_id}/{loader_id}"


def node_of(category: str, name: str, what: str) -> type[Node]:
    load_all()
    cls = REGISTRY.get(name)
    if cls is None or cls.category != category:
        known = ", ".join(sorted(n for n, c in REGISTRY.items() if c.category == category))
        raise BadRequest(f"{name!r} is not a {what} canvasflow has (it has: {known})")
    return cls


def file_input(cls: type[Node]) -> str | None:
    """The input a file loader reads its files from (None for other loaders)."""
    from canvasflow.nodes.documents import _FileLoader

    return cls.file_input if issubclass(cls, _FileLoader) else None


def require_inputs(cls: type[Node], config: dict[str, Any]) -> None:
    """A loader's (or splitter's) required fields that the form left empty, named."""
    missing = [
        i.label or i.name
        for i in cls.inputs
        if not i.optional
        and i.default is None
        and not i.type[:1].isupper()  # a connection (a text splitter): not a field
        and i.type not in ("credential", "boolean")
        and config.get(i.name) in (None, "", [])
        and i.name != file_input(cls)
    ]
    if missing:
        raise InputInvalid(f"{cls.label}: {', '.join(missing)} required")


def safe_name(name: str) -> str:
    """A file's name as a loader keeps it: its last part, nothing that leads elsewhere."""
    base = re.sub(r"[^\w.\- ()]+", "_", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = base.strip(" .")[:200]
    if not base:
        raise InputInvalid(f"{name!r} is not a file name", code="file_invalid")
    return base


def store_status(loaders: Sequence[dict[str, Any]]) -> str:
    """A store's status from its loaders' (Flowise's names)."""
    if not loaders:
        return "EMPTY"
    states = {str(entry.get("status")) for entry in loaders}
    if "SYNCING" in states:
        return "SYNCING"
    if states == {"SYNC"}:
        return "UPSERTED"
    if states == {"NEW"}:
        return "NEW"
    return "STALE"


@dataclass
class Progress:
    """A processing job as it goes: sources read of all, chunks they gave, and what the
    record manager made of them."""

    state: str = "running"  # running, done, failed (no source could be read), cancelled
    filesTotal: int = 0
    files: int = 0
    chunks: int = 0
    embedded: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    startedAt: float = field(default_factory=time.time)
    finishedAt: float | None = None
    process: str | None = None  # host:pid of the process that runs it

    def line(self) -> str:
        return (
            f"embedded {self.embedded}, skipped {self.skipped}, "
            f"deleted {self.deleted}, failed {len(self.failed)}"
        )

    def add(self, other: Progress) -> None:
        for name in ("filesTotal", "files", "chunks", "embedded", "skipped", "deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed += other.failed


async def totals(store: Store, rows: Sequence[DocumentStoreRow]) -> dict[str, tuple[int, int]]:
    """Each store's chunks and characters, over its loaders."""
    counted = await store.chunk_totals(
        [collection(r.id, e["id"]) for r in rows for e in r.loaders or []]
    )
    out: dict[str, tuple[int, int]] = {}
    for row in rows:
        each = [counted.get(collection(row.id, e["id"]), (0, 0)) for e in row.loaders or []]
        out[row.id] = (sum(c for c, _ in each), sum(n for _, n in each))
    return out


class Gone(Exception):
    """The store or loader being processed was deleted."""


OnProgress = Callable[[Progress], None]


class DocStores:
    """Document stores over one database and data directory."""

    _locks: ClassVar[dict[str, asyncio.Lock]] = {}
    # this process's running jobs, by (store id, loader id): deleting cancels them
    jobs: ClassVar[dict[tuple[str, str], asyncio.Task[Progress]]] = {}

    def __init__(self, store: Store, settings: Settings, credentials: Any = None) -> None:
        self.store = store
        self.settings = settings
        self.credentials = credentials

    def ctx(self) -> RunContext:
        return RunContext(
            question="", settings=self.settings, credentials=self.credentials, store=self.store
        )

    # -- rows ---------------------------------------------------------------------------

    async def row(self, ref: str) -> DocumentStoreRow:
        row = await self.store.document_store(ref)
        if row is None:
            raise NotFound(f"no document store {ref}")
        return row

    async def create(self, name: str, description: str = "") -> DocumentStoreRow:
        """A new, empty store (its name is its own)."""
        from canvasflow.store.repo import Conflict

        now = utcnow()
        row = DocumentStoreRow(
            id=str(uuid.uuid4()),
            name=name,
            description=description,
            status="EMPTY",
            loaders=[],
            created_at=now,
            updated_at=now,
        )
        try:
            await self.store.add_named(row)
        except Conflict:
            raise AlreadyExists(f"a document store named {name!r} exists") from None
        return row

    async def totals(self, rows: Sequence[DocumentStoreRow]) -> dict[str, tuple[int, int]]:
        return await totals(self.store, rows)

    async def summaries(self) -> list[dict[str, Any]]:
        """Every store as the API lists them (without the canvases that read them)."""
        rows = await self.store.library(DocumentStoreRow)
        totals = await self.totals(rows)
        return [
            {
                "id": r.id,
                "name": r.name,
                "description": r.description,
                "status": r.status,
                "loaders": list(r.loaders or []),
                "totalChunks": totals[r.id][0],
                "totalChars": totals[r.id][1],
            }
            for r in rows
        ]

    @staticmethod
    def loader(row: DocumentStoreRow, loader_id: str) -> dict[str, Any]:
        for entry in row.loaders or []:
            if entry.get("id") == loader_id:
                return dict(entry)
        raise NotFound(f"document store {row.name} has no loader {loader_id}")

    async def _change_loaders(
        self, store_id: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> DocumentStoreRow:
        """The store's loaders changed, read and written in one transaction with the
        row locked (and under this process's lock of the store); :class:`Gone` when the
        store is no more."""
        lock = self._locks.setdefault(store_id, asyncio.Lock())
        async with lock:
            changed = await self.store.change_loaders(store_id, change, store_status)
            if changed is None:
                raise Gone(store_id)
            return changed

    async def _set(self, store_id: str, loader_id: str, **values: Any) -> None:
        def change(loaders: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for entry in loaders:
                if entry.get("id") == loader_id:
                    entry.update(values)
                    return loaders
            raise Gone(loader_id)

        await self._change_loaders(store_id, change)

    # -- loaders ------------------------------------------------------------------------

    async def save_loader(
        self,
        store_ref: str,
        *,
        loader_name: str,
        loader_config: dict[str, Any] | None = None,
        splitter_name: str | None = None,
        splitter_config: dict[str, Any] | None = None,
        loader_id: str | None = None,
        files: Sequence[tuple[str, bytes]] = (),
        replace_files: bool = False,
    ) -> dict[str, Any]:
        """A loader added to the store, or (``loader_id``) changed; files given here or
        as data URLs in its file input are kept (in the database). Nothing is processed."""
        from canvasflow.nodes.documents import decode_files

        row = await self.row(store_ref)
        cls = node_of(LOADERS, loader_name, "document loader")
        splitter = node_of(SPLITTERS, splitter_name, "text splitter") if splitter_name else None
        if loader_id:
            self.loader(row, loader_id)  # 404 for a loader the store has not
        lid = loader_id or str(uuid.uuid4())
        config = dict(loader_config or {})
        require_inputs(cls, config)
        given = list(files)
        slot = file_input(cls)
        raw = config.get(slot) if slot else None
        if slot and raw and not str(raw).startswith(FILES):
            given += decode_files(config.pop(slot))
        if given and not slot:
            raise InputInvalid(f"{loader_name} reads no files; use a file loader (fileLoader)")
        limit = self.settings.max_document_bytes
        for name, data in given:
            if len(data) > limit:
                raise InputInvalid(
                    f"{name} is {len(data)} bytes, over the limit of {limit} "
                    "(CANVASFLOW_MAX_DOCUMENT_BYTES)",
                    code="file_too_large",
                )
        named = [(safe_name(name), data) for name, data in given]
        if replace_files:
            await self.store.delete_files(row.id, lid)
        await self.store.put_files(row.id, lid, named)  # in the database: every process's
        added = {  # each file: its name, size and content hash
            name: {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in named
        }
        saved: dict[str, Any] = {}

        def change(loaders: list[dict[str, Any]]) -> list[dict[str, Any]]:
            # merged with the loader as it is now: a running job's progress, totals and
            # digests are its own, and files saved meanwhile stay
            current = next((e for e in loaders if e.get("id") == lid), None)
            if loader_id and current is None:
                raise Gone(lid)
            files: dict[str, dict[str, Any]] = {}
            if current is not None and not replace_files:
                files = {f["name"]: dict(f) for f in current.get("files") or []}
            files.update(added)
            if slot:
                config[slot] = FILES + orjson.dumps(sorted(files)).decode()
            base = current or {"id": lid, "totalChunks": 0, "totalChars": 0, "job": None}
            saved.update(
                {
                    **base,
                    "loaderId": loader_name,
                    "loaderName": cls.label,
                    "loaderConfig": config,
                    "splitterId": splitter_name,
                    "splitterName": splitter.label if splitter else None,
                    "splitterConfig": dict(splitter_config or {}),
                    "status": "NEW" if current is None else "STALE",
                    "files": [files[n] for n in sorted(files)],
                    "source": ", ".join(sorted(files)) if slot else cls.label,
                    "digests": (current or {}).get("digests") or {},  # files read last time
                }
            )
            if current is None:
                return [*loaders, dict(saved)]
            return [dict(saved) if e.get("id") == lid else e for e in loaders]

        try:
            await self._change_loaders(row.id, change)
        except Gone:
            raise NotFound(f"no document store {store_ref} (or no loader {lid})") from None
        return saved

    async def delete_loader(self, store_ref: str, loader_id: str) -> None:
        """A loader, its files, chunks and record manager keys."""
        row = await self.row(store_ref)
        self.loader(row, loader_id)
        await self._stop(row.id, loader_id)
        try:
            await self._change_loaders(
                row.id, lambda ls: [e for e in ls if e.get("id") != loader_id]
            )
        except Gone:
            pass
        await self._drop(row, loader_id)
        await self.store.delete_files(row.id, loader_id)

    async def delete_store(self, store_ref: str) -> None:
        """A store, with every loader's files, chunks and keys; its jobs stop."""
        row = await self.row(store_ref)
        for entry in row.loaders or []:
            await self._stop(row.id, entry["id"])
        if not await self.store.delete_named(DocumentStoreRow, row.id):
            raise NotFound(f"no document store {store_ref}")
        for entry in row.loaders or []:
            await self._drop(row, entry["id"])
        await self.store.delete_files(row.id)

    async def _stop(self, store_id: str, loader_id: str) -> None:
        task = self.jobs.get((store_id, loader_id))
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    # -- processing ---------------------------------------------------------------------

    async def outside(self, row: DocumentStoreRow, embedder: Any) -> Any:
        """The outside engine the store's chunks are written to as well (None when its
        vector store searches its own chunks)."""
        config = row.vector_store_config or {}
        name = str(config.get("name") or VECTOR_STORE)
        if name not in OUTSIDE:
            return None
        cls = node_of("Vector Stores", name, "vector store")
        values = {**dict(config.get("config") or {}), "embeddings": embedder, "document": []}
        return await cls("vectorStore", values).build(self.ctx())

    async def sink(self, row: DocumentStoreRow, coll: str, embedder: Any = None) -> Any:
        """Where a loader's chunks are written: canvasflow's own chunks, and the outside
        engine when the store has one."""
        embedder = embedder or await self.embedder(row)
        own = ChunkSink(self.store, coll, embedder)
        outside = await self.outside(row, embedder)
        return own if outside is None else OutsideSink(own, outside)

    async def _drop(self, row: DocumentStoreRow, loader_id: str) -> None:
        """A loader's chunks and keys gone, from the outside engine too."""
        coll = collection(row.id, loader_id)
        if str((row.vector_store_config or {}).get("name")) in OUTSIDE:
            keys = await self.store.records_keys(coll)
            if keys:
                await (await self.sink(row, coll)).delete(keys)
        await self.store.drop_namespace(coll)

    async def embedder(self, row: DocumentStoreRow) -> Any:
        config = row.embedding_config or {}
        cls = node_of(EMBEDDINGS, str(config.get("name") or DEFAULT_EMBEDDINGS), "embeddings")
        return await cls("embeddings", dict(config.get("config") or {})).build(self.ctx())

    async def loader_node(
        self,
        cls: type[Node],
        config: dict[str, Any],
        splitter_name: str | None,
        splitter_config: dict[str, Any],
    ) -> Node:
        """A loader node with its settings and, when one is named, its text splitter
        built into it (as a canvas would connect them)."""
        values = dict(config)
        if splitter_name:
            splitter = node_of(SPLITTERS, splitter_name, "text splitter")
            built = splitter("splitter", dict(splitter_config))
            values["textSplitter"] = await built.build(self.ctx())
        return cls("loader", values)

    async def _sources(
        self,
        row: DocumentStoreRow,
        entry: dict[str, Any],
        known: dict[str, str] | None = None,
        digests: dict[str, str] | None = None,
    ) -> AsyncIterator[tuple[str, list[Document] | CanvasflowError | None]]:
        """Each source of a loader with its chunks, or the reason it could not be read.
        A file whose digest (its bytes and the loader's configuration) is the one in
        ``known`` is not read again: None. The digests of the files read are put in
        ``digests``."""
        from canvasflow.nodes.documents import finish_loaded

        ctx = self.ctx()
        cls = node_of(LOADERS, entry["loaderId"], "document loader")
        node = await self.loader_node(
            cls,
            entry.get("loaderConfig") or {},
            entry.get("splitterId"),
            entry.get("splitterConfig") or {},
        )
        if file_input(cls) is None:
            try:
                docs = await node.build(ctx)
            except CanvasflowError as exc:
                yield entry["source"], exc
                return
            except Exception as exc:
                yield entry["source"], InputInvalid(f"{type(exc).__name__}: {exc}")
                return
            docs = docs if isinstance(docs, list) else [docs]
            for doc in docs:
                doc["metadata"] = {"source": entry["source"], **(doc.get("metadata") or {})}
            yield entry["source"], docs
            return
        setup = orjson.dumps(
            [
                entry["loaderId"],
                {
                    k: v
                    for k, v in (entry.get("loaderConfig") or {}).items()
                    if k != file_input(cls)
                },
                entry.get("splitterId"),
                entry.get("splitterConfig") or {},
            ],
            option=orjson.OPT_SORT_KEYS,
            default=str,
        )

        def digest_of(content: str) -> str:  # the file's content hash, with the setup
            return hashlib.sha256(setup + b"\0" + content.encode()).hexdigest()

        def read(name: str, data: bytes) -> list[Document]:
            if not data:
                raise InputInvalid("the file is empty", code="file_invalid")
            if digests is not None:
                digests[name] = digest_of(hashlib.sha256(data).hexdigest())
            found = [
                {**d, "metadata": {"source": name, **d["metadata"]}}
                for d in node.documents(name, data)  # type: ignore[attr-defined]
            ]
            return finish_loaded(node, found)

        for item in entry.get("files") or []:
            name = item["name"]
            content = item.get("sha256")
            if known and content and known.get(name) == digest_of(content):
                yield name, None  # as it was: not read again
                continue
            try:
                data = await self.store.file_data(entry["id"], name)
                if data is None:
                    raise InputInvalid("the file is gone", code="file_invalid")
                yield name, await asyncio.to_thread(read, name, data)
            except CanvasflowError as exc:  # its reason, without the name it is listed by
                yield name, InputInvalid(exc.message.removeprefix(f"{name}: "))
            except Exception as exc:  # a file its loader cannot read
                yield name, InputInvalid(f"{type(exc).__name__}: {exc}")

    async def process(
        self, store_ref: str, loader_id: str, on_progress: OnProgress | None = None
    ) -> Progress:
        """Process one loader now (see the module's text)."""
        row = await self.row(store_ref)
        entry = self.loader(row, loader_id)
        coll = collection(row.id, loader_id)
        progress = Progress(
            filesTotal=len(entry.get("files") or []) or 1,
            process=f"{socket.gethostname()}:{os.getpid()}",
        )
        last = [0.0]

        async def report(force: bool = False) -> None:
            if on_progress is not None:
                on_progress(progress)
            now = time.monotonic()
            if force or now - last[0] >= 0.5:
                last[0] = now
                await self._set(row.id, loader_id, job=asdict(progress))

        failed: set[str] = set()
        started = time.time()
        known: dict[str, str] = dict(entry.get("digests") or {})
        digests: dict[str, str] = {}
        unchanged = [0]  # the chunks of files not read again (their digest is known)

        waiting: list[str] = []  # unchanged files whose chunks are yet to be marked seen

        async def touch() -> None:
            kept = await self.store.records_touch(coll, waiting, started)
            waiting.clear()
            unchanged[0] += kept
            progress.chunks += kept
            progress.skipped += kept

        async def chunks() -> AsyncIterator[Document]:
            async for source, found in self._sources(row, entry, known, digests):
                progress.files += 1
                if found is None:  # unchanged: its chunks are seen without reading it
                    digests[source] = known[source]
                    waiting.append(source)
                    if len(waiting) >= 200:
                        await touch()
                elif isinstance(found, CanvasflowError):
                    failed.add(source)
                    progress.failed.append({"source": source, "error": found.message})
                else:
                    progress.chunks += len(found)
                    for doc in found:
                        yield doc
                await report()
            await touch()  # before the cleanup, which drops what was not seen

        async def counted(done: Indexed) -> None:
            progress.embedded, progress.skipped = done.added, done.skipped + unchanged[0]
            progress.deleted = done.deleted
            await report()

        try:
            await self._set(row.id, loader_id, status="SYNCING", job=asdict(progress))
            sink = await self.sink(row, coll)
            await index(
                chunks(),
                sink,
                self.store,
                coll,
                cleanup="full",
                keep=failed,
                on_batch=counted,
                clock=lambda: started,
            )
            progress.state = (
                "failed" if progress.failed and len(failed) >= progress.files else "done"
            )
            progress.finishedAt = time.time()
            chunks_n, chars = (await self.store.chunk_totals([coll])).get(coll, (0, 0))
            status = "SYNC" if progress.state == "done" else "STALE"

            def finish(loaders: list[dict[str, Any]]) -> list[dict[str, Any]]:
                for now in loaders:
                    if now.get("id") == loader_id:
                        # saved again while this ran (files, settings): not in sync
                        same = all(now.get(k) == entry.get(k) for k in SETUP)
                        now.update(
                            status=status if same else "STALE",
                            totalChunks=chunks_n,
                            totalChars=chars,
                            job=asdict(progress),
                            digests=digests,
                        )
                        return loaders
                raise Gone(loader_id)

            await self._change_loaders(row.id, finish)
        except Gone:
            progress.state, progress.finishedAt = "cancelled", time.time()
            await self._drop(row, loader_id)  # what this job wrote of a deleted loader
            return progress
        except BaseException as exc:
            progress.state, progress.finishedAt = "cancelled", time.time()
            if not isinstance(exc, asyncio.CancelledError):
                progress.state = "failed"
                message = exc.message if isinstance(exc, CanvasflowError) else repr(exc)
                progress.failed.append({"source": "", "error": message})
            try:
                await asyncio.shield(
                    self._set(row.id, loader_id, status="STALE", job=asdict(progress))
                )
            except Gone:
                pass
            raise
        if on_progress is not None:
            on_progress(progress)
        return progress

    async def mark_running(self, store_id: str, loader_id: str) -> None:
        """A loader's job written as started (running, nothing done yet): 409 while this
        process runs one for it."""
        running = self.jobs.get((store_id, loader_id))
        if running is not None and not running.done():
            raise AlreadyExists(f"loader {loader_id} is being processed")
        entry = self.loader(await self.row(store_id), loader_id)
        first = Progress(filesTotal=len(entry.get("files") or []) or 1)
        try:
            await self._set(store_id, loader_id, status="SYNCING", job=asdict(first))
        except Gone:
            raise NotFound(f"no document store {store_id}") from None

    async def finished(self, store_id: str, loader_id: str, within: float) -> None:
        """Once a loader's job (run by any process: a worker in queue mode) has ended;
        :class:`StillRunning` after ``within`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            job = self.loader(await self.row(store_id), loader_id).get("job") or {}
            if job.get("state") != "running":
                return
            await asyncio.sleep(0.25)
        raise StillRunning(f"loader {loader_id} is still being processed after {within:.0f} s")

    async def start(self, store_id: str, loader_id: str) -> asyncio.Task[Progress]:
        """Process a loader in the background (this process); one job a loader. Its
        job is written (running, nothing done) before this returns, so a reader never
        sees the one before it."""
        key = (store_id, loader_id)
        await self.mark_running(store_id, loader_id)
        task = asyncio.create_task(self.process(store_id, loader_id))
        self.jobs[key] = task

        def finished(t: asyncio.Task[Progress]) -> None:
            if self.jobs.get(key) is t:
                del self.jobs[key]
            if not t.cancelled() and t.exception() is not None:
                log.warning("document store %s loader %s: %r", store_id, loader_id, t.exception())

        task.add_done_callback(finished)
        return task

    async def refresh(self, store_ref: str, on_progress: OnProgress | None = None) -> Progress:
        """Every loader of the store processed again, one after the other."""
        row = await self.row(store_ref)
        total = Progress()
        for entry in row.loaders or []:
            total.add(await self.process(row.id, entry["id"], on_progress))
        total.state = "done" if not total.failed else "failed"
        total.finishedAt = time.time()
        return total

    # -- the vector store ---------------------------------------------------------------

    async def configure(
        self,
        store_ref: str,
        *,
        embedding_name: str | None = None,
        embedding_config: dict[str, Any] | None = None,
        vector_store_name: str | None = None,
        vector_store_config: dict[str, Any] | None = None,
        record_manager_name: str | None = None,
        record_manager_config: dict[str, Any] | None = None,
    ) -> DocumentStoreRow:
        """The store's embeddings, vector store and record manager. Other embeddings than
        the chunks were embedded with, or another outside engine (or its settings), make
        every loader's chunks go from where they were (they are stale)."""
        row = await self.row(store_ref)
        name = embedding_name or DEFAULT_EMBEDDINGS
        node_of(EMBEDDINGS, name, "embeddings")
        kept_in = vector_store_name or VECTOR_STORE
        if kept_in not in SEARCHED | OUTSIDE:
            node_of("Vector Stores", kept_in, "vector store")
            raise InputInvalid(
                f"a document store's vector store is one of "
                f"{', '.join(sorted(SEARCHED | OUTSIDE))}; {kept_in} is not supported for "
                "document stores yet (use it in a canvas with its own documents)"
            )
        if (record_manager_name or RECORD_MANAGER) != RECORD_MANAGER:
            raise InputInvalid(
                f"a document store's record manager is canvasflow's database "
                f"({RECORD_MANAGER}), not {record_manager_name}"
            )
        embedding = {"name": name, "config": dict(embedding_config or {})}
        kept = {"name": kept_in, "config": dict(vector_store_config or {})}
        changes: dict[str, Any] = {
            "embedding_config": embedding,
            "vector_store_config": kept,
            "record_manager_config": {
                "name": RECORD_MANAGER,
                "config": dict(record_manager_config or {}),
            },
        }
        before = row.embedding_config or {"name": DEFAULT_EMBEDDINGS, "config": {}}
        was = row.vector_store_config or {"name": VECTOR_STORE, "config": {}}
        # chunks written to an outside engine move when it (or its settings) change;
        # those searched in canvasflow's own need nothing but the same embeddings
        moved = kept != was and (kept_in in OUTSIDE or str(was.get("name")) in OUTSIDE)
        if embedding != before or moved:
            for entry in row.loaders or []:  # out of the old place, with the old settings
                await self._stop(row.id, entry["id"])
                await self._drop(row, entry["id"])
            await self._change_loaders(row.id, _emptied)
        changed = await self.store.update_named(DocumentStoreRow, row.id, **changes)
        if changed is None:
            raise NotFound(f"no document store {store_ref}")
        return changed

    async def forget_vectors(self, store_ref: str) -> DocumentStoreRow:
        """The store's chunks and keys gone from its vector store (its loaders stay)."""
        row = await self.row(store_ref)
        for entry in row.loaders or []:
            await self._stop(row.id, entry["id"])
            await self._drop(row, entry["id"])
        return await self._change_loaders(row.id, _emptied)

    async def query(
        self, store_ref: str, text: str, top_k: int | None = None
    ) -> list[dict[str, Any]]:
        """The store's chunks nearest the text, best first, each with its score: the
        cosine similarity of its embedding to the text's (canvasflow's own and the
        in-memory store, FAISS's inner product over the same unit vectors), or the
        outside engine's own score."""
        import numpy as np

        from canvasflow.nodes.kept import doc_id
        from canvasflow.nodes.retrieval import unit_rows

        row = await self.row(store_ref)
        config = row.vector_store_config or {}
        k = int(top_k or (config.get("config") or {}).get("topK") or 4)
        embedder = await self.embedder(row)
        outside = await self.outside(row, embedder)
        if outside is not None:
            async with outside.errors():
                found = await outside.search(text, k)
            return [
                {
                    "id": doc_id(doc),
                    "storeId": row.id,
                    "pageContent": doc["pageContent"],
                    "metadata": doc["metadata"],
                    "score": round(score, 6),
                }
                for doc, score in found
            ]
        rows = await self.store.chunks_of([collection(row.id, e["id"]) for e in row.loaders or []])
        if not rows:
            return []
        query = unit_rows(np.asarray(await embedder.embed([text])))[0]
        rows = [r for r in rows if r.dims == query.shape[0]]
        if not rows:
            return []
        matrix = unit_rows(np.stack([np.frombuffer(r.embedding, dtype=np.float32) for r in rows]))
        if config.get("name") == "faiss":
            import faiss

            index_ = faiss.IndexFlatIP(matrix.shape[1])
            index_.add(np.ascontiguousarray(matrix, dtype=np.float32))
            got, at = index_.search(query.reshape(1, -1).astype(np.float32), min(k, len(rows)))
            pairs = [(int(i), float(v)) for i, v in zip(at[0], got[0], strict=True) if i >= 0]
        else:
            scores = matrix @ query
            pairs = [(int(i), float(scores[i])) for i in np.argsort(-scores, kind="stable")[:k]]
        return [{**_chunk(rows[i], row.id), "score": round(v, 6)} for i, v in pairs]

    async def documents(self, store_ref: str) -> list[Document]:
        """Every chunk of the store as a document (Flowise's Document Store loader)."""
        row = await self.row(store_ref)
        rows = await self.store.chunks_of([collection(row.id, e["id"]) for e in row.loaders or []])
        return [{"pageContent": r.content, "metadata": dict(r.metadata_ or {})} for r in rows]

    # -- chunks -------------------------------------------------------------------------

    async def chunk_page(self, store_ref: str, loader_id: str, page: int) -> dict[str, Any]:
        row = await self.row(store_ref)
        entry = self.loader(row, loader_id)
        coll = collection(row.id, loader_id)
        count = (await self.store.chunk_totals([coll])).get(coll, (0, 0))[0]
        rows = await self.store.chunk_page(coll, (page - 1) * PAGE, PAGE)
        return {
            "chunks": [
                {**_chunk(r, row.id), "docId": loader_id, "chunkNo": (page - 1) * PAGE + i + 1}
                for i, r in enumerate(rows)
            ],
            "count": count,
            "file": entry,
            "currentPage": page,
            "storeName": row.name,
            "description": row.description,
        }

    async def _chunk(
        self, store_ref: str, loader_id: str, chunk_id: str
    ) -> tuple[DocumentStoreRow, str, DocumentChunk]:
        row = await self.row(store_ref)
        self.loader(row, loader_id)
        coll = collection(row.id, loader_id)
        found = await self.store.chunk(coll, chunk_id)
        if found is None:
            raise NotFound(f"loader {loader_id} has no chunk {chunk_id}")
        return row, coll, found

    async def edit_chunk(
        self,
        store_ref: str,
        loader_id: str,
        chunk_id: str,
        content: str,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chunk's text (and metadata) changed: embedded again, kept under its new key
        (processing the loader again brings back what its sources say)."""
        row, coll, old = await self._chunk(store_ref, loader_id, chunk_id)
        before: Document = {"pageContent": old.content, "metadata": dict(old.metadata_ or {})}
        after: Document = {
            "pageContent": content,
            "metadata": before["metadata"] if metadata is None else metadata,
        }
        sink = await self.sink(row, coll)
        old_key, new_key = chunk_key(before), chunk_key(after)
        if old_key != new_key:
            await sink.add([new_key], [after], created_at=old.created_at)  # its place kept
            source = after["metadata"].get("source")
            await self.store.records_update(
                coll, [new_key], [None if source is None else str(source)], time.time()
            )
            await sink.delete([old_key])
            await self.store.records_delete(coll, [old_key])
            await self._totals(row.id, loader_id, before["metadata"].get("source"))
        changed = await self.store.chunk(coll, sink.row_id(new_key))
        assert changed is not None
        return {**_chunk(changed, row.id), "docId": loader_id}

    async def delete_chunk(self, store_ref: str, loader_id: str, chunk_id: str) -> None:
        row, coll, old = await self._chunk(store_ref, loader_id, chunk_id)
        key = chunk_key({"pageContent": old.content, "metadata": dict(old.metadata_ or {})})
        await (await self.sink(row, coll)).delete([key])
        await self.store.records_delete(coll, [key])
        await self._totals(row.id, loader_id, (old.metadata_ or {}).get("source"))

    async def _totals(self, store_id: str, loader_id: str, changed: Any = None) -> None:
        """A loader's counts again, after a chunk of the source ``changed`` was edited or
        deleted (that file is read again by the next processing)."""
        coll = collection(store_id, loader_id)
        chunks_n, chars = (await self.store.chunk_totals([coll])).get(coll, (0, 0))

        def change(loaders: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for entry in loaders:
                if entry.get("id") == loader_id:
                    entry.update(totalChunks=chunks_n, totalChars=chars)
                    digests = dict(entry.get("digests") or {})
                    digests.pop(str(changed), None)
                    entry["digests"] = digests
                    return loaders
            raise Gone(loader_id)

        await self._change_loaders(store_id, change)


def _emptied(loaders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Loaders whose chunks have gone from the vector store: all to be processed again."""
    for entry in loaders:
        entry.update(status="STALE", totalChunks=0, totalChars=0, digests={})
    return loaders


def _chunk(row: DocumentChunk, store_id: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "storeId": store_id,
        "pageContent": row.content,
        "metadata": dict(row.metadata_ or {}),
    }
