"""API keys, allowed origins, rate limits and graceful shutdown, each on a server of its
own (an admin key closes the management routes for everyone)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
import requests
from flowise import Flowise as FlowisePy
from flowise import PredictionData as FlowisePyData

from canvasflow.config import Settings
from canvasflow.store.repo import Store
from tests.support import (
    Proc,
    canvasflow_server,
    llm_chain_flow,
    make_canvas,
    poll,
    two_web_processes,
)


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run(
        [sys.executable, "-m", "canvasflow.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def envelope(r: httpx.Response | requests.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["statusCode"] == status and body["success"] is False
    return str(body["message"])


def test_api_keys(upstream: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    # this test presents wrong keys on purpose, more than the default budget of failures
    proc = canvasflow_server(
        data, upstream, {"CANVASFLOW_AUTH_FAILURES": "1000/minute"}, auth=True
    ).start()
    try:
        # the first start made the admin key: printed once, a 0600 copy for the CLI
        first = (data / "admin.key").read_text().strip()
        assert (data / "admin.key").stat().st_mode & 0o777 == 0o600
        assert first in proc.log_text()
        made = {"Authorization": f"Bearer {first}"}
        open_canvas = make_canvas(proc.url, llm_chain_flow("mock?tokens=2"), "open", headers=made)
        locked = make_canvas(proc.url, llm_chain_flow("mock?tokens=2"), "locked", headers=made)
        other = make_canvas(proc.url, llm_chain_flow("mock?tokens=2"), "other", headers=made)
        r = cli(data, "apikey", "create", "--name", "root", "--admin")
        assert r.returncode == 0, r.stderr
        admin = r.stdout.strip()
        assert admin.startswith("cf_")
        url = proc.url + "/api/v1"
        # other processes see new keys within two seconds
        poll(
            lambda: (
                httpx.get(
                    url + "/apikeys", headers={"Authorization": f"Bearer {admin}"}
                ).status_code
                == 200
            ),
            timeout=5,
        )
        # management needs the admin key
        assert "admin API key" in envelope(httpx.get(url + "/canvases"), 401)
        envelope(httpx.get(url + "/canvases", headers={"Authorization": "Bearer cf_x_y"}), 401)
        envelope(httpx.get(url + "/chatmessage/" + open_canvas["id"]), 401)
        envelope(httpx.get(proc.url + "/metrics"), 401)
        H = {"Authorization": f"Bearer {admin}"}
        assert httpx.get(url + "/canvases", headers=H).status_code == 200
        assert httpx.get(proc.url + "/metrics", headers=H).status_code == 200
        # a key for one canvas
        r = httpx.post(url + "/apikeys", headers=H, json={"name": "app", "canvases": ["locked"]})
        assert r.status_code == 201, r.text
        app_key = r.json()["key"]
        r = httpx.post(url + "/apikeys", headers=H, json={"name": "o", "canvases": [other["id"]]})
        other_key = r.json()["key"]
        r = httpx.post(url + "/apikeys", headers=H, json={"name": "app2", "canvases": ["locked"]})
        app2_key = r.json()["key"]
        predict = f"{url}/prediction/{locked['id']}"
        for streaming in (False, True):
            body = {"question": "q", "streaming": streaming}
            envelope(httpx.post(predict, json=body, timeout=10), 401)
            envelope(
                httpx.post(
                    predict, json=body, timeout=10, headers={"Authorization": f"Bearer {app_key}x"}
                ),
                401,
            )
            envelope(
                httpx.post(
                    predict, json=body, timeout=10, headers={"Authorization": f"Bearer {other_key}"}
                ),
                401,
            )
            for key in (app_key, admin):
                ok = httpx.post(predict, json=body, headers={"Authorization": f"Bearer {key}"})
                assert ok.status_code == 200
        # a canvas with no key stays open; the streaming check never needs a key
        assert httpx.post(f"{url}/prediction/open", json={"question": "q"}).status_code == 200
        assert httpx.get(f"{url}/chatflows-streaming/{locked['id']}").json() == {
            "isStreaming": True
        }
        # Flowise's own Python SDK, with and without the key
        sdk = FlowisePy(base_url=proc.url, api_key=app_key)
        chunks = [
            orjson.loads(c)
            for c in sdk.create_prediction(
                FlowisePyData(chatflowId=locked["id"], question="q", streaming=True)
            )
        ]
        assert [c["data"] for c in chunks if c["event"] == "token"] == ["word0", " word1"]
        with pytest.raises(requests.HTTPError) as exc:
            list(
                FlowisePy(base_url=proc.url).create_prediction(
                    FlowisePyData(chatflowId=locked["id"], question="q", streaming=True)
                )
            )
        assert exc.value.response.status_code == 401
        # keys are stored as hashes only
        listed = httpx.get(url + "/apikeys", headers=H).json()
        assert {k["name"] for k in listed} == {"admin (first start)", "root", "app", "app2", "o"}
        assert all("key" not in k for k in listed)
        db = (data / "canvasflow.db").read_bytes()
        for key in (app_key, admin):  # cf_<prefix>_<secret>; the secret may hold "_"
            assert key.split("_", 2)[2].encode() not in db
        # CLI list / delete; a deleted key stops working
        assert "app" in cli(data, "apikey", "list").stdout
        assert cli(data, "apikey", "delete", "app").returncode == 0
        poll(
            lambda: (
                httpx.post(
                    predict, json={"question": "q"}, headers={"Authorization": f"Bearer {app_key}"}
                ).status_code
                == 401
            ),
            timeout=5,
        )
        envelope(
            httpx.post(
                predict, json={"question": "q"}, headers={"Authorization": f"Bearer {app_key}"}
            ),
            401,
        )
        assert (
            httpx.post(
                predict, json={"question": "q"}, headers={"Authorization": f"Bearer {app2_key}"}
            ).status_code
            == 200
        )
        app_id = next(k["id"] for k in listed if k["name"] == "o")
        assert httpx.delete(f"{url}/apikeys/{app_id}", headers=H).status_code == 204
    finally:
        proc.stop()


def test_allowed_origins(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=1"),
        settings={"allowedOrigins": ["https://ok.example"]},
    )
    url = f"/api/v1/prediction/{canvas['id']}"
    assert "bad.example" in envelope(
        client.post(
            url,
            json={"question": "q", "streaming": True},
            headers={"Origin": "https://bad.example"},
        ),
        403,
    )
    assert (
        client.post(
            url, json={"question": "q"}, headers={"Origin": "https://ok.example"}
        ).status_code
        == 200
    )
    assert client.post(url, json={"question": "q"}).status_code == 200


def test_rate_limit_per_canvas_and_client(upstream: str, tmp_path: Path) -> None:
    proc = canvasflow_server(
        tmp_path / "d", upstream, {"CANVASFLOW_TRUSTED_PROXY_HEADER": "X-Forwarded-For"}
    ).start()
    try:
        canvas = make_canvas(
            proc.url,
            llm_chain_flow("mock?tokens=1"),
            settings={"rateLimit": {"limit": 3, "window": 60}},
        )
        url = f"{proc.url}/api/v1/prediction/{canvas['id']}"
        a = {"X-Forwarded-For": "10.9.9.9, 198.51.100.1"}
        for _ in range(3):
            assert httpx.post(url, json={"question": "q"}, headers=a).status_code == 200
        r = httpx.post(url, json={"question": "q", "streaming": True}, headers=a)
        envelope(r, 429)
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # another client (as the trusted proxy reports it) has its own budget
        b = {"X-Forwarded-For": "10.9.9.9, 198.51.100.2"}
        assert httpx.post(url, json={"question": "q"}, headers=b).status_code == 200
        other = make_canvas(proc.url, llm_chain_flow("mock?tokens=1"))
        assert (
            httpx.post(
                f"{proc.url}/api/v1/prediction/{other['id']}", json={"question": "q"}, headers=a
            ).status_code
            == 200
        )
    finally:
        proc.stop()


def test_rate_limit_shared_through_redis(upstream: str, tmp_path: Path) -> None:
    with two_web_processes(tmp_path, upstream) as (a, b):
        canvas = make_canvas(
            a.url,
            llm_chain_flow("mock?tokens=1"),
            settings={"rateLimit": {"limit": 4, "window": 60}},
        )
        codes = [
            httpx.post(
                f"{p.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"}
            ).status_code
            for p in (a, b, a, b, a, b)
        ]
        assert codes == [200, 200, 200, 200, 429, 429]


def test_graceful_shutdown(upstream: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    proc = canvasflow_server(data, upstream, {"CANVASFLOW_SHUTDOWN_GRACE": "4"}).start()
    short = make_canvas(proc.url, llm_chain_flow("mock?tokens=30&delay=0.03"))
    long = make_canvas(proc.url, llm_chain_flow("mock?tokens=2000&delay=0.02"))
    results: dict[str, list] = {}

    def stream(name: str, canvas: dict) -> None:
        r = httpx.post(
            f"{proc.url}/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True, "chatId": name},
            timeout=60,
        )
        results[name] = [orjson.loads(x[6:]) for x in r.text.split("\n") if x.startswith("data: {")]

    threads = [
        threading.Thread(target=stream, args=("short", short)),
        threading.Thread(target=stream, args=("long", long)),
    ]
    for t in threads:
        t.start()
    # both predictions are running before the signal
    poll(lambda: httpx.get(proc.url + "/api/v1/queue").json()["running"] == 2)
    t0 = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    for t in threads:
        t.join(30)
    proc.proc.wait(30)  # type: ignore[union-attr]
    assert time.monotonic() - t0 < 10
    short_events = results["short"]
    assert short_events[-2]["data"]["status"] == "completed"  # finished within the grace
    assert sum(e["event"] == "token" for e in short_events) == 30
    long_events = results["long"]
    kinds = [e["event"] for e in long_events]
    assert kinds[-3:] == ["error", "metadata", "end"]
    assert long_events[-3]["data"]["code"] == "shutdown"
    assert long_events[-2]["data"]["status"] == "aborted"

    async def stored() -> list:
        store = Store(Settings(data_dir=data).resolved_database_url())
        try:
            canvases = {c.slug: c.id for c in await store.list_canvases()}
            return [await store.messages(canvases[s]) for s in (short["slug"], long["slug"])]
        finally:
            await store.close()

    short_rows, long_rows = asyncio.run(stored())
    assert [r.status for r in short_rows] == ["completed", "completed"]
    assert long_rows[-1].status == "aborted" and long_rows[-1].content.startswith("word0 word1")
