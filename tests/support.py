"""Helpers for tests that talk to real processes: free ports, server processes,
canvases made over HTTP, fresh PostgreSQL databases."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.mock_services import service_urls

ROOT = Path(__file__).resolve().parent.parent
# Debian's Chromium, as the browser tests drive it (no network of its own)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# the secret key of test servers on a shared database (every process of one database
# must use the same: the server refuses to start otherwise)
SHARED_SECRET = "Y2FudmFzZmxvdy10ZXN0cy1zaGFyZWQtc2VjcmV0ISE="
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def poll(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy (returned), or fail at the
    deadline. Tests synchronise with this, never with a bare sleep."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, AssertionError, KeyError, IndexError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise TimeoutError(f"not true within {timeout} s (last: {last!r})")


class Proc:
    """A child process on a free port, stopped at the end."""

    def __init__(
        self,
        args: list[str],
        port: int,
        health: str,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.args = args
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.health = health
        self.env = {**os.environ, **(env or {})}
        self.log_path = log
        self.proc: subprocess.Popen | None = None  # type: ignore[type-arg]

    def spawn(self) -> Proc:
        """Start the process without waiting for it to answer."""
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
        return self

    def start(self, timeout: float = 60.0) -> Proc:
        self.spawn()
        wait_http(self.url + self.health, timeout, self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_text(self) -> str:
        return (
            self.log_path.read_text(errors="replace")
            if self.log_path and self.log_path.exists()
            else ""
        )


def canvasflow_server(
    data_dir: Path,
    upstream: str,
    extra_env: dict[str, str] | None = None,
    args: list[str] | None = None,
    auth: bool = False,
    workers: int | None = 1,
) -> Proc:
    """A server process. Without ``auth`` it runs with --no-auth (loopback), so tests
    whose subject is not security can manage canvases without a key."""
    port = free_port()
    env = {
        "OPENAI_BASE_URL": upstream + "/v1",
        "OPENAI_API_KEY": "test-key",
        "CANVASFLOW_UPSTREAM_RETRIES": "0",
        "CANVASFLOW_PING_INTERVAL": "1",
        "CANVASFLOW_NODE_MODULES": "tests.extra_nodes",
        # most test servers never use the embedded model: do not load it at their start
        "CANVASFLOW_WARM_UP": "0",
        "ANTHROPIC_BASE_URL": upstream,
        "ANTHROPIC_API_KEY": "anthropic-test-key",
        # the other services nodes call: mocks of their APIs, the server's keys for them
        "CANVASFLOW_SERVICE_URLS": json.dumps(service_urls(upstream)),
        "SERPAPI_API_KEY": "serp-key",
        "SERPER_API_KEY": "serper-key",
        "GOOGLE_API_KEY": "google-key",
        "GOOGLE_CSE_ID": "cse-id",
        "BRAVE_SEARCH_API_KEY": "brave-key",
        "TAVILY_API_KEY": "tavily-key",
        "REPLICATE_API_TOKEN": "replicate-key",
        "HUGGINGFACEHUB_API_KEY": "hf-key",
        "PINECONE_API_KEY": "pinecone-key",
        "GITHUB_TOKEN": "github-key",
        "COHERE_API_KEY": "cohere-key",
        **(extra_env or {}),
    }
    if "DATABASE_URL" in env:  # processes sharing a database share its secret key
        env.setdefault("CANVASFLOW_SECRET_KEY", SHARED_SECRET)
    cmd = [
        sys.executable,
        "-m",
        "canvasflow.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        *([] if auth else ["--no-auth"]),
        # one process unless a test asks for more (None: the default, the cores with Redis)
        *([] if workers is None else ["--workers", str(workers)]),
        *(args or []),
    ]
    data_dir.mkdir(parents=True, exist_ok=True)
    return Proc(cmd, port, "/api/v1/ping", env, data_dir / "server.log")


def create_pg_database() -> str:
    name = "cf_test_" + uuid.uuid4().hex[:12]
    subprocess.run(
        ["psql", PG_ADMIN, "-qc", f"create database {name}"], check=True, capture_output=True
    )
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def pg_reader(url: str) -> str:
    """The URL of a new role of its own (login, no superuser) that may read and write the
    database's public tables: a canvas may not use a superuser."""
    name = url.rsplit("/", 1)[-1]
    role = "cf_role_" + uuid.uuid4().hex[:10]
    sql = (
        f"create role {role} login; grant all on database {name} to {role}; "
        f"grant usage on schema public to {role}; "
        f"grant select, insert, update, delete on all tables in schema public to {role}"
    )
    subprocess.run(
        ["psql", PG_ADMIN.rsplit("/", 1)[0] + "/" + name, "-qc", sql],
        check=True,
        capture_output=True,
    )
    return url.replace("postgresql://postgres@", f"postgresql://{role}@")


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    subprocess.run(
        ["psql", PG_ADMIN, "-qc", f"drop database if exists {name} with (force)"],
        capture_output=True,
    )


