"""Ingesting a folder into a document store, as a user does it from the terminal:

    python -m bench.ingest --files 1000 --kb 10 [--out results.json]

``canvasflow docstore create`` (FAISS unless ``--vector-store`` says otherwise),
``add`` (every file), ``process`` (timed, its peak RSS read by ``wait4``), then
``process`` again on the unchanged store, which must embed nothing, and one ``query``.
Everything is local: a fresh data directory (SQLite), the embedded WordLlama embeddings,
canvasflow's record manager.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

WORDS = (
    "river mountain city capital museum library harbour bridge forest valley market "
    "railway station garden castle island desert glacier canal tower palace square "
    "north south east west old new small large ancient modern quiet busy"
).split()


def write_files(folder: Path, count: int, kb: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        parts: list[str] = []
        size = 0
        while size < kb * 1024:
            sentence = " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + f" ({i}). "
            parts.append(sentence)
            size += len(sentence)
            if rng.random() < 0.15:
                parts.append("\n\n")
        path = folder / f"doc{i:05}.txt"
        path.write_text("".join(parts))
        paths.append(path)
    return paths


def run_measured(args: list[str], data: Path) -> tuple[str, float, float]:
    """A command's stdout, seconds and peak RSS (MB, from wait4's rusage)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "canvasflow.cli", *args, "--data-dir", str(data)],
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(args)} failed: {err.read()[-2000:]}")
        return out.read(), seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--kb", type=int, default=10)
    parser.add_argument("--vector-store", default="faiss", help="the store's vector store")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, docs = root / "data", root / "docs"
        docs.mkdir()
        paths = write_files(docs, args.files, args.kb)
        run_measured(["docstore", "create", "bench", "--vector-store", args.vector_store], data)
        _, add_s, _ = run_measured(["docstore", "add", "bench", *map(str, paths)], data)
        out, first_s, first_mb = run_measured(["docstore", "process", "bench", "--json"], data)
        first = orjson.loads(out)
        out, again_s, again_mb = run_measured(["docstore", "process", "bench", "--json"], data)
        again = orjson.loads(out)
        out, query_s, _ = run_measured(
            ["docstore", "query", "bench", "museum harbour", "--top-k", "4", "--json"], data
        )
        found = orjson.loads(out)
    results = {
        "vector_store": args.vector_store,
        "query_found": len(found),
        "query_s": round(query_s, 2),
        "files": args.files,
        "kb_per_file": args.kb,
        "add_s": round(add_s, 2),
        "process_s": round(first_s, 2),
        "files_per_s": round(args.files / first_s, 1),
        "chunks": first["chunks"],
        "embedded": first["embedded"],
        "failed": len(first["failed"]),
        "process_peak_rss_mb": round(first_mb, 1),
        "again_s": round(again_s, 2),
        "again_embedded": again["embedded"],
        "again_skipped": again["skipped"],
        "again_share_of_first": round(again_s / first_s, 3),
        # the same, without the command's start (Python and canvasflow's imports)
        "process_job_s": round(first["finishedAt"] - first["startedAt"], 2),
        "again_job_s": round(again["finishedAt"] - again["startedAt"], 2),
        "again_job_share_of_first": round(
            (again["finishedAt"] - again["startedAt"]) / (first["finishedAt"] - first["startedAt"]),
            3,
        ),
        "again_peak_rss_mb": round(again_mb, 1),
    }
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2)
    if args.out:
        args.out.write_bytes(text)
    print(text.decode())
    return results


if __name__ == "__main__":
    main()
