"""The second attack run's findings (issue 30), each written as the attack: a canvas
author or an anonymous caller trying it, against the real server where it matters, in
process where the rule is cheap logic."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from canvasflow.config import Settings
from canvasflow.nodes import load_all
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.node import REGISTRY

SERVER_KEYS = {
    "openai_api_key": "srv-openai",
    "openai_base_url": "https://api.openai.com/v1",
    "azure_openai_api_key": "srv-azure",
    "azure_openai_instance_name": "ours",
    "azure_openai_deployment": "gpt",
    "anthropic_api_key": "srv-anthropic",
    "mistral_api_key": "srv-mistral",
    "google_api_key": "srv-google",
    "groq_api_key": "srv-groq",
    "deepseek_api_key": "srv-deepseek",
    "localai_api_key": "srv-localai",
    "localai_base_url": "http://localai.internal:8080/v1",
    "github_token": "srv-github",
}
SECRETS = set(SERVER_KEYS.values()) - {
    "https://api.openai.com/v1",
    "ours",
    "gpt",
    "http://localai.internal:8080/v1",
}
ATTACKER = "http://127.0.0.1:9/stolen#"


class FakeCredentials:
    """The credential store as a node sees it: one credential the author made."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    async def plain(self, ref: str) -> dict[str, Any] | None:
        return self.data if ref == "cred" else None


def context(credential: dict[str, Any] | None = None) -> RunContext:
    return RunContext(
        question="q",
        settings=Settings(
            environ={name.upper(): value for name, value in SERVER_KEYS.items()},
            data_dir=Path("/tmp/unused"),
        ),
        credentials=FakeCredentials(credential or {}),  # type: ignore[arg-type]
    )


def sent_key(model: Any) -> str | None:
    """The key a built model or embedder would send."""
    client = getattr(model, "client", None)
    if client is not None:
        return str(client.api_key)
    return getattr(model, "api_key", None)


# (node, inputs that point it elsewhere, a credential that points it elsewhere)
PROVIDERS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("chatOpenAI", {"modelName": "m", "basepath": ATTACKER}, None),
    ("chatOpenAICustom", {"modelName": "m", "basepath": ATTACKER}, None),
    ("chatLocalAI", {"modelName": "m", "basePath": ATTACKER}, None),
    ("chatMistralAI", {"modelName": "m", "overrideEndpoint": ATTACKER}, None),
    ("chatGoogleGenerativeAI", {"modelName": "m", "baseUrl": ATTACKER}, None),
    ("groqChat", {"modelName": "m", "basepath": ATTACKER}, None),
    ("azureChatOpenAI", {"modelName": "m", "basepath": ATTACKER}, None),
    # the finding: the instance name of a credential, no key in it
    (
        "azureChatOpenAI",
        {"modelName": "m", "credential": "cred"},
        {"azureOpenAIApiInstanceName": "127.0.0.1:9/stolen#"},
    ),
    (
        "azureChatOpenAI",
        {"modelName": "m", "credential": "cred"},
        {"azureOpenAIApiInstanceName": "attacker", "azureOpenAIApiDeploymentName": "d"},
    ),
    ("openAIEmbeddings", {"modelName": "m", "basepath": ATTACKER}, None),
    ("localAIEmbeddings", {"modelName": "m", "basePath": ATTACKER}, None),
]


@pytest.mark.parametrize(
    ("name", "inputs", "credential"),
    PROVIDERS,
    ids=[f"{p[0]}-{i}" for i, p in enumerate(PROVIDERS)],
)
async def test_a_server_key_never_goes_where_a_canvas_points(
    name: str, inputs: dict[str, Any], credential: dict[str, Any] | None
) -> None:
    load_all()
    node = REGISTRY[name](f"{name}_0", inputs)
    built = await node.build(context(credential))
    assert sent_key(built) not in SECRETS, (name, inputs, credential)


