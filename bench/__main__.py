"""Run the benchmark scenarios against canvasflow and its ceiling, print a table and
write the figures to bench/results/.

    python -m bench            # the full run (several minutes)
    python -m bench --smoke    # tiny sizes, to check that it works
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.load import UPSTREAM_TOKEN, json_worker, percentile, stream_once

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


def cpu_seconds(pid: int) -> float:
    """The CPU seconds of a process (every thread, ended ones too) to the nanosecond, from
    its CPU-time clock (Linux's clock id for a process: ``~pid << 3 | CPUCLOCK_SCHED``):
    /proc's figure counts clock ticks (10 ms), too coarse for a burst of ten streams."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)
    except OSError:  # no such clock here: /proc's ticks (a process that ended: raises)
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK


def children_cpu_seconds(pid: int) -> float:
    """The CPU seconds of the processes ``pid`` started (and still has)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += cpu_seconds(int(child))
            except OSError:  # it has just ended
                pass
    return total


def tree_cpu_seconds(pid: int) -> float:
    """The CPU seconds of a process and of the processes it started (a server's workers)."""
    return cpu_seconds(pid) + children_cpu_seconds(pid)


WORKERS = max(os.cpu_count() or 1, 1)
# quiet before each burst of scenario e: longer than the upstream pools keep an idle
# connection (4 s, canvasflow's and the ceiling's) and than canvasflow's quiet spell
# (2 s, then a collection), so every burst meets a quiet server with no connection left
# from its last one, and no target's aftermath lands in the next one's burst
BURST_REST_SECONDS = 5.0


def redis_answers(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or HOST, parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def tree_rss_mb(pid: int) -> float:
    """A server's RSS with its worker processes'."""
    total = rss_mb(pid)
    for child in children(pid):
        try:
            total += rss_mb(child)
        except OSError:
            pass
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def chain_flow(model_name: str) -> dict[str, Any]:
    """The benchmarks' canvas: a chat model, a prompt template, an LLM chain."""
    return {
        "nodes": [
            {
                "id": "m",
                "data": {"name": "chatOpenAICustom", "inputs": {"modelName": model_name}},
            },
            {"id": "p", "data": {"name": "promptTemplate", "inputs": {"template": "{question}"}}},
            {
                "id": "c",
                "data": {
                    "name": "llmChain",
                    "inputs": {"model": "{{m.data.instance}}", "prompt": "{{p.data.instance}}"},
                },
            },
        ],
        "edges": [],
    }


def not_completed(results: list[Any]) -> dict[str, Any]:
    """Why streams did not complete: a count per reason (an exception, an HTTP status, a
    200 with no token) and the first bytes of one such answer."""
    reasons: dict[str, Any] = {}
    for r in results:
        reason = r.error or (f"HTTP {r.status}" if r.status != 200 else "200 without a token")
        entry = reasons.setdefault(reason, {"count": 0, "sample": r.start.decode(errors="replace")})
        entry["count"] += 1
    return reasons


@dataclass
class Target:
    name: str
    port: int
    pid: int
    path_for: Any  # (tokens, delay) -> (path, body)


class Bench:
    def __init__(self, smoke: bool, redis_url: str | None = None) -> None:
        self.smoke = smoke
        self.redis_url = redis_url
        self.cfw: Target | None = None
        self.procs: list[subprocess.Popen] = []  # type: ignore[type-arg]
        self.tmp = Path(tempfile.mkdtemp(prefix="canvasflow-bench-"))
        self.canvases: dict[tuple[int, int, float], str] = {}

    def spawn(
        self, args: list[str], port: int, env: dict[str, str] | None = None
    ) -> subprocess.Popen:  # type: ignore[type-arg]
        log = open(self.tmp / f"{port}.log", "wb")
        proc = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        wait_port(port, proc)
        return proc

    def start(self) -> None:
        self.mock_port = free_port()
        self.mock = self.spawn(
            [sys.executable, "-m", "bench.mock", "--port", str(self.mock_port)], self.mock_port
        )
        upstream = f"http://{HOST}:{self.mock_port}/v1"
        port = free_port()
        ceiling = self.spawn(
            [
                sys.executable,
                "-m",
                "bench.ceiling",
                "--port",
                str(port),
                "--upstream",
                upstream,
                "--client",
                "aiohttp",  # canvasflow's upstream client: the leanest relay on it
            ],
            port,
        )
        self.ceiling = Target("ceiling", port, ceiling.pid, self._ceiling_request)
        port = free_port()
        cf = self.spawn(
            [
                sys.executable,
                "-m",
                "canvasflow.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(self.tmp / "data"),
                "--log-level",
                "warning",
                "--no-auth",
            ],
            port,
            {
                "OPENAI_BASE_URL": upstream,
                "OPENAI_API_KEY": "bench",
                "CANVASFLOW_UPSTREAM_RETRIES": "0",
                "CANVASFLOW_WARM_UP": "0",  # scenario d loads the model itself
            },
        )
        time.sleep(0.5)
        self.cf = Target("canvasflow", port, cf.pid, self._request_to(port))
        # (not in a smoke run: tests/test_workers.py covers several processes)
        if self.redis_url and not self.smoke and redis_answers(self.redis_url):
            # the same server with a process per core, sharing its event log through Redis
            port = free_port()
            cfw = self.spawn(
                [
                    sys.executable,
                    "-m",
                    "canvasflow.cli",
                    "serve",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(self.tmp / "data-workers"),
                    "--log-level",
                    "warning",
                    "--no-auth",
                    "--workers",
                    str(WORKERS),
                ],
                port,
                {
                    "OPENAI_BASE_URL": upstream,
                    "OPENAI_API_KEY": "bench",
                    "CANVASFLOW_UPSTREAM_RETRIES": "0",
                    "CANVASFLOW_WARM_UP": "0",
                    "REDIS_URL": self.redis_url,
                },
            )
            deadline = time.monotonic() + 60
            while len(children(cfw.pid)) < WORKERS and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)
            self.cfw = Target(f"canvasflow_x{WORKERS}", port, cfw.pid, self._request_to(port))

    @property
    def servers(self) -> list[Target]:
        """The targets every scenario measures: the ceiling and canvasflow (and
        canvasflow with a process per core, when Redis is there)."""
        return [self.ceiling, self.cf, *([self.cfw] if self.cfw else [])]

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _ceiling_request(self, tokens: int, delay: float, streaming: bool) -> tuple[str, dict]:
        return "/relay", {
            "question": "q",
            "streaming": streaming,
            "model": f"bench?tokens={tokens}&delay={delay}",
        }

    def _request_to(self, port: int) -> Any:
        def path_for(tokens: int, delay: float, streaming: bool) -> tuple[str, dict]:
            return self._canvasflow_request(port, tokens, delay, streaming)

        return path_for

    def _canvasflow_request(
        self, port: int, tokens: int, delay: float, streaming: bool
    ) -> tuple[str, dict]:
        key = (port, tokens, delay)
        if key not in self.canvases:
            flow = chain_flow(f"bench?tokens={tokens}&delay={delay}")
            r = httpx.post(
                f"http://{HOST}:{port}/api/v1/canvases",
                json={"name": f"bench {tokens} {delay}", "flowData": flow},
            )
            r.raise_for_status()
            self.canvases[key] = r.json()["id"]
        return f"/api/v1/prediction/{self.canvases[key]}", {"question": "q", "streaming": streaming}

    # -- scenarios ----------------------------------------------------------------------

    async def scenario_a(self) -> dict[str, Any]:
        runs = 5 if self.smoke else 50
        out: dict[str, Any] = {"runs": runs, "tokens": 50}
        mock_ttft = []
        body = {
            "model": "bench?tokens=50&delay=0",
            "stream": True,
            "messages": [{"role": "user", "content": "q"}],
        }
        for _ in range(runs + 3):
            r = await stream_once(
                HOST, self.mock_port, "/v1/chat/completions", body, pattern=UPSTREAM_TOKEN
            )
            mock_ttft.append(r.ttft or 0.0)
        mock_ttft = mock_ttft[3:]
        out["mock_ttft_ms_p50"] = statistics.median(mock_ttft) * 1000
        for target in (self.ceiling, self.cf):
            path, body = target.path_for(50, 0.0, True)
            ttft, total, tokens = [], [], []
            for i in range(runs + 3):
                r = await stream_once(HOST, target.port, path, body)
                if i >= 3 and r.ok:
                    ttft.append(r.ttft or 0.0)
                    total.append(r.total or 0.0)
                    tokens.append(r.tokens)
            out[target.name] = {
                "ttft_ms_p50": statistics.median(ttft) * 1000,
                "ttft_ms_p99": percentile(ttft, 0.99) * 1000,  # type: ignore[operator]
                "total_ms_p50": statistics.median(total) * 1000,
                "total_ms_p99": percentile(total, 0.99) * 1000,  # type: ignore[operator]
                "added_ttft_ms_p50": (statistics.median(ttft) - statistics.median(mock_ttft))
                * 1000,
                "tokens_per_stream": min(tokens) if tokens else 0,
            }
        return out

    async def scenario_b(self) -> dict[str, Any]:
        seconds = 1.0 if self.smoke else 20.0
        levels = [2] if self.smoke else [10, 100]
        out: dict[str, Any] = {"seconds": seconds}
        for conc in levels:
            row: dict[str, Any] = {}
            for target in self.servers:
                path, body = target.path_for(50, 0.0, False)
                latencies: list[float] = []
                errors: list[str] = []
                deadline = time.perf_counter() + seconds
                await asyncio.gather(
                    *(
                        json_worker(HOST, target.port, path, body, deadline, latencies, errors)
                        for _ in range(conc)
                    )
                )
                row[target.name] = {
                    "rps": len(latencies) / seconds,
                    "p50_ms": (percentile(latencies, 0.5) or 0) * 1000,
                    "p99_ms": (percentile(latencies, 0.99) or 0) * 1000,
                    "errors": len(errors),
                }
            out[f"concurrency_{conc}"] = row
        return out

    async def scenario_c(self) -> dict[str, Any]:
        tokens, delay = (10, 0.01) if self.smoke else (100, 0.02)
        levels = [10] if self.smoke else [100, 1000, 5000]
        out: dict[str, Any] = {"tokens": tokens, "delay_ms": delay * 1000}
        for n in levels:
            row: dict[str, Any] = {}
            for target in (self.ceiling, self.cf):
                path, body = target.path_for(tokens, delay, True)
                await stream_once(HOST, target.port, path, body)  # warm
                cpu0 = cpu_seconds(target.pid)
                peak = rss_mb(target.pid)

                async def all_streams(
                    path: str = path, body: dict = body, port: int = target.port, n: int = n
                ) -> list[Any]:
                    return await asyncio.gather(
                        *(stream_once(HOST, port, path, body, limit_seconds=120) for _ in range(n))
                    )

                task = asyncio.create_task(all_streams())
                while not task.done():
                    peak = max(peak, rss_mb(target.pid))
                    await asyncio.sleep(0.2)
                results = task.result()
                cpu = cpu_seconds(target.pid) - cpu0
                done = [r for r in results if r.ok and r.tokens == tokens]
                gaps = [g for r in results for g in r.gaps]
                relayed = sum(r.tokens for r in results)
                row[target.name] = {
                    "completed_share": len(done) / n,
                    "gap_ms_p50": (percentile(gaps, 0.5) or 0) * 1000,
                    "gap_ms_p99": (percentile(gaps, 0.99) or 0) * 1000,
                    "rss_mb_peak": peak,
                    "cpu_s_per_1000_tokens": cpu / max(1, relayed) * 1000,
                    "errors": sorted({r.error for r in results if r.error}),
                }
            out[f"streams_{n}"] = row
        return out

    async def scenario_e(self) -> dict[str, Any]:
        """Bursts: N streams started at once; the time to each one's first token and to
        its end, for the mock model itself, the ceiling relay and canvasflow. The bursts
        of 50 and 500 run in five turns (each target one burst a turn, the order turning):
        each figure is the median of its turns, each ratio to the ceiling the median of
        the turns' own ratios (one burst a level left runs of the same code 1.2x to 2.1x
        of the ceiling). Each burst starts after ``BURST_REST_SECONDS`` of quiet."""
        tokens, delay = (10, 0.01) if self.smoke else (50, 0.02)
        levels = [(10, 1)] if self.smoke else [(50, 5), (500, 5), (2000, 1)]
        out: dict[str, Any] = {"tokens": tokens, "delay_ms": delay * 1000}
        mock_body = {
            "model": f"bench?tokens={tokens}&delay={delay}",
            "stream": True,
            "messages": [{"role": "user", "content": "q"}],
        }
        targets: list[tuple[str, int, str, dict[str, Any], bytes, int | None]] = [
            ("mock", self.mock_port, "/v1/chat/completions", mock_body, UPSTREAM_TOKEN, None)
        ]
        for target in self.servers:
            path, body = target.path_for(tokens, delay, True)
            targets.append((target.name, target.port, path, body, b'"token"', target.pid))
        rest = 0.1 if self.smoke else BURST_REST_SECONDS
        for n, turns in levels:
            bursts: dict[str, list[dict[str, Any]]] = {t[0]: [] for t in targets}
            for turn in range(turns):
                for name, port, path, body, pattern, pid in targets[turn:] + targets[:turn]:
                    await asyncio.sleep(rest)
                    await stream_once(HOST, port, path, body, pattern=pattern)  # warm
                    bursts[name].append(await self._burst(n, port, path, body, pattern, pid))
            row: dict[str, Any] = {}
            for name, got in bursts.items():
                row[name] = {
                    key: statistics.median(b[key] for b in got)
                    for key in got[0]
                    if isinstance(got[0][key], int | float)
                }
                # every stream of every turn, not the median turn's
                row[name]["completed_share"] = min(b["completed_share"] for b in got)
                row[name]["turns"] = got
                row[name]["errors"] = sorted({e for b in got for e in b["errors"]})
            for name in row:  # against the leanest relay, in the same turn
                if name in ("mock", "ceiling"):
                    continue
                pairs = list(zip(bursts[name], bursts["ceiling"], strict=True))
                row[name]["ttft_p50_over_ceiling"] = statistics.median(
                    a["ttft_ms_p50"] / (c["ttft_ms_p50"] or 1) for a, c in pairs
                )
                row[name]["gap_p99_over_ceiling"] = statistics.median(
                    a["gap_ms_p99"] / (c["gap_ms_p99"] or 1) for a, c in pairs
                )
            out[f"burst_{n}"] = row
        return out

    async def _burst(
        self, n: int, port: int, path: str, body: dict[str, Any], pattern: bytes, pid: int | None
    ) -> dict[str, Any]:
        """``n`` streams started at once: their first-token times, token gaps (as the
        clients saw them) and ends."""
        rss0 = tree_rss_mb(pid) if pid else None
        cpu0 = tree_cpu_seconds(pid) if pid else None
        results = await asyncio.gather(
            *(
                stream_once(HOST, port, path, body, limit_seconds=180, pattern=pattern)
                for _ in range(n)
            )
        )
        ok = [r for r in results if r.ok and r.ttft is not None]
        ttft = [r.ttft for r in ok if r.ttft is not None]
        total = [r.total for r in ok if r.total is not None]
        gaps = [g for r in ok for g in r.gaps]
        return {
            "completed_share": len(ok) / n,
            "ttft_ms_p50": (percentile(ttft, 0.5) or 0) * 1000,
            "ttft_ms_p99": (percentile(ttft, 0.99) or 0) * 1000,
            "gap_ms_p50": (percentile(gaps, 0.5) or 0) * 1000,
            "gap_ms_p99": (percentile(gaps, 0.99) or 0) * 1000,
            "total_ms_p50": (percentile(total, 0.5) or 0) * 1000,
            "rss_mb_after": tree_rss_mb(pid) if pid else None,
            "rss_mb_before": rss0,
            # the server's CPU (every process of it) over the burst, per stream
            "cpu_ms_per_stream": (
                (tree_cpu_seconds(pid) - cpu0) * 1000 / n if pid and cpu0 is not None else None
            ),
            "errors": sorted({r.error for r in results if r.error}),
            "not_completed": not_completed(
                [r for r in results if not (r.ok and r.ttft is not None)]
            ),
        }

    async def scenario_g(self) -> dict[str, Any]:
        """Memory after bursts: canvasflow's RSS before a burst of 5,000 streams, and 10 s
        and 30 s after each of three (its idle trims end some 23 s after the last
        prediction), as a ratio to the level before the first."""
        n, tokens, delay, settle = (20, 10, 0.01, 0.1) if self.smoke else (5000, 20, 0.02, 10.0)
        bursts = 1 if self.smoke else 3
        later = 2 * settle  # the second reading, 30 s after the burst
        out: dict[str, Any] = {"streams": n, "tokens": tokens}
        for target in self.servers[1:]:  # canvasflow, and with a process per core
            path, body = target.path_for(tokens, delay, True)
            await stream_once(HOST, target.port, path, body)  # warm
            await asyncio.sleep(settle)
            before = tree_rss_mb(target.pid)
            runs = []
            for _ in range(bursts):
                results = await asyncio.gather(
                    *(
                        stream_once(HOST, target.port, path, body, limit_seconds=180, gaps=False)
                        for _ in range(n)
                    )
                )
                peak = tree_rss_mb(target.pid)
                await asyncio.sleep(settle)
                after = tree_rss_mb(target.pid)
                await asyncio.sleep(later)
                quiet = tree_rss_mb(target.pid)
                runs.append(
                    {
                        "completed_share": sum(r.ok for r in results) / n,
                        "rss_mb_at_end": peak,
                        "rss_mb_after": after,
                        "ratio_to_before": after / before if before else None,
                        "rss_mb_after_30s": quiet,
                        "ratio_to_before_30s": quiet / before if before else None,
                    }
                )
            out[target.name] = {"rss_mb_before": before, "runs": runs}
        return out

    async def scenario_h(self) -> dict[str, Any]:
        """A canvas as an MCP server: ``tools/call`` (JSON answer) against the same JSON
        prediction through the prediction API, one at a time, alternating, on the mock
        (50 tokens); then N calls at once over SSE with progress, all expected to end."""
        runs, at_once = (10, 10) if self.smoke else (300, 200)
        port = self.cf.port
        path, body = self._canvasflow_request(port, 50, 0.0, False)
        canvas_id = path.rsplit("/", 1)[1]
        base = f"http://{HOST}:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            cfg = (await client.post(f"/api/v1/mcp-server/{canvas_id}", json={})).json()
            mcp = f"/api/v1/mcp/{canvas_id}"
            auth = {"Authorization": f"Bearer {cfg['token']}"}

            def call(i: int, progress: bool = False) -> dict[str, Any]:
                params: dict[str, Any] = {"name": cfg["toolName"], "arguments": {"question": "q"}}
                if progress:
                    params["_meta"] = {"progressToken": i}
                return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}

            json_only = {**auth, "Accept": "application/json"}
            predict_ms, mcp_ms = [], []
            for i in range(runs + 5):
                t0 = time.perf_counter()
                r = await client.post(path, json=body)
                t1 = time.perf_counter()
                m = await client.post(mcp, json=call(i), headers=json_only)
                t2 = time.perf_counter()
                assert r.status_code == 200 and m.status_code == 200, (r.text, m.text)
                if i >= 5:
                    predict_ms.append((t1 - t0) * 1000)
                    mcp_ms.append((t2 - t1) * 1000)
            sse = {**auth, "Accept": "application/json, text/event-stream"}

            async def one(i: int) -> bool:
                r = await client.post(mcp, json=call(i, progress=True), headers=sse)
                last = [x for x in r.text.splitlines() if x.startswith("data:")][-1]
                result = orjson.loads(last[5:]).get("result") or {}
                return r.status_code == 200 and result.get("isError") is False

            t0 = time.perf_counter()
            done = await asyncio.gather(*(one(i) for i in range(at_once)), return_exceptions=True)
            burst_s = time.perf_counter() - t0
            # a client's cancellation: from the notification to the call's result (the
            # prediction aborted, its partial answer the result), 400 slow tokens
            slow_path, _ = self._canvasflow_request(port, 400, 0.02, False)
            slow_id = slow_path.rsplit("/", 1)[1]
            slow_cfg = (await client.post(f"/api/v1/mcp-server/{slow_id}", json={})).json()
            slow_mcp = f"/api/v1/mcp/{slow_id}"
            slow_sse = {**sse, "Authorization": f"Bearer {slow_cfg['token']}"}
            cancel_ms = []
            for i in range(3 if self.smoke else 10):
                request = call(1000 + i, progress=True)
                request["params"]["name"] = slow_cfg["toolName"]
                async with client.stream("POST", slow_mcp, json=request, headers=slow_sse) as r:
                    lines = r.aiter_lines()
                    async for line in lines:
                        if "notifications/progress" in line:
                            break
                    note = {
                        "jsonrpc": "2.0",
                        "method": "notifications/cancelled",
                        "params": {"requestId": 1000 + i},
                    }
                    t0 = time.perf_counter()
                    await client.post(slow_mcp, json=note, headers=slow_sse)
                    async for line in lines:
                        if '"result"' in line:
                            break
                    cancel_ms.append((time.perf_counter() - t0) * 1000)
        return {
            "runs": runs,
            "prediction_ms_p50": statistics.median(predict_ms),
            "mcp_ms_p50": statistics.median(mcp_ms),
            "added_ms_p50": statistics.median(mcp_ms) - statistics.median(predict_ms),
            "at_once": at_once,
            "at_once_completed_share": sum(d is True for d in done) / at_once,
            "at_once_seconds": burst_s,
            "cancel_to_result_ms_p50": statistics.median(cancel_ms),
            "cancel_to_result_ms_max": max(cancel_ms),
        }

    async def _side_by_side(
        self, other: Target, seconds: float, rounds: int, streams: int
    ) -> dict[str, Any]:
        """JSON predictions/s (concurrency 10, ``seconds``) and streamed TTFT (``streams``
        one after another) of canvasflow's server and ``other``, in turns for ``rounds``:
        the medians of each."""
        sides: dict[str, dict[str, list[float]]] = {
            t.name: {"rps": [], "ttft": [], "cpu": [], "runs": []} for t in (self.cf, other)
        }
        for turn in range(rounds):
            for target in (self.cf, other) if turn % 2 == 0 else (other, self.cf):  # in turns
                path, body = target.path_for(50, 0.0, False)
                latencies: list[float] = []
                errors: list[str] = []
                deadline = time.perf_counter() + seconds
                used = cpu_seconds(target.pid)
                await asyncio.gather(
                    *(
                        json_worker(HOST, target.port, path, body, deadline, latencies, errors)
                        for _ in range(10)
                    )
                )
                used = cpu_seconds(target.pid) - used
                sides[target.name]["rps"].append(len(latencies) / seconds)
                sides[target.name]["cpu"].append(used * 1000 / max(1, len(latencies)))
                sides[target.name]["runs"].append(len(latencies) + streams)
                path, body = target.path_for(50, 0.0, True)
                for _ in range(streams):
                    r = await stream_once(HOST, target.port, path, body)
                    if r.ok:
                        sides[target.name]["ttft"].append(r.ttft or 0.0)
        # each turn's two rounds ran side by side: their ratio leaves out the machine's
        # drift between turns, which the ratio of the medians keeps
        paired = [
            a / b
            for a, b in zip(sides[other.name]["rps"], sides[self.cf.name]["rps"], strict=True)
            if b
        ]
        quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
        return {
            "paired_rps_ratio": {
                "median": statistics.median(paired),
                "q1": quartiles[0],
                "q3": quartiles[-1],
                "turns": len(paired),
            },
            **{
                name: {
                    "rps": statistics.median(got["rps"]),
                    "ttft_ms_p50": statistics.median(got["ttft"]) * 1000,
                    # the server's CPU (all its threads) per JSON prediction: steadier than
                    # its rate on a machine the load generator shares
                    "cpu_ms_per_prediction": statistics.median(got["cpu"]),
                    "predictions": sum(got["runs"]),
                }
                for name, got in sides.items()
            },
        }

    async def scenario_k(self) -> dict[str, Any]:
        """Traces (issue 38): JSON predictions/s (concurrency 10) and streamed TTFT of a
        server exporting every prediction's LLM spans over OTLP to a local collector
        (``bench/otlp_sink.py``, a process of its own that answers 200) against the same
        server tracing nothing, in turns: the cost is the median of each turn's ratio of
        the two (forty turns of 1.5 s each; the ratio of the medians of ten rounds of 6 s
        left runs of the same code 2.5 to 11 points apart, the machine's drift between
        rounds included)."""
        seconds, rounds, streams = (0.5, 1, 3) if self.smoke else (1.5, 40, 5)
        sink_port = free_port()
        self.spawn([sys.executable, "-m", "bench.otlp_sink", "--port", str(sink_port)], sink_port)
        port = free_port()
        traced_pid = self.spawn(
            [
                sys.executable, "-m", "canvasflow.cli", "serve", "--port", str(port),
                "--data-dir", str(self.tmp / "data-traced"), "--log-level", "warning",
                "--no-auth",
            ],
            port,
            {
                "OPENAI_BASE_URL": f"http://{HOST}:{self.mock_port}/v1",
                "OPENAI_API_KEY": "bench",
                "CANVASFLOW_UPSTREAM_RETRIES": "0",
                "CANVASFLOW_WARM_UP": "0",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://{HOST}:{sink_port}/v1/traces",
            },
        ).pid  # fmt: skip
        traced = Target("canvasflow_traced", port, traced_pid, self._request_to(port))
        out = await self._side_by_side(traced, seconds, rounds, streams)
        on, off = out[traced.name], out[self.cf.name]
        out["rps_cost_share"] = 1 - out["paired_rps_ratio"]["median"]
        out["rps_cost_share_q1_q3"] = [
            1 - out["paired_rps_ratio"]["q3"],
            1 - out["paired_rps_ratio"]["q1"],
        ]
        out["rps_cost_share_of_medians"] = 1 - on["rps"] / off["rps"] if off["rps"] else None
        out["added_ttft_ms_p50"] = on["ttft_ms_p50"] - off["ttft_ms_p50"]
        out["added_cpu_ms_per_prediction"] = (
            on["cpu_ms_per_prediction"] - off["cpu_ms_per_prediction"]
        )
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"http://{HOST}:{port}/metrics")).text
        # the exporter process's CPU (it writes and sends the protobuf), per traced
        # prediction: on the machine's other core, not the server's
        out["exporter_cpu_ms_per_prediction"] = (
            children_cpu_seconds(traced_pid) * 1000 / max(1, on["predictions"])
        )
        out["spans"] = {  # exported, dropped (queue full, export failed), queued
            line.rsplit(" ", 1)[0].removeprefix("canvasflow_trace_spans_"): float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("canvasflow_trace_spans_") and "_created" not in line
        }
        return out

    async def scenario_i(self) -> dict[str, Any]:
        """The record of every run: JSON predictions/s (concurrency 10) and streamed
        TTFT with records against the same server with them off
        (``CANVASFLOW_RECORD_EXECUTIONS=0``), in turns; then 10,000 records listed a page
        at a time (newest, a middle page, filtered by canvas and status)."""
        seconds, rounds, streams, stored = (0.5, 1, 3, 100) if self.smoke else (10.0, 6, 50, 10_000)
        port = free_port()
        upstream = f"http://{HOST}:{self.mock_port}/v1"
        off_pid = self.spawn(
            [
                sys.executable, "-m", "canvasflow.cli", "serve", "--port", str(port),
                "--data-dir", str(self.tmp / "data-norecord"), "--log-level", "warning",
                "--no-auth",
            ],
            port,
            {
                "OPENAI_BASE_URL": upstream,
                "OPENAI_API_KEY": "bench",
                "CANVASFLOW_UPSTREAM_RETRIES": "0",
                "CANVASFLOW_WARM_UP": "0",
                "CANVASFLOW_RECORD_EXECUTIONS": "0",
            },
        ).pid  # fmt: skip
        off = Target("canvasflow_no_records", port, off_pid, self._request_to(port))
        out = await self._side_by_side(off, seconds, rounds, streams)
        on, no = out[self.cf.name], out[off.name]
        out["rps_cost_share"] = 1 - on["rps"] / no["rps"] if no["rps"] else None
        out["added_ttft_ms_p50"] = on["ttft_ms_p50"] - no["ttft_ms_p50"]
        # 10,000 records in the recording server's database, then pages of them
        from canvasflow.engine.outcome import Outcome
        from canvasflow.engine.record import end_row, start_row
        from canvasflow.runtime.context import RunContext
        from canvasflow.store.repo import Store

        store = Store(f"sqlite+aiosqlite:///{self.tmp / 'data' / 'canvasflow.db'}")
        canvas_id = next(iter(self.canvases.values()))
        rows = []
        for i in range(stored):
            ctx = RunContext(
                question=f"question {i}", canvas_id=canvas_id, chat_message_id=str(uuid.uuid4())
            )
            outcome = Outcome(
                ctx.identity(), status="error" if i % 10 == 0 else "completed", pieces=["an answer"]
            )
            rows.append(end_row(ctx, None, outcome, [], 5, start_row(ctx)))
        for i in range(0, stored, 500):
            await asyncio.gather(*(store.finish_run(r) for r in rows[i : i + 500]))
        await store.close()
        base = f"http://{HOST}:{self.cf.port}/api/v1/executions"
        timings: dict[str, float] = {}
        async with httpx.AsyncClient() as client:
            total = (await client.get(base + "?limit=1")).json()["total"]
            middle = max(1, total // 40)
            for label, query in (
                ("newest", "page=1&limit=20"),
                ("middle", f"page={middle}&limit=20"),
                ("filtered", f"canvasId={canvas_id}&status=error&page=2&limit=20"),
            ):
                took = []
                for _ in range(20):
                    t0 = time.perf_counter()
                    r = await client.get(f"{base}?{query}")
                    took.append(time.perf_counter() - t0)
                    r.raise_for_status()
                timings[label] = statistics.median(took) * 1000
        out["stored"] = total
        out["list_ms_p50"] = timings
        return out

    async def scenario_j(self) -> dict[str, Any]:
        """What an evaluation adds: a 200-row dataset run by the server at concurrency 10
        (every answer judged by ``contains`` and ``latency<60000``, rows written as they
        finish, a summary at the end) against the same 200 predictions asked over HTTP at
        concurrency 10, in turns; the medians of the rounds."""
        rows_n, rounds = (20, 1) if self.smoke else (200, 5)
        path, _ = self._request_to(self.cf.port)(20, 0.005, False)
        canvas_id = path.rsplit("/", 1)[1]
        base = f"http://{HOST}:{self.cf.port}/api/v1"
        alone: list[float] = []
        evaluated: list[float] = []
        async with httpx.AsyncClient(timeout=120) as client:
            rows = [{"input": f"q{i}", "output": "word"} for i in range(rows_n)]
            d = await client.post(f"{base}/datasets/set", json={"name": "bench", "rows": rows})
            dataset_id = d.json()["id"]
            gate = asyncio.Semaphore(10)

            async def ask(i: int) -> None:
                async with gate:
                    r = await client.post(base + path[len("/api/v1") :], json={"question": f"q{i}"})
                    r.raise_for_status()

            for turn in range(rounds * 2):
                if turn % 2 == 0:
                    t0 = time.perf_counter()
                    await asyncio.gather(*(ask(i) for i in range(rows_n)))
                    alone.append(time.perf_counter() - t0)
                    continue
                t0 = time.perf_counter()
                r = await client.post(
                    f"{base}/evaluations",
                    json={
                        "canvasId": canvas_id,
                        "datasetId": dataset_id,
                        "evaluators": ["contains", "latency<60000"],
                        "concurrency": 10,
                    },
                )
                r.raise_for_status()
                evaluation_id = r.json()["id"]
                while True:
                    e = (await client.get(f"{base}/evaluations/{evaluation_id}")).json()
                    if e["status"] not in ("pending", "running"):
                        break
                    await asyncio.sleep(0.02)
                evaluated.append(time.perf_counter() - t0)
                assert e["status"] == "completed" and e["done"] == rows_n, e
        a, b = statistics.median(alone), statistics.median(evaluated)
        return {
            "rows": rows_n,
            "rounds": rounds,
            "predictions_alone_s": round(a, 3),
            "evaluation_s": round(b, 3),
            "added_share": round(b / a - 1, 4),
        }

    async def scenario_f(self) -> dict[str, Any]:
        """Agentflow engine overhead: Start, a chain of N condition nodes, a direct reply,
        run in this process (no model, no I/O) through the reducer: time per executed
        node (everything the runner and the reducer do for a node: events, executed
        data, variables, the branch taken)."""
        from canvasflow.agentflow.runner import FlowRun
        from canvasflow.engine.graph import parse
        from canvasflow.engine.outcome import Outcome
        from canvasflow.runtime.context import RunContext

        chain, runs = (10, 20) if self.smoke else (50, 300)

        def af(node_id: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": node_id,
                "data": {"id": node_id, "name": name, "label": node_id, "inputs": inputs},
            }

        def edge(src: str, dst: str, handle: str) -> dict[str, Any]:
            return {"source": src, "target": dst, "sourceHandle": f"{src}-output-{handle}"}

        cond = {
            "conditions": [
                {
                    "type": "string",
                    "value1": "{{ question }}",
                    "operation": "contains",
                    "value2": "fox",
                }
            ]
        }
        nodes = [af("startAgentflow_0", "startAgentflow", {"startInputType": "chatInput"})]
        edges = []
        previous, handle = "startAgentflow_0", "startAgentflow"
        for i in range(chain):
            nodes.append(af(f"conditionAgentflow_{i}", "conditionAgentflow", cond))
            edges.append(edge(previous, f"conditionAgentflow_{i}", handle))
            previous, handle = f"conditionAgentflow_{i}", "0"
        nodes.append(
            af("directReplyAgentflow_0", "directReplyAgentflow", {"directReplyMessage": "ok"})
        )
        edges.append(edge(previous, "directReplyAgentflow_0", handle))
        graph = parse({"nodes": nodes, "edges": edges})
        ctx = RunContext(
            question="the fox", canvas_id="bench", chat_id="b", session_id="b", chat_message_id="m"
        )
        times = []
        for i in range(runs + 5):
            t0 = time.perf_counter()
            outcome = Outcome(ctx.identity())
            async for event in FlowRun(graph, ctx).events():  # type: ignore[arg-type]
                outcome.apply(event)
            if i >= 5:  # the first runs warm up
                times.append(time.perf_counter() - t0)
        assert outcome.text == "ok" and len(outcome.executed or ()) == chain + 2
        per_node = [t / (chain + 2) * 1000 for t in times]
        return {
            "nodes_per_run": chain + 2,
            "runs": runs,
            "ms_per_node_p50": percentile(per_node, 0.5),
            "ms_per_node_p99": percentile(per_node, 0.99),
            "ms_per_run_p50": (percentile(times, 0.5) or 0) * 1000,
        }

    async def scenario_d(self) -> dict[str, Any]:
        max_tokens = 8 if self.smoke else 128
        runs = 1 if self.smoke else 3
        from canvasflow.models.local import default_model_path
        from canvasflow.nodes.chains import DEFAULT_SYSTEM

        question = "Write a short story about a lighthouse keeper."
        # through canvasflow: the default canvas's model, with the same settings
        flow = local_flow({"maxTokens": max_tokens, "seed": 7})
        r = await asyncio.to_thread(
            httpx.post,
            f"http://{HOST}:{self.cf.port}/api/v1/canvases",
            json={"name": "bench local", "flowData": flow},
        )
        canvas = r.json()["id"]
        through = []
        for i in range(runs + 1):
            res = await stream_once(
                HOST,
                self.cf.port,
                f"/api/v1/prediction/{canvas}",
                {"question": question, "streaming": True, "chatId": f"bench-{i}-{time.time()}"},
            )
            if i and res.ok and res.total:
                through.append(res.tokens / res.total)
        # directly, in this process
        from llama_cpp import Llama

        llama = Llama(model_path=str(default_model_path()), n_ctx=2048, verbose=False)
        messages = [
            {"role": "system", "content": DEFAULT_SYSTEM},
            {"role": "user", "content": question},
        ]
        direct = []
        for i in range(runs + 1):
            t0 = time.perf_counter()
            n = 0
            for chunk in llama.create_chat_completion(
                messages=messages,
                stream=True,
                temperature=0.2,
                top_p=0.9,
                repeat_penalty=1.1,
                max_tokens=max_tokens,
                seed=7,
            ):
                if chunk["choices"][0].get("delta", {}).get("content"):
                    n += 1
            if i:
                direct.append(n / (time.perf_counter() - t0))
        del llama
        return {
            "max_tokens": max_tokens,
            "canvasflow_tokens_per_s": statistics.median(through) if through else 0.0,
            "direct_tokens_per_s": statistics.median(direct) if direct else 0.0,
        }

    async def scenario_l(self) -> dict[str, Any]:
        """The embedded model answering many at once (issue 40): 1, 2, 4, 8 and 16 users
        at the same moment on the default canvas's model (``chatLocal``, 64 tokens each,
        its own seed per user), streamed through canvasflow: aggregate and per-user
        tokens/s, time to first token (p50, p95), the server's RSS; against
        llama-cpp-python's ``create_chat_completion`` in this process, one sequence."""
        from canvasflow.models.local import default_model_path
        from canvasflow.nodes.chains import DEFAULT_SYSTEM

        tokens = 8 if self.smoke else 64
        levels = (1, 2) if self.smoke else (1, 2, 4, 8, 16)
        question = "Write a short story about a lighthouse keeper."
        flow = local_flow({"maxTokens": tokens})
        async with httpx.AsyncClient() as client:
            made = await client.post(
                f"http://{HOST}:{self.cf.port}/api/v1/canvases",
                json={"name": "bench local users", "flowData": flow},
            )
        path = f"/api/v1/prediction/{made.json()['id']}"

        async def one(i: int) -> Any:
            body = {"question": question, "streaming": True, "chatId": f"l-{i}-{time.time()}"}
            return await stream_once(HOST, self.cf.port, path, body)

        warm = await one(-1)  # the model loaded, the system prompt held by a slot
        if not warm.ok:
            raise RuntimeError(f"the embedded model did not answer: {warm.start[:300]!r}")
        out: dict[str, Any] = {"tokens": tokens, "users": {}}
        rounds = 1 if self.smoke else 3
        for users in levels:
            done, walls, aggregate = [], [], []
            for _ in range(rounds):  # the median round's aggregate; every round's streams
                t0 = time.perf_counter()
                got = await asyncio.gather(*(one(i) for i in range(users)))
                walls.append(time.perf_counter() - t0)
                ok = [r for r in got if r.ok and r.tokens]
                aggregate.append(sum(r.tokens for r in ok) / walls[-1])
                done += ok
            ttft = sorted((r.ttft or 0.0) * 1000 for r in done)
            out["users"][str(users)] = {
                "completed": len(done) / rounds,
                "aggregate_tokens_per_s": statistics.median(aggregate),
                "per_user_tokens_per_s": statistics.median(
                    r.tokens / (r.total - (r.ttft or 0.0)) for r in done if r.total
                )
                if done
                else 0.0,
                "ttft_ms_p50": statistics.median(ttft) if ttft else None,
                "ttft_ms_p95": ttft[min(len(ttft) - 1, int(0.95 * len(ttft)))] if ttft else None,
                "rss_mb": rss_mb(self.cf.pid),
            }
        from llama_cpp import Llama

        llama = Llama(model_path=str(default_model_path()), n_ctx=2048, verbose=False)
        messages = [
            {"role": "system", "content": DEFAULT_SYSTEM},
            {"role": "user", "content": question},
        ]
        rates = []
        for i in range(1 if self.smoke else 4):
            t0 = time.perf_counter()
            n = 0
            first = None
            for chunk in llama.create_chat_completion(
                messages=messages, stream=True, max_tokens=tokens, temperature=0.2, top_p=0.9,
                repeat_penalty=1.1, seed=i,
            ):  # fmt: skip
                if chunk["choices"][0].get("delta", {}).get("content"):
                    first = first or time.perf_counter()
                    n += 1
            if first is not None and n > 1:
                rates.append((n - 1) / (time.perf_counter() - first))
        del llama
        out["direct_tokens_per_s"] = statistics.median(rates) if rates else 0.0
        one_user = out["users"]["1"]["aggregate_tokens_per_s"]
        top = out["users"][str(levels[-1] if levels[-1] < 8 else 8)]["aggregate_tokens_per_s"]
        out["aggregate_at_8_over_1"] = top / one_user if one_user else None
        return out


def local_flow(model_inputs: dict[str, Any]) -> dict[str, Any]:
    """The default canvas's shape on the embedded model: a conversation chain with buffer
    memory, the model given these inputs."""
    return {
        "nodes": [
            {"id": "m", "data": {"name": "chatLocal", "inputs": model_inputs}},
            {"id": "mem", "data": {"name": "bufferMemory", "inputs": {}}},
            {
                "id": "c",
                "data": {
                    "name": "conversationChain",
                    "inputs": {"model": "{{m.data.instance}}", "memory": "{{mem.data.instance}}"},
                },
            },
        ],
        "edges": [],
    }


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}"


