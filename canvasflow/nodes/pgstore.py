"""Flowise's Postgres vector store: chunks, metadata (jsonb) and embeddings in a table of
a PostgreSQL server at an allowed address, through SQLAlchemy (asyncpg). The nearest
chunks are found with NumPy over the rows the metadata filter keeps: the pgvector
extension is not used (it cannot be installed on the machines canvasflow is tested on,
so a pgvector path would be untested)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import orjson

from canvasflow.errors import CanvasInvalid
from canvasflow.nodes.kept import KeptStore, doc_id, mark_of
from canvasflow.nodes.retrieval import _docs_of, nearest, unit_rows
from canvasflow.nodes.services import allowed_host, credential_value, json_input
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]
_ENGINES: dict[str, Any] = {}


class PostgresStore(KeptStore):
    engine = "Postgres"

    def __init__(
        self,
        url: str,
        table: str,
        embedder: Any,
        docs: list[Document],
        k: int,
        filter_: dict[str, Any] | None,
        batch: int,
        mark: str,
    ) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        if url not in _ENGINES:
            _ENGINES[url] = create_async_engine(url, pool_size=2, max_overflow=2)
        self.db = _ENGINES[url]
        self.table = table
        self.embedder = embedder
        self.docs = docs
        self.k = k
        self.filter = filter_
        self.batch = batch
        self.mark = mark

    async def _ensure(self, conn: Any) -> None:
        from sqlalchemy import text

        await conn.execute(
            text(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" (id text PRIMARY KEY, '
                "content text NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', "
                "embedding real[] NOT NULL)"
            )
        )

    async def write(self, part: list[Document], vectors: Any) -> None:
        from sqlalchemy import text

        rows = [
            {
                "id": doc_id(d),
                "content": d["pageContent"],
                "metadata": orjson.dumps(d.get("metadata") or {}).decode(),
                "embedding": [float(x) for x in v],
            }
            for d, v in zip(part, vectors, strict=True)
        ]
        async with self.db.begin() as conn:
            await self._ensure(conn)
            await conn.execute(
                text(
                    f'INSERT INTO "{self.table}" (id, content, metadata, embedding) '
                    "VALUES (:id, :content, CAST(:metadata AS jsonb), :embedding) "
                    "ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content, "
                    "metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding"
                ),
                rows,
            )

    async def remove(self, docs: list[Document]) -> None:
        from sqlalchemy import text

        if docs:
            async with self.db.begin() as conn:
                await self._ensure(conn)
                await conn.execute(
                    text(f'DELETE FROM "{self.table}" WHERE id = ANY(:ids)'),
                    {"ids": [doc_id(d) for d in docs]},
                )

    async def search(self, query: str, k: int) -> list[tuple[Document, float]]:
        from sqlalchemy import text

        async with self.db.begin() as conn:
            await self._ensure(conn)
            rows = (
                await conn.execute(
                    text(
                        f'SELECT content, metadata, embedding FROM "{self.table}" '
                        "WHERE metadata @> CAST(:filter AS jsonb)"
                    ),
                    {"filter": orjson.dumps(self.filter or {}).decode()},
                )
            ).all()
        if not rows:
            return []
        matrix = unit_rows(np.asarray([r[2] for r in rows], dtype=np.float32))
        q = unit_rows(await self.embedder.embed([query]))[0]
        scores = matrix @ q
        return [
            ({"pageContent": rows[i][0], "metadata": dict(rows[i][1] or {})}, float(scores[i]))
            for i in nearest(matrix, q, k)
        ]

    async def retrieve(self, query: str, k: int | None = None) -> list[Document]:
        async with self.errors():
            await self.written()
            return [doc for doc, _ in await self.search(query, k or self.k)]


@register
class Postgres(Node):
    name = "postgres"
    label = "Postgres"
    category = "Vector Stores"
    description = "Chunks and embeddings in a PostgreSQL table (an allowed host)"
    base_classes = ("Postgres", "VectorStoreRetriever", "BaseRetriever", "VectorStore")
    inputs = flowise_inputs(
        name,
        Input("port", "number", optional=True, default=5432),
        Input("tableName", "string", optional=True, default="documents"),
        Input("batchSize", "number", optional=True, default=100),
        Input("topK", "number", optional=True, default=4),
        drop=("contentColumnName",),
    )

    async def build(self, ctx: RunContext) -> PostgresStore:
        host = allowed_host(ctx, self, str(self.get("host") or "").strip(), "database")
        table = str(self.get("tableName") or "documents")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", table):
            raise CanvasInvalid(
                f"node {self.id}: a table name is letters, digits and _", code="bad_input"
            )
        ref = self.get("credential")
        user = await credential_value(ctx, ref, "user") or "postgres"
        password = await credential_value(ctx, ref, "password")
        auth = quote(user) + (f":{quote(password)}" if password else "")
        port = to_int(self.get("port"), 5432) or 5432
        database = quote(str(self.get("database")))
        url = f"postgresql+asyncpg://{auth}@{host}:{port}/{database}"
        if to_bool(self.get("ssl")):
            url += "?ssl=require"
        raw = json_input(self, "pgMetadataFilter")
        docs = _docs_of(self.get("document"))
        mark = mark_of(f"{host}:{port}/{database}|{table}", docs)
        return PostgresStore(
            url,
            table,
            self.get("embeddings"),
            docs,
            to_int(self.get("topK"), 4) or 4,
            raw if isinstance(raw, dict) else None,
            to_int(self.get("batchSize"), 100) or 100,
            mark,
        )