@pytest.mark.parametrize(
    ("name", "inputs", "expected"),
    [
        ("chatOpenAI", {"modelName": "m"}, "srv-openai"),
        ("chatOpenAI", {"modelName": "m", "basepath": "https://api.openai.com/v1/"}, "srv-openai"),
        (
            "chatLocalAI",
            {"modelName": "m", "basePath": "http://localai.internal:8080/v1"},
            "srv-localai",
        ),
        ("chatMistralAI", {"modelName": "m"}, "srv-mistral"),
        ("groqChat", {"modelName": "m"}, "srv-groq"),
        ("chatDeepseek", {"modelName": "m"}, "srv-deepseek"),
        ("chatAnthropic", {"modelName": "m"}, "srv-anthropic"),
        ("azureChatOpenAI", {"modelName": "m"}, "srv-azure"),
        ("openAIEmbeddings", {"modelName": "m"}, "srv-openai"),
    ],
)
async def test_the_server_key_still_goes_to_its_own_endpoint(
    name: str, inputs: dict[str, Any], expected: str
) -> None:
    load_all()
    built = await REGISTRY[name](f"{name}_0", inputs).build(context())
    assert sent_key(built) == expected


async def test_services_and_github_keys_go_only_to_their_own_address() -> None:
    from canvasflow.nodes import services
    from canvasflow.nodes.web_loaders import GithubLoader

    load_all()
    ctx = context()
    environ = {**ctx.settings.environ, "SERPAPI_API_KEY": "srv-serp"}
    ctx = replace(ctx, settings=ctx.settings.model_copy(update={"environ": environ}))
    node = REGISTRY["serpAPI"]("s", {})
    assert await services.service_key(ctx, node, services.SERPAPI) == "srv-serp"
    loader = GithubLoader("g", {"githubInstanceApi": "https://127.0.0.1:9/api"})
    ctx = replace(ctx, settings=ctx.settings.model_copy(update={"allowed_hosts": "127.0.0.1"}))
    base, token = await loader._api(ctx)
    assert base == "https://127.0.0.1:9/api" and token is None
    base, token = await GithubLoader("g", {})._api(ctx)
    assert base == "https://api.github.com" and token == "srv-github"


# -- 2: management routes read no body before the key, every body is limited ------------


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def huge_body(mib: int) -> Any:
    chunk = b"x" * (1 << 20)
    for _ in range(mib):
        yield chunk


def raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode() + b"\r\n" + body)
    return sock


def status_of(sock: socket.socket) -> int:
    data = sock.recv(65536)
    sock.close()
    return int(data.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def gated(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.support import canvasflow_server

    data = tmp_path_factory.mktemp("gated")
    env = {"CANVASFLOW_BODY_TIMEOUT": "2", "CANVASFLOW_AUTH_FAILURES": "1000/minute"}
    proc = canvasflow_server(data, upstream, env, auth=True).start()
    proc.admin = (data / "admin.key").read_text().strip()  # type: ignore[attr-defined]
    yield proc
    proc.stop()


@pytest.mark.parametrize("path", ["/api/v1/canvases", "/api/v1/credentials", "/api/v1/apikeys"])
def test_a_huge_body_without_a_key_is_refused_unread(gated: Any, path: str) -> None:
    assert gated.proc is not None
    before = rss_mib(gated.proc.pid)
    try:
        r = httpx.post(gated.url + path, content=huge_body(300), timeout=60)
        assert r.status_code == 401, r.text
    except httpx.HTTPError:
        pass  # the server answered and closed while the client was still sending
    assert rss_mib(gated.proc.pid) - before < 100
    # declared too large: 413 before anything, even with the key
    sock = raw_request(
        gated.port,
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {gated.admin}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {300 << 20}\r\n",
    )
    assert status_of(sock) == 413


def test_a_chunked_body_past_the_limit_is_cut(gated: Any) -> None:
    assert gated.proc is not None
    before = rss_mib(gated.proc.pid)
    headers = {"Authorization": f"Bearer {gated.admin}", "Content-Type": "application/json"}
    try:
        r = httpx.post(
            gated.url + "/api/v1/canvases", content=huge_body(300), headers=headers, timeout=60
        )
        assert r.status_code == 413, r.text
    except httpx.HTTPError:
        pass
    assert rss_mib(gated.proc.pid) - before < 100


def test_slow_bodies_get_408_and_no_key_gets_401_at_once(gated: Any) -> None:
    head = (
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
        "Content-Length: 100\r\n"
    )
    started = time.monotonic()
    anonymous = [
        raw_request(gated.port, head.format(path="/api/v1/canvases", auth=""), b"{")
        for _ in range(50)
    ]
    assert [status_of(s) for s in anonymous] == [401] * 50
    assert time.monotonic() - started < 10  # answered without waiting for the bodies
    auth = f"Authorization: Bearer {gated.admin}\r\n"
    slow = [
        raw_request(gated.port, head.format(path=p, auth=auth), b"{")
        for p in ("/api/v1/canvases", "/api/v1/credentials")
        for _ in range(25)
    ]
    assert [status_of(s) for s in slow] == [408] * 50
    # the public routes too
    sock = raw_request(gated.port, head.format(path="/api/v1/prediction/default", auth=""), b"{")
    assert status_of(sock) == 408


# -- 3: the SQL chain connects only where it checked, never as a superuser -----------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@allowed.test/db?host=127.0.0.1",
        "postgresql://postgres@allowed.test/db?host=/var/run/postgresql",
        "postgresql://postgres@allowed.test/db?hostaddr=127.0.0.1",
        "postgresql://postgres@allowed.test/db?port=5432&service=x",
        "postgresql://postgres@allowed.test,127.0.0.1/db",
        "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/db",
        "postgresql:///db",
    ],
)
def test_sql_chain_checks_where_the_driver_really_connects(url: str) -> None:
    from canvasflow.errors import CanvasInvalid
    from canvasflow.nodes.sql import open_database

    load_all()
    ctx = RunContext(
        question="q", settings=Settings(allowed_hosts="allowed.test", data_dir=Path("/tmp/x"))
    )
    node = REGISTRY["sqlDatabaseChain"]("sql_0", {})
    with pytest.raises(CanvasInvalid) as refused:
        open_database("postgres", url, ctx, node)
    assert refused.value.status == 422


