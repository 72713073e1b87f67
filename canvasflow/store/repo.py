"""The store: every database read and write canvasflow makes, behind one class."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from canvasflow.store.evals import EvalRepo
from canvasflow.store.models import (
    ApiKey,
    Canvas,
    CanvasVersion,
    ChatMessage,
    Credential,
    CustomTemplate,
    DocumentChunk,
    Execution,
    Feedback,
    FlowState,
    RevokedSession,
    ScheduleTick,
    ServerMeta,
    WebhookDelivery,
    utcnow,
)
from canvasflow.store.outage import is_outage
from canvasflow.store.records import RecordRepo
from canvasflow.store.tables import CHUNKS, EXECUTIONS, MESSAGES, rowcount

log = logging.getLogger("canvasflow.store")

MIGRATIONS = Path(__file__).parent / "migrations"
# Seconds the start of an exchange (its question and ``running`` answer) waits for the
# writer. An answer that ends sooner is written once, finished (one INSERT instead of
# two transactions); a longer one has its start written while the model is thinking,
# not between the request and its first token. The cost: a process killed in this
# window leaves no trace of the question (BENCHMARKS.md, issue 17).
START_DELAY = 0.1
# Seconds the writes of finished exchanges wait, in order, for a database that went
# away (an outage) before they fail.
OUTAGE_HOLD = 600.0
MIGRATE_LOCK = 0x63616E76  # PostgreSQL advisory lock key of the schema's migrations
# seconds, and how many, execution records gather before their own transaction
RUN_DELAY = 0.5
RUN_BATCH = 500
# what a run's end writes over its start
RUN_END_COLUMNS = (
    "status",
    "answer",
    "error",
    "trace",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "ended_at",
)
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")


# the SHA-1 of the name-based UUID's namespace and prefix, taken once (uuid.uuid5 hashes
# them again and builds a UUID object: 5x the time, on every prediction's start)
_QUESTION_PREFIX = hashlib.sha1(uuid.NAMESPACE_URL.bytes + b"canvasflow-question:")


def question_id_for(answer_id: str) -> str:
    """The id of the question of an answer: derived, so any process can find it. It is
    ``uuid.uuid5(uuid.NAMESPACE_URL, "canvasflow-question:" + answer_id)``, made
    without the UUID object."""
    digest = _QUESTION_PREFIX.copy()
    digest.update(answer_id.encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _version_of(canvas: Canvas, author: str | None, message: str | None) -> CanvasVersion:
    return CanvasVersion(
        id=str(uuid.uuid4()),
        canvas_id=canvas.id,
        number=canvas.version,
        name=canvas.name,
        flow_data=canvas.flow_data,
        message=(message or None) and message[:1000],
        author=(author or None) and author[:200],
        created_at=utcnow(),
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _settle(done: asyncio.Future[None], exc: BaseException | None) -> None:
    if done.done():
        return
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)


class Conflict(Exception):
    """A unique value (a canvas slug) is taken."""


def slugify(name: str) -> str:
    return _SLUG_CHARS.sub("-", name.lower()).strip("-")[:80] or "canvas"


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL with synchronous=NORMAL: a commit does not wait for an fsync (a power cut
    # may lose the last commits, never corrupt the file)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _private_file(path: Path) -> None:
    """The SQLite file (chats, keys' hashes, sealed credentials) readable by its owner
    only, made so before the first connection creates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)


def _upgrade(connection: Connection) -> None:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


@dataclass
class HistoryFilter:
    chat_id: str | None = None
    session_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    order: str = "ASC"
    # Flowise's filters: one message, messages rated (of one rating), text in them
    message_id: str | None = None
    feedback_type: str | None = None
    feedback: bool = False
    text: str | None = None


