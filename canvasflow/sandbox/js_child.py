"""The child process that hosts one V8 isolate for one call of user JavaScript.

Protocol (JSON lines): the parent writes the job; the child may write
``{"fetch": n, "url", "init"}`` and reads ``{"id": n, "result"|"error"}`` back; it ends
with ``{"result": str}`` or ``{"error": str}``. The parent kills the process group at
the deadline, so a runaway loop (even in a microtask) cannot outlive it."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

PRELUDE = r"""
globalThis.console = { log() {}, info() {}, warn() {}, error() {}, debug() {} };
globalThis.fetch = async (url, init) => {
  const raw = await __canvasflow_fetch(String(url), JSON.stringify(init || {}));
  const r = JSON.parse(raw);
  if (r.error) throw new Error(r.error);
  return {
    ok: r.status < 400, status: r.status,
    headers: { get: (k) => r.headers[String(k).toLowerCase()] ?? null },
    text: async () => r.body,
    json: async () => JSON.parse(r.body),
  };
};
globalThis.require = (name) => {
  if (name === 'node-fetch') return globalThis.fetch;
  throw new Error(`module ${name} is not available in canvasflow's sandbox (fetch is)`);
};
"""

WRAP = """globalThis.__canvasflow_result = (async function () {
  const value = await (async function () {
%s
  })();
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
})();
0"""


MAX_RESULT_CHARS = 1_000_000


class Bridge:
    """The fetch requests this child sends its parent, and their answers."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future[str]] = {}

    def send(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def fetch(self, url: Any, init: Any) -> str:
        self.next_id += 1
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = fut
        self.send({"fetch": self.next_id, "url": str(url), "init": json.loads(str(init))})
        return await fut

    async def listen(self) -> None:
        while line := await self.reader.readline():
            reply = json.loads(line)
            fut = self.waiting.pop(int(reply["id"]), None)
            if fut is not None and not fut.done():
                fut.set_result(json.dumps(reply.get("result") or {"error": reply.get("error")}))


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    job = json.loads(await reader.readline())
    bridge = Bridge(reader)
    listener = asyncio.create_task(bridge.listen())

    from py_mini_racer import MiniRacer
    from py_mini_racer._exc import JSOOMException, MiniRacerBaseException

    mr = MiniRacer()
    mr.set_hard_memory_limit(int(job["memory_mb"]) * 1024 * 1024)
    try:
        async with mr.wrap_py_function(bridge.fetch) as js_fetch:
            install: Any = mr.eval("(f => { globalThis.__canvasflow_fetch = f; })")
            install(js_fetch)
            mr.eval(PRELUDE)
            for name, value in job["globals"].items():
                mr.eval(f"globalThis[{json.dumps(name)}] = {json.dumps(value)};")
            await mr.eval_cancelable(WRAP % job["code"])
            done: Any = mr.eval("globalThis.__canvasflow_result")  # a promise
            result = str(await done)
            if len(result) > MAX_RESULT_CHARS:
                bridge.send(
                    {"error": f"the code's result is larger than {MAX_RESULT_CHARS} characters"}
                )
            else:
                bridge.send({"result": result})
    except JSOOMException:
        bridge.send({"error": f"the code used more than {job['memory_mb']} MB of memory"})
    except MiniRacerBaseException as exc:
        message = str(exc).replace("JavaScript rejected promise with reason: ", "").strip()
        bridge.send({"error": message.splitlines()[0][:2000] if message else type(exc).__name__})
    finally:
        listener.cancel()
        mr.close()


if __name__ == "__main__":
    asyncio.run(main())