async def test_sql_chain_refuses_a_role_that_reaches_the_servers_files() -> None:
    from canvasflow.errors import CanvasInvalid
    from canvasflow.nodes.sql import PostgresDatabase, SQLRefused
    from tests.support import create_pg_database, drop_pg_database, pg_reader

    url = create_pg_database()
    try:
        superuser = PostgresDatabase(url)
        with pytest.raises(CanvasInvalid, match="superuser"):
            await superuser.run("COPY (SELECT 1) TO '/tmp/cf-stolen'", 1)
        with pytest.raises(CanvasInvalid, match="superuser"):
            await superuser.run("SELECT pg_read_file('/etc/passwd')", 1)
        await superuser.engine.dispose()
        assert not await asyncio.to_thread(os.path.exists, "/tmp/cf-stolen")
        reader = PostgresDatabase(pg_reader(url))
        assert await reader.run("SELECT 1 AS one", 1) == (["one"], [(1,)])
        for attack in ("COPY (SELECT 1) TO '/tmp/cf-stolen'", "SELECT pg_read_file('/etc/passwd')"):
            with pytest.raises(SQLRefused):
                await reader.run(attack, 1)
        await reader.engine.dispose()
    finally:
        drop_pg_database(url)


# -- 5: a stream is read only through its own canvas's URL ---------------------------------


