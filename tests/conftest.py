from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from canvasflow.config import Settings
from canvasflow.store.repo import Store
from tests.support import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    ROOT,
    Proc,
    RedisServer,
    canvasflow_server,
    create_pg_database,
    drop_pg_database,
    free_port,
    poll,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The mock OpenAI-compatible model server, over real HTTP."""
    port = free_port()
    log = tmp_path_factory.mktemp("mock") / "mock.log"
    proc = Proc(
        [sys.executable, "-m", "tests.mock_upstream", "--port", str(port)], port, "/stats", log=log
    ).start()
    yield proc.url
    proc.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server of the tests' own, on a free port, that tests may restart."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def _start_server(
    backend: str, request: pytest.FixtureRequest, upstream: str, tmp: pytest.TempPathFactory
) -> tuple[Proc, str | None]:
    env: dict[str, str] = {}
    pg_url = None
    if backend.startswith("postgres"):
        pg_url = create_pg_database()
        env["DATABASE_URL"] = pg_url
    if backend.endswith("+redis"):
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    data_dir = tmp.mktemp("server-" + backend.replace("+", "-"))
    proc = canvasflow_server(data_dir, upstream, env).start()
    proc.backend = backend  # type: ignore[attr-defined]
    proc.data_dir = data_dir  # type: ignore[attr-defined]
    proc.database_url = pg_url or f"sqlite:///{data_dir / 'canvasflow.db'}"  # type: ignore[attr-defined]
    return proc, pg_url


@pytest.fixture(scope="session", params=["sqlite", "postgres", "postgres+redis"])
def backend_server(
    request: pytest.FixtureRequest, upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    """A canvasflow server process on SQLite; on PostgreSQL; on PostgreSQL with the
    Redis event log. For the tests that touch storage or the bus: each runs on all
    three (a test module opts in by overriding ``server`` with this fixture)."""
    proc, pg_url = _start_server(request.param, request, upstream, tmp_path_factory)
    yield proc
    proc.stop()
    if pg_url:
        drop_pg_database(pg_url)


@pytest.fixture(scope="session")
def server(
    request: pytest.FixtureRequest, upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    """A canvasflow server process on SQLite, for tests whose subject is not storage or
    the bus (clients, wire formats, nodes, the browser)."""
    proc, _ = _start_server("sqlite", request, upstream, tmp_path_factory)
    yield proc
    proc.stop()


@pytest.fixture
def client(server: Proc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def upstream_stats(upstream: str) -> dict[str, int]:
    return httpx.get(upstream + "/stats").json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (one per test module)."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


# -- MCP (tests/test_mcp.py, tests/test_studio.py) ---------------------------------------


@pytest.fixture(scope="module")
def mcp_tool_server() -> Iterator[Proc]:
    """A FastMCP server over Streamable HTTP (``/mcp``)."""
    port = free_port()
    proc = Proc(
        [sys.executable, "-m", "tests.mcp_servers", "http", "--port", str(port)],
        port,
        "/mcp",
    )
    proc.spawn()
    poll(lambda: listening(proc.url + "/mcp"), timeout=30)
    yield proc
    proc.stop()


def listening(url: str) -> bool:
    """Something listens at the URL's port (an SSE endpoint would not end a GET)."""
    import socket

    port = httpx.URL(url).port or 80
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def mcp_user(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """A server whose operator allows loopback MCP servers and one local command (this
    Python, in bubblewrap), with one variable of its environment handed on."""
    data = tmp_path_factory.mktemp("mcp-user")
    env = {
        "CANVASFLOW_ALLOWED_HOSTS": "127.0.0.1",
        "CANVASFLOW_MCP_COMMANDS": sys.executable,
        "CANVASFLOW_MCP_PATHS": f"{ROOT},{sys.base_prefix}",
        "CANVASFLOW_MCP_ENV": "MCP_VISIBLE",
        "CANVASFLOW_MCP_TIMEOUT": "3",
        "MCP_VISIBLE": "handed-on",
        "CANVASFLOW_TEST_SECRET": "never-seen",
    }
    proc = canvasflow_server(data, upstream, env).start()
    yield proc
    proc.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    pg = None
    if request.param == "postgres":
        pg = create_pg_database()
        url = Settings(database_url=pg).resolved_database_url()
    else:
        url = Settings(data_dir=tmp_path / "data").resolved_database_url()
    s = Store(url)
    await s.migrate()
    await s.migrate()  # running the migrations again changes nothing
    yield s
    await s.close()
    if pg:
        drop_pg_database(pg)
