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

Fetch = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _limits() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the isolate writes no files


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
            preexec_fn=_limits,
            limit=4 * 1024 * 1024,
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
                    line = await proc.stdout.readline()
                    if not line:
                        raise SandboxError(f"the code's sandbox stopped (exit {await proc.wait()})")
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