# -- canvases -------------------------------------------------------------------------


def node(node_id: str, name: str, inputs: dict[str, Any], category: str = "") -> dict[str, Any]:
    return {
        "id": node_id,
        "data": {"id": node_id, "name": name, "category": category, "inputs": inputs},
    }


def edge(src: str, dst: str) -> dict[str, Any]:
    return {
        "source": src,
        "target": dst,
        "sourceHandle": f"{src}-output",
        "targetHandle": f"{dst}-input",
        "id": f"{src}-{dst}",
    }


def ref(node_id: str) -> str:
    return "{{" + node_id + ".data.instance}}"


def llm_chain_flow(
    model: str = "mock", template: str = "{question}", **model_inputs: Any
) -> dict[str, Any]:
    return {
        "nodes": [
            node("chatOpenAICustom_0", "chatOpenAICustom", {"modelName": model, **model_inputs}),
            node("promptTemplate_0", "promptTemplate", {"template": template}),
            node(
                "llmChain_0",
                "llmChain",
                {"model": ref("chatOpenAICustom_0"), "prompt": ref("promptTemplate_0")},
            ),
        ],
        "edges": [edge("chatOpenAICustom_0", "llmChain_0"), edge("promptTemplate_0", "llmChain_0")],
    }


def conversation_flow(
    model: str = "mock", memory: str = "bufferMemory", memory_inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "nodes": [
            node("chatOpenAI_0", "chatOpenAI", {"modelName": model}),
            node("mem_0", memory, memory_inputs or {}),
            node(
                "conversationChain_0",
                "conversationChain",
                {
                    "model": ref("chatOpenAI_0"),
                    "memory": ref("mem_0"),
                    "systemMessagePrompt": "You are a test.",
                },
            ),
        ],
        "edges": [
            edge("chatOpenAI_0", "conversationChain_0"),
            edge("mem_0", "conversationChain_0"),
        ],
    }


def make_canvas(
    base_url: str,
    flow: dict[str, Any],
    name: str = "test canvas",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    r = httpx.post(
        f"{base_url}/api/v1/canvases",
        json={"name": name, "flowData": orjson.dumps(flow).decode(), **extra},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of a canvasflow stream, in order ([DONE] and pings left out)."""
    out = []
    for block in raw.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(orjson.loads(line[6:]))
    return out


class RedisServer:
    """A redis-server process of the tests' own (no persistence), restartable."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None  # type: ignore[type-arg]

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def custom_tool_flow(
    code: str, name: str = "custom", language: str = "javascript"
) -> dict[str, Any]:
    """A tool agent with one custom tool (``tool: NAME {json}`` makes the mock call it)."""
    return {
        "nodes": [
            node(
                "tool_0",
                "customTool",
                {
                    "customToolName": name,
                    "customToolDesc": "does a thing",
                    "customToolSchema": '[{"property": "n", "type": "number", "required": true}]',
                    "customToolFunc": code,
                    "language": language,
                },
            ),
            node("mem_0", "bufferMemory", {}),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "agent_0",
                "toolAgent",
                {"tools": [ref("tool_0")], "memory": ref("mem_0"), "model": ref("chatOpenAI_0")},
            ),
        ],
        "edges": [
            edge("tool_0", "agent_0"),
            edge("mem_0", "agent_0"),
            edge("chatOpenAI_0", "agent_0"),
        ],
    }


@contextmanager
def two_web_processes(tmp_path: Path, upstream: str) -> Iterator[tuple[Proc, Proc]]:
    """Two canvasflow processes sharing a fresh PostgreSQL database and a Redis server."""
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis").start()
    pg = create_pg_database()
    env = {"DATABASE_URL": pg, "REDIS_URL": redis.url}
    a = canvasflow_server(tmp_path / "a", upstream, env).start()
    b = canvasflow_server(tmp_path / "b", upstream, env).start()
    try:
        yield a, b
    finally:
        b.stop()
        a.stop()
        redis.stop()
        drop_pg_database(pg)
