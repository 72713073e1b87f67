"""Where a burst's memory goes: canvasflow served in this process (so its allocator can
be read), bursts of streams from a child process, and after each burst the RSS,
CPython's object arenas (``sys._debugmallocstats``), glibc's heap (``mallinfo2``), what
SQLite holds and the resident memory by kind of mapping;
with ``--trace``, the allocation sites still holding memory (tracemalloc).

    PYTHONMALLOC=malloc python -m bench.memory --streams 2000 --bursts 3 [--trace]

(``canvasflow serve`` runs on glibc's malloc; an in-process server runs on what the
interpreter was started with.) It runs on uvloop, as the server does.

Loopback only; every burst is bounded in time. Tracing is slower and costs memory of
its own, and while tracemalloc runs CPython reports no arena counts.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import httpx
import uvloop

from bench.__main__ import HOST, chain_flow, free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def pymalloc_stats() -> dict[str, int]:
    """The arena and block counts of ``sys._debugmallocstats`` (it writes to fd 2)."""
    with tempfile.TemporaryFile("w+") as out:
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    wanted = {
        "# arenas allocated current": "arenas",
        "# arenas reclaimed": "arenas_reclaimed",
        "# bytes in allocated blocks": "allocated_bytes",
        "# bytes in available blocks": "available_bytes",
    }
    found: dict[str, int] = {}
    for line in text.splitlines():
        for prefix, name in wanted.items():
            if line.startswith(prefix):
                found[name] = int(line.split("=")[1].replace(",", "").strip())
    return found


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
        "keepcost".split()
    ]


def glibc_heap() -> dict[str, float]:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"heap_mb": info.arena / 1e6, "used_mb": info.uordblks / 1e6}


def sqlite_mb() -> dict[str, float]:
    """What SQLite itself holds (page caches, statements): its allocations bypass
    CPython's, so tracemalloc does not see them."""
    try:
        lib = ctypes.CDLL("libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return {"sqlite_mb": lib.sqlite3_memory_used() / 1e6}
    except (OSError, AttributeError):
        return {}


def maps_mb() -> dict[str, float]:
    """Resident memory by kind of mapping: the heap, anonymous maps (thread arenas and
    stacks, large blocks) and files (code, SQLite's shared memory)."""
    sizes = {"rss_heap_mb": 0.0, "rss_anon_mb": 0.0, "rss_files_mb": 0.0}
    kind = "rss_anon_mb"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and not head[0].endswith(":"):  # a mapping's first line
            name = head[5] if len(head) > 5 else ""
            kind = (
                "rss_heap_mb"
                if name == "[heap]"
                else "rss_files_mb"
                if name.startswith("/") and not name.startswith(("/dev/zero", "/memfd:"))
                else "rss_anon_mb"
            )
        elif head and head[0] == "Rss:":
            sizes[kind] += int(head[1]) / 1024
    return sizes


BURST = """
import asyncio, sys
sys.path.insert(0, {root!r})
from bench.load import stream_once
async def main():
    results = await asyncio.gather(*(
        stream_once({host!r}, {port}, {path!r}, {body!r}, limit_seconds=180, gaps=False)
        for _ in range({n})
    ))
    print(sum(r.ok for r in results))
asyncio.run(main())
"""


async def burst(port: int, path: str, body: dict, n: int) -> int:
    """N streams at once from a child process (its objects are not this process's)."""
    code = BURST.format(root=str(ROOT), host=HOST, port=port, path=path, body=body, n=n)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    return int(out.decode().strip() or 0)


async def measure(args: argparse.Namespace, port: int) -> None:
    import uvicorn

    from bench.load import stream_once
    from canvasflow.config import Settings
    from canvasflow.observability.memory import fix_mmap_threshold
    from canvasflow.server.app import create_app
    from canvasflow.server.serving import uvicorn_config

    settings = Settings()
    fix_mmap_threshold()  # as canvasflow serve does
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, "warning"))
    serving = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 60
    while not server.started:  # uvicorn offers a flag, no event
        if asyncio.get_running_loop().time() > deadline or serving.done():
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.05)
    flow = chain_flow(f"bench?tokens={args.tokens}&delay=0.02")
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"http://{HOST}:{port}/api/v1/canvases", json={"name": "memory", "flowData": flow}
        )
        r.raise_for_status()
        path = f"/api/v1/prediction/{r.json()['id']}"
    body = {"question": "q", "streaming": True}
    for _ in range(3):
        await stream_once(HOST, port, path, body)
    await asyncio.sleep(args.settle)
    gc.collect()
    if args.trace:
        tracemalloc.start(1)
    before = tracemalloc.take_snapshot() if args.trace else None

    def report(label: str) -> None:
        figures = {
            "rss_mb": round(rss_mb(), 1),
            **maps_mb(),
            **pymalloc_stats(),
            **glibc_heap(),
            **sqlite_mb(),
        }
        print(
            label,
            " ".join(
                f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
            ),
            flush=True,
        )

    report("before")
    for i in range(args.bursts):
        ok = await burst(port, path, body, args.streams)
        await asyncio.sleep(args.settle)
        gc.collect()
        report(f"after burst {i + 1} ({ok}/{args.streams} completed)")
    if before is not None:
        print("allocation sites holding more than before the bursts:")
        for stat in tracemalloc.take_snapshot().compare_to(before, "lineno")[:25]:
            print("  ", stat)
    server.should_exit = True
    await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after each burst")
    parser.add_argument("--trace", action="store_true", help="tracemalloc's sites as well")
    args = parser.parse_args()
    mock_port, port = free_port(), free_port()
    mock = subprocess.Popen(
        [sys.executable, "-m", "bench.mock", "--port", str(mock_port)], cwd=ROOT
    )
    try:
        wait_port(mock_port, mock)
        os.environ.update(
            {
                "OPENAI_BASE_URL": f"http://{HOST}:{mock_port}/v1",
                "OPENAI_API_KEY": "bench",
                "CANVASFLOW_UPSTREAM_RETRIES": "0",
                "CANVASFLOW_WARM_UP": "0",
                "CANVASFLOW_NO_AUTH": "1",
                "CANVASFLOW_HOST": HOST,
                "CANVASFLOW_PORT": str(port),
                "CANVASFLOW_DATA_DIR": tempfile.mkdtemp(prefix="canvasflow-memory-"),
            }
        )
        uvloop.run(measure(args, port))
    finally:
        mock.terminate()
        mock.wait(10)


if __name__ == "__main__":
    main()
