"""The SQL database chain: the model writes a query from the tables' description, the
query runs on a read-only connection (statement timeout, row limit), the model answers
from its rows.

Which databases a canvas may name: an SQLite file inside the server's files folder
(opened read-only), or a PostgreSQL server on an allowed host
(``CANVASFLOW_ALLOWED_HOSTS``) in read-only transactions."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from canvasflow.errors import CanvasInvalid, RunFailed
from canvasflow.events import Event, step
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Usage, complete
from canvasflow.nodes.chains import stream_answer
from canvasflow.nodes.safety import moderate
from canvasflow.nodes.services import allowed_host
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

STATEMENT_SECONDS = 10.0
MAX_ROWS = 100

SQL_PROMPT = """You are a {dialect} expert. Given an input question, first create a \
syntactically correct {dialect} query to run, then look at the results of the query and \
return the answer to the input question.
Unless the user specifies in the question a specific number of examples to obtain, query \
for at most {top_k} results using the LIMIT clause. Never query for all columns from a \
table: query only the columns needed to answer the question.
Pay attention to use only the column names you can see in the tables below.

Use the following format:

Question: Question here
SQLQuery: SQL Query to run
SQLResult: Result of the SQLQuery
Answer: Final answer here

Only use the following tables:
{table_info}

Question: {input}"""


class SQLRefused(RunFailed):
    code = "sql_refused"


def extract_sql(text: str) -> str:
    """The query in a model's answer: after ``SQLQuery:``, before ``SQLResult:``, without
    a Markdown fence."""
    sql = text.split("SQLResult:", 1)[0]
    if "SQLQuery:" in sql:
        sql = sql.split("SQLQuery:", 1)[1]
    sql = re.sub(r"^```(?:sql)?|```$", "", sql.strip(), flags=re.I).strip()
    return sql.rstrip(";").strip()


def rows_text(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    return repr([tuple(columns)] + [tuple(r) for r in rows]) if rows else "[] (no rows)"


_READS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}


def _reads_only(action: int, *args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _READS else sqlite3.SQLITE_DENY


class SQLiteDatabase:
    """An SQLite file opened read-only; each query interrupted past its deadline."""

    dialect = "sqlite"

    def __init__(self, path: Path, seconds: float = STATEMENT_SECONDS) -> None:
        self.path = path
        self.seconds = seconds

    def _connect(self) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        deadline = time.monotonic() + self.seconds
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_reads_only)  # no ATTACH of another file, no PRAGMA, no writes
        return conn

    def _run(self, sql: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        conn = self._connect()
        try:
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or []]
            return columns, cur.fetchmany(limit)
        except sqlite3.Error as exc:
            raise SQLRefused(f"the query failed: {exc}") from None
        finally:
            conn.close()

    async def run(self, sql: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        return await asyncio.to_thread(self._run, sql, limit)

    def _tables(self) -> dict[str, str]:
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
        finally:
            conn.close()
        return {name: sql for name, sql in rows}

    async def tables(self) -> dict[str, str]:
        return await asyncio.to_thread(self._tables)


# what a canvas's database URL may say beyond where it points: nothing that moves the
# connection (``host``, ``hostaddr``, ``port``, ``service``, ``passfile``...)
_URL_OPTIONS = frozenset({"sslmode", "application_name", "connect_timeout"})


def postgres_target(url: str) -> dict[str, Any]:
    """The connection parameters a PostgreSQL URL really asks for, as the driver will
    be given them: one host (no socket path, no list), port, user, password, database,
    and only the options above. Anything that could point the driver elsewhere than the
    URL's host is refused."""
    from urllib.parse import parse_qsl, unquote

    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgres", "postgresql"):
        raise CanvasInvalid("the database URL must be postgresql://…", code="bad_input")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    host = parts.hostname or ""
    if not host or "," in netloc or "/" in unquote(host) or "%" in host:
        raise CanvasInvalid(
            "the database URL must name one host (no socket path, no list of hosts)",
            code="host_not_allowed",
        )
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _URL_OPTIONS:
            raise CanvasInvalid(
                f"the database URL's option {name!r} is not allowed here "
                f"(only {', '.join(sorted(_URL_OPTIONS))})",
                code="host_not_allowed",
            )
        options[name] = value
    try:
        port = parts.port or 5432
    except ValueError:
        raise CanvasInvalid("the database URL has a bad port", code="bad_input") from None
    return {
        "host": host,
        "port": port,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "database": unquote(parts.path.lstrip("/")) or None,
        "ssl": options.get("sslmode") or None,
        "timeout": float(options.get("connect_timeout") or 10),
        "server_settings": {"application_name": options.get("application_name") or "canvasflow"},
    }


