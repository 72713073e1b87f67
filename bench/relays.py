"""The two bare relays side by side: the ceiling on httpx (issue 17's reference) and
on aiohttp (the client canvasflow's model calls use). What the upstream HTTP client
alone costs per answer.

    python -m bench.relays [--streams 400] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from bench.__main__ import HOST, ROOT, cpu_seconds, free_port, wait_port
from bench.load import json_worker, stream_once


async def measure(streams: int, seconds: float) -> dict[str, dict[str, float]]:
    procs: list[subprocess.Popen] = []  # type: ignore[type-arg]

    def spawn(args: list[str], port: int) -> subprocess.Popen:  # type: ignore[type-arg]
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT)
        procs.append(proc)
        wait_port(port, proc)
        return proc

    out: dict[str, dict[str, float]] = {}
    try:
        mock_port = free_port()
        spawn(["bench.mock", "--port", str(mock_port)], mock_port)
        upstream = f"http://{HOST}:{mock_port}/v1"
        relays = []
        for client in ("httpx", "aiohttp"):
            port = free_port()
            proc = spawn(
                ["bench.ceiling", "--port", str(port), "--upstream", upstream, "--client", client],
                port,
            )
            relays.append((client, port, proc.pid))
        body = {"question": "q", "streaming": True, "model": "bench?tokens=50&delay=0"}
        for client, port, pid in relays:
            for _ in range(20):  # warm
                await stream_once(HOST, port, "/relay", body)
            cpu, ttft = cpu_seconds(pid), []
            for _ in range(streams):
                ttft.append((await stream_once(HOST, port, "/relay", body)).ttft or 0.0)
            stream_cpu = (cpu_seconds(pid) - cpu) / streams
            latencies: list[float] = []
            errors: list[str] = []
            cpu, deadline = cpu_seconds(pid), time.perf_counter() + seconds
            json_body = {**body, "streaming": False}
            await asyncio.gather(
                *(
                    json_worker(HOST, port, "/relay", json_body, deadline, latencies, errors)
                    for _ in range(10)
                )
            )
            out[client] = {
                "stream_ttft_ms_p50": statistics.median(ttft) * 1000,
                "stream_cpu_ms": stream_cpu * 1000,
                "json_rps_10_clients": len(latencies) / seconds,
                "json_cpu_ms": (cpu_seconds(pid) - cpu) / max(1, len(latencies)) * 1000,
                "json_errors": len(errors),
            }
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    results = asyncio.run(measure(args.streams, args.seconds))
    print(
        "| relay client | stream TTFT p50 (ms) | CPU per stream (ms) | JSON/s, 10 clients "
        "| CPU per JSON answer (ms) |"
    )
    print("|---|---|---|---|---|")
    for client, r in results.items():
        print(
            f"| {client} | {r['stream_ttft_ms_p50']:.2f} | {r['stream_cpu_ms']:.2f} "
            f"| {r['json_rps_10_clients']:.0f} | {r['json_cpu_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