def table(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | figure | canvasflow | ceiling | canvasflow / ceiling |",
        "|---|---|---|---|---|",
    ]
    a = results["a"]
    for key in ("ttft_ms_p50", "ttft_ms_p99", "total_ms_p50", "total_ms_p99", "added_ttft_ms_p50"):
        cf, ce = a["canvasflow"][key], a["ceiling"][key]
        lines.append(
            f"| a. one stream, 50 tokens | {key} | {cf:.2f} | {ce:.2f} | {ratio(cf, ce)} |"
        )
    lines.append(f"| a. | mock's own TTFT p50 (ms) | {a['mock_ttft_ms_p50']:.2f} | | |")
    for level, row in results["b"].items():
        if not level.startswith("concurrency"):
            continue
        for name in [n for n in row if n.startswith("canvasflow")]:
            for key in ("rps", "p50_ms", "p99_ms"):
                cf, ce = row[name][key], row["ceiling"][key]
                lines.append(
                    f"| b. JSON, {level.replace('_', ' ')} ({name}) | {key} | {cf:.1f} | "
                    f"{ce:.1f} | {ratio(cf, ce)} |"
                )
    for level, row in results["c"].items():
        if not level.startswith("streams"):
            continue
        for key in (
            "completed_share",
            "gap_ms_p50",
            "gap_ms_p99",
            "rss_mb_peak",
            "cpu_s_per_1000_tokens",
        ):
            cf, ce = row["canvasflow"][key], row["ceiling"][key]
            lines.append(
                f"| c. {level.replace('_', ' ')} | {key} | {cf:.3f} | {ce:.3f} | {ratio(cf, ce)} |"
            )
    d = results["d"]
    lines.append(
        f"| d. embedded model | tokens/s (vs direct llama-cpp) | "
        f"{d['canvasflow_tokens_per_s']:.1f} | {d['direct_tokens_per_s']:.1f} | "
        f"{ratio(d['canvasflow_tokens_per_s'], d['direct_tokens_per_s'])} |"
    )
    for level, row in (results.get("e") or {}).items():
        if not level.startswith("burst_"):
            continue
        for name in [n for n in row if n.startswith("canvasflow")]:
            for key in ("ttft_ms_p50", "ttft_ms_p99", "total_ms_p50"):
                cf, ce = row[name][key], row["ceiling"][key]
                lines.append(
                    f"| e. {level.replace('_', ' ')} at once (mock {row['mock'][key]:.0f}, "
                    f"{name}) | {key} | {cf:.0f} | {ce:.0f} | {ratio(cf, ce)} |"
                )
    g = results.get("g") or {}
    for name in [n for n in g if n.startswith("canvasflow")]:
        for suffix, when in (("", "10 s"), ("_30s", "30 s")):
            runs = [r for r in g[name]["runs"] if f"ratio_to_before{suffix}" in r]
            if not runs:
                continue  # a results file from before the 30 s reading
            ratios = " / ".join(f"{r[f'ratio_to_before{suffix}']:.2f}" for r in runs)
            lines.append(
                f"| g. RSS {when} after each of 3 bursts of {g['streams']} streams ({name}) | "
                f"ratio to before ({g[name]['rss_mb_before']:.0f} MB) | {ratios} | | |"
            )
    h = results.get("h")
    if h:
        lines.append(
            f"| h. MCP tools/call vs JSON prediction, 50 tokens | p50 ms (added) | "
            f"{h['mcp_ms_p50']:.2f} ({h['added_ms_p50']:+.2f}) | {h['prediction_ms_p50']:.2f} | |"
        )
        lines.append(
            f"| h. {h['at_once']} MCP calls at once, with progress | completed share | "
            f"{h['at_once_completed_share']:.3f} | | |"
        )
    f = results.get("f")
    if f:
        lines.append(
            f"| f. agentflow, {f['nodes_per_run']} nodes per run | engine ms per node p50 / p99 | "
            f"{f['ms_per_node_p50']:.3f} / {f['ms_per_node_p99']:.3f} | | |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args.smoke, args.redis or None)
    bench.start()
    try:
        results: dict[str, Any] = {
            "machine": machine(),
            "smoke": args.smoke,
            "date": datetime.now(UTC).isoformat(),
        }
        for name in args.only or ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]:
            t0 = time.perf_counter()
            results[name] = await getattr(bench, f"scenario_{name}")()
            results[name]["seconds_taken"] = round(time.perf_counter() - t0, 1)
            print(f"scenario {name}: {results[name]['seconds_taken']} s", file=sys.stderr)
            if args.out:  # what is measured so far, should a later scenario not end
                args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    finally:
        bench.stop()
    return results


