"""Running user JavaScript: a child process hosting a V8 isolate (``js_child``), its
fetch answered here (allowed hosts only), the process group killed at the deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from canvasflow.sandbox.errors import SandboxError
from canvasflow.sandbox.slots import slot

MAX_RESULT = 4_000_000  # bytes of one message from the child (its result, a fetch)

Fetch = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


# what the child needs beyond the isolate's heap: the interpreter, V8's code and tables
# (measured: V8 does not start below some 600 MB of writable data for a 256 MB heap)
CHILD_BASE_MB = 768


def _limits(memory_mb: int) -> Any:
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the isolate writes no files
        # the process's own memory, not only V8's heap: typed arrays' buffers and
        # WebAssembly memories live outside it (writable private mappings: RLIMIT_DATA;
        # V8's address-space reservations are not writable, so RLIMIT_AS would break it)
        data = (memory_mb + CHILD_BASE_MB) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))

    return apply


async def run_js(
    code: str,
    globals_: dict[str, Any],
    *,
    fetch: Fetch,
    time_limit: float = 5.0,
    memory_mb: int = 128,
) -> str:
    """Run ``code`` as the body of an async function (Flowise's custom tool and custom
    function shape: it ``return``s its result), with ``globals_`` defined (``$input``,
    ``$vars``, ``$flow``, one ``$name`` per tool argument). Returns the result as a
    string (JSON for anything else); raises :class:`SandboxError`."""
    async with slot(time_limit):
        return await _run_js(code, globals_, fetch, time_limit, memory_mb)


async def _run_js(
    code: str, globals_: dict[str, Any], fetch: Fetch, time_limit: float, memory_mb: int
) -> str:
    with tempfile.TemporaryDirectory(prefix="canvasflow-js-") as cwd:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-m",
            "canvasflow.sandbox.js_child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=cwd,
            env={"PATH": os.defpath},  # none of the server's environment
            start_new_session=True,  # its own process group, killed as a whole
            preexec_fn=_limits(memory_mb),
            limit=MAX_RESULT,
        )
        assert proc.stdin is not None and proc.stdout is not None
        job = {"code": code, "globals": globals_, "memory_mb": memory_mb}
        proc.stdin.write(orjson.dumps(job) + b"\n")
        await proc.stdin.drain()
        tasks: set[asyncio.Task[None]] = set()

        async def answer(request: dict[str, Any]) -> None:
            try:
                reply = {
                    "id": request["fetch"],
                    "result": await fetch(request["url"], request["init"]),
                }
            except Exception as exc:
                reply = {"id": request["fetch"], "error": str(exc) or type(exc).__name__}
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.write(orjson.dumps(reply) + b"\n")

        try:
            async with asyncio.timeout(time_limit):
                while True:
                    try:
                        line = await proc.stdout.readline()
                    except ValueError:  # a line past the stream's limit
                        raise SandboxError(
                            f"the code's result is larger than {MAX_RESULT // 1_000_000} MB"
                        ) from None
                    if not line:
                        status = await proc.wait()
                        why = " (out of memory, or it crashed)" if status < 0 else ""
                        raise SandboxError(f"the code's sandbox stopped{why} (exit {status})")
                    message = orjson.loads(line)
                    if "fetch" in message:
                        task = asyncio.create_task(answer(message))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        continue
                    if "error" in message:
                        raise SandboxError(str(message["error"]))
                    return str(message.get("result", ""))
        except TimeoutError:
            raise SandboxError(
                f"the code ran longer than {time_limit:g} s and was stopped"
            ) from None
        finally:
            for task in tasks:
                task.cancel()
            _kill_group(proc)
            await proc.wait()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
