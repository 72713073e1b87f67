"""A smoke run of the benchmark (tiny sizes, no thresholds), so that it never rots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    """A benchmark's command, from the project's folder, its output kept."""
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    r = _run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)])
    assert r.returncode == 0, r.stderr[-3000:]
    results = orjson.loads(out.read_bytes())
    assert results["smoke"] is True and results["machine"]["cores"]
    for target in ("canvasflow", "ceiling"):
        assert results["a"][target]["tokens_per_stream"] == 50
        assert results["a"][target]["ttft_ms_p50"] > 0
        assert results["b"]["concurrency_2"][target]["rps"] > 0
        assert results["c"]["streams_10"][target]["completed_share"] == 1.0
    assert results["d"]["canvasflow_tokens_per_s"] > 0 and results["d"]["direct_tokens_per_s"] > 0
    for target in ("mock", "ceiling", "canvasflow"):
        assert results["e"]["burst_10"][target]["completed_share"] == 1.0
        assert results["e"]["burst_10"][target]["ttft_ms_p50"] > 0
        assert len(results["e"]["burst_10"][target]["turns"]) == 1  # one turn when smoke
        if target != "mock":  # the server's CPU a stream, every process of it
            assert results["e"]["burst_10"][target]["cpu_ms_per_stream"] > 0
    assert results["f"]["nodes_per_run"] == 12 and results["f"]["ms_per_node_p50"] > 0
    for run in results["g"]["canvasflow"]["runs"]:
        assert run["completed_share"] == 1.0 and run["ratio_to_before"] > 0
    h = results["h"]
    assert h["at_once_completed_share"] == 1.0 and h["mcp_ms_p50"] > 0
    i = results["i"]  # records of every run: on against off, and 100 listed
    assert i["canvasflow"]["rps"] > 0 and i["canvasflow_no_records"]["rps"] > 0
    assert i["stored"] >= 100 and i["list_ms_p50"]["newest"] > 0
    k = results["k"]  # traces: the turns' paired ratio, and the middle half beside it
    assert k["paired_rps_ratio"]["turns"] == 1 and len(k["rps_cost_share_q1_q3"]) == 2
    assert "| a. one stream" in r.stdout  # the table


def test_memory_probe_smoke() -> None:
    """``python -m bench.memory`` (BENCHMARKS.md's allocator figures) at tiny sizes, with
    and without tracemalloc (which hides CPython's arena counts while it runs)."""
    for trace in ((), ("--trace",)):
        r = _run(
            [
                *(sys.executable, "-m", "bench.memory"),
                *("--streams", "5", "--bursts", "1", "--settle", "0.1", *trace),
            ]
        )
        assert r.returncode == 0, r.stderr[-3000:]
        lines = r.stdout.splitlines()
        assert lines[0].startswith("before rss_mb=")
        assert lines[1].startswith("after burst 1 (5/5 completed) rss_mb=")
        if trace:
            assert "allocation sites holding more than before the bursts:" in r.stdout
        else:
            assert "arenas=" in lines[0] and "arenas=" in lines[1]


def test_decode_smoke(tmp_path: Path) -> None:
    """``python -m bench.decode`` (a decoding step of the embedded model by batch size)
    at tiny sizes: each configuration is measured and written."""
    out = tmp_path / "decode.json"
    r = _run(
        [
            *(sys.executable, "-m", "bench.decode", "--batches", "1", "2"),
            *("--prompt", "8", "--steps", "2", "--layouts", "unified", "split"),
            *("--out", str(out)),
        ]
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rows = orjson.loads(out.read_bytes())
    assert [(row["kv"], row["batch"]) for row in rows] == [
        ("unified", 1), ("unified", 2), ("split", 1), ("split", 2)
    ]  # fmt: skip
    assert all(row["type"] == "q4_1" and row["ms_per_step"] > 0 for row in rows)


def test_relays_smoke() -> None:
    """``python -m bench.relays`` (the two bare relays' clients side by side) at tiny
    sizes: both relays answer streams and JSON."""
    r = _run([sys.executable, "-m", "bench.relays", "--streams", "5", "--seconds", "0.5"])
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line for line in r.stdout.splitlines()[2:]}
    assert set(rows) == {"httpx", "aiohttp"}
    for line in rows.values():
        ttft, cpu, rps, json_cpu = (float(c) for c in line.strip("|").split("|")[1:])
        # CPU time is counted in 10 ms ticks: a few tiny answers may show none
        assert ttft > 0 and rps > 0 and cpu >= 0 and json_cpu >= 0, line


def test_ingest_smoke(tmp_path: Path) -> None:
    """``python -m bench.ingest`` (a folder into a document store, then again) at tiny
    sizes: the second run embeds nothing."""
    out = tmp_path / "ingest.json"
    r = _run(
        [sys.executable, "-m", "bench.ingest", "--files", "12", "--kb", "2", "--out", str(out)]
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = orjson.loads(out.read_bytes())
    assert got["embedded"] == got["chunks"] > 12 and got["failed"] == 0
    assert got["again_embedded"] == 0 and got["again_skipped"] == got["chunks"]
    assert got["process_peak_rss_mb"] > 0 and got["files_per_s"] > 0
    assert got["vector_store"] == "faiss" and got["query_found"] == 4
