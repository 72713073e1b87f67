"""MCP both ways, with real clients and servers: canvases served to the official Python
SDK's client (and the TypeScript SDK's, from Node), and MCP servers made with the Python
SDK (over Streamable HTTP, SSE and stdio) used as tools by a tool agent and an agentflow
Agent node on the mock model."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import listening
from tests.support import (
    ROOT,
    Proc,
    canvasflow_server,
    edge,
    free_port,
    llm_chain_flow,
    make_canvas,
    node,
    poll,
    ref,
)
from tests.test_agentflow import af_edge, af_node, model_config, start


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def served(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """A server with authentication on, so that tokens and keys are what they are."""
    data = tmp_path_factory.mktemp("mcp-served")
    proc = canvasflow_server(
        data, upstream, {"CANVASFLOW_AUTH_FAILURES": "1000/minute"}, auth=True
    ).start()
    proc.admin = (data / "admin.key").read_text().strip()  # type: ignore[attr-defined]
    yield proc
    proc.stop()


def admin(proc: Proc) -> dict[str, str]:
    return bearer(proc.admin)  # type: ignore[attr-defined]


def mcp_canvas(proc: Proc, model: str = "mock?tokens=5", name: str = "Capital Finder") -> Any:
    canvas = make_canvas(proc.url, llm_chain_flow(model), name, headers=admin(proc))
    r = httpx.post(f"{proc.url}/api/v1/mcp-server/{canvas['id']}", json={}, headers=admin(proc))
    assert r.status_code == 200, r.text
    return canvas, r.json()


async def session_call(url: str, token: str, fn: Any) -> Any:
    async with (
        httpx.AsyncClient(headers=bearer(token), timeout=60) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await fn(session)


# -- a canvas as an MCP server ------------------------------------------------------------------


def test_the_python_sdk_lists_and_calls_a_canvas_with_progress(served: Proc) -> None:
    canvas, cfg = mcp_canvas(served)
    assert cfg["enabled"] and len(cfg["token"]) == 32 and cfg["toolName"] == "capital_finder"
    assert cfg["url"].endswith(f"/api/v1/mcp/{canvas['id']}")
    assert cfg["config"]["mcpServers"]["capital_finder"]["command"] == "npx"
    # the token is shown once: not by GET, not in the canvas's stored settings
    again = httpx.get(f"{served.url}/api/v1/mcp-server/{canvas['id']}", headers=admin(served))
    assert again.json()["token"] == "" and again.json()["enabled"] is True
    stored = httpx.get(f"{served.url}/api/v1/canvases/{canvas['id']}", headers=admin(served))
    assert cfg["token"] not in stored.text
    progress: list[str] = []

    async def use(session: ClientSession) -> Any:
        tools = (await session.list_tools()).tools
        assert [t.name for t in tools] == ["capital_finder"]
        assert tools[0].inputSchema["required"] == ["question"]

        async def seen(done: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        first = await session.call_tool(
            "capital_finder", {"question": "hi", "sessionId": "s-1"}, progress_callback=seen
        )
        await session.send_ping()
        return first

    result = asyncio.run(session_call(cfg["url"], cfg["token"], use))
    assert not result.isError
    assert result.content[0].text == "word0 word1 word2 word3 word4"
    assert result.structuredContent["sessionId"] == "s-1"
    assert "".join(progress) == "word0 word1 word2 word3 word4"  # the tokens, as they came
    # the same path as the prediction API: the exchange is stored under its session
    history = httpx.get(
        f"{served.url}/api/v1/chatmessage/{canvas['id']}",
        params={"sessionId": "s-1"},
        headers=admin(served),
    ).json()
    assert [m["role"] for m in history] == ["userMessage", "apiMessage"]


def test_json_answers_when_the_client_asks_only_json(served: Proc) -> None:
    _canvas, cfg = mcp_canvas(served)
    headers = {**bearer(cfg["token"]), "Accept": "application/json"}
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "capital_finder", "arguments": {"question": "q"}},
    }
    r = httpx.post(cfg["url"], json=call, headers=headers, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json()["result"]["content"][0]["text"] == "word0 word1 word2 word3 word4"
    headers["Content-Type"] = "application/json"
    r = httpx.post(cfg["url"], content=b'{"jsonrpc": "2.0", "id":', headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700  # never a 500


def test_tokens_keys_and_switches(served: Proc) -> None:
    canvas, cfg = mcp_canvas(served)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}

    def status(url: str, headers: dict[str, str]) -> int:
        r = httpx.post(url, json=ping, headers={**accept, **headers}, timeout=30)
        if r.status_code >= 400:
            assert r.json()["error"]["code"] == -32001, r.text  # an MCP error body
        return r.status_code

    assert status(cfg["url"], {}) == 401
    assert status(cfg["url"], bearer("0" * 32)) == 401
    assert status(cfg["url"], bearer(cfg["token"])) == 200
    assert status(cfg["url"], admin(served)) == 200
    rotated = httpx.post(
        f"{served.url}/api/v1/mcp-server/{canvas['id']}/refresh", headers=admin(served)
    ).json()
    assert rotated["token"] != cfg["token"]
    assert status(cfg["url"], bearer(cfg["token"])) == 401
    assert status(cfg["url"], bearer(rotated["token"])) == 200
    assert status(served.url + "/api/v1/mcp/no-such-canvas", bearer(rotated["token"])) == 404
    off = httpx.delete(f"{served.url}/api/v1/mcp-server/{canvas['id']}", headers=admin(served))
    assert off.status_code == 204
    assert status(cfg["url"], bearer(rotated["token"])) == 404
    # Flowise's path for the same routes; turned on again, the token is the rotated one
    on = httpx.put(
        f"{served.url}/api/v1/chatflows-mcp-server/{canvas['id']}",
        json={"enabled": True, "toolName": "finder", "description": "Finds capitals"},
        headers=admin(served),
    )
    assert on.status_code == 200 and on.json()["toolName"] == "finder"
    assert status(cfg["url"], bearer(rotated["token"])) == 200
    # a settings save from the studio keeps the token
    httpx.put(
        f"{served.url}/api/v1/canvases/{canvas['id']}",
        json={"settings": {"mcpServer": {"enabled": True, "tokenHash": "x"}}},
        headers=admin(served),
    )
    assert status(cfg["url"], bearer(rotated["token"])) == 200


def test_one_server_for_every_canvas_a_key_may_use(served: Proc) -> None:
    _first, _ = mcp_canvas(served, name="Alpha Desk")
    second, _ = mcp_canvas(served, name="Beta Desk")
    key = httpx.post(
        served.url + "/api/v1/apikeys",
        json={"name": "beta only", "canvases": [second["id"]]},
        headers=admin(served),
    ).json()["key"]
    url = served.url + "/api/v1/mcp"

    async def names(session: ClientSession) -> list[str]:
        return [t.name for t in (await session.list_tools()).tools]

    everything = asyncio.run(session_call(url, served.admin, names))  # type: ignore[attr-defined]
    assert {"alpha_desk", "beta_desk"} <= set(everything)
    assert asyncio.run(session_call(url, key, names)) == ["beta_desk"]
    r = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401


def test_a_clients_cancellation_aborts_the_prediction(served: Proc, upstream: str) -> None:
    canvas, cfg = mcp_canvas(served, model="mock?tokens=400&delay=0.02")
    headers = {
        **bearer(cfg["token"]),
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    call = {
        "jsonrpc": "2.0",
        "id": 42,
        "method": "tools/call",
        "params": {
            "name": "capital_finder",
            "arguments": {"question": "q", "sessionId": "cancel-me"},
            "_meta": {"progressToken": "p"},
        },
    }
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 42, "reason": "the user stopped it"},
    }
    with httpx.stream("POST", cfg["url"], json=call, headers=headers, timeout=60) as r:
        lines = r.iter_lines()
        while "notifications/progress" not in next(lines):
            pass
        started = time.monotonic()
        sent = httpx.post(cfg["url"], json=cancel, headers=headers, timeout=30)
        assert sent.status_code == 202

        def aborted() -> bool:
            rows = httpx.get(
                f"{served.url}/api/v1/chatmessage/{canvas['id']}",
                params={"sessionId": "cancel-me"},
                headers=admin(served),
            ).json()
            return bool(rows) and rows[-1]["status"] == "aborted"

        poll(aborted, timeout=10)
        assert time.monotonic() - started < 5  # generous: the bench measures it
        rest = "\n".join(lines)
    assert rest.count("notifications/progress") < 399


def test_an_agentflow_with_a_form_is_a_tool_of_its_fields(served: Proc) -> None:
    form = [
        {"type": "string", "label": "City", "name": "city"},
        {"type": "number", "label": "Days", "name": "days"},
    ]
    flow = {
        "nodes": [
            start(startInputType="formInput", formInputTypes=form),
            af_node(
                "directReplyAgentflow_0",
                "directReplyAgentflow",
                {"directReplyMessage": "<p>{{ $form.city }} for {{ $form.days }} days</p>"},
                "Reply",
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "directReplyAgentflow_0")],
    }
    canvas = make_canvas(served.url, flow, "Trip Planner", headers=admin(served))
    cfg = httpx.post(
        f"{served.url}/api/v1/mcp-server/{canvas['id']}", json={}, headers=admin(served)
    ).json()

    async def use(session: ClientSession) -> Any:
        [tool] = (await session.list_tools()).tools
        assert tool.inputSchema["required"] == ["city", "days"]
        assert tool.inputSchema["properties"]["days"]["type"] == "number"
        return await session.call_tool(tool.name, {"city": "Oslo", "days": 3})

    result = asyncio.run(session_call(cfg["url"], cfg["token"], use))
    assert result.content[0].text == "Oslo for 3 days", result


def test_the_typescript_sdk_client_lists_calls_and_sees_progress(served: Proc) -> None:
    import subprocess

    _canvas, cfg = mcp_canvas(served)
    done = subprocess.run(
        ["node", "mcp_client.mjs", cfg["url"], cfg["token"], "capital_finder"],
        cwd=ROOT / "tests" / "js",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["tools"] == ["capital_finder"]
    assert out["text"] == "word0 word1 word2 word3 word4"
    assert "".join(out["progress"]) == "word0 word1 word2 word3 word4"


# -- MCP servers as tools ----------------------------------------------------------------------


def agent_flow(config: dict[str, Any], actions: list[str] | None = None) -> dict[str, Any]:
    return {
        "nodes": [
            node(
                "mcp_0",
                "customMCP",
                {"mcpServerConfig": json.dumps(config), "mcpActions": json.dumps(actions or [])},
            ),
            node("mem_0", "bufferMemory", {}),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "agent_0",
                "toolAgent",
                {"tools": [ref("mcp_0")], "memory": ref("mem_0"), "model": ref("chatOpenAI_0")},
            ),
        ],
        "edges": [
            edge("mcp_0", "agent_0"),
            edge("mem_0", "agent_0"),
            edge("chatOpenAI_0", "agent_0"),
        ],
    }


def tool_output(proc: Proc, flow: dict[str, Any], question: str) -> tuple[int, str]:
    canvas = make_canvas(proc.url, flow)
    r = httpx.post(
        f"{proc.url}/api/v1/prediction/{canvas['id']}",
        json={"question": question, "overrideConfig": {"returnIntermediateSteps": True}},
        timeout=60,
    )
    if r.status_code != 200:
        return r.status_code, r.json()["message"]
    tools = r.json().get("usedTools") or []
    return 200, str(tools[0]["toolOutput"]) if tools else r.text


def test_a_tool_agent_calls_a_remote_mcp_server(mcp_user: Proc, mcp_tool_server: Proc) -> None:
    config = {"url": mcp_tool_server.url + "/mcp"}
    assert tool_output(mcp_user, agent_flow(config), 'tool: add {"a": 2, "b": 3}') == (200, "5")
    # the studio's list of the server's tools, to choose from
    r = httpx.post(
        mcp_user.url + "/api/v1/node-load-method/customMCP",
        json={"loadMethod": "listActions", "inputs": {"mcpServerConfig": json.dumps(config)}},
    )
    assert {o["name"] for o in r.json()} == {"add", "environment", "wait"}
    # only the chosen actions reach the agent
    _code, text = tool_output(mcp_user, agent_flow(config, ["wait"]), 'tool: add {"a": 2, "b": 3}')
    assert "add" in text and text != "5"


def test_an_agentflow_agent_uses_mcp_tools(
    mcp_user: Proc, mcp_tool_server: Proc, upstream: str
) -> None:
    config = {"url": mcp_tool_server.url + "/mcp"}
    flow = {
        "nodes": [
            start(),
            af_node(
                "agentAgentflow_0",
                "agentAgentflow",
                {
                    "agentModel": "chatOpenAI",
                    "agentModelConfig": model_config(upstream, "mock"),
                    "agentTools": [
                        {
                            "agentSelectedTool": "customMCP",
                            "agentSelectedToolConfig": {
                                "mcpServerConfig": json.dumps(config),
                                "mcpActions": '["add"]',
                            },
                        }
                    ],
                    "agentEnableMemory": False,
                },
                "Agent",
            ),
        ],
        "edges": [af_edge("startAgentflow_0", "agentAgentflow_0")],
    }
    canvas = make_canvas(mcp_user.url, flow)
    r = httpx.post(
        f"{mcp_user.url}/api/v1/prediction/{canvas['id']}",
        json={"question": 'tool: add {"a": 20, "b": 22}'},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json()["usedTools"][0]["toolOutput"] == "42"


def test_an_older_server_is_reached_over_sse(mcp_user: Proc) -> None:
    port = free_port()
    proc = Proc([sys.executable, "-m", "tests.mcp_servers", "sse", "--port", str(port)], port, "")
    proc.spawn()
    try:
        poll(lambda: listening(f"{proc.url}/sse"), timeout=30)
        flow = agent_flow({"url": f"{proc.url}/sse"})
        assert tool_output(mcp_user, flow, 'tool: add {"a": 1, "b": 1}') == (200, "2")
    finally:
        proc.stop()


def test_a_local_server_runs_sandboxed_with_only_the_listed_environment(mcp_user: Proc) -> None:
    config = {
        "command": sys.executable,
        "args": ["-m", "tests.mcp_servers", "stdio"],
        "env": {"PYTHONPATH": str(ROOT)},
    }
    code, seen = tool_output(mcp_user, agent_flow(config), "tool: environment {}")
    assert code == 200, seen
    assert "MCP_VISIBLE=handed-on" in seen  # listed by the operator
    assert "never-seen" not in seen and "test-key" not in seen and "OPENAI" not in seen
    code, added = tool_output(mcp_user, agent_flow(config), 'tool: add {"a": 4, "b": 5}')
    assert (code, added) == (200, "9")


@pytest.mark.parametrize(
    ("config", "refused"),
    [
        ({"url": "http://mcp.example.com/mcp"}, "not allowed"),
        ({"url": "http://localhost:1/mcp"}, "not allowed"),
        ({"command": "/bin/sh", "args": ["-c", "cat /etc/passwd"]}, "not allowed"),
        ({"command": "npx", "args": ["-y", "anything"]}, "not allowed"),
        ({"nothing": True}, '"url"'),
    ],
)
def test_what_the_operator_did_not_allow_is_refused(
    mcp_user: Proc, config: dict[str, Any], refused: str
) -> None:
    code, message = tool_output(mcp_user, agent_flow(config), "tool: add {}")
    assert code == 422 and refused in message, message


def test_a_dead_or_hanging_server_is_a_clear_error(mcp_user: Proc) -> None:
    port = free_port()
    proc = Proc([sys.executable, "-m", "tests.mcp_servers", "http", "--port", str(port)], port, "")
    proc.spawn()
    poll(lambda: listening(f"{proc.url}/mcp"), timeout=30)
    flow = agent_flow({"url": f"{proc.url}/mcp"})
    # a tool that takes longer than CANVASFLOW_MCP_TIMEOUT (3 s)
    _, text = tool_output(mcp_user, flow, 'tool: wait {"seconds": 30}')
    assert "did not answer within 3 s" in text and "MCP server" in text, text
    proc.stop()
    _code, text = tool_output(mcp_user, agent_flow({"url": f"{proc.url}/mcp"}), "tool: add {}")
    assert "MCP server" in text, text


def test_mcp_settings_are_refused_without_the_admin_key(served: Proc) -> None:
    canvas = make_canvas(served.url, llm_chain_flow("mock"), headers=admin(served))
    r = httpx.post(f"{served.url}/api/v1/mcp-server/{canvas['id']}", json={})
    assert r.status_code == 401
    r = httpx.post(
        f"{served.url}/api/v1/mcp-server/{canvas['id']}",
        json={"toolName": "bad name!"},
        headers=admin(served),
    )
    assert r.status_code == 400


def test_the_mcp_inspectors_cli_lists_and_calls_a_canvas(served: Proc) -> None:
    import subprocess

    _, cfg = mcp_canvas(served)
    cli = ROOT / "tests/js/node_modules/@modelcontextprotocol/inspector/cli/build/cli.js"
    base = ["node", str(cli), "--cli", cfg["url"], "--transport", "http"]
    auth = ["--header", f"Authorization: Bearer {cfg['token']}"]
    listed = subprocess.run(
        [*base, "--method", "tools/list", *auth], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert [t["name"] for t in json.loads(listed.stdout)["tools"]] == ["capital_finder"]
    called = subprocess.run(
        [
            *base,
            *("--method", "tools/call", "--tool-name", "capital_finder"),
            *("--tool-arg", "question=hi", *auth),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["content"][0]["text"] == "word0 word1 word2 word3 word4"


def test_a_canvas_uses_another_canvas_over_mcp_with_a_stored_token(mcp_user: Proc) -> None:
    """Both directions at once: one canvas served as an MCP server, another one's agent
    calling it, the token kept in the credential store (Flowise's httpBearerToken)."""
    served = make_canvas(mcp_user.url, llm_chain_flow("mock?tokens=3"), "Inner Desk")
    token = httpx.post(f"{mcp_user.url}/api/v1/mcp-server/{served['id']}", json={}).json()["token"]
    cred = httpx.post(
        mcp_user.url + "/api/v1/credentials",
        json={
            "name": "inner",
            "credentialName": "httpBearerToken",
            "plainDataObj": {"token": token},
        },
    )
    assert cred.status_code in (200, 201), cred.text
    flow = agent_flow({"url": f"{mcp_user.url}/api/v1/mcp/{served['id']}"})
    flow["nodes"][0]["data"]["inputs"]["credential"] = cred.json()["id"]
    code, answer = tool_output(mcp_user, flow, 'tool: inner_desk {"question": "hi"}')
    assert (code, answer) == (200, "word0 word1 word2")
    # the same without the credential: the served canvas refuses
    flow["nodes"][0]["data"]["inputs"]["credential"] = ""
    code, answer = tool_output(mcp_user, flow, 'tool: inner_desk {"question": "hi"}')
    assert "401" in answer or "Unauthorized" in answer, answer


@pytest.mark.parametrize(
    ("name", "credential", "package", "env"),
    [
        (
            "braveSearchMCP",
            {"braveApiKey": "bk"},
            "@modelcontextprotocol/server-brave-search",
            {"BRAVE_API_KEY": "bk"},
        ),
        (
            "githubMCP",
            {"accessToken": "gh"},
            "@modelcontextprotocol/server-github",
            {"GITHUB_PERSONAL_ACCESS_TOKEN": "gh"},
        ),
        (
            "slackMCP",
            {"botToken": "xb", "teamId": "T1"},
            "@modelcontextprotocol/server-slack",
            {"SLACK_BOT_TOKEN": "xb", "SLACK_TEAM_ID": "T1"},
        ),
        ("sequentialThinkingMCP", None, "@modelcontextprotocol/server-sequential-thinking", {}),
    ],
)
async def test_named_mcp_nodes_start_their_package_with_their_credential(
    name: str, credential: dict[str, str] | None, package: str, env: dict[str, str]
) -> None:
    from canvasflow.config import Settings
    from canvasflow.errors import CanvasInvalid
    from canvasflow.mcp.client import check_allowed, sandboxed
    from canvasflow.nodes import load_all
    from canvasflow.runtime.context import RunContext
    from canvasflow.runtime.node import REGISTRY

    class Creds:
        async def plain(self, ref: str) -> dict[str, str] | None:
            return credential

    load_all()
    ctx = RunContext(question="q", credentials=Creds())  # type: ignore[arg-type]
    spec = await REGISTRY[name]("n", {"credential": "c"}).spec(ctx)
    assert (spec.command, spec.args[:2], dict(spec.env)) == ("npx", ("-y", package), env)
    with pytest.raises(CanvasInvalid, match="CANVASFLOW_MCP_COMMANDS"):
        check_allowed(spec, Settings(data_dir=Path("/tmp/x")))
    command, args = sandboxed(spec, Settings(data_dir=Path("/tmp/x"), mcp_commands="npx"))
    assert command == "bwrap" and "--clearenv" in args and "--unshare-all" in args
    assert all(f"{k}" in args for k in env)  # handed on inside the sandbox, nothing else


async def test_supergateway_and_postgres_mcp_nodes() -> None:
    from canvasflow.config import Settings
    from canvasflow.errors import CanvasInvalid
    from canvasflow.nodes import load_all
    from canvasflow.runtime.context import RunContext
    from canvasflow.runtime.node import REGISTRY

    class Creds:
        async def plain(self, ref: str) -> dict[str, str] | None:
            return {"postgresUrl": "postgresql://reader@db.internal:5432/shop"}

    load_all()
    ctx = RunContext(question="q", credentials=Creds())  # type: ignore[arg-type]
    spec = await REGISTRY["supergatewayMCP"]("n", {"arguments": "--sse 'http://x/sse'"}).spec(ctx)
    assert spec.args == ("-y", "supergateway", "--sse", "http://x/sse")
    with pytest.raises(CanvasInvalid, match="not allowed"):  # its host is checked first
        await REGISTRY["postgreSQLMCP"]("n", {"credential": "c"}).spec(ctx)
    allowed = RunContext(
        question="q",
        credentials=Creds(),  # type: ignore[arg-type]
        settings=Settings(data_dir=Path("/tmp/x"), allowed_hosts="db.internal"),
    )
    spec = await REGISTRY["postgreSQLMCP"]("n", {"credential": "c"}).spec(allowed)
    assert spec.args[-1] == "postgresql://reader@db.internal:5432/shop"


def test_a_folder_under_tmp_stays_visible_in_the_sandbox(tmp_path: Path) -> None:
    """The private /tmp is mounted before the folders an operator adds: one under /tmp
    (a checkout there, as CI's) is not hidden by it."""
    import subprocess

    from canvasflow.sandbox.bwrap import SYSTEM, bwrap_args

    (tmp_path / "seen.txt").write_text("visible")
    args = bwrap_args([*SYSTEM, str(tmp_path)])
    assert args.index("--tmpfs") < args.index(str(tmp_path))
    done = subprocess.run(
        ["bwrap", *args, "/bin/cat", str(tmp_path / "seen.txt")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout == "visible", done.stderr