# a role that can read or write the server's files, or run programs, escapes a read-only
# transaction (COPY ... TO, pg_read_file): a canvas may not use one
PRIVILEGED = """SELECT r.rolsuper
    OR pg_has_role(current_user, 'pg_read_server_files', 'MEMBER')
    OR pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')
    OR pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')
  FROM pg_roles r WHERE r.rolname = current_user"""


class PostgresDatabase:
    """A PostgreSQL database through SQLAlchemy (asyncpg), connected with the parameters
    :func:`postgres_target` checked and nothing else: read-only transactions, a statement
    timeout, and never a role that can reach the database server's files."""

    dialect = "postgresql"

    def __init__(self, url: str, seconds: float = STATEMENT_SECONDS) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.seconds = seconds
        target = postgres_target(url)
        settings = {
            **target.pop("server_settings"),
            "default_transaction_read_only": "on",
            "statement_timeout": str(int(seconds * 1000)),
        }
        self.role_checked = False

        async def connect() -> Any:
            import asyncpg

            return await asyncpg.connect(**target, server_settings=settings)

        self.engine = create_async_engine(
            "postgresql+asyncpg://", async_creator=connect, pool_size=2
        )

    async def _check_role(self, conn: Any) -> None:
        from sqlalchemy import text

        if self.role_checked:
            return
        privileged = (await conn.execute(text(PRIVILEGED))).scalar()
        await conn.rollback()
        if privileged:
            raise CanvasInvalid(
                "the database URL's role is a superuser or may read or write the database "
                "server's files (pg_read_server_files, pg_write_server_files, "
                "pg_execute_server_program): give the canvas a role that may only read its "
                "tables",
                code="role_not_allowed",
            )
        self.role_checked = True

    async def run(self, sql: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            async with self.engine.connect() as conn:
                await self._check_role(conn)
                await self._read_only(conn)
                result = await conn.execute(text(sql))
                columns = list(result.keys())
                rows = [tuple(r) for r in result.fetchmany(limit)]
                await conn.rollback()
                return columns, rows
        except SQLAlchemyError as exc:
            raise SQLRefused(f"the query failed: {str(exc).splitlines()[0]}") from None

    async def tables(self) -> dict[str, str]:
        from sqlalchemy import text

        sql = (
            "SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY "
            "ordinal_position) FROM information_schema.columns WHERE table_schema = "
            "'public' GROUP BY table_name ORDER BY table_name"
        )
        async with self.engine.connect() as conn:
            await self._check_role(conn)
            await self._read_only(conn)
            rows = (await conn.execute(text(sql))).all()
            await conn.rollback()
        return {str(name): f"CREATE TABLE {name} ({cols})" for name, cols in rows}

    async def _read_only(self, conn: Any) -> None:
        """Every transaction read-only and time-limited on its own, whatever a query of
        an earlier one set for the session (``SET default_transaction_read_only``...)."""
        from sqlalchemy import text

        await conn.execute(text("SET TRANSACTION READ ONLY"))
        await conn.execute(text(f"SET LOCAL statement_timeout = {int(self.seconds * 1000)}"))


_ENGINES: dict[str, PostgresDatabase] = {}


def open_database(kind: str, url: str, ctx: RunContext, node: Node) -> Any:
    node_id = node.id
    if kind == "sqlite":
        root = ctx.settings.files_root.resolve()
        raw = url.removeprefix("sqlite:///").removeprefix("sqlite://").removeprefix("file:")
        path = (root / raw).resolve()
        if not path.is_relative_to(root):
            raise CanvasInvalid(
                f"node {node_id}: the SQLite file must be inside the server's files folder",
                code="path_not_allowed",
            )
        if not path.is_file():
            raise CanvasInvalid(
                f"node {node_id}: no SQLite file {raw!r} in the server's files folder",
                code="bad_input",
            )
        return SQLiteDatabase(path)
    if kind == "postgres":
        # the host the driver will connect to, not only what the URL seems to say
        try:
            target = postgres_target(url)
        except CanvasInvalid as exc:
            raise CanvasInvalid(f"node {node_id}: {exc.message}", code=exc.code) from None
        allowed_host(ctx, node, str(target["host"]), "database")
        if url not in _ENGINES:
            _ENGINES[url] = PostgresDatabase(url)
        return _ENGINES[url]
    raise CanvasInvalid(
        f"node {node_id}: database {kind!r} is not supported here (sqlite or postgres)",
        code="bad_input",
    )


def names(raw: Any) -> set[str]:
    return {n.strip() for n in str(raw or "").split(",") if n.strip()}


@register
class SqlDatabaseChain(Node):
    name = "sqlDatabaseChain"
    label = "Sql Database Chain"
    category = "Chains"
    description = "Answers questions about a SQL database: the model writes a read-only query"
    base_classes = ("SqlDatabaseChain", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(
        name,
        Input("database", "options", default="sqlite", options=("sqlite", "postgres")),
        Input("url", "string", placeholder="data.sqlite (in the files folder), or postgres://…"),
        Input("sampleRowsInTableInfo", "number", optional=True, default=3),
        Input("topK", "number", optional=True, default=10),
        Input("customPrompt", "string", optional=True, rows=4),
    )

    async def table_info(self, db: Any) -> str:
        tables = await db.tables()
        keep, drop = names(self.get("includesTables")), names(self.get("ignoreTables"))
        chosen = [t for t in tables if (not keep or t in keep) and t not in drop]
        samples = to_int(self.get("sampleRowsInTableInfo"), 3) or 0
        parts = []
        for table in chosen:
            info = tables[table]
            if samples:
                quoted = '"' + table.replace('"', '""') + '"'
                columns, rows = await db.run(f"SELECT * FROM {quoted} LIMIT {samples}", samples)
                lines = ["\t".join(columns)] + ["\t".join(str(v) for v in r) for r in rows]
                info += f"\n\n/*\n{samples} rows from {table} table:\n" + "\n".join(lines) + "\n*/"
            parts.append(info)
        return "\n\n".join(parts)

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        db = open_database(str(self.get("database")), str(self.get("url") or ""), ctx, self)
        top_k = to_int(self.get("topK"), 10) or 10
        template = str(self.get("customPrompt") or SQL_PROMPT)
        prompt = (
            template.replace("{dialect}", db.dialect)
            .replace("{top_k}", str(top_k))
            .replace("{table_info}", await self.table_info(db))
            .replace("{input}", ctx.question)
        )
        used = Usage()
        sql = extract_sql(await complete(model, prompt + "\nSQLQuery:", used))
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        if not sql:
            raise SQLRefused("the model wrote no query")
        columns, rows = await db.run(sql, min(MAX_ROWS, max(top_k, 1)))
        result = rows_text(columns, rows)
        yield step("sql", "chain", sql, result)
        answer = f"{prompt}\nSQLQuery: {sql}\nSQLResult: {result}\nAnswer:"
        async for event in stream_answer(model, [{"role": "user", "content": answer}]):
            yield event