def run() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no thresholds")
    parser.add_argument(
        "--only", nargs="*", choices=["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument(
        "--redis",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="Redis for canvasflow with a process per core ('' to leave that target out)",
    )
    args = parser.parse_args()
    import uvloop

    results = uvloop.run(main(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or RESULTS / (("smoke-" if args.smoke else "") + stamp + ".json")
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    if not args.only or set(args.only) >= {"a", "b", "c", "d"}:
        print(table(results))
    elif "e" in results:
        for level, row in results["e"].items():
            if not level.startswith("burst_"):
                continue
            print(
                f"{level.replace('_', ' of ')}: ceiling TTFT p50 "
                f"{row['ceiling']['ttft_ms_p50']:.0f} ms; "
                + "; ".join(
                    f"{name} {row[name]['ttft_ms_p50']:.0f} ms "
                    f"({row[name]['ttft_p50_over_ceiling']:.2f}x, gap p99 "
                    f"{row[name]['gap_p99_over_ceiling']:.2f}x, "
                    f"CPU {row[name]['cpu_ms_per_stream']:.2f} ms a stream against "
                    f"{row['ceiling']['cpu_ms_per_stream']:.2f}, "
                    f"completed {row[name]['completed_share']:.3f})"
                    for name in row
                    if name.startswith("canvasflow")
                )
            )
    elif "k" in results:
        k = results["k"]
        print(
            f"tracing every prediction: {k['rps_cost_share']:.1%} of JSON predictions/s "
            f"(half the turns {k['rps_cost_share_q1_q3'][0]:.1%} to "
            f"{k['rps_cost_share_q1_q3'][1]:.1%}), "
            f"{k['added_ttft_ms_p50']:+.2f} ms TTFT p50, "
            f"{k['added_cpu_ms_per_prediction']:+.3f} ms of the server's CPU and "
            f"{k['exporter_cpu_ms_per_prediction']:.3f} ms of its exporter's per prediction"
        )
    elif "j" in results:
        j = results["j"]
        print(
            f"evaluation of {j['rows']} rows: {j['evaluation_s']:.2f} s against "
            f"{j['predictions_alone_s']:.2f} s for the predictions alone "
            f"(added {j['added_share']:+.1%})"
        )
    elif "i" in results:
        i = results["i"]
        print(
            f"records of every run: {i['rps_cost_share']:.1%} of JSON predictions/s, "
            f"{i['added_ttft_ms_p50']:+.2f} ms TTFT p50; {i['stored']} stored, a page in "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in i["list_ms_p50"].items())
        )
    elif "h" in results:
        h = results["h"]
        print(
            f"MCP tools/call p50 {h['mcp_ms_p50']:.2f} ms vs JSON prediction "
            f"{h['prediction_ms_p50']:.2f} ms (added {h['added_ms_p50']:+.2f} ms); "
            f"{h['at_once']} at once: {h['at_once_completed_share']:.3f} completed; "
            f"cancel to result p50 {h['cancel_to_result_ms_p50']:.1f} ms, "
            f"max {h['cancel_to_result_ms_max']:.1f} ms"
        )
    elif "f" in results:
        f = results["f"]
        print(
            f"agentflow engine: {f['ms_per_node_p50']:.3f} ms per node (p50), "
            f"{f['ms_per_node_p99']:.3f} (p99), {f['nodes_per_run']} nodes per run"
        )
    print(f"\nwritten: {out}", file=sys.stderr)


if __name__ == "__main__":
    run()
