"""The same migrations and storage behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect

from canvasflow.store.repo import Conflict, HistoryFilter, Store, question_id_for


async def test_schema(store: Store) -> None:
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("chat_messages")}
        )
    assert {"canvases", "chat_messages", "credentials", "alembic_version"} <= tables
    assert {
        "id",
        "canvas_id",
        "chat_id",
        "session_id",
        "role",
        "content",
        "source_documents",
        "used_tools",
        "usage",
        "status",
        "created_at",
    } <= columns


async def test_canvas_round_trip(store: Store) -> None:
    c = await store.create_canvas("Hello World", '{"nodes":[],"edges":[]}', settings={"a": 1})
    assert c.slug == "hello-world"
    c2 = await store.create_canvas("Hello World", "{}")
    assert c2.slug == "hello-world-2"
    assert (await store.get_canvas(c.id)).name == "Hello World"  # type: ignore[union-attr]
    assert (await store.get_canvas("hello-world")).id == c.id  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        await store.create_canvas("x", "{}", slug="hello-world")
    updated = await store.update_canvas(c.id, name="Renamed", settings={"b": 2})
    assert updated is not None and updated.name == "Renamed" and updated.settings == {"b": 2}
    assert updated.updated_at >= c.updated_at
    assert [x.id for x in await store.list_canvases()] == [c.id, c2.id]
    assert await store.delete_canvas(c.id) is True
    assert await store.get_canvas(c.id) is None
    assert await store.delete_canvas(c.id) is False


async def test_messages(store: Store) -> None:
    c = await store.create_canvas("chat", "{}")
    for i in range(3):
        await store.save_exchange(
            canvas_id=c.id,
            chat_id="chat-1",
            session_id="s1",
            question=f"q{i}",
            answer=f"a{i}",
            answer_id=f"00000000-0000-0000-0000-00000000000{i}",
            status="completed" if i < 2 else "aborted",
            usage={"total_tokens": i},
            source_documents=[{"pageContent": "doc", "metadata": {"title": "t"}}]
            if i == 1
            else None,
            used_tools=[{"tool": "calculator", "toolInput": {"input": "1+1"}, "toolOutput": "2"}],
        )
    rows = await store.messages(c.id)
    assert [(r.role, r.content) for r in rows] == [
        ("userMessage", "q0"),
        ("apiMessage", "a0"),
        ("userMessage", "q1"),
        ("apiMessage", "a1"),
        ("userMessage", "q2"),
        ("apiMessage", "a2"),
    ]
    assert rows[3].source_documents == [{"pageContent": "doc", "metadata": {"title": "t"}}]
    assert rows[5].status == "aborted" and rows[5].used_tools[0]["toolOutput"] == "2"  # type: ignore[index]
    last_two = await store.session_history(c.id, "s1", limit=2)
    assert [r.content for r in last_two] == ["q2", "a2"]
    assert len(await store.messages(c.id, HistoryFilter(chat_id="other"))) == 0
    desc = await store.messages(c.id, HistoryFilter(order="DESC"))
    assert desc[0].content == "a2"
    assert await store.delete_messages(c.id, HistoryFilter(session_id="s1")) == 6
    assert await store.count_messages(c.id) == 0


async def test_exchange_writes_in_batches(store: Store) -> None:
    """The group-committing writer: an exchange started earlier is updated; one that
    starts and ends in the same batch is written finished at once; many of each in one
    batch, with JSON columns, come out as written."""
    import asyncio

    c = await store.create_canvas("batch", "{}")

    def ids(i: int) -> tuple[str, str]:
        return f"00000000-0000-0000-0000-1{i:011d}", f"00000000-0000-0000-0000-2{i:011d}"

    async def start(i: int) -> None:
        q, a = ids(i)
        await store.start_exchange(c.id, f"chat-{i}", "s", f"q{i}", q, a)

    async def finish(i: int) -> None:
        q, a = ids(i)
        await store.save_exchange(
            c.id,
            f"chat-{i}",
            "s",
            f"q{i}",
            f"a{i}",
            a,
            "completed",
            usage={"total_tokens": i},
            used_tools=[{"tool": "t", "toolOutput": str(i)}],
            question_id=q,
        )

    await asyncio.gather(*(start(i) for i in range(5)))  # started earlier
    running = await store.running_answers()
    assert {r.id for r in running} == {ids(i)[1] for i in range(5)}
    # in one batch: the five finishes, five starts and their finishes
    await asyncio.gather(
        *(finish(i) for i in range(5)),
        *(start(i) for i in range(5, 10)),
        *(finish(i) for i in range(5, 10)),
    )
    await finish(10)  # a finish whose start was never written
    rows = await store.messages(c.id)
    answers = {r.content: r for r in rows if r.role == "apiMessage"}
    assert sorted(answers, key=lambda a: int(a[1:])) == [f"a{i}" for i in range(11)]
    assert all(r.status == "completed" for r in rows)
    assert answers["a7"].usage == {"total_tokens": 7}
    assert answers["a3"].used_tools == [{"tool": "t", "toolOutput": "3"}]
    assert await store.running_answers() == []
    assert await store.count_messages(c.id) == 22


async def test_a_start_waits_for_its_end_or_the_delay(store: Store) -> None:
    """A start is not written at once: an end that follows within the store's start
    delay is written with it, as one transaction of a finished exchange; a start alone
    is written when the delay has passed (a process that dies later leaves its trace)."""
    import asyncio
    import time

    from sqlalchemy import event

    c = await store.create_canvas("delayed", "{}")
    commits: list[float] = []
    event.listen(store.engine.sync_engine, "commit", lambda _conn: commits.append(time.monotonic()))
    q1, a1 = "00000000-0000-0000-0000-300000000001", "00000000-0000-0000-0000-400000000001"
    started = store.start_exchange(c.id, "quick", "s", "hi", q1, a1)
    await store.save_exchange(c.id, "quick", "s", "hi", "hello", a1, "completed", question_id=q1)
    assert started.done() and len(commits) == 1
    assert [(r.content, r.status) for r in await store.messages(c.id)] == [
        ("hi", "completed"),
        ("hello", "completed"),
    ]

    q2, a2 = "00000000-0000-0000-0000-300000000002", "00000000-0000-0000-0000-400000000002"
    store.start_delay = 0.3
    t0 = time.monotonic()
    await asyncio.wait_for(store.start_exchange(c.id, "slow", "s", "long", q2, a2), 10)
    assert commits[-1] - t0 >= 0.25 and len(commits) == 2
    assert [r.id for r in await store.running_answers()] == [a2]


async def test_credentials(store: Store) -> None:
    cid = await store.create_credential("my openai", "openAIApi", {"openAIApiKey": "sk-1"})
    assert (await store.get_credential(cid)).data == {"openAIApiKey": "sk-1"}  # type: ignore[union-attr]
    assert (await store.get_credential("my openai")).id == cid  # type: ignore[union-attr]
    assert await store.get_credential("nope") is None


async def test_release_memory_closes_sqlite_connections_and_keeps_working(store: Store) -> None:
    """When the server is idle, SQLite's pooled connections (each with its page cache and
    thread) are closed and opened again on the next query; a server database's pool is
    kept as it is."""
    created = await store.create_canvas("Idle", "{}")
    assert await store.get_canvas(created.id) is not None
    pool = store.engine.pool
    assert pool.checkedin() >= 1  # type: ignore[attr-defined]
    await store.release_memory()
    if store.url.startswith("sqlite"):
        assert store.engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    else:
        assert store.engine.pool is pool and pool.checkedin() >= 1  # type: ignore[attr-defined]
    found = await store.get_canvas(created.id)  # a connection is opened again
    assert found is not None and found.name == "Idle"


async def test_release_memory_keeps_a_database_in_memory() -> None:
    store = Store("sqlite+aiosqlite:///:memory:")
    try:
        await store.migrate()
        created = await store.create_canvas("Kept", "{}")
        await store.release_memory()
        found = await store.get_canvas(created.id)
        assert found is not None and found.name == "Kept"
    finally:
        await store.close()


async def test_canvases_saved_before_versions_get_their_first(tmp_path: Path) -> None:
    """Migrating a database whose canvases were saved before versions existed: each
    canvas's flow as it is becomes its version 1."""
    import sqlite3

    from alembic import command
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import create_async_engine

    from canvasflow.store.repo import MIGRATIONS

    path = tmp_path / "old.db"

    def upgrade_to(conn: object, revision: str) -> None:
        cfg = Config(str(MIGRATIONS / "alembic.ini"))
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(upgrade_to, "0008")
    await engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute(
            "insert into canvases (id, slug, name, flow_data, settings, created_at, updated_at)"
            " values ('c1', 'old', 'Old', '{\"nodes\": [], \"edges\": []}', '{}',"
            " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"
        )
    store = Store(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    canvas = await store.get_canvas("old")
    assert canvas is not None and canvas.version == 1 and canvas.published is None
    versions = await store.versions("c1")
    assert [(v.number, v.name, v.flow_data) for v in versions] == [
        (1, "Old", '{"nodes": [], "edges": []}')
    ]
    await store.close()


def test_a_questions_id_is_the_name_based_uuid_of_its_answers() -> None:
    """Rows written before the id was made without ``uuid.uuid5`` are still found by it."""
    for answer_id in [str(uuid.uuid4()) for _ in range(200)] + ["", "é漢字", "x" * 500]:
        expected = uuid.uuid5(uuid.NAMESPACE_URL, "canvasflow-question:" + answer_id)
        assert question_id_for(answer_id) == str(expected)
