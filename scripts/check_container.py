"""Builds canvasflow's images and exercises them as a user would (scripts/check_container.sh
runs this; it takes minutes, so it is not part of the test run). Every container runs on
the host's network bound to 127.0.0.1 (this machine reaches no registry and runs no
bridge NAT for us), each on a port of its own. Prints one line per check and a summary;
exits non-zero if any check failed.

    .venv/bin/python scripts/check_container.py [--skip-build] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "canvasflow:check"
IMAGE_ALL = "canvasflow:check-all"
SECRET = "Y2FudmFzZmxvdy1jb250YWluZXItY2hlY2tzLWtleSE="
RESULTS: list[tuple[str, bool, str]] = []


def sh(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr[-2000:]}")
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise TimeoutError(f"not true within {timeout} s (last: {last!r})")


def record(name: str, ok: bool, detail: str = "") -> None:
    RESULTS.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


def step(name: str) -> Callable[[Callable[[], str | None]], Callable[[], None]]:
    def wrap(fn: Callable[[], str | None]) -> Callable[[], None]:
        def run() -> None:
            t0 = time.monotonic()
            try:
                detail = fn() or ""
            except Exception as exc:
                record(name, False, f"{type(exc).__name__}: {exc}"[:400])
            else:
                record(name, True, f"{detail} ({time.monotonic() - t0:.0f} s)".strip())

        run.__name__ = name
        return run

    return wrap


def run_container(name: str, port: int, *extra: str, env: dict[str, str] | None = None) -> None:
    sh("docker", "rm", "-f", name)
    envs = [part for k, v in (env or {}).items() for part in ("-e", f"{k}={v}")]
    sh(
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "-e",
        "CANVASFLOW_HOST=127.0.0.1",
        "-e",
        f"CANVASFLOW_PORT={port}",
        *envs,
        *extra,
        check=True,
    )


def health(name: str) -> str:
    return sh("docker", "inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()


def ping(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/api/v1/ping", timeout=3).status_code == 200


def sse_tokens(text: str) -> tuple[str, list[str]]:
    tokens, kinds = [], []
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip().startswith("{"):
            event = json.loads(line[5:])
            kinds.append(event["event"])
            if event["event"] == "token":
                tokens.append(event["data"])
    return "".join(tokens), kinds


def chain(model: str) -> str:
    nodes = [
        {"id": "m", "data": {"name": "chatOpenAI", "inputs": {"modelName": model}}},
        {"id": "p", "data": {"name": "promptTemplate", "inputs": {"template": "{question}"}}},
        {
            "id": "c",
            "data": {
                "name": "llmChain",
                "inputs": {"model": "{{m.data.instance}}", "prompt": "{{p.data.instance}}"},
            },
        },
    ]
    return json.dumps({"nodes": nodes, "edges": []})


class Mock:
    """The test suite's mock OpenAI upstream, on the host (containers reach it through the
    host's network)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mock_upstream", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        poll(lambda: httpx.get(f"http://127.0.0.1:{self.port}/stats").status_code == 200, 30)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    mock = Mock()
    port = free_port()
    volume = "canvasflow-check-data"
    key_file: dict[str, str] = {}

    @step("build the default image")
    def build_default() -> str:
        if not args.skip_build:
            sh(
                "docker",
                "build",
                "--network",
                "host",
                "-t",
                IMAGE,
                str(ROOT),
                timeout=3600,
                check=True,
            )
        size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", IMAGE).stdout)
        return f"{size / 1e6:.0f} MB"

    @step("build the all variant (VARIANT=all)")
    def build_all() -> str:
        if not args.skip_build:
            sh(
                "docker", "build", "--network", "host", "--build-arg", "VARIANT=all",
                "-t", IMAGE_ALL, str(ROOT), timeout=3600, check=True,
            )  # fmt: skip
        size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", IMAGE_ALL).stdout)
        return f"{size / 1e6:.0f} MB"

    @step("start, healthy on a port of its own (CANVASFLOW_PORT), as uid 10001")
    def start() -> str:
        sh("docker", "volume", "rm", "-f", volume)
        run_container(
            "cf-check", port, "-v", f"{volume}:/data", IMAGE,
            env={"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": "test-key"},
        )  # fmt: skip
        poll(lambda: health("cf-check") == "healthy", 120, 1)
        uid = sh("docker", "exec", "cf-check", "id", "-u").stdout.strip()
        assert uid == "10001", uid
        return f"healthy on {port}"

    @step("the admin key: in the first start's log and /data/admin.key only")
    def admin_key() -> str:
        logs = sh("docker", "logs", "cf-check").stderr
        stored = sh("docker", "exec", "cf-check", "cat", "/data/admin.key").stdout.strip()
        assert stored.startswith("cf_") and stored in logs, "the printed key is the kept one"
        key_file["key"] = stored
        return "printed once"

    @step("a streamed answer from the embedded model")
    def embedded() -> str:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/prediction/default",
            json={"question": "What is the capital of France?", "streaming": True},
            timeout=120,
        )
        text, kinds = sse_tokens(r.text)
        assert r.status_code == 200 and text and kinds[-1] == "end", r.text[-300:]
        return f"{len(text)} characters"

    @step("an answer from the mock model (OPENAI_BASE_URL on the host's network)")
    def on_mock() -> str:
        headers = {"Authorization": f"Bearer {key_file['key']}"}
        made = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/canvases",
            json={"name": "mock", "flowData": chain("mock?tokens=5")},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        key_file["canvas"] = made.json()["id"]
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/prediction/{key_file['canvas']}",
            json={"question": "q"},
            timeout=60,
        )
        assert r.json()["text"] == "word0 word1 word2 word3 word4", r.text
        return "5 tokens"

    @step("data kept across docker restart, and in a new container on the same volume")
    def kept() -> str:
        sh("docker", "restart", "cf-check", timeout=60, check=True)
        poll(lambda: ping(port), 60)
        headers = {"Authorization": f"Bearer {key_file['key']}"}
        url = f"http://127.0.0.1:{port}/api/v1/canvases/{key_file['canvas']}"
        assert httpx.get(url, headers=headers).status_code == 200
        logs = sh("docker", "logs", "cf-check").stderr
        assert logs.count("created the admin API key") == 1, "a restart prints no new key"
        sh("docker", "rm", "-f", "cf-check")
        run_container(
            "cf-check", port, "-v", f"{volume}:/data", IMAGE,
            env={"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": "test-key"},
        )  # fmt: skip
        poll(lambda: ping(port), 60)
        assert httpx.get(url, headers=headers).status_code == 200
        assert "created the admin API key" not in sh("docker", "logs", "cf-check").stderr
        return "canvas and key kept"

    @step("SIGTERM: running streams end with error and end, exit within the grace")
    def sigterm() -> str:
        headers = {"Authorization": f"Bearer {key_file['key']}"}
        slow = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/canvases",
            json={"name": "slow", "flowData": chain("mock?tokens=600&delay=0.05")},
            headers=headers,
        ).json()["id"]
        seen: dict[str, Any] = {}

        def read() -> None:
            with httpx.stream(
                "POST",
                f"http://127.0.0.1:{port}/api/v1/prediction/{slow}",
                json={"question": "q", "streaming": True},
                timeout=60,
            ) as r:
                seen["text"] = "".join(r.iter_text())

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(1.5)  # a second of tokens
        t0 = time.monotonic()
        sh("docker", "stop", "cf-check", timeout=60, check=True)
        took = time.monotonic() - t0
        reader.join(30)
        _, kinds = sse_tokens(seen.get("text", ""))
        assert kinds[-2:] == ["metadata", "end"] and "error" in kinds, kinds[-5:]
        code = sh("docker", "inspect", "-f", "{{.State.ExitCode}}", "cf-check").stdout.strip()
        assert took < 10, f"stopped in {took:.1f} s"
        return f"stopped in {took:.1f} s, exit {code}"

    @step("read-only root file system (a /data volume and a tmpfs /tmp)")
    def read_only() -> str:
        run_container(
            "cf-check-ro", port, "--read-only", "--tmpfs", "/tmp", "-v", f"{volume}:/data", IMAGE,
            env={"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": "test-key"},
        )  # fmt: skip
        poll(lambda: health("cf-check-ro") == "healthy", 120, 1)
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/prediction/{key_file['canvas']}",
            json={"question": "q"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        sh("docker", "rm", "-f", "cf-check-ro")
        return "healthy, answers"

    @step("no writable /data: one line, exit 1")
    def no_data() -> str:
        folder = tempfile.mkdtemp(prefix="cf-ro-")
        sh("docker", "rm", "-f", "cf-check-nodata")
        done = sh(
            "docker", "run", "--name", "cf-check-nodata", "--network", "host",
            "-e", "CANVASFLOW_HOST=127.0.0.1", "-e", f"CANVASFLOW_PORT={free_port()}",
            "-v", f"{folder}:/data:ro", IMAGE, timeout=120,
        )  # fmt: skip
        sh("docker", "rm", "-f", "cf-check-nodata")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1 and "not writable" in lines[0], done.stderr
        return lines[0][:100]

    @step("the cluster: 2 web + 2 workers, 100 streams, a worker killed, resumed elsewhere")
    def cluster() -> str:
        return run_cluster(mock)

    @step("docker-compose reads compose.yaml and serves it")
    def compose() -> str:
        if not sh("sh", "-c", "command -v docker-compose").stdout.strip():
            sh("apt-get", "install", "-y", "-qq", "docker-compose", timeout=600)
        sh("docker", "tag", IMAGE, "canvasflow:latest", check=True)
        up = sh(
            "docker-compose", "-f", str(ROOT / "compose.yaml"), "-p", "cfcheck", "up", "-d",
            "--no-build", timeout=300,
        )  # fmt: skip
        try:
            assert up.returncode == 0, up.stderr[-1000:]
            poll(lambda: ping(3000), 120, 1)
        finally:
            sh(
                "docker-compose",
                "-f",
                str(ROOT / "compose.yaml"),
                "-p",
                "cfcheck",
                "down",
                "-v",
                timeout=300,
            )
        return "answered on 127.0.0.1:3000"

    steps = [
        build_default, build_all, start, admin_key, embedded, on_mock, kept, sigterm,
        read_only, no_data, cluster, compose,
    ]  # fmt: skip
    try:
        for fn in steps:
            if not args.only or any(o in fn.__name__ for o in args.only):
                fn()
    finally:
        sh("docker", "rm", "-f", "cf-check", "cf-check-ro")
        mock.stop()
    failed = [name for name, ok, _ in RESULTS if not ok]
    print(f"\n{len(RESULTS) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


def run_cluster(mock: Mock) -> str:
    """Two web containers in queue mode and two workers, on the PostgreSQL and Redis of
    scripts/services.sh; 100 streams through both web containers; a worker killed
    mid-answer; every stream read to its end, those cut resumed through the other web
    container."""
    db = f"cfcheck_{os.getpid()}"
    sh("psql", "postgresql://postgres@127.0.0.1:5432/postgres", "-qc", f"create database {db}")
    env = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db}",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "CANVASFLOW_SECRET_KEY": SECRET,
        "OPENAI_BASE_URL": mock.url,
        "OPENAI_API_KEY": "test-key",
        "CANVASFLOW_NO_AUTH": "1",
    }
    ports = [free_port(), free_port()]
    names = ["cf-web-1", "cf-web-2", "cf-worker-1", "cf-worker-2"]
    try:
        for name, p in zip(names[:2], ports, strict=True):
            run_container(name, p, IMAGE, "canvasflow", "serve", "--mode", "queue", env=env)
        for name in names[2:]:
            run_container(
                name, free_port(), IMAGE, "canvasflow", "worker", "--concurrency", "60", env=env
            )
        for p in ports:
            poll(lambda p=p: ping(p), 120, 1)
        made = httpx.post(
            f"http://127.0.0.1:{ports[0]}/api/v1/canvases",
            json={"name": "c", "flowData": chain("mock?tokens=60&delay=0.05")},
        )
        canvas = made.json()["id"]
        results: dict[int, dict[str, Any]] = {}

        def stream(i: int) -> None:
            p = ports[i % 2]
            out: dict[str, Any] = {"tokens": [], "kinds": [], "id": None, "last": 0}
            try:
                with httpx.stream(
                    "POST",
                    f"http://127.0.0.1:{p}/api/v1/prediction/{canvas}",
                    json={"question": "q", "streaming": True},
                    timeout=120,
                ) as r:
                    for block in r.iter_lines():
                        if block.startswith("id:"):
                            out["last"] = int(block[3:])
                        if block.startswith("data:") and block[5:].strip().startswith("{"):
                            event = json.loads(block[5:])
                            out["kinds"].append(event["event"])
                            if event["event"] == "start":
                                out["id"] = event["data"]["chatMessageId"]
            except httpx.HTTPError as exc:
                out["error"] = str(exc)
            results[i] = out

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        sh("docker", "kill", "cf-worker-1", check=True)  # mid-answer
        for t in threads:
            t.join(180)
        resumed = 0
        complete = 0
        for i, out in results.items():
            if out["kinds"][-1:] == ["end"] and "error" not in out["kinds"]:
                complete += 1
                continue
            other = ports[(i + 1) % 2]
            # cut short: from where it stopped; ended with the worker's loss: all of it
            ended = out["kinds"][-1:] == ["end"]
            r = httpx.get(
                f"http://127.0.0.1:{other}/api/v1/prediction/{canvas}/stream/{out['id']}",
                headers={} if ended else {"Last-Event-ID": str(out["last"])},
                timeout=120,
            )
            _, kinds = sse_tokens(r.text)
            if r.status_code == 200 and kinds[-1:] == ["end"]:
                resumed += 1
        assert complete + resumed == 100, (complete, resumed)
        return f"{complete} streams whole, {resumed} resumed through the other web container"
    finally:
        for name in names:
            sh("docker", "rm", "-f", name)
        sh("psql", "postgresql://postgres@127.0.0.1:5432/postgres", "-qc",
           f"drop database if exists {db} with (force)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
