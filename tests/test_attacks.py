"""Each finding of the security review, written as the attack, against real server
processes; and an auth matrix built from the app's own route table, so a new route
cannot skip the rules."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from canvasflow.config import Settings
from canvasflow.server.app import create_app
from tests.support import (
    Proc,
    canvasflow_server,
    custom_tool_flow,
    edge,
    llm_chain_flow,
    make_canvas,
    node,
    poll,
    ref,
    sse_events,
)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def secured(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """A server as installed: authentication on (an admin key made at first start),
    Python tools on (in bubblewrap) so that their sandbox can be attacked too."""
    data = tmp_path_factory.mktemp("secured")
    env = {"CANVASFLOW_PYTHON_TOOLS": "1", "CANVASFLOW_AUTH_FAILURES": "1000/minute"}
    proc = canvasflow_server(data, upstream, env, auth=True).start()
    proc.admin = (data / "admin.key").read_text().strip()  # type: ignore[attr-defined]
    proc.data_dir = data  # type: ignore[attr-defined]
    yield proc
    proc.stop()


def admin_of(proc: Proc) -> dict[str, str]:
    return bearer(proc.admin)  # type: ignore[attr-defined]


def tool_canvas(proc: Proc, code: str, language: str = "javascript") -> dict[str, Any]:
    return make_canvas(proc.url, custom_tool_flow(code, "custom", language), headers=admin_of(proc))


def tool_step(proc: Proc, canvas: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(
        f"{proc.url}/api/v1/prediction/{canvas['id']}",
        json={
            "question": 'tool: custom {"n": 1}',
            "streaming": True,
            "overrideConfig": {"returnIntermediateSteps": True},
        },
        timeout=60,
    )
    events = sse_events(r.content)
    return next((e["data"] for e in events if e["event"] == "step"), {"error": repr(events)})


# -- user code ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # no Node.js globals, no file system, no processes
        (
            "return [typeof process, typeof require('node-fetch'), typeof Deno].join()",
            "undefined,function,undefined",
        ),
        ("return require('child_process').execSync('id')", "not available"),
        ("return require('fs').readFileSync('/etc/passwd', 'utf8')", "not available"),
        # the network only to allowed hosts: not PostgreSQL, Redis or the server itself
        ("return (await fetch('http://127.0.0.1:5432/')).status", "not allowed"),
        ("return (await fetch('http://localhost:6379/')).status", "not allowed"),
        ("return (await fetch('file:///etc/passwd')).status", "not allowed"),
    ],
)
def test_javascript_tool_cannot_reach_the_host(secured: Proc, code: str, expected: str) -> None:
    step = tool_step(secured, tool_canvas(secured, code))
    assert expected in (step.get("error") or step["output"]), step


def test_javascript_tool_sees_none_of_the_servers_environment(secured: Proc) -> None:
    step = tool_step(
        secured, tool_canvas(secured, "return JSON.stringify(Object.keys(globalThis))")
    )
    assert "OPENAI_API_KEY" not in step["output"] and "test-key" not in step["output"]


@pytest.mark.parametrize(
    ("code", "refused"),
    [
        ("result = open('/etc/passwd').read()", "No such file"),
        ("import os\nresult = open(f'/proc/{os.getppid()}/environ').read() or 'empty'", "empty"),
        ("import os\nresult = repr(sorted(os.environ))", "['LC_CTYPE', 'PATH', 'PWD']"),
        ("import socket\nsocket.create_connection(('127.0.0.1', 5432), timeout=2)", "Errno"),
        ("import socket\nsocket.create_connection(('127.0.0.1', 6379), timeout=2)", "Errno"),
        ("open('/usr/evil', 'w').write('x')", "Read-only"),
        ("import os\nresult = str(os.getuid())", "65534"),
    ],
)
def test_python_tool_runs_in_bubblewrap(secured: Proc, code: str, refused: str) -> None:
    step = tool_step(secured, tool_canvas(secured, code, "python"))
    assert refused in (step.get("error") or step["output"]), step


def test_python_tool_cannot_kill_the_server_or_leave_children(secured: Proc) -> None:
    marker = f"cf-fork-{time.monotonic_ns()}"
    fork = (
        "import os, time\n"
        "for i in range(20):\n"
        "    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '60', '{marker}'])\n"
        "os.kill(os.getppid(), 9)\n"
        "time.sleep(30)\n"
    )
    step = tool_step(secured, tool_canvas(secured, fork, "python"))
    assert "longer than" in step["error"], step
    assert httpx.get(secured.url + "/api/v1/ping").status_code == 200  # still serving

    def none_left() -> bool:
        out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
        return out.strip() == ""

    poll(none_left, timeout=10)


# -- who may manage ------------------------------------------------------------------


def test_no_anonymous_administrator(secured: Proc) -> None:
    url = secured.url + "/api/v1"
    r = httpx.post(url + "/apikeys", json={"name": "x", "admin": True})
    assert r.status_code == 401
    assert httpx.post(url + "/canvases", json={"name": "x", "flowData": "{}"}).status_code == 401
    assert httpx.get(secured.url + "/v1/models").status_code == 401
    assert httpx.get(secured.url + "/metrics").status_code == 401
    assert httpx.get(url + "/queue").status_code == 401
    # the default canvas still answers without a key, as the README's curl does
    assert httpx.post(
        url + "/prediction/default", json={"question": "hi"}, timeout=60
    ).status_code in (200, 500)


def test_no_auth_is_refused_on_a_public_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        create_app(Settings(host="0.0.0.0", no_auth=True, data_dir=tmp_path))
    done = subprocess.run(
        [
            ".venv/bin/canvasflow",
            "serve",
            "--host",
            "0.0.0.0",
            "--no-auth",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode != 0 and "loopback" in done.stderr


def test_dns_rebinding_and_foreign_origins_are_refused(secured: Proc) -> None:
    url = secured.url + "/api/v1"
    rebound = {"Host": "rebind.attacker.example", "Origin": "http://rebind.attacker.example"}
    assert httpx.get(url + "/ping", headers=rebound).status_code == 400
    flow = {"name": "x", "flowData": llm_chain_flow("mock")}
    r = httpx.post(url + "/canvases", json=flow, headers=rebound | admin_of(secured))
    assert r.status_code == 400
    # the right Host but a page on another origin: no state change, even with a session
    evil = {"Origin": "https://evil.example", **admin_of(secured)}
    assert httpx.post(url + "/canvases", json=flow, headers=evil).status_code == 403
    same = {"Origin": secured.url, **admin_of(secured)}
    assert httpx.post(url + "/canvases", json=flow, headers=same).status_code == 201


def test_browser_session_is_an_httponly_cookie(secured: Proc) -> None:
    with httpx.Client(base_url=secured.url) as browser:
        assert browser.get("/api/v1/canvases").status_code == 401
        r = browser.post("/api/v1/auth/session", json={"key": secured.admin})  # type: ignore[attr-defined]
        assert r.status_code == 200 and r.json()["admin"] is True
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert secured.admin not in r.headers["set-cookie"]  # type: ignore[attr-defined]
        assert browser.get("/api/v1/canvases").status_code == 200
        assert browser.post("/api/v1/auth/session", json={"key": "cf_x_y"}).status_code == 401
        browser.delete("/api/v1/auth/session")
        browser.cookies.clear()
        assert browser.get("/api/v1/canvases").status_code == 401


# -- keys go only where they belong -------------------------------------------------------


def test_server_key_is_not_sent_where_a_canvas_points(secured: Proc, upstream: str) -> None:
    own = upstream + "/v1"  # OPENAI_BASE_URL of the test servers
    elsewhere = own.replace("127.0.0.1", "localhost")  # the author's choice of endpoint
    for basepath, expected in ((own, "Bearer test-key"), (elsewhere, "Bearer no-key")):
        canvas = make_canvas(
            secured.url,
            llm_chain_flow("mock?tokens=1", basepath=basepath),
            headers=admin_of(secured),
        )
        r = httpx.post(f"{secured.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"})
        assert r.status_code == 200, r.text
        assert httpx.get(upstream + "/requests").json()[-1]["_auth"] == expected


def test_folder_files_follows_no_symlink_out(secured: Proc) -> None:
    kb = secured.data_dir / "files" / "kb"  # type: ignore[attr-defined]
    kb.mkdir(parents=True, exist_ok=True)
    (kb / "ok.md").write_text("fine")
    link = kb / "passwd.txt"
    if not link.exists():
        os.symlink("/etc/passwd", link)
    flow = {
        "nodes": [
            node("f", "folderFiles", {"folderPath": "kb"}),
            node("r", "bm25Retriever", {"document": [ref("f")], "topK": 5}),
            node("m", "chatOpenAI", {"modelName": "mock?tokens=1"}),
            node("c", "retrievalQAChain", {"model": ref("m"), "vectorStoreRetriever": ref("r")}),
        ],
        "edges": [edge("f", "r"), edge("r", "c"), edge("m", "c")],
    }
    canvas = make_canvas(secured.url, flow, headers=admin_of(secured))
    r = httpx.post(f"{secured.url}/api/v1/prediction/{canvas['id']}", json={"question": "root"})
    assert r.status_code == 400 and "outside the files folder" in r.json()["message"], r.text
    assert "root:x:0" not in r.text


# -- limits that cannot be walked around --------------------------------------------------


def test_forwarded_for_is_not_trusted_by_default(secured: Proc) -> None:
    canvas = make_canvas(
        secured.url,
        llm_chain_flow("mock?tokens=1"),
        headers=admin_of(secured),
        settings={"rateLimit": {"limit": 2, "window": 60}},
    )
    url = f"{secured.url}/api/v1/prediction/{canvas['id']}"
    codes = [
        httpx.post(
            url, json={"question": "q"}, headers={"X-Forwarded-For": f"10.0.0.{i}"}
        ).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 429, 429]


def test_failed_key_checks_are_limited(upstream: str, tmp_path: Path) -> None:
    proc = canvasflow_server(
        tmp_path / "d", upstream, {"CANVASFLOW_AUTH_FAILURES": "5/minute"}, auth=True
    ).start()
    try:
        admin = (tmp_path / "d" / "admin.key").read_text().strip()
        prefix = admin.split("_")[1]
        wrong = bearer(f"cf_{prefix}_{'x' * 43}")  # a known prefix, a wrong secret
        codes = [
            httpx.get(proc.url + "/api/v1/canvases", headers=wrong).status_code for _ in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2
        # the client is held off before any key is checked, even a right one
        assert httpx.get(proc.url + "/api/v1/canvases", headers=bearer(admin)).status_code == 429
        assert httpx.get(proc.url + "/v1/models", headers=wrong).status_code == 429
    finally:
        proc.stop()


# -- browsers ------------------------------------------------------------------------------


def test_cors_is_open_for_predictions_only(secured: Proc) -> None:
    pre = {
        "Origin": "https://site.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    r = httpx.options(f"{secured.url}/api/v1/prediction/default", headers=pre)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    r = httpx.options(f"{secured.url}/api/v1/canvases", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(f"{secured.url}/api/v1/canvases", headers={"Origin": "https://site.example"})
    assert "access-control-allow-origin" not in r.headers


def test_pages_send_a_content_security_policy(secured: Proc) -> None:
    page = httpx.get(secured.url + "/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"


# -- the auth matrix ------------------------------------------------------------------------

# routes anyone may call (predictions on canvases without keys of their own, health,
# sign-in); every other route must refuse callers without the admin key
PUBLIC = {
    ("POST", "/api/v1/prediction/{canvas_id}"),
    ("GET", "/api/v1/prediction/{canvas_id}/stream/{chat_message_id}"),
    ("PUT", "/api/v1/chatmessage/abort/{canvas_id}/{chat_id}"),
    ("PUT", "/api/v1/canvas-messages/abort/{canvas_id}/{chat_id}"),
    ("GET", "/api/v1/chatflows-streaming/{canvas_id}"),
    ("GET", "/api/v1/canvases/{canvas_id}/streaming"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),  # needs a key, of any kind: checked in its own test
    ("GET", "/api/v1/ping"),
    ("GET", "/api/v1/node-icon/{name}"),  # a coloured square with initials
    ("GET", "/"),  # the chat page: it asks for a key itself when it needs one
    ("GET", "/chat/{canvas_id}"),
    ("GET", "/docs"),  # Swagger UI; /openapi.json is public too (a description, no data)
    ("GET", "/studio"),  # the studio's page: it signs in itself; its API needs the key
    ("GET", "/studio/{path:path}"),
    ("GET", "/api/v1/auth/session"),
    ("POST", "/api/v1/auth/session"),
    ("DELETE", "/api/v1/auth/session"),
    ("POST", "/api/v1/vector/upsert/{canvas_id}"),  # a canvas's own key, as in Flowise
    # Flowise's chat widget, on a website's pages (a canvas's own key when it has one);
    # the lists of feedback and leads are the admin's
    ("GET", "/api/v1/public-chatbotConfig/{canvas_id}"),
    ("POST", "/api/v1/feedback/{canvas_id}"),
    ("PUT", "/api/v1/feedback/{feedback_id}"),
    ("POST", "/api/v1/leads"),
    ("GET", "/api/v1/get-upload-file"),
    ("POST", "/api/v1/attachments/{canvas_id}/{chat_id}"),  # 501: not offered
    ("POST", "/api/v1/text-to-speech/generate"),
    ("POST", "/api/v1/text-to-speech/abort"),
    ("GET", "/api/v1/openai-assistants-file/download"),
    ("POST", "/api/v1/openai-assistants-file/download"),
    # a canvas's webhook: its own key when it has one, its signature when it has a secret
    # (tests/test_triggers.py); a canvas that takes no webhook answers 404
    *((m, "/api/v1/webhook/{canvas_id}") for m in ("GET", "POST", "PUT", "PATCH", "DELETE")),
    # a run its owner shared (404 for any other): tests/test_triggers.py
    ("GET", "/api/v1/public-executions/{execution_id}"),
    # a public canvas's chatbot page and its name (401 for a canvas not made public):
    # tests/test_widget.py
    ("GET", "/chatbot/{canvas_id}"),
    ("GET", "/api/v1/public-chatflows/{canvas_id}"),
}


def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path) of a route table, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                yield method, prefix + route.path
        elif hasattr(route, "original_router"):  # a router included into the app
            yield from walk(route.original_router.routes, prefix + route.include_context.prefix)


def app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(data_dir=Path("/tmp/unused"), create_default_canvas=False))
    return sorted(set(walk(app.routes)))


ROUTES = app_routes()


def test_the_matrix_covers_every_route() -> None:
    assert len(ROUTES) > 20
    assert PUBLIC <= set(ROUTES), PUBLIC - set(ROUTES)


@pytest.fixture(scope="module")
def matrix(secured: Proc) -> dict[str, Any]:
    admin = admin_of(secured)
    canvas = make_canvas(secured.url, llm_chain_flow("mock?tokens=1"), "matrix", headers=admin)
    r = httpx.post(
        secured.url + "/api/v1/apikeys",
        json={"name": "canvas key", "canvases": [canvas["id"]]},
        headers=admin,
    )
    return {"canvas": canvas, "canvas_key": r.json()["key"]}


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r not in PUBLIC])
def test_auth_matrix(secured: Proc, matrix: dict[str, Any], method: str, path: str) -> None:
    filled = (
        path.replace("{canvas_id}", matrix["canvas"]["id"])
        .replace("{id}", matrix["canvas"]["id"])
        .replace("{chat_id}", "c")
        .replace("{chat_message_id}", "m")
        .replace("{key_id}", "nope")
        .replace("{cred_id}", "nope")
        .replace("{name}", "llmChain")
    )
    callers = {
        "nobody": {},
        "wrong key": bearer("cf_000000000000_" + "x" * 43),
        "canvas key": bearer(matrix["canvas_key"]),
    }
    for who, headers in callers.items():
        r = httpx.request(method, secured.url + filled, headers=headers, json={}, timeout=30)
        assert r.status_code == 401, (who, method, path, r.status_code, r.text[:200])
    r = httpx.request(method, secured.url + filled, headers=admin_of(secured), json={}, timeout=30)
    assert r.status_code not in (401, 403), (method, path, r.text[:200])


def test_widget_routes_need_a_locked_canvas_key(secured: Proc) -> None:
    """The chat widget's public routes on a canvas with keys of its own need one of them."""
    admin = admin_of(secured)
    cid = make_canvas(secured.url, llm_chain_flow("mock?tokens=1"), "locked", headers=admin)["id"]
    key = httpx.post(
        secured.url + "/api/v1/apikeys",
        json={"name": "locked key", "canvases": [cid]},
        headers=admin,
    ).json()["key"]
    calls = [
        ("GET", f"/api/v1/public-chatbotConfig/{cid}", None),
        (
            "POST",
            f"/api/v1/feedback/{cid}",
            {"chatId": "c", "messageId": "m", "rating": "THUMBS_UP"},
        ),
        ("POST", "/api/v1/leads", {"chatflowid": cid, "chatId": "c"}),
        ("GET", f"/api/v1/get-upload-file?chatflowId={cid}&chatId=c&fileName=f", None),
    ]
    for method, path, body in calls:
        r = httpx.request(method, secured.url + path, json=body)
        assert r.status_code == 401, (path, r.text)
        r = httpx.request(method, secured.url + path, json=body, headers=bearer(key))
        assert r.status_code in (200, 201, 404), (path, r.status_code, r.text)


def test_server_stops_cleanly_after_runaway_code(upstream: str, tmp_path: Path) -> None:
    """Runaway user code lives in a child process: SIGTERM still stops the server."""
    proc = canvasflow_server(tmp_path / "d", upstream, {"CANVASFLOW_TOOL_TIMEOUT": "1"}).start()
    try:
        for code in ("while (true) {}", "await null; while (true) {}"):
            assert "longer than" in tool_step(proc, tool_canvas_open(proc, code))["error"]
    finally:
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then re-raises the signal it caught: -SIGTERM, not a kill
        assert proc.proc.wait(20) in (0, -signal.SIGTERM)


def tool_canvas_open(proc: Proc, code: str) -> dict[str, Any]:
    flow = custom_tool_flow(code)
    return make_canvas(proc.url, flow)
