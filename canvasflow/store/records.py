"""The store's part for record managers (LangChain's ``SQLRecordManager``): which chunk
keys each namespace (a document store's vector store) holds, from which source, seen
when. A mixin of :class:`canvasflow.store.repo.Store` (it uses the store's ``engine``
and ``sessions``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from canvasflow.store.models import (
    DocumentChunk,
    DocumentStoreFile,
    DocumentStoreRow,
    UpsertionRecord,
    utcnow,
)
from canvasflow.store.tables import rowcount

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

PART = 500  # keys in one statement (SQLite's limit of bound values is far above it)


class RecordRepo:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def records_exist(self, namespace: str, keys: Sequence[str]) -> set[str]:
        """Which of these keys the namespace holds."""
        found: set[str] = set()
        async with self.sessions() as s:
            for i in range(0, len(keys), PART):
                q = select(UpsertionRecord.key).where(
                    UpsertionRecord.namespace == namespace,
                    UpsertionRecord.key.in_(keys[i : i + PART]),
                )
                found.update((await s.scalars(q)).all())
        return found

    async def records_update(
        self, namespace: str, keys: Sequence[str], groups: Sequence[str | None], at: float
    ) -> None:
        """Keys seen at ``at`` (added, or kept as they were), each with its source."""
        if not keys:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        rows = [
            {"namespace": namespace, "key": k, "group_id": g, "updated_at": at}
            for k, g in zip(keys, groups, strict=True)
        ]
        # one statement, compiled once, run for every row (executemany)
        stmt = dialect.insert(UpsertionRecord.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["namespace", "key"],
            set_={"group_id": stmt.excluded.group_id, "updated_at": stmt.excluded.updated_at},
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def records_touch(self, namespace: str, groups: Sequence[str], at: float) -> int:
        """Every key of these sources seen at ``at`` (sources known to be unchanged);
        how many."""
        if not groups:
            return 0
        touched = 0
        async with self.engine.begin() as conn:
            for i in range(0, len(groups), PART):
                stmt = (
                    update(UpsertionRecord)
                    .where(
                        UpsertionRecord.namespace == namespace,
                        UpsertionRecord.group_id.in_(list(groups[i : i + PART])),
                    )
                    .values(updated_at=at)
                )
                touched += rowcount(await conn.execute(stmt))
        return touched

    async def records_keys(
        self,
        namespace: str,
        before: float | None = None,
        groups: Sequence[str] | None = None,
    ) -> list[str]:
        """The namespace's keys, those last seen before ``before`` and of these sources
        when given."""
        q = select(UpsertionRecord.key).where(UpsertionRecord.namespace == namespace)
        if before is not None:
            q = q.where(UpsertionRecord.updated_at < before)
        if groups is not None:
            q = q.where(UpsertionRecord.group_id.in_(list(groups)))
        async with self.sessions() as s:
            return list((await s.scalars(q.order_by(UpsertionRecord.key))).all())

    async def records_delete(self, namespace: str, keys: Sequence[str]) -> int:
        return await self._delete_in_parts(
            UpsertionRecord.namespace == namespace, UpsertionRecord.key, keys
        )

    async def delete_chunks(self, collection: str, ids: Sequence[str]) -> int:
        """Chunks of the persistent vector store, by id, from one collection."""
        return await self._delete_in_parts(
            DocumentChunk.collection == collection, DocumentChunk.id, ids
        )

    async def upsert_chunks(self, rows: Sequence[dict[str, Any]]) -> None:
        """Chunks written whether or not their ids are there (an aborted run may have
        written some of them without recording them)."""
        if not rows:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(DocumentChunk.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={
                c: stmt.excluded[c]
                for c in ("collection", "content", "metadata", "embedding", "dims")
            },
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, list(rows))

    async def chunk_page(self, collection: str, offset: int, limit: int) -> list[DocumentChunk]:
        """A page of a collection's chunks, in the order they were written."""
        q = (
            select(DocumentChunk)
            .where(DocumentChunk.collection == collection)
            .order_by(DocumentChunk.created_at, DocumentChunk.id)
            .offset(offset)
            .limit(limit)
        )
        async with self.sessions() as s:
            return list((await s.scalars(q)).all())

    async def chunk(self, collection: str, chunk_id: str) -> DocumentChunk | None:
        async with self.sessions() as s:
            found = await s.get(DocumentChunk, chunk_id)
            return found if found is not None and found.collection == collection else None

    async def chunks_by_id(self, collection: str, ids: Sequence[str]) -> list[DocumentChunk]:
        """These chunks of a collection (those there are)."""
        found: list[DocumentChunk] = []
        async with self.sessions() as s:
            for i in range(0, len(ids), PART):
                q = select(DocumentChunk).where(
                    DocumentChunk.collection == collection,
                    DocumentChunk.id.in_(list(ids[i : i + PART])),
                )
                found.extend((await s.scalars(q)).all())
        return found

    async def chunks_of(self, collections: Sequence[str]) -> list[DocumentChunk]:
        """Every chunk of these collections (a document store's, to search)."""
        if not collections:
            return []
        q = select(DocumentChunk).where(DocumentChunk.collection.in_(list(collections)))
        async with self.sessions() as s:
            return list((await s.scalars(q.order_by(DocumentChunk.created_at))).all())

    async def put_files(
        self, store_id: str, loader_id: str, files: Sequence[tuple[str, bytes]]
    ) -> None:
        """A loader's files written (one of the same name replaced)."""
        if not files:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(DocumentStoreFile.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["loader_id", "name"],
            set_={c: stmt.excluded[c] for c in ("size", "data", "created_at")},
        )
        now = utcnow()
        async with self.engine.begin() as conn:
            for name, data in files:  # one at a time: a file may be large
                row = {
                    "loader_id": loader_id,
                    "name": name,
                    "store_id": store_id,
                    "size": len(data),
                    "data": data,
                    "created_at": now,
                }
                await conn.execute(stmt, [row])

    async def file_data(self, loader_id: str, name: str) -> bytes | None:
        async with self.sessions() as s:
            q = select(DocumentStoreFile.data).where(
                DocumentStoreFile.loader_id == loader_id, DocumentStoreFile.name == name
            )
            found: bytes | None = await s.scalar(q)
            return found

    async def delete_files(self, store_id: str, loader_id: str | None = None) -> int:
        """A loader's files (or, with no loader, the whole store's)."""
        q = delete(DocumentStoreFile).where(DocumentStoreFile.store_id == store_id)
        if loader_id is not None:
            q = q.where(DocumentStoreFile.loader_id == loader_id)
        async with self.engine.begin() as conn:
            return rowcount(await conn.execute(q))

    async def document_store(self, ref: str) -> DocumentStoreRow | None:
        """A document store by id, or by name."""
        async with self.sessions() as s:
            found = await s.get(DocumentStoreRow, ref)
            if found is None:
                q = select(DocumentStoreRow).where(DocumentStoreRow.name == ref)
                found = await s.scalar(q)
            return found

    async def change_loaders(
        self, store_id: str, change: Any, status: Any
    ) -> DocumentStoreRow | None:
        """A document store's loaders changed by ``change`` (their list to the new one)
        in one transaction, the row locked meanwhile (PostgreSQL: another process's
        change waits, none is lost), and its status to ``status(loaders)``. None when
        there is no store."""
        async with self.sessions() as s:
            row = await s.get(DocumentStoreRow, store_id, with_for_update=True)
            if row is None:
                return None
            loaders = change([dict(entry) for entry in row.loaders or []])
            row.loaders = loaders
            row.status = status(loaders)
            row.updated_at = utcnow()
            await s.commit()
            await s.refresh(row)
            return row

    async def chunk_totals(self, collections: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Each collection's chunks and characters (collections with none left out)."""
        if not collections:
            return {}
        q = (
            select(
                DocumentChunk.collection,
                func.count(),
                func.coalesce(func.sum(func.length(DocumentChunk.content)), 0),
            )
            .where(DocumentChunk.collection.in_(list(collections)))
            .group_by(DocumentChunk.collection)
        )
        async with self.sessions() as s:
            rows: list[Any] = list((await s.execute(q)).all())
        return {str(c): (int(n), int(chars)) for c, n, chars in rows}

    async def drop_namespace(self, namespace: str) -> None:
        """A document store's chunks and record manager's keys, all of them."""
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(UpsertionRecord).where(UpsertionRecord.namespace == namespace)
            )
            await conn.execute(delete(DocumentChunk).where(DocumentChunk.collection == namespace))

    async def _delete_in_parts(self, where: Any, column: Any, values: Sequence[str]) -> int:
        """Rows matching ``where`` whose ``column`` is one of ``values``, a part at a time;
        how many went."""
        gone = 0
        async with self.engine.begin() as conn:
            for i in range(0, len(values), PART):
                table = column.class_
                stmt = delete(table).where(where, column.in_(values[i : i + PART]))
                gone += rowcount(await conn.execute(stmt))
        return gone
