"""Queue mode on real PostgreSQL and Redis: two web processes and one worker; a client
may land on any process for any request of the same prediction."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support import (
    Proc,
    RedisServer,
    canvasflow_server,
    create_pg_database,
    drop_pg_database,
    llm_chain_flow,
    make_canvas,
    poll,
    sse_events,
)


class Cluster:
    def __init__(self, upstream: str, redis: RedisServer, root: Path) -> None:
        self.pg = create_pg_database()
        self.redis = redis
        self.upstream = upstream
        self.root = root
        self.env = {
            "DATABASE_URL": self.pg,
            "REDIS_URL": redis.url,
            "CANVASFLOW_QUEUE_TIMEOUT": "20",
            "CANVASFLOW_MAX_QUEUE": "50",
        }
        self.web_a = canvasflow_server(root / "a", upstream, self.env, args=["--mode", "queue"])
        self.web_b = canvasflow_server(root / "b", upstream, self.env, args=["--mode", "queue"])
        self.worker = self.new_worker()

    def new_worker(self) -> Proc:
        cmd = [
            sys.executable,
            "-m",
            "canvasflow.cli",
            "worker",
            "--concurrency",
            "4",
            "--job-timeout",
            "60",
            "--log-level",
            "warning",
        ]
        env = {**self.web_a.env, **self.env}
        return Proc(cmd, 0, "", env, self.root / "worker.log")

    def start_worker(self) -> None:
        self.worker = self.new_worker()
        self.worker.spawn()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = httpx.get(self.web_a.url + "/api/v1/queue").json()["workers"]
            if workers:
                return
            time.sleep(0.1)
        raise TimeoutError("the worker did not register")

    def start(self) -> Cluster:
        self.web_a.start()
        self.web_b.start()
        self.start_worker()
        return self

    def stop(self) -> None:
        for p in (self.worker, self.web_a, self.web_b):
            p.stop()
        drop_pg_database(self.pg)


@pytest.fixture(scope="module")
def cluster(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    redis = RedisServer(tmp_path_factory.mktemp("cluster-redis")).start()
    c = Cluster(upstream, redis, tmp_path_factory.mktemp("cluster")).start()
    yield c
    c.stop()
    redis.stop()


def read_tokens(lines: Iterator[str], n: int) -> tuple[list[dict], int]:
    events: list[dict] = []
    last = 0
    for line in lines:
        if line.startswith("id: "):
            last = int(line[4:])
        elif line.startswith("data: {"):
            events.append(orjson.loads(line[6:]))
            if sum(e["event"] == "token" for e in events) >= n:
                break
    return events, last


def test_json_and_stream_through_a_worker(cluster: Cluster) -> None:
    canvas = make_canvas(cluster.web_a.url, llm_chain_flow("mock?tokens=5"))
    r = httpx.post(
        f"{cluster.web_b.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"}, timeout=30
    )
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "word0 word1 word2 word3 word4"
    assert r.json()["usage"]["completion_tokens"] == 5
    r = httpx.post(
        f"{cluster.web_a.url}/api/v1/prediction/{canvas['id']}",
        json={"question": "q", "streaming": True},
        timeout=30,
    )
    events = sse_events(r.content)
    assert [e["event"] for e in events] == ["start"] + ["token"] * 5 + ["metadata", "end"]
    stats = httpx.get(cluster.web_b.url + "/api/v1/queue").json()
    assert stats["mode"] == "queue" and len(stats["workers"]) == 1

    # the worker records the runs it runs: their trigger, status, the trace of its nodes
    def recorded() -> list[dict[str, Any]] | None:
        page = httpx.get(
            f"{cluster.web_a.url}/api/v1/executions", params={"canvasId": canvas["id"]}
        ).json()["data"]
        return page if len(page) == 2 and all(e["status"] == "completed" for e in page) else None

    runs = poll(recorded, timeout=20)
    assert {e["trigger"] for e in runs} == {"prediction"}
    one = httpx.get(f"{cluster.web_b.url}/api/v1/executions/{runs[0]['id']}").json()
    assert one["answer"] == "word0 word1 word2 word3 word4" and len(one["trace"]) == 3


def test_resume_through_the_other_web_process(cluster: Cluster) -> None:
    canvas = make_canvas(cluster.web_a.url, llm_chain_flow("mock?tokens=40&delay=0.02"))
    with (
        httpx.Client(base_url=cluster.web_a.url, timeout=30) as a,
        a.stream(
            "POST",
            f"/api/v1/prediction/{canvas['id']}",
            json={
                "question": "q",
                "streaming": True,
                "overrideConfig": {"continueOnDisconnect": True},
            },
        ) as r,
    ):
        first, last = read_tokens(r.iter_lines(), 5)
    message_id = first[0]["data"]["chatMessageId"]
    with httpx.Client(base_url=cluster.web_b.url, timeout=30) as b:
        rest_raw = b.get(
            f"/api/v1/prediction/{canvas['id']}/stream/{message_id}",
            headers={"Last-Event-ID": str(last)},
        ).content
    ids = [int(x[4:]) for x in rest_raw.decode().split("\n") if x.startswith("id: ")]
    assert ids == list(range(last + 1, last + 1 + len(ids)))
    rest = sse_events(rest_raw)
    tokens = [e["data"] for e in first + rest if e["event"] == "token"]
    assert "".join(tokens) == " ".join(f"word{i}" for i in range(40))
    assert rest[-1]["event"] == "end"


def test_abort_through_the_other_web_process(cluster: Cluster, upstream: str) -> None:
    canvas = make_canvas(cluster.web_a.url, llm_chain_flow("mock?tokens=500&delay=0.02"))
    chat = "cluster-abort"
    with (
        httpx.Client(base_url=cluster.web_a.url, timeout=30) as a,
        a.stream(
            "POST",
            f"/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True, "chatId": chat},
        ) as r,
    ):
        lines = r.iter_lines()
        read_tokens(lines, 3)
        t0 = time.monotonic()
        resp = httpx.put(f"{cluster.web_b.url}/api/v1/chatmessage/abort/{canvas['id']}/{chat}")
        assert resp.status_code == 200, resp.text
        rest = [orjson.loads(x[6:]) for x in lines if x.startswith("data: {")]
        elapsed = time.monotonic() - t0
    assert elapsed < 0.5, elapsed
    assert rest[-2]["event"] == "metadata" and rest[-2]["data"]["status"] == "aborted"
    history = f"{cluster.web_b.url}/api/v1/chatmessage/{canvas['id']}"
    poll(lambda: httpx.get(history, params={"chatId": chat}).json()[-1]["status"] == "aborted")


def test_worker_killed_mid_generation(cluster: Cluster) -> None:
    canvas = make_canvas(cluster.web_a.url, llm_chain_flow("mock?tokens=1000&delay=0.02"))
    chat = "cluster-kill"
    with (
        httpx.Client(base_url=cluster.web_a.url, timeout=60) as a,
        a.stream(
            "POST",
            f"/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True, "chatId": chat},
        ) as r,
    ):
        lines = r.iter_lines()
        read_tokens(lines, 3)
        cluster.worker.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        t0 = time.monotonic()
        rest = [orjson.loads(x[6:]) for x in lines if x.startswith("data: {")]
        elapsed = time.monotonic() - t0
    assert elapsed < 15, elapsed  # noticed by the heartbeat, not a hang
    kinds = [e["event"] for e in rest]
    assert kinds[-3:] == ["error", "metadata", "end"]
    assert rest[-3]["data"]["code"] == "worker_lost"
    stored = httpx.get(
        f"{cluster.web_b.url}/api/v1/chatmessage/{canvas['id']}", params={"chatId": chat}
    ).json()
    assert stored[-1]["status"] == "error" and stored[-1]["content"].startswith("word0 word1")
    cluster.start_worker()  # the rest of the module needs one


def test_redis_restart_mid_stream(cluster: Cluster) -> None:
    canvas = make_canvas(cluster.web_a.url, llm_chain_flow("mock?tokens=150&delay=0.02"))
    with (
        httpx.Client(base_url=cluster.web_a.url, timeout=60) as a,
        a.stream(
            "POST",
            f"/api/v1/prediction/{canvas['id']}",
            json={"question": "q", "streaming": True},
        ) as r,
    ):
        lines = r.iter_lines()
        read_tokens(lines, 3)
        cluster.redis.stop()
        time.sleep(0.5)
        cluster.redis.start()
        t0 = time.monotonic()
        rest = [orjson.loads(x[6:]) for x in lines if x.startswith("data: {")]
        elapsed = time.monotonic() - t0
    assert elapsed < 45, elapsed
    kinds = [e["event"] for e in rest]
    assert kinds[-1] == "end"  # the stream finished: survived, or reported and closed
    if "error" in kinds:
        assert rest[kinds.index("error")]["data"]["code"] in (
            "events_lost",
            "bus_unavailable",
            "worker_lost",
            "upstream_error",
        )
    # the cluster serves again afterwards
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(cluster.web_a.url + "/api/v1/queue").json()["workers"]:
            break
        time.sleep(0.2)
    r2 = httpx.post(
        f"{cluster.web_b.url}/api/v1/prediction/{canvas['id']}",
        json={"question": "echo: back again"},
        timeout=60,
    )
    assert r2.status_code == 200 and r2.json()["text"] == "back again"


def test_full_queue_answers_503(cluster: Cluster) -> None:
    canvas = make_canvas(cluster.web_a.url, llm_chain_flow("mock?tokens=1"))
    cluster.worker.stop()  # nobody takes jobs now (stop waits for the process to end)
    statuses = []
    with httpx.Client(base_url=cluster.web_a.url, timeout=5) as a:
        for i in range(60):
            try:
                r = a.post(
                    f"/api/v1/prediction/{canvas['id']}",
                    json={"question": "q", "streaming": True, "chatId": f"full-{i}"},
                    timeout=httpx.Timeout(5, read=0.2),
                )
                statuses.append(r.status_code)
            except httpx.ReadTimeout:
                statuses.append(200)  # accepted, waiting in the queue (a stream that pings)
            if statuses[-1] == 503:
                break
    assert statuses[-1] == 503
    r = httpx.post(f"{cluster.web_a.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    assert r.status_code == 503 and "Retry-After" in r.headers
    assert httpx.get(cluster.web_a.url + "/api/v1/queue").json()["depth"] >= 50


def test_mcp_calls_run_on_workers_and_cancel_from_any_process(cluster: Cluster) -> None:
    """A canvas's MCP server is stateless: a call answered by one web process, through a
    worker, is cancelled by a notification that lands on the other."""
    a, b = cluster.web_a, cluster.web_b
    if cluster.worker.proc is None or cluster.worker.proc.poll() is not None:
        cluster.worker = cluster.new_worker()  # an earlier test stopped it
        cluster.worker.spawn()
    canvas = make_canvas(a.url, llm_chain_flow("mock?tokens=400&delay=0.02"))
    token = httpx.post(f"{a.url}/api/v1/mcp-server/{canvas['id']}", json={}).json()["token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    quick = make_canvas(a.url, llm_chain_flow("mock?tokens=3"))
    quick_token = httpx.post(f"{a.url}/api/v1/mcp-server/{quick['id']}", json={}).json()["token"]
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "test_canvas", "arguments": {"question": "q"}},
    }

    def answered() -> bool:  # once the queue an earlier test filled has drained
        answer = httpx.post(
            f"{b.url}/api/v1/mcp/{quick['id']}",
            json=call,
            headers={**headers, "Authorization": f"Bearer {quick_token}"},
            timeout=60,
        )
        return "word0 word1 word2" in answer.text

    poll(answered, timeout=90, interval=0.5)
    call["id"] = 9
    call["params"] = {
        "name": "test_canvas",
        "arguments": {"question": "q", "sessionId": "mcp-cluster"},
        "_meta": {"progressToken": 1},
    }
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    with httpx.stream(
        "POST", f"{b.url}/api/v1/mcp/{canvas['id']}", json=call, headers=headers, timeout=60
    ) as r:
        lines = r.iter_lines()
        while "notifications/progress" not in next(lines):
            pass
        sent = httpx.post(f"{a.url}/api/v1/mcp/{canvas['id']}", json=cancel, headers=headers)
        assert sent.status_code == 202

        def aborted() -> bool:
            rows = httpx.get(
                f"{a.url}/api/v1/chatmessage/{canvas['id']}", params={"sessionId": "mcp-cluster"}
            ).json()
            return bool(rows) and rows[-1]["status"] == "aborted"

        poll(aborted, timeout=15)
        rest = "\n".join(lines)
    assert rest.count("notifications/progress") < 399


def test_an_evaluation_runs_its_versions_on_the_workers(cluster: Cluster) -> None:
    """Issue 36 in queue mode: each row is a job a worker runs, with the version asked."""
    url = cluster.web_a.url
    canvas = make_canvas(url, llm_chain_flow(template="echo: one {question}"), name="evaluated")
    flow = orjson.dumps(llm_chain_flow(template="echo: two {question}")).decode()
    httpx.put(f"{url}/api/v1/canvases/{canvas['id']}", json={"flowData": flow}).raise_for_status()
    rows = [{"input": f"q{i}", "output": f"one q{i}"} for i in range(3)]
    d = httpx.post(f"{url}/api/v1/datasets/set", json={"name": "cluster", "rows": rows}).json()
    r = httpx.post(
        f"{url}/api/v1/evaluations",
        json={"canvasId": canvas["id"], "datasetId": d["id"], "versions": [1, 2]},
    )
    assert r.status_code == 202, r.text

    def finished() -> dict[str, Any] | None:
        e = httpx.get(f"{cluster.web_b.url}/api/v1/evaluations/{r.json()['id']}").json()
        return e if e["status"] not in ("pending", "running") else None

    e = poll(finished, timeout=60, interval=0.2)
    assert e["status"] == "completed", e
    answers = {(row["version"], row["answer"]) for row in e["rows"]}
    assert answers == {(v, f"{w} q{i}") for v, w in ((1, "one"), (2, "two")) for i in range(3)}
    assert {v["version"]: v["passRate"] for v in e["summary"]["byVersion"]} == {1: 1.0, 2: 0.0}

    # the workers recorded each row's run, with its trigger and version
    def recorded() -> list[dict[str, Any]] | None:
        page = httpx.get(
            f"{url}/api/v1/executions", params={"canvasId": canvas["id"], "limit": 20}
        ).json()["data"]
        return page if len(page) == 6 else None

    runs = poll(recorded, timeout=20)
    assert {(x["trigger"], x["version"]) for x in runs} == {
        ("evaluation", "1"),
        ("evaluation", "2"),
    }


def test_a_document_store_is_processed_by_the_worker(cluster: Cluster) -> None:
    """In queue mode a loader's processing is a worker's job: its files are read from the
    database (saved through one web process), its progress from any web process."""
    import base64

    base = "/api/v1/document-store"
    a, b = cluster.web_a.url, cluster.web_b.url
    sid = httpx.post(f"{a}{base}/store", json={"name": "queued"}).json()["id"]
    files = [
        "data:text/plain;base64,"
        + base64.b64encode(f"Note {i}: the worker read this file.".encode()).decode()
        + f",filename:note{i}.txt"
        for i in range(5)
    ]
    loader = httpx.post(
        f"{a}{base}/loader/save",
        json={"storeId": sid, "loaderId": "fileLoader", "loaderConfig": {"file": files}},
    ).json()
    r = httpx.post(f"{b}{base}/loader/process/{loader['id']}", json={"storeId": sid})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = httpx.get(f"{a}{base}/job/{sid}/{loader['id']}").json()
        if job["state"] != "running":
            break
        time.sleep(0.1)
    assert job["state"] == "done" and job["embedded"] == 5, job
    assert job["process"].endswith(f":{cluster.worker.proc.pid}")  # type: ignore[union-attr]
    found = httpx.post(
        f"{b}{base}/vectorstore/query", json={"storeId": sid, "query": "note 3", "topK": 5}
    ).json()["docs"]
    assert len(found) == 5
    # with wait, the answer comes once the worker is done
    r = httpx.post(
        f"{a}{base}/loader/process/{loader['id']}", json={"storeId": sid, "wait": True}, timeout=60
    )
    assert r.status_code == 200 and r.json()["job"]["skipped"] == 5, r.text
    assert httpx.delete(f"{a}{base}/store/{sid}").status_code == 204
