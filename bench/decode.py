"""What one decoding step of the embedded model costs on this machine, by batch size,
weight type and KV layout: llama.cpp's ``llama_decode`` through llama-cpp-python's
low-level bindings, as ``models/batched.py`` calls it, with nothing else around it.

Each configuration runs in a process of its own: ``batch`` sequences each take a prompt
of ``--prompt`` tokens, then ``--steps`` steps decode one token for every sequence.
The default model's file is Q4_1; ``--types q4_0 q8_0`` also requantizes it (into a
temporary folder) to see what llama.cpp's other CPU kernels make of the same weights.

    python -m bench.decode                     # Q4_1, batch 1 and 8, unified KV
    python -m bench.decode --types q4_1 q4_0 q8_0 --layouts unified split --flash
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def measure(path: str, batch: int, unified: bool, flash: bool, prompt: int, steps: int) -> float:
    """Milliseconds a step (one token for each of ``batch`` sequences), in this process."""
    import llama_cpp as ll
    from llama_cpp import _internals as internals

    model = internals.LlamaModel(
        path_model=path, params=ll.llama_model_default_params(), verbose=False
    )
    cp = ll.llama_context_default_params()
    cp.n_ctx = 4096
    cp.n_batch = cp.n_ubatch = 512
    cp.n_seq_max = max(1, batch)
    cp.n_threads = cp.n_threads_batch = os.cpu_count() or 1  # as models/batched.py
    cp.kv_unified = unified
    cp.flash_attn_type = (
        ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash else ll.LLAMA_FLASH_ATTN_TYPE_DISABLED
    )
    ctx = internals.LlamaContext(model=model, params=cp, verbose=False)
    tokens = ll.llama_batch_init(512, 0, 1)

    def decode(items: list[tuple[int, int, int, bool]]) -> None:
        for i, (token, pos, seq, logits) in enumerate(items):
            tokens.token[i], tokens.pos[i], tokens.n_seq_id[i] = token, pos, 1
            tokens.seq_id[i][0], tokens.logits[i] = seq, logits
        tokens.n_tokens = len(items)
        if ll.llama_decode(ctx.ctx, tokens) != 0:
            raise RuntimeError("llama_decode failed")

    for seq in range(batch):
        decode([(100 + (j * 7 + seq) % 1000, j, seq, j == prompt - 1) for j in range(prompt)])
    started = time.perf_counter()
    for k in range(steps):
        decode([(200 + k + seq, prompt + k, seq, True) for seq in range(batch)])
    return (time.perf_counter() - started) / steps * 1000


def requantized(source: Path, kind: str, folder: Path) -> Path:
    import llama_cpp as ll

    target = folder / f"{source.stem}.{kind}.gguf"
    params = ll.llama_model_quantize_default_params()
    params.ftype = getattr(ll, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    params.allow_requantize = True
    params.nthread = 2
    if ll.llama_model_quantize(str(source).encode(), str(target).encode(), params) != 0:
        raise RuntimeError(f"could not requantize to {kind}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__)
    parser.add_argument("--types", nargs="+", default=["q4_1"], help="q4_1 (the file), q4_0, q8_0")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--layouts", nargs="+", default=["unified"], choices=["unified", "split"])
    parser.add_argument("--flash", action="store_true", help="also with flash attention")
    parser.add_argument("--prompt", type=int, default=120)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a configuration, in a child
    args = parser.parse_args()
    if args.one:
        path, batch, unified, flash = json.loads(args.one)
        print(measure(path, batch, unified, flash, args.prompt, args.steps))
        return

    from canvasflow.models.local import default_model_path

    source = default_model_path()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.types:
            path = source if kind == "q4_1" else requantized(source, kind, Path(tmp))
            for layout in args.layouts:
                for flash in [False, True] if args.flash else [False]:
                    for batch in args.batches:
                        one = json.dumps([str(path), batch, layout == "unified", flash])
                        ms = float(
                            subprocess.run(
                                [sys.executable, "-m", "bench.decode", "--one", one,
                                 "--prompt", str(args.prompt), "--steps", str(args.steps)],
                                capture_output=True, text=True, check=True,
                            ).stdout.split()[-1]
                        )  # fmt: skip
                        row = {
                            "type": kind,
                            "kv": layout,
                            "flash_attention": flash,
                            "batch": batch,
                            "ms_per_step": round(ms, 2),
                            "tokens_per_s": round(batch * 1000 / ms, 1),
                        }
                        rows.append(row)
                        print(
                            f"{kind} {layout:7s} flash={flash!s:5s} batch {batch:2d}: "
                            f"{ms:6.1f} ms a step, {row['tokens_per_s']:6.1f} tokens/s"
                        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
