"""Running user Python, only when the operator turned it on (``CANVASFLOW_PYTHON_TOOLS``),
and only inside bubblewrap: no network, a read-only minimal filesystem, none of the
server's environment, its own session killed as a whole at the deadline."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from canvasflow.sandbox.bwrap import bwrap_args
from canvasflow.sandbox.errors import SandboxError
from canvasflow.sandbox.slots import slot

RUNNER = r"""
import json, sys
request = json.loads(sys.stdin.read())
namespace = {"args": dict(request.get("args") or {}), "__name__": "canvasflow_tool"}
try:
    exec(compile(request["code"], "<custom tool>", "exec"), namespace)
    if callable(namespace.get("run")):
        result = namespace["run"](**namespace["args"])
    else:
        result = namespace.get("result")
    out = {"result": result if isinstance(result, str) else json.dumps(result, default=str)}
except BaseException as exc:
    out = {"error": f"{type(exc).__name__}: {exc}"}
sys.stdout.write(json.dumps(out))
"""


def _python() -> str:
    """The interpreter for user code: the system's, not the server's virtualenv."""
    for candidate in ("/usr/bin/python3", sys.executable):
        if Path(candidate).is_file():
            return candidate
    return sys.executable


def _command(python: str) -> list[str]:
    return [
        "bwrap",
        *bwrap_args(env={"PATH": "/usr/bin:/bin"}),
        python,
        "-I",
        "-S",
        "-c",
        RUNNER,
    ]


@cache
def python_sandbox_available() -> bool:
    """Whether bubblewrap is installed and can make a sandbox here."""
    if shutil.which("bwrap") is None:
        return False
    import subprocess

    try:
        done = subprocess.run(
            [*_command(_python())[:-5], "/bin/true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _limits(memory_mb: int, cpu_seconds: int) -> Any:
    def apply() -> None:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


async def run_python(
    code: str, args: dict[str, Any], *, time_limit: float = 5.0, memory_mb: int = 256
) -> str:
    """Run a tool's Python (defining ``run(**args)`` or setting ``result``)."""
    if not python_sandbox_available():
        raise SandboxError(
            "Python tools need an operating-system sandbox (bubblewrap), and none is "
            "available here: install bubblewrap, or write the tool in JavaScript"
        )
    async with slot(time_limit):
        return await _run_python(code, args, time_limit, memory_mb)


async def _run_python(code: str, args: dict[str, Any], time_limit: float, memory_mb: int) -> str:
    proc = await asyncio.create_subprocess_exec(
        *_command(_python()),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={},
        start_new_session=True,
        preexec_fn=_limits(memory_mb, max(1, int(time_limit) + 1)),
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(orjson.dumps({"code": code, "args": args})), time_limit
        )
    except TimeoutError:
        raise SandboxError(f"the tool ran longer than {time_limit:g} s and was stopped") from None
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
    try:
        reply = orjson.loads(out)
    except orjson.JSONDecodeError:
        why = "it ran out of memory" if b"MemoryError" in err else "no reply"
        raise SandboxError(f"the tool failed ({why}, exit {proc.returncode})") from None
    if "error" in reply:
        if str(reply["error"]).startswith("MemoryError"):
            raise SandboxError(f"the tool used more than {memory_mb} MB of memory and was stopped")
        raise SandboxError(str(reply["error"]))
    return str(reply["result"])