def _like(text: str) -> str:
    """Text for a LIKE pattern, its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class RunFilter:
    canvas_id: str | None = None
    session_id: str | None = None
    status: list[str] | None = None
    trigger: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    ids: list[str] | None = None


class Store(EvalRepo, RecordRepo):
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        # JSON columns written with orjson (the stdlib's encoder is the writer's main cost)
        kwargs["json_serializer"] = _json_text
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._pending: list[tuple[tuple[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._runs: list[tuple[tuple[str, Any], asyncio.Future[None]]] = []
        self._runs_since = 0.0
        self._run_timer: asyncio.TimerHandle | None = None
        self._closing = False
        self.start_delay = START_DELAY
        # how long writes wait for a database that went away before they fail
        self.outage_hold = OUTAGE_HOLD

    async def migrate(self) -> None:
        path = None
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[-1].split("?", 1)[0]
            if path and path != ":memory:":
                await asyncio.to_thread(_private_file, Path(path))
            else:
                path = None
        async with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                # processes starting together on a new database (pods, containers) take
                # turns: one migrates, the others then find nothing to do
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK})
            await conn.run_sync(_upgrade)
        if path is not None:  # SQLite makes its WAL files with the database's mode
            await asyncio.to_thread(_private_file, Path(path))

    async def release_memory(self) -> None:
        """When the server is idle: close SQLite's pooled connections, so each one's page
        cache (up to 2 MiB) and thread go; the next query opens one again. Connections in
        use are closed when they come back. A server database keeps its pool, and a
        database in memory its connection (closing it would drop the database)."""
        database = self.engine.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in self.url
        if self.url.startswith("sqlite") and not in_memory:
            await self.engine.dispose()

    async def close(self) -> None:
        self._closing = True  # records still gathering go now
        if self._pending or self._runs:  # starts still waiting for the writer
            self._wake()
        if self._writer is not None:
            await asyncio.wait({self._writer})
        await self.engine.dispose()

    # -- canvases -----------------------------------------------------------------

    async def create_canvas(
        self,
        name: str,
        flow_data: str,
        slug: str | None = None,
        settings: dict[str, Any] | None = None,
        canvas_id: str | None = None,
        author: str | None = None,
        message: str | None = None,
    ) -> Canvas:
        canvas = Canvas(
            id=canvas_id or str(uuid.uuid4()),
            slug=slug or await self.free_slug(slugify(name)),
            name=name,
            flow_data=flow_data,
            settings=settings or {},
            created_at=utcnow(),
            updated_at=utcnow(),
            version=1,
            published=None,
        )
        async with self.sessions() as s:
            s.add(canvas)
            s.add(_version_of(canvas, author, message))
            try:
                await s.commit()
            except IntegrityError:
                raise Conflict(f"a canvas with slug or id {canvas.slug!r} exists") from None
        return canvas

    async def free_slug(self, base: str) -> str:
        async with self.sessions() as s:
            taken = set(
                (
                    await s.scalars(
                        select(Canvas.slug).where(
                            or_(Canvas.slug == base, Canvas.slug.like(base + "-%"))
                        )
                    )
                ).all()
            )
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    async def get_canvas(self, ref: str) -> Canvas | None:
        """By UUID or by slug."""
        async with self.sessions() as s:
            if is_uuid(ref):
                found = await s.get(Canvas, ref)
                if found is not None:
                    return found
            return await s.scalar(select(Canvas).where(Canvas.slug == ref))

    # -- templates saved from canvases ----------------------------------------------------

    async def add_template(
        self, name: str, description: str, type_: str, flow_data: str, usecases: Any = None
    ) -> CustomTemplate:
        row = CustomTemplate(
            id=str(uuid.uuid4()),
            name=name,
            description=description,
            type=type_,
            flow_data=flow_data,
            usecases=usecases,
        )
        async with self.sessions() as s:
            s.add(row)
            await s.commit()
            await s.refresh(row)
        return row

    # -- global variables and the tools library (one table each, names unique) ----------

    async def library(self, model: Any) -> list[Any]:
        """Every variable (or tool), by name."""
        async with self.sessions() as s:
            return list(await s.scalars(select(model).order_by(model.name)))

    async def add_named(self, row: Any) -> Any:
        """A new variable or tool; :class:`Conflict` when its name is taken."""
        try:
            async with self.sessions() as s:
                s.add(row)
                await s.commit()
        except IntegrityError:
            raise Conflict(f"a {row.__tablename__[:-1]} named {row.name!r} exists") from None
        return row

    async def update_named(self, model: Any, row_id: str, **changes: Any) -> Any:
        """The variable or tool with its fields changed (None when there is none);
        :class:`Conflict` when a new name is taken."""
        try:
            return await self._change(model, row_id, changes)
        except IntegrityError:
            kind = model.__tablename__[:-1]
            raise Conflict(f"a {kind} named {changes.get('name')!r} exists") from None

    async def delete_named(self, model: Any, row_id: str) -> bool:
        async with self.sessions() as s:
            found = await s.execute(delete(model).where(model.id == row_id))
            await s.commit()
            return rowcount(found) > 0

    async def templates(self) -> list[CustomTemplate]:
        async with self.sessions() as s:
            found = await s.scalars(select(CustomTemplate).order_by(CustomTemplate.created_at))
            return list(found.all())

    async def delete_template(self, template_id: str) -> bool:
        async with self.sessions() as s:
            row = await s.get(CustomTemplate, template_id)
            if row is None:
                return False
            await s.delete(row)
            await s.commit()
            return True

    async def list_canvases(self) -> list[Canvas]:
        async with self.sessions() as s:
            return list((await s.scalars(select(Canvas).order_by(Canvas.created_at))).all())

    async def canvas_versions(self) -> dict[str, datetime]:
        """Every canvas's id and the time it last changed (one light query)."""
        async with self.sessions() as s:
            rows = await s.execute(select(Canvas.id, Canvas.updated_at))
            return {canvas_id: updated for canvas_id, updated in rows.all()}

    async def versions(self, canvas_id: str) -> list[CanvasVersion]:
        """A canvas's versions, newest first."""
        q = select(CanvasVersion).where(CanvasVersion.canvas_id == canvas_id)
        async with self.sessions() as s:
            return list((await s.scalars(q.order_by(CanvasVersion.number.desc()))).all())

    async def version(self, canvas_id: str, number: int) -> CanvasVersion | None:
        q = select(CanvasVersion).where(
            CanvasVersion.canvas_id == canvas_id, CanvasVersion.number == number
        )
        async with self.sessions() as s:
            return await s.scalar(q)

    async def publish(self, canvas_id: str, number: int | None) -> Canvas | None:
        """Pin the version a canvas serves (None: its latest)."""
        async with self.sessions() as s:
            canvas = await s.get(Canvas, canvas_id)
            if canvas is None:
                return None
            canvas.published = number
            canvas.updated_at = utcnow()
            await s.commit()
            return canvas

    async def update_canvas(
        self, ref: str, *, author: str | None = None, message: str | None = None, **changes: Any
    ) -> Canvas | None:
        """Change a canvas; a new flow (or name) is a new version of it."""
        async with self.sessions() as s:
            canvas = await s.get(Canvas, ref) if is_uuid(ref) else None
            if canvas is None:
                canvas = await s.scalar(select(Canvas).where(Canvas.slug == ref))
            if canvas is None:
                return None
            versioned = (changes.get("flow_data") not in (None, canvas.flow_data)) or (
                changes.get("name") not in (None, canvas.name)
            )
            for key, value in changes.items():
                if value is not None:
                    setattr(canvas, key, value)
            if versioned:
                canvas.version = (canvas.version or 1) + 1
                s.add(_version_of(canvas, author, message))
            canvas.updated_at = utcnow()
            try:
                await s.commit()
            except IntegrityError:
                raise Conflict(f"slug {changes.get('slug')!r} is taken") from None
            return canvas

    async def delete_canvas(self, canvas_id: str) -> bool:
        async with self.sessions() as s:
            await s.execute(delete(ChatMessage).where(ChatMessage.canvas_id == canvas_id))
            for model in (Execution, ScheduleTick, WebhookDelivery, CanvasVersion):
                await s.execute(delete(model).where(model.canvas_id == canvas_id))
            result = await s.execute(delete(Canvas).where(Canvas.id == canvas_id))
            await s.commit()
            return bool(rowcount(result))

    # -- chat messages --------------------------------------------------------------

    # A prediction writes twice: when it starts (the question and a ``running`` answer,
    # so a process that dies mid-answer leaves a trace) and when it ends (the answer).
    # Writes of predictions starting or ending at the same time share one transaction
    # (group commit): a writer task takes every write waiting and commits them together.
    # A start waits up to ``start_delay`` for the writer; an end wakes it at once, and a
    # start still waiting goes with it (the exchange is then inserted finished).

    def start_exchange(
        self,
        canvas_id: str,
        chat_id: str,
        session_id: str,
        question: str,
        question_id: str,
        answer_id: str,
    ) -> asyncio.Future[None]:
        """The question and a ``running`` answer, queued for the writer at once; the
        returned future is done once they are committed (a prediction awaits it as it
        ends, with no task of its own meanwhile)."""
        now = utcnow()
        base = {"canvas_id": canvas_id, "chat_id": chat_id, "session_id": session_id}
        rows = (
            {
                **base,
                "id": question_id,
                "role": "userMessage",
                "content": question,
                "status": "running",
                "usage": None,
                "source_documents": None,
                "used_tools": None,
                "created_at": now,
            },
            {
                **base,
                "id": answer_id,
                "role": "apiMessage",
                "content": "",
                "status": "running",
                "usage": None,
                "source_documents": None,
                "used_tools": None,
                "created_at": now + timedelta(microseconds=1),
            },
        )
        return self._queue(("start", rows), soon=False)

    async def save_exchange(
        self,
        canvas_id: str,
        chat_id: str,
        session_id: str,
        question: str,
        answer: str,
        answer_id: str,
        status: str,
        usage: dict[str, Any] | None = None,
        source_documents: list[Any] | None = None,
        used_tools: list[Any] | None = None,
        question_id: str | None = None,
    ) -> None:
        """The finished exchange: the answer row completed (written whole, question and
        answer in one transaction, if its start was never written)."""
        question_id = question_id or question_id_for(answer_id)
        now = utcnow()
        base = {"canvas_id": canvas_id, "chat_id": chat_id, "session_id": session_id}
        finish = {
            "answer_id": answer_id,
            "question_id": question_id,
            "content": answer,
            "status": status,
            "usage": usage,
            "source_documents": source_documents or None,
            "used_tools": used_tools or None,
            "rows": (
                {
                    **base,
                    "id": question_id,
                    "role": "userMessage",
                    "content": question,
                    "status": "completed",
                    "usage": None,
                    "source_documents": None,
                    "used_tools": None,
                    "created_at": now,
                },
                {
                    **base,
                    "id": answer_id,
                    "role": "apiMessage",
                    "content": answer,
                    "status": status,
                    "usage": usage,
                    "source_documents": source_documents or None,
                    "used_tools": used_tools or None,
                    "created_at": now + timedelta(microseconds=1),
                },
            ),
        }
        await self._queue(("finish", finish))

    def _queue(self, item: tuple[str, Any], soon: bool = True) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, done))
        if self._writer is not None and not self._writer.done():
            return done  # the running writer takes it next
        if soon or self.start_delay <= 0:
            self._wake()
        elif self._timer is None:
            self._timer = loop.call_later(self.start_delay, self._wake)
        return done

    def _wake(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._run_timer is not None:
            self._run_timer.cancel()
            self._run_timer = None
        if (self._pending or self._runs) and (self._writer is None or self._writer.done()):
            self._writer = asyncio.create_task(self._write_exchanges())

    async def _apply(self, conn: Any, item: tuple[str, Any]) -> None:
        table = MESSAGES
        kind, payload = item
        if kind in ("run", "run_end"):
            await self._write_runs(conn, [item])
            return
        if kind == "start":
            await conn.execute(insert(table), list(payload))
            return
        result = await conn.execute(
            update(table)
            .where(table.c.id == payload["answer_id"])
            .values(
                content=payload["content"],
                status=payload["status"],
                usage=payload["usage"],
                source_documents=payload["source_documents"],
                used_tools=payload["used_tools"],
            )
        )
        if not rowcount(result):  # its start was never written: write it whole
            await conn.execute(insert(table), list(payload["rows"]))
            return
        await conn.execute(
            update(table).where(table.c.id == payload["question_id"]).values(status="completed")
        )

    async def _write_batch(self, conn: Any, batch: list[tuple[str, Any]]) -> None:
        """One transaction for every waiting write, in as few statements as it takes: an
        exchange that starts and ends in the same batch is inserted finished (no running
        row, no updates); other finishes update their rows all at once."""
        table = MESSAGES
        starts: dict[str, Any] = {}
        finishes: list[dict[str, Any]] = []
        runs = [item for item in batch if item[0] in ("run", "run_end")]
        if runs:
            await self._write_runs(conn, runs)
        for kind, payload in batch:
            if kind in ("run", "run_end"):
                continue
            if kind == "start":
                starts[payload[1]["id"]] = payload
            else:
                finishes.append(payload)
        later = []
        for finish in finishes:
            began = starts.get(finish["answer_id"])
            if began is not None:  # written finished, with the times it started at
                starts[finish["answer_id"]] = tuple(
                    {**row, "created_at": first["created_at"]}
                    for row, first in zip(finish["rows"], began, strict=True)
                )
            else:
                later.append(finish)
        rows = [row for pair in starts.values() for row in pair]
        if later:  # starts written before: find them (a failed start is written whole)
            ids = [f["answer_id"] for f in later]
            found = set(
                (await conn.execute(select(table.c.id).where(table.c.id.in_(ids)))).scalars()
            )
            for finish in later:
                if finish["answer_id"] not in found:
                    rows.extend(finish["rows"])
            known = [f for f in later if f["answer_id"] in found]
            if known:
                await conn.execute(
                    update(table)
                    .where(table.c.id == bindparam("b_id"))
                    .values(
                        content=bindparam("b_content"),
                        status=bindparam("b_status"),
                        usage=bindparam("b_usage"),
                        source_documents=bindparam("b_sources"),
                        used_tools=bindparam("b_tools"),
                    ),
                    [
                        {
                            "b_id": f["answer_id"],
                            "b_content": f["content"],
                            "b_status": f["status"],
                            "b_usage": f["usage"],
                            "b_sources": f["source_documents"],
                            "b_tools": f["used_tools"],
                        }
                        for f in known
                    ],
                )
                await conn.execute(
                    update(table).where(table.c.id == bindparam("b_id")).values(status="completed"),
                    [{"b_id": f["question_id"]} for f in known],
                )
        if rows:
            await conn.execute(insert(table), rows)

    # -- execution records: written by the same writer, in the same transactions --------

    def record_run(self, row: dict[str, Any]) -> asyncio.Future[None]:
        """A run's record as it starts (``running``)."""
        return self._queue_run(("run", row))

    def finish_run(self, row: dict[str, Any]) -> asyncio.Future[None]:
        """A run's record as it ended: the whole row (inserted if its start was never
        written)."""
        return self._queue_run(("run_end", row))

    # Records are written by the same writer, but never in an exchange's transaction: a
    # prediction waits for its exchange, not for its record. They gather for up to
    # RUN_DELAY (or RUN_BATCH of them) and go in one transaction of their own, between
    # exchanges' batches; a run that starts and ends within that time is one INSERT.

    def _queue_run(self, item: tuple[str, Any]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._runs:
            self._runs_since = loop.time()
        self._runs.append((item, done))
        if self._writer is not None and not self._writer.done():
            return done
        if len(self._runs) >= RUN_BATCH:
            self._wake()
        elif self._run_timer is None:
            self._run_timer = loop.call_later(RUN_DELAY, self._wake)
        return done

    def _runs_due(self) -> bool:
        if not self._runs:
            return False
        if self._closing or len(self._runs) >= RUN_BATCH:
            return True
        return asyncio.get_running_loop().time() - self._runs_since >= RUN_DELAY

    async def _write_runs(self, conn: Any, items: list[tuple[str, Any]]) -> None:
        table = EXECUTIONS
        rows: dict[str, dict[str, Any]] = {}
        ends: dict[str, dict[str, Any]] = {}
        for kind, row in items:
            if kind == "run":
                rows[row["id"]] = row
            elif row["id"] in rows:  # began and ended in this batch: one insert
                rows[row["id"]] = {**rows[row["id"]], **row}
            else:
                ends[row["id"]] = row
        if ends:
            found = set(
                (await conn.execute(select(table.c.id).where(table.c.id.in_(list(ends))))).scalars()
            )
            for run_id, row in ends.items():
                if run_id not in found:
                    rows[run_id] = row
            known = [row for run_id, row in ends.items() if run_id in found]
            if known:
                columns = [c for c in RUN_END_COLUMNS if all(c in row for row in known)]
                await conn.execute(
                    update(table)
                    .where(table.c.id == bindparam("b_id"))
                    .values({c: bindparam("b_" + c) for c in columns}),
                    [{"b_id": r["id"], **{"b_" + c: r[c] for c in columns}} for r in known],
                )
        if rows:
            await conn.execute(insert(table), list(rows.values()))

    async def _write_exchanges(self) -> None:
        waited = 0.0
        while self._pending or self._runs_due():
            if self._pending:
                batch, self._pending = self._pending, []
            else:  # the exchanges are written: the records that waited long enough
                batch, self._runs = self._runs, []
            try:
                async with self.engine.begin() as conn:
                    await self._write_batch(conn, [item for item, _ in batch])
            except Exception as exc:
                if is_outage(exc) and waited < self.outage_hold:
                    # the database is away: keep every write, in order, and try again
                    # (a prediction does not wait for it: see engine/prediction.py)
                    if not waited:
                        log.warning("the database is unreachable; %d writes wait", len(batch))
                    self._pending = batch + self._pending
                    pause = min(2.0, 0.25 + waited / 10)
                    await asyncio.sleep(pause)
                    waited += pause
                    continue
                if waited:
                    waited = 0.0
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                for item, done in batch:  # one bad write must not sink the others
                    try:
                        async with self.engine.begin() as conn:
                            await self._apply(conn, item)
                    except Exception as one_exc:
                        _settle(done, one_exc)
                    else:
                        _settle(done, None)
                continue
            if waited:
                log.warning("the database is back; the writes that waited are written")
                waited = 0.0
            for _, done in batch:
                _settle(done, None)
        if self._runs and self._run_timer is None:  # records not due yet: later
            loop = asyncio.get_running_loop()
            wait = max(0.0, RUN_DELAY - (loop.time() - self._runs_since))
            self._run_timer = loop.call_later(wait, self._wake)

    async def running_answers(self) -> list[ChatMessage]:
        """Answers still marked running (at start-up: left by a process that died)."""
        async with self.sessions() as s:
            q = select(ChatMessage).where(
                ChatMessage.status == "running", ChatMessage.role == "apiMessage"
            )
            return list((await s.scalars(q)).all())

    async def mark_interrupted(self, answer_id: str, partial: str) -> None:
        table = MESSAGES
        async with self.engine.begin() as conn:
            await conn.execute(
                update(table)
                .where(table.c.id == answer_id)
                .values(status="interrupted", content=partial)
            )
            await conn.execute(
                update(table)
                .where(table.c.id == question_id_for(answer_id))
                .values(status="completed")
            )
            runs = EXECUTIONS
            await conn.execute(  # its record, if one was kept, says so too
                update(runs)
                .where(runs.c.id == answer_id, runs.c.status == "running")
                .values(status="interrupted", ended_at=utcnow(), answer=partial)
            )

    # -- the chat widget's feedback and leads ---------------------------------------------

    async def add_row(self, row: Any) -> Any:
        async with self.sessions() as s:
            s.add(row)
            await s.commit()
        return row

    async def update_feedback(self, feedback_id: str, **changes: Any) -> Feedback | None:
        async with self.sessions() as s:
            row = await s.get(Feedback, feedback_id)
            if row is None:
                return None
            for key, value in changes.items():
                setattr(row, key, value)
            await s.commit()
            await s.refresh(row)
            return row

    async def get_row(self, model: Any, row_id: str) -> Any:
        async with self.sessions() as s:
            return await s.get(model, row_id)

    async def chat_stats(
        self, canvas_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, int]:
        """Flowise's chatflow statistics: messages, sessions, feedback given and how much
        of it was a thumbs up (messages between ``start`` and ``end`` when given)."""
        where = [ChatMessage.canvas_id == canvas_id]
        if start is not None:
            where.append(ChatMessage.created_at >= start)
        if end is not None:
            where.append(ChatMessage.created_at <= end)
        async with self.sessions() as s:
            messages, sessions = (
                await s.execute(
                    select(func.count(), func.count(func.distinct(ChatMessage.session_id))).where(
                        *where
                    )
                )
            ).one()
            rated = select(ChatMessage.id).where(*where)
            thumbs_up = case((Feedback.rating == "THUMBS_UP", 1), else_=0)
            feedback: Any
            positive: Any
            feedback, positive = (
                await s.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(thumbs_up), 0),
                    ).where(Feedback.canvas_id == canvas_id, Feedback.message_id.in_(rated))
                )
            ).one()
        return {
            "totalMessages": int(messages),
            "totalSessions": int(sessions),
            "totalFeedback": int(feedback),
            "positiveFeedback": int(positive),
        }

    async def rows_of(self, model: Any, canvas_id: str) -> list[Any]:
        async with self.sessions() as s:
            q = select(model).where(model.canvas_id == canvas_id).order_by(model.created_at)
            return list(await s.scalars(q))

    # -- agentflow flow states (a paused run, a kept state) ---------------------------------

    async def save_flow_state(
        self,
        state_id: str,
        canvas_id: str,
        chat_id: str,
        session_id: str,
        status: str,
        data: dict[str, Any],
    ) -> None:
        """Create or replace one agentflow execution (one write)."""
        async with self.sessions() as s:
            row = await s.get(FlowState, state_id)
            if row is None:
                s.add(
                    FlowState(
                        id=state_id,
                        canvas_id=canvas_id,
                        chat_id=chat_id,
                        session_id=session_id,
                        status=status,
                        data=data,
                    )
                )
            else:
                row.status = status
                row.data = data
            await s.commit()

    async def meta(self, key: str) -> str | None:
        """A server-wide value (``server_meta``), None when unset."""
        async with self.sessions() as s:
            row = await s.get(ServerMeta, key)
            return row.value if row is not None else None

    async def set_meta(self, key: str, value: str | None) -> None:
        """Set (or, with None, forget) a server-wide value."""
        async with self.sessions() as s:
            row = await s.get(ServerMeta, key)
            if value is None:
                if row is not None:
                    await s.delete(row)
            elif row is None:
                s.add(ServerMeta(key=key, value=value))
            else:
                row.value = value
            await s.commit()

    async def agreed(self, key: str, value: str) -> str:
        """The value of ``key`` every process agrees on: the first one written (this one,
        if none was), so a process that brings another value can tell."""
        async with self.sessions() as s:
            row = await s.get(ServerMeta, key)
            if row is not None:
                return row.value
            s.add(ServerMeta(key=key, value=value))
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                row = await s.get(ServerMeta, key)
                return row.value if row is not None else value
        return value

    # -- browser sessions -------------------------------------------------------------

    async def revoke_session(self, signature: str, expires_at: datetime) -> None:
        """Remember a signed-out session until it would have expired (and forget the
        ones past their time)."""
        async with self.sessions() as s:
            await s.execute(delete(RevokedSession).where(RevokedSession.expires_at < utcnow()))
            if await s.get(RevokedSession, signature) is None:
                s.add(RevokedSession(signature=signature, expires_at=expires_at))
            await s.commit()

    async def session_revoked(self, signature: str) -> bool:
        async with self.sessions() as s:
            return await s.get(RevokedSession, signature) is not None

    async def claim_flow_state(self, state_id: str, status: str, new_status: str) -> bool:
        """Move an execution from ``status`` to ``new_status`` if it is still there: one
        conditional UPDATE, so of concurrent callers exactly one wins (a paused run is
        resumed once)."""
        from sqlalchemy import update

        async with self.sessions() as s:
            result = await s.execute(
                update(FlowState)
                .where(FlowState.id == state_id, FlowState.status == status)
                .values(status=new_status)
            )
            await s.commit()
            return bool(rowcount(result))

    async def last_flow_state(
        self, canvas_id: str, *, chat_id: str | None = None, session_id: str | None = None
    ) -> FlowState | None:
        """The latest execution of a chat (or a session) of a canvas."""
        q = select(FlowState).where(FlowState.canvas_id == canvas_id)
        if chat_id is not None:
            q = q.where(FlowState.chat_id == chat_id)
        if session_id is not None:
            q = q.where(FlowState.session_id == session_id)
        q = q.order_by(FlowState.updated_at.desc()).limit(1)
        async with self.sessions() as s:
            return (await s.scalars(q)).first()

    async def get_message(self, message_id: str) -> ChatMessage | None:
        async with self.sessions() as s:
            return await s.get(ChatMessage, message_id)

    def _history_query(self, canvas_id: str, f: HistoryFilter):
        q = select(ChatMessage).where(ChatMessage.canvas_id == canvas_id)
        if f.chat_id:
            q = q.where(ChatMessage.chat_id == f.chat_id)
        if f.session_id:
            q = q.where(ChatMessage.session_id == f.session_id)
        if f.start:
            q = q.where(ChatMessage.created_at >= f.start)
        if f.end:
            q = q.where(ChatMessage.created_at <= f.end)
        if f.message_id:
            q = q.where(ChatMessage.id == f.message_id)
        if f.feedback or f.feedback_type:
            rated = select(Feedback.message_id).where(Feedback.canvas_id == canvas_id)
            if f.feedback_type:
                rated = rated.where(Feedback.rating == f.feedback_type)
            q = q.where(ChatMessage.id.in_(rated))
        if f.text:
            q = q.where(ChatMessage.content.ilike(f"%{_like(f.text)}%", escape="\\"))
        return q

    async def messages(
        self,
        canvas_id: str,
        f: HistoryFilter | None = None,
        offset: int = 0,
        limit: int | None = None,
        whole: bool = False,
    ) -> list[ChatMessage]:
        """Messages the filter selects (``whole``: every message of the conversations
        that hold one)."""
        f = f or HistoryFilter()
        order = (
            ChatMessage.created_at.desc() if f.order.upper() == "DESC" else ChatMessage.created_at
        )
        q = self._history_query(canvas_id, f)
        if whole:
            sessions = q.with_only_columns(ChatMessage.session_id)
            q = select(ChatMessage).where(
                ChatMessage.canvas_id == canvas_id, ChatMessage.session_id.in_(sessions)
            )
        q = q.order_by(order, ChatMessage.id).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        async with self.sessions() as s:
            return list((await s.scalars(q)).all())

    async def run_figures(
        self, canvas_id: str | None, since: datetime
    ) -> list[tuple[datetime, str, int, int, int | None, int | None]]:
        """Each run since ``since`` (of one canvas, or all): when it started, its status,
        its tokens in and out, its latency and time to first token (milliseconds)."""
        q = select(
            Execution.started_at,
            Execution.status,
            Execution.prompt_tokens,
            Execution.completion_tokens,
            Execution.latency_ms,
            Execution.ttft_ms,
        ).where(Execution.started_at >= since)
        if canvas_id:
            q = q.where(Execution.canvas_id == canvas_id)
        async with self.sessions() as s:
            return [tuple(r) for r in (await s.execute(q)).all()]  # type: ignore[misc]

    async def feedback_of(self, message_ids: list[str]) -> dict[str, Feedback]:
        """The feedback given on these answers, by answer id."""
        if not message_ids:
            return {}
        async with self.sessions() as s:
            rows = await s.scalars(select(Feedback).where(Feedback.message_id.in_(message_ids)))
            return {r.message_id: r for r in rows}

    async def conversations(
        self, canvas_id: str, f: HistoryFilter, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """A page of a canvas's conversations (by session), latest first, each with its
        dates, message count, first question, tokens, feedback, what started it and the
        version that answered; and how many there are. Filters select the sessions with a
        matching message (text, rating, dates)."""
        matching = self._history_query(canvas_id, f).with_only_columns(ChatMessage.session_id)
        last = func.max(ChatMessage.created_at)
        page = (
            select(
                ChatMessage.session_id,
                func.min(ChatMessage.chat_id),
                func.min(ChatMessage.created_at),
                last,
                func.count(),
            )
            .where(ChatMessage.canvas_id == canvas_id, ChatMessage.session_id.in_(matching))
            .group_by(ChatMessage.session_id)
            .order_by(last.desc(), ChatMessage.session_id)
            .offset(offset)
            .limit(limit)
        )
        total_q = select(func.count(func.distinct(ChatMessage.session_id))).where(
            ChatMessage.canvas_id == canvas_id, ChatMessage.session_id.in_(matching)
        )
        async with self.sessions() as s:
            total = int((await s.execute(total_q)).scalar_one())
            rows = (await s.execute(page)).all()
            sessions = [r[0] for r in rows]
            details = (
                await s.execute(
                    select(
                        ChatMessage.id,
                        ChatMessage.session_id,
                        ChatMessage.role,
                        func.substr(ChatMessage.content, 1, 200),
                        ChatMessage.usage,
                        ChatMessage.created_at,
                    )
                    .where(ChatMessage.canvas_id == canvas_id, ChatMessage.session_id.in_(sessions))
                    .order_by(ChatMessage.created_at)
                )
            ).all()
            ratings = (
                await s.execute(
                    select(ChatMessage.session_id, Feedback.rating)
                    .join(Feedback, Feedback.message_id == ChatMessage.id)
                    .where(ChatMessage.canvas_id == canvas_id, ChatMessage.session_id.in_(sessions))
                )
            ).all()
            runs = (
                await s.execute(
                    select(Execution.session_id, Execution.trigger, Execution.version)
                    .where(Execution.canvas_id == canvas_id, Execution.session_id.in_(sessions))
                    .order_by(Execution.started_at)
                )
            ).all()
        out: dict[str | None, dict[str, Any]] = {
            r[0]: {
                "sessionId": r[0],
                "chatId": r[1],
                "firstDate": r[2],
                "lastDate": r[3],
                "messages": int(r[4]),
                "firstQuestion": None,
                "tokens": 0,
                "thumbsUp": 0,
                "thumbsDown": 0,
                "source": None,
                "version": None,
            }
            for r in rows
        }
        for _, session, role, content, usage, _at in details:
            row = out[str(session) if session is not None else None]
            if role == "userMessage" and row["firstQuestion"] is None:
                row["firstQuestion"] = content
            if isinstance(usage, dict):
                row["tokens"] += int(usage.get("total_tokens") or 0)
        for session, rating in ratings:
            out[session]["thumbsUp" if rating == "THUMBS_UP" else "thumbsDown"] += 1
        for session, trigger, version in runs:  # the latest run's
            out[session]["source"], out[session]["version"] = trigger, version
        return total, [out[s] for s in sessions]

    async def chats_of(self, canvas_id: str, f: HistoryFilter | None = None) -> set[str]:
        """The chats a filter selects messages of (one column, each chat once)."""
        q = self._history_query(canvas_id, f or HistoryFilter())
        q = q.with_only_columns(ChatMessage.chat_id).distinct().order_by(None)
        async with self.sessions() as s:
            return set(await s.scalars(q))

    async def delete_messages(self, canvas_id: str, f: HistoryFilter | None = None) -> int:
        f = f or HistoryFilter()
        ids = select(self._history_query(canvas_id, f).subquery().c.id)
        async with self.sessions() as s:
            result = await s.execute(delete(ChatMessage).where(ChatMessage.id.in_(ids)))
            await s.commit()
            return rowcount(result)

    async def session_history(
        self, canvas_id: str, session_id: str, limit: int | None = None
    ) -> list[ChatMessage]:
        """The last ``limit`` messages of a memory session, oldest first."""
        q = (
            select(ChatMessage)
            .where(
                ChatMessage.canvas_id == canvas_id,
                ChatMessage.session_id == session_id,
                ChatMessage.status != "running",  # the exchange under way is not history
            )
            .order_by(ChatMessage.created_at.desc())
        )
        if limit:
            q = q.limit(limit)
        async with self.sessions() as s:
            rows = list((await s.scalars(q)).all())
        rows.reverse()
        return rows

    async def count_messages(self, canvas_id: str) -> int:
        async with self.sessions() as s:
            return int(
                await s.scalar(
                    select(func.count())
                    .select_from(ChatMessage)
                    .where(ChatMessage.canvas_id == canvas_id)
                )
                or 0
            )

    # -- credentials ------------------------------------------------------------------

    async def create_credential(self, name: str, credential_name: str, data: dict[str, Any]) -> str:
        cred = Credential(
            id=str(uuid.uuid4()),
            name=name,
            credential_name=credential_name,
            data=data,
            created_at=utcnow(),
        )
        async with self.sessions() as s:
            s.add(cred)
            await s.commit()
        return cred.id

    async def list_credentials(self) -> list[Credential]:
        async with self.sessions() as s:
            return list(await s.scalars(select(Credential).order_by(Credential.created_at)))

    async def update_credential(
        self, cred_id: str, *, name: str | None = None, data: dict[str, Any] | None = None
    ) -> Credential | None:
        async with self.sessions() as s:
            cred = await s.get(Credential, cred_id)
            if cred is None:
                return None
            if name is not None:
                cred.name = name
            if data is not None:
                cred.data = data
            await s.commit()
            await s.refresh(cred)
            return cred

    async def delete_credential(self, cred_id: str) -> bool:
        async with self.sessions() as s:
            cred = await s.get(Credential, cred_id)
            if cred is None:
                return False
            await s.delete(cred)
            await s.commit()
            return True

    async def get_credential(self, ref: str) -> Credential | None:
        async with self.sessions() as s:
            if is_uuid(ref):
                found = await s.get(Credential, ref)
                if found is not None:
                    return found
            return await s.scalar(select(Credential).where(Credential.name == ref))

    # -- api keys --------------------------------------------------------------------------

    async def add_api_key(self, key: ApiKey) -> ApiKey:
        async with self.sessions() as s:
            s.add(key)
            await s.commit()
        return key

    async def api_keys(self) -> list[ApiKey]:
        async with self.sessions() as s:
            return list((await s.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())

    async def delete_api_key(self, ref: str) -> bool:
        async with self.sessions() as s:
            result = await s.execute(
                delete(ApiKey).where(
                    or_(ApiKey.id == ref, ApiKey.prefix == ref, ApiKey.name == ref)
                )
            )
            await s.commit()
            return bool(rowcount(result))

    # -- document chunks (the persistent vector store) ---------------------------------------

    async def existing_chunk_ids(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        async with self.sessions() as s:
            found = await s.scalars(select(DocumentChunk.id).where(DocumentChunk.id.in_(ids)))
            return set(found.all())

    async def add_chunks(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(insert(CHUNKS), rows)

    async def chunks(self, collection: str) -> list[DocumentChunk]:
        async with self.sessions() as s:
            q = select(DocumentChunk).where(DocumentChunk.collection == collection)
            return list((await s.scalars(q.order_by(DocumentChunk.created_at))).all())

    async def delete_collection(self, collection: str) -> int:
        async with self.sessions() as s:
            result = await s.execute(
                delete(DocumentChunk).where(DocumentChunk.collection == collection)
            )
            await s.commit()
            return rowcount(result)

    # -- execution records (reads; the writer writes them) ---------------------------------

    def _runs_query(self, f: RunFilter) -> Any:
        t = Execution
        q = select(t)
        if f.canvas_id:
            q = q.where(t.canvas_id == f.canvas_id)
        if f.session_id:
            q = q.where(t.session_id == f.session_id)
        if f.status:
            q = q.where(t.status.in_(f.status))
        if f.trigger:
            q = q.where(t.trigger == f.trigger)
        if f.start:
            q = q.where(t.started_at >= f.start)
        if f.end:
            q = q.where(t.started_at <= f.end)
        if f.ids:
            q = q.where(t.id.in_(f.ids))
        return q

    async def executions(self, f: RunFilter, page: int, limit: int) -> tuple[list[Any], int]:
        """A page of execution records, newest first, without their traces; and how many
        the filter selects in all."""
        t = Execution
        summary = [c for c in EXECUTIONS.c if c.name not in ("trace", "request")]
        q = self._runs_query(f)
        listed = (
            q.with_only_columns(*summary)
            .order_by(t.started_at.desc(), t.id)
            .offset((page - 1) * limit)
            .limit(limit)
        )
        counted = q.with_only_columns(func.count()).select_from(Execution).order_by(None)
        async with self.sessions() as s:
            rows = list((await s.execute(listed)).mappings())
            total = int(await s.scalar(counted) or 0)
        return rows, total

    async def get_execution(self, execution_id: str) -> Execution | None:
        async with self.sessions() as s:
            return await s.get(Execution, execution_id)

    async def set_execution_public(self, execution_id: str, public: bool) -> Execution | None:
        async with self.sessions() as s:
            row = await s.get(Execution, execution_id)
            if row is None:
                return None
            row.is_public = public
            await s.commit()
            return row

    async def delete_executions(self, ids: list[str]) -> int:
        if not ids:
            return 0
        async with self.sessions() as s:
            result = await s.execute(delete(Execution).where(Execution.id.in_(ids)))
            await s.commit()
            return rowcount(result)

    async def forget_old(
        self, executions_before: datetime | None, deliveries_before: datetime
    ) -> int:
        """Retention: execution records started before a time, webhook delivery ids older
        than a day, schedule ticks of the same age as the executions."""
        removed = 0
        async with self.sessions() as s:
            if executions_before is not None:
                result = await s.execute(
                    delete(Execution).where(
                        Execution.started_at < executions_before, Execution.status != "running"
                    )
                )
                removed = rowcount(result)
                await s.execute(delete(ScheduleTick).where(ScheduleTick.tick < executions_before))
            await s.execute(
                delete(WebhookDelivery).where(WebhookDelivery.created_at < deliveries_before)
            )
            await s.commit()
        return removed

    # -- schedules' ticks ------------------------------------------------------------------

    async def claim_tick(self, canvas_id: str, tick: datetime, process: str) -> str | None:
        """Take one tick of a canvas's schedule: of every process asking, exactly one gets
        its id (the unique pair decides); the others get None."""
        row_id = str(uuid.uuid4())
        async with self.sessions() as s:
            s.add(
                ScheduleTick(
                    id=row_id,
                    canvas_id=canvas_id,
                    tick=tick,
                    status="RUNNING",
                    process=process,
                    created_at=utcnow(),
                )
            )
            try:
                await s.commit()
            except IntegrityError:
                return None
        return row_id

    async def finish_tick(self, tick_id: str, **values: Any) -> None:
        async with self.sessions() as s:
            await s.execute(update(ScheduleTick).where(ScheduleTick.id == tick_id).values(**values))
            await s.commit()

    async def last_ticks(self) -> dict[str, datetime]:
        """The latest tick taken of every canvas's schedule."""
        q = select(ScheduleTick.canvas_id, func.max(ScheduleTick.tick)).group_by(
            ScheduleTick.canvas_id
        )
        async with self.sessions() as s:
            return {canvas: tick for canvas, tick in (await s.execute(q)).all()}

    async def ticks(
        self, canvas_id: str, page: int, limit: int, status: list[str] | None = None
    ) -> tuple[list[ScheduleTick], int]:
        q = select(ScheduleTick).where(ScheduleTick.canvas_id == canvas_id)
        if status:
            q = q.where(ScheduleTick.status.in_(status))
        counted = q.with_only_columns(func.count()).select_from(ScheduleTick).order_by(None)
        q = q.order_by(ScheduleTick.tick.desc()).offset((page - 1) * limit).limit(limit)
        async with self.sessions() as s:
            return list((await s.scalars(q)).all()), int(await s.scalar(counted) or 0)

    async def delete_ticks(self, canvas_id: str) -> int:
        async with self.sessions() as s:
            result = await s.execute(
                delete(ScheduleTick).where(ScheduleTick.canvas_id == canvas_id)
            )
            await s.commit()
            return rowcount(result)

    # -- webhook deliveries ----------------------------------------------------------------

    async def claim_delivery(
        self, canvas_id: str, delivery_id: str, execution_id: str
    ) -> str | None:
        """Take a webhook delivery id for a run: None when it is new (this run takes it),
        else the execution the earlier delivery of the same id started."""
        async with self.sessions() as s:
            s.add(
                WebhookDelivery(
                    canvas_id=canvas_id,
                    delivery_id=delivery_id,
                    execution_id=execution_id,
                    created_at=utcnow(),
                )
            )
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                row = await s.get(WebhookDelivery, (canvas_id, delivery_id))
                return row.execution_id if row is not None else execution_id
        return None

    async def release_delivery(self, canvas_id: str, delivery_id: str) -> None:
        """A delivery whose run never started: a retry of it may run."""
        async with self.sessions() as s:
            await s.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.canvas_id == canvas_id,
                    WebhookDelivery.delivery_id == delivery_id,
                )
            )
            await s.commit()