def test_a_locked_canvases_stream_is_not_readable_through_a_public_one(secured_r2: Any) -> None:
    from tests.support import llm_chain_flow, make_canvas

    admin = {"Authorization": f"Bearer {secured_r2.admin}"}
    public = make_canvas(secured_r2.url, llm_chain_flow("mock?tokens=3"), headers=admin)
    locked = make_canvas(secured_r2.url, llm_chain_flow("mock?tokens=3"), headers=admin)
    key = httpx.post(
        secured_r2.url + "/api/v1/apikeys",
        json={"name": "locked", "canvases": [locked["id"]]},
        headers=admin,
    ).json()["key"]
    r = httpx.post(
        f"{secured_r2.url}/api/v1/prediction/{locked['id']}",
        json={"question": "secret"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    message_id = r.json()["chatMessageId"]
    own = httpx.get(
        f"{secured_r2.url}/api/v1/prediction/{locked['id']}/stream/{message_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert own.status_code == 200 and b"token" in own.content
    through_public = httpx.get(
        f"{secured_r2.url}/api/v1/prediction/{public['id']}/stream/{message_id}", timeout=30
    )
    assert through_public.status_code == 404, through_public.text
    assert b"token" not in through_public.content


@pytest.fixture(scope="module")
def secured_r2(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.support import canvasflow_server

    data = tmp_path_factory.mktemp("secured-r2")
    proc = canvasflow_server(
        data, upstream, {"CANVASFLOW_AUTH_FAILURES": "1000/minute"}, auth=True
    ).start()
    proc.admin = (data / "admin.key").read_text().strip()  # type: ignore[attr-defined]
    proc.data_dir = data  # type: ignore[attr-defined]
    yield proc
    proc.stop()


# -- 6: a pause is answered once -----------------------------------------------------------


def test_concurrent_human_input_resumes_run_once(backend_server: Any, upstream: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.support import make_canvas
    from tests.test_agentflow import golden, predict, with_mock

    flow, _ = golden("humaninput")
    cid = make_canvas(backend_server.url, with_mock(flow, upstream))["id"]
    for attempt in range(3):
        chat = f"twice-{time.monotonic_ns()}"
        first = predict(backend_server.url, cid, {"question": "fox", "chatId": chat})
        assert first.json()["action"], first.text

        def answer(kind: str, chat: str = chat) -> httpx.Response:
            human = {"type": kind, "startNodeId": "humanInputAgentflow_0", "feedback": kind}
            return predict(
                backend_server.url, cid, {"question": "", "chatId": chat, "humanInput": human}
            )

        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(answer, ["proceed", "proceed", "reject"]))
        codes = sorted(r.status_code for r in answers)
        # one answer runs; one arriving while it runs is a 409, one arriving after it
        # ended finds no pause (400, as Flowise), both saying it was answered
        assert codes[0] == 200 and codes[1:] in ([409, 409], [400, 409], [400, 400]), (
            attempt,
            [r.text[:200] for r in answers],
        )
        assert all("already answered" in r.text for r in answers if r.status_code != 200)


# -- 7: an author's regex cannot freeze the server ------------------------------------------


def test_a_catastrophic_regex_is_stopped_off_the_loop(server: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.support import make_canvas
    from tests.test_agentflow import af_edge, af_node, reply, start

    condition = {"type": "string", "value1": "{{ question }}", "operation": "regex"}
    flow = {
        "nodes": [
            start(),
            af_node(
                "conditionAgentflow_0",
                "conditionAgentflow",
                {"conditions": [{**condition, "value2": "(a|aa)+$"}]},
            ),
            reply("directReplyAgentflow_0", "matched"),
            reply("directReplyAgentflow_1", "no match"),
        ],
        "edges": [
            af_edge("startAgentflow_0", "conditionAgentflow_0"),
            af_edge("conditionAgentflow_0", "directReplyAgentflow_0", "0"),
            af_edge("conditionAgentflow_0", "directReplyAgentflow_1", "1"),
        ],
    }
    cid = make_canvas(server.url, flow)["id"]
    with ThreadPoolExecutor(2) as pool:
        attack = pool.submit(
            httpx.post,
            f"{server.url}/api/v1/prediction/{cid}",
            json={"question": "a" * 40 + "b"},
            timeout=60,
        )
        pings = []
        while not attack.done():
            started = time.monotonic()
            assert httpx.get(server.url + "/api/v1/ping", timeout=30).status_code == 200
            pings.append(time.monotonic() - started)
        r = attack.result()
    assert r.status_code == 500 and "regular expression" in r.json()["message"], r.text
    assert max(pings) < 0.9, pings  # the loop kept answering while the regex ran (1 s)
    ok = httpx.post(f"{server.url}/api/v1/prediction/{cid}", json={"question": "aaa"}, timeout=60)
    assert ok.json()["text"] == "matched"
    r = httpx.post(f"{server.url}/api/v1/prediction/{cid}", json={"question": "ab"}, timeout=60)
    assert r.json()["text"] == "no match"


def test_regex_condition_in_process() -> None:
    from canvasflow.agentflow.nodes import condition_holds
    from canvasflow.sandbox.errors import SandboxError

    started = time.monotonic()
    with pytest.raises(SandboxError, match="longer than"):
        condition_holds("string", "regex", "a" * 40 + "b", "(a|aa)+$")
    assert time.monotonic() - started < 5
    # the finding's own pattern: no longer catastrophic at all
    assert condition_holds("string", "regex", "a" * 40 + "b", "^(a+)+$") is False
    assert condition_holds("string", "regex", "abc", "b.") is True
    assert condition_holds("string", "regex", "abc", "(") is False  # does not compile


# -- 8: nested flows share one budget ----------------------------------------------------------


def test_nested_flows_with_loops_share_one_budget(server: Any) -> None:
    from tests.support import make_canvas
    from tests.test_agentflow import af_edge, af_node, reply, start

    leaf = {
        "nodes": [start(), reply("directReplyAgentflow_0", "leaf")],
        "edges": [af_edge("startAgentflow_0", "directReplyAgentflow_0")],
    }
    below = make_canvas(server.url, leaf, name="level 4")["id"]
    for level in (3, 2, 1, 0):
        flow = {
            "nodes": [
                start(),
                af_node(
                    "executeFlowAgentflow_0",
                    "executeFlowAgentflow",
                    {"executeFlowSelectedFlow": below},
                    "Run",
                ),
                af_node(
                    "loopAgentflow_0",
                    "loopAgentflow",
                    {"loopBackToNode": "executeFlowAgentflow_0-Run", "maxLoopCount": 7},
                    "Again",
                ),
            ],
            "edges": [
                af_edge("startAgentflow_0", "executeFlowAgentflow_0"),
                af_edge("executeFlowAgentflow_0", "loopAgentflow_0"),
            ],
        }
        below = make_canvas(server.url, flow, name=f"level {level}")["id"]
    started = time.monotonic()
    # 8 runs a level, 4 levels: 4,096 leaves and some 20,000 nodes without one budget
    r = httpx.post(f"{server.url}/api/v1/prediction/{below}", json={"question": "q"}, timeout=120)
    assert r.status_code == 500 and "more than 1000 nodes" in r.json()["message"], r.text
    assert time.monotonic() - started < 60


def test_a_budget_counts_steps_and_time() -> None:
    from canvasflow.errors import RunFailed
    from canvasflow.runtime.context import Budget

    budget = Budget()
    for _ in range(5):
        budget.step(60, max_steps=5)
    with pytest.raises(RunFailed, match="more than 5 nodes"):
        budget.step(60, max_steps=5)
    budget = Budget()
    budget.started -= 10
    with pytest.raises(RunFailed, match="longer than 5 s"):
        budget.step(5)


# -- 4: user JavaScript cannot take the host's memory ------------------------------------------


async def no_fetch(url: str, init: dict[str, Any]) -> dict[str, Any]:
    return {}


@pytest.mark.parametrize(
    ("code", "refused"),
    [
        (
            "const a = []; for (let i = 0; i < 10; i++) "
            "{ a.push(new Uint8Array(256 * 1024 * 1024).fill(1)); } return a.length",
            "allocation failed",
        ),
        ("return new WebAssembly.Memory({initial: 16384}).buffer.byteLength", "could not allocate"),
        ("const a = []; while (true) { a.push('x'.repeat(1000) + Math.random()); }", "memory"),
    ],
)
async def test_javascript_memory_is_limited_beyond_v8s_heap(code: str, refused: str) -> None:
    from canvasflow.sandbox.errors import SandboxError
    from canvasflow.sandbox.js import run_js

    with pytest.raises(SandboxError, match=refused):
        await run_js(code, {}, fetch=no_fetch, time_limit=30, memory_mb=256)
    # and a modest buffer still works
    assert await run_js(
        "return new Uint8Array(64 * 1024 * 1024).length", {}, fetch=no_fetch, memory_mb=256
    ) == str(64 * 1024 * 1024)


async def test_sandboxes_at_once_are_counted() -> None:
    from canvasflow.sandbox import slots
    from canvasflow.sandbox.errors import SandboxError
    from canvasflow.sandbox.js import run_js

    slots.configure(2)
    try:
        busy = "const t = Date.now(); while (Date.now() - t < 1500) {} return 'done'"
        calls = [run_js(busy, {}, fetch=no_fetch, time_limit=1.0) for _ in range(3)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        # two ran (and ran past their second), the third waited for a slot and gave up
        messages = sorted(str(r) for r in results)
        assert isinstance(results[2], SandboxError), messages
        assert sum("sandboxes are busy" in m for m in messages) == 1, messages
        assert sum("longer than" in m for m in messages) == 2, messages
    finally:
        slots.configure(8)


# -- 10: the smaller findings ----------------------------------------------------------------


def test_sign_in_counts_failures_and_sign_out_revokes_the_cookie(
    upstream: str, tmp_path: Path
) -> None:
    from tests.support import canvasflow_server

    proc = canvasflow_server(
        tmp_path / "d", upstream, {"CANVASFLOW_AUTH_FAILURES": "5/minute"}, auth=True
    ).start()
    try:
        admin = (tmp_path / "d" / "admin.key").read_text().strip()
        with httpx.Client(base_url=proc.url) as browser:
            r = browser.post("/api/v1/auth/session", json={"key": admin})
            assert r.status_code == 200
            cookie = r.cookies["cf_session"]
            assert browser.get("/api/v1/canvases").status_code == 200
            assert browser.delete("/api/v1/auth/session").status_code == 204
        # the cookie replayed after sign-out
        replay = httpx.get(proc.url + "/api/v1/canvases", cookies={"cf_session": cookie})
        assert replay.status_code == 401
        codes = [
            httpx.post(proc.url + "/api/v1/auth/session", json={"key": "cf_x_y"}).status_code
            for _ in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2
    finally:
        proc.stop()
    # the database holding chats is the owner's alone
    assert (tmp_path / "d" / "canvasflow.db").stat().st_mode & 0o077 == 0


def test_uploads_stay_in_their_folder_and_go_with_their_chat(upstream: str, tmp_path: Path) -> None:
    import base64

    from tests.support import canvasflow_server, llm_chain_flow, make_canvas

    proc = canvasflow_server(tmp_path / "d", upstream).start()
    try:
        canvas = make_canvas(
            proc.url,
            llm_chain_flow("mock?tokens=1"),
            settings={"chatbotConfig": {"allowFileUploads": True}},
        )
        upload = {
            "type": "file",
            "name": "notes.txt",
            "mime": "text/plain",
            "data": "data:text/plain;base64," + base64.b64encode(b"hello").decode(),
        }
        for chat in ("..", "../..", "ok"):
            r = httpx.post(
                f"{proc.url}/api/v1/prediction/{canvas['id']}",
                json={"question": "q", "chatId": chat, "uploads": [upload]},
                timeout=60,
            )
            assert r.status_code == 200, r.text
        root = tmp_path / "d" / "uploads"
        written = sorted(str(p.relative_to(root)) for p in root.rglob("notes.txt"))
        assert all(p.startswith(canvas["id"] + "/") for p in written), written
        assert not (root / "notes.txt").exists() and not (tmp_path / "d" / "notes.txt").exists()
        r = httpx.delete(f"{proc.url}/api/v1/chatmessage/{canvas['id']}", params={"chatId": "ok"})
        assert r.status_code == 200
        assert not (root / canvas["id"] / "ok").exists()
        httpx.delete(f"{proc.url}/api/v1/canvases/{canvas['id']}")
        assert not (root / canvas["id"]).exists()
    finally:
        proc.stop()


async def test_sandbox_fetch_sets_no_host_and_reads_a_bounded_answer() -> None:
    from canvasflow.sandbox.net import MAX_BODY, allowed_fetch

    seen: list[bytes] = []
    sent = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"host:")))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (300 << 20))
        try:
            for _ in range(300):
                writer.write(b"x" * (1 << 20))
                await writer.drain()
                sent += 1 << 20
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as client:
            answer = await allowed_fetch(
                client,
                f"http://127.0.0.1:{port}/huge",
                {"headers": {"Host": "internal.admin"}},
                frozenset({"127.0.0.1"}),
            )
        assert seen == [f"Host: 127.0.0.1:{port}".encode()]
        assert len(answer["body"]) == MAX_BODY
        assert sent < 100 << 20  # the rest of the 300 MB was never read
    finally:
        server.close()


async def test_a_huge_javascript_result_is_a_clear_error() -> None:
    from canvasflow.sandbox.errors import SandboxError
    from canvasflow.sandbox.js import run_js

    with pytest.raises(SandboxError, match="result is larger than"):
        await run_js("return 'x'.repeat(20 * 1024 * 1024)", {}, fetch=no_fetch, time_limit=20)


def test_upstream_errors_tell_no_key_and_no_internal_address() -> None:
    from canvasflow.errors import UpstreamError, UpstreamUnreachable

    err = UpstreamError('401: {"error": "bad key Bearer sk-live-1234567890abcdef"}')
    assert "sk-live" not in err.message and "[redacted]" in err.message
    assert "sk-live" in err.detail  # the server's log keeps what was said
    err = UpstreamUnreachable("upstream unreachable: Cannot connect to host 127.0.0.1:4199")
    assert "127.0.0.1" not in err.message and "4199" not in err.message
    assert "api.openai.com" in UpstreamError("api.openai.com answered 500").message


def test_a_200_that_is_not_a_chat_completion_is_an_error(server: Any, upstream: str) -> None:
    from tests.support import llm_chain_flow, make_canvas

    for streaming in (False, True):
        canvas = make_canvas(server.url, llm_chain_flow("mock?notopenai=1"))
        r = httpx.post(
            f"{server.url}/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": streaming},
            timeout=60,
        )
        if streaming:
            assert b'"event":"error"' in r.content and b"chat completion" in r.content, r.text
        else:
            assert r.status_code == 502 and "chat completion" in r.json()["message"], r.text
        history = httpx.get(f"{server.url}/api/v1/chatmessage/{canvas['id']}").json()
        assert history[-1]["status"] == "error", history[-1]


def test_probing_ids_and_a_bad_host_learn_nothing(secured_r2: Any) -> None:
    from tests.support import llm_chain_flow, make_canvas

    admin = {"Authorization": f"Bearer {secured_r2.admin}"}
    locked = make_canvas(secured_r2.url, llm_chain_flow("mock?tokens=1"), headers=admin)
    httpx.post(
        secured_r2.url + "/api/v1/apikeys",
        json={"name": "k", "canvases": [locked["id"]]},
        headers=admin,
    )
    # an unknown id is no 404: it answers as a canvas that does not stream
    for ref in ("no-such-canvas", "00000000-0000-0000-0000-000000000000"):
        r = httpx.get(f"{secured_r2.url}/api/v1/canvases/{ref}/streaming")
        assert (r.status_code, r.json()) == (200, {"isStreaming": False}), ref
    # a locked canvas answers without its key (Flowise's SDKs ask before predicting)
    r = httpx.get(f"{secured_r2.url}/api/v1/canvases/{locked['id']}/streaming")
    assert (r.status_code, r.json()) == (200, {"isStreaming": True})
    # a refused Host stays refused, an allowed one allowed (each answer is kept)
    for host in ("evil.example", "127.0.0.1", "evil.example", "localhost", "127.0.0.1.evil"):
        r = httpx.get(secured_r2.url + "/api/v1/ping", headers={"Host": host})
        assert r.status_code == (400 if "evil" in host else 200), host
        if r.status_code == 400:
            assert r.json()["success"] is False


# -- 9: the database goes away and comes back -------------------------------------------------


class SwitchableProxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection closed, new ones
    refused) and restored, as a database restart looks to a client."""

    def __init__(self, target: int) -> None:
        import threading

        self.target = target
        self.up = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            server = self.loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0)
            )
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        started.wait(5)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def cut(self) -> None:
        def close() -> None:
            self.up = False
            for w in self.writers:
                w.transport.abort()
            self.writers.clear()

        self.loop.call_soon_threadsafe(close)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(setattr, self, "up", True)


def test_a_database_outage_is_a_503_and_loses_no_answer(upstream: str, tmp_path: Path) -> None:
    from tests.support import (
        canvasflow_server,
        create_pg_database,
        drop_pg_database,
        llm_chain_flow,
        make_canvas,
        poll,
    )

    url = create_pg_database()
    proxy = SwitchableProxy(5432)
    through = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    proc = canvasflow_server(tmp_path / "d", upstream, {"DATABASE_URL": through}).start()
    try:
        canvas = make_canvas(proc.url, llm_chain_flow("mock?tokens=30&delay=0.1"))
        with httpx.stream(
            "POST",
            f"{proc.url}/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True, "chatId": "outage"},
            timeout=60,
        ) as r:
            lines = r.iter_lines()
            while '"event":"token"' not in next(lines):
                pass
            proxy.cut()  # the database goes away mid-answer
            rest = "\n".join(lines)
        assert "storage_error" not in rest and '"event":"end"' in rest, rest[-500:]
        # while it is away: 503 with Retry-After, never a 500
        r = httpx.get(proc.url + "/api/v1/canvases", timeout=30)
        assert r.status_code == 503 and r.headers["retry-after"], r.text
        import json

        flow = json.dumps(llm_chain_flow("mock"))
        r = httpx.post(
            proc.url + "/api/v1/canvases", json={"name": "x", "flowData": flow}, timeout=30
        )
        assert r.status_code == 503, r.text
        proxy.restore()

        def stored() -> bool:
            r = httpx.get(
                f"{proc.url}/api/v1/chatmessage/{canvas['id']}", params={"chatId": "outage"}
            )
            rows = r.json() if r.status_code == 200 else []
            return len(rows) == 2 and rows[-1]["status"] == "completed" and rows[-1]["content"]

        poll(stored, timeout=60)  # the held writes went in when the database came back
    finally:
        proc.stop()
        drop_pg_database(url)


async def test_answers_left_running_by_nobody_are_repaired_while_serving(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from canvasflow.bus.memory import MemoryBus
    from canvasflow.engine.prediction import repair_running
    from canvasflow.store.models import ChatMessage
    from canvasflow.store.repo import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await store.migrate()
    for answer in ("old", "mine", "recent"):
        await store.start_exchange("c", "chat", "s", "q", f"q-{answer}", answer)
    old = datetime.now(UTC) - timedelta(minutes=10)
    async with store.sessions() as s:
        await s.execute(
            update(ChatMessage).where(ChatMessage.id.in_(["old", "mine"])).values(created_at=old)
        )
        await s.commit()
    assert await repair_running(store, MemoryBus(), running_here={"mine"}) == 1
    statuses = {m.id: m.status for m in await store.messages("c")}
    assert statuses["old"] == "interrupted"
    assert statuses["mine"] == "running" and statuses["recent"] == "running"
    await store.close()


def test_every_service_is_one_descriptor_of_real_flowise_credentials() -> None:
    """A provider or service is described once (``nodes/services.py``): its credential
    kind and fields are Flowise's own, and the server's values are read by their
    standard variable names from the settings' environment, whatever the provider."""
    import json

    from canvasflow.nodes import services

    load_all()
    kinds = {
        c["name"]: {i["name"] for i in c.get("inputs", [])}
        for c in json.loads(
            (
                Path(services.__file__).parent.parent / "data/flowise_3.1.2_credentials.json"
            ).read_text()
        )
    }
    assert len(services.SERVICES) >= 19
    for service in services.SERVICES.values():
        if not service.kind:
            continue  # no key (arXiv)
        assert service.kind in kinds, service.name
        for field in (service.field, *(f for f, _ in service.more)):
            assert field in kinds[service.kind], (service.name, field)
    names = [n for s in services.SERVICES.values() for n in s.variables()]
    settings = Settings(environ={n: f"value of {n}" for n in names})
    assert all(settings.provider_env(n) == f"value of {n}" for n in names)
    assert Settings(environ={}).provider_env("OPENAI_API_KEY") is None
    # the operator's own address, from its variable or CANVASFLOW_SERVICE_URLS
    own = Settings(environ={"GROQ_BASE_URL": "http://groq.proxy/v1"})
    assert services.GROQ.base_url(own) == "http://groq.proxy/v1"
    assert services.GROQ.base_url(Settings(environ={})) == services.GROQ.url
    proxied = Settings(environ={}, service_urls={"serpapi": "http://serp.proxy"})
    assert services.service_url(proxied, services.SERPAPI) == "http://serp.proxy"
