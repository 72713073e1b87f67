"""A TCP proxy in a background thread that misbehaves on purpose: it can cut a
connection after some bytes of the response, or answer 429 instead of forwarding."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from tests.support import free_port


@dataclass
class Plan:
    cut_after_bytes: list[int] = field(default_factory=list)  # per connection, in order
    too_many: int = 0  # first N connections answer 429
    retry_after: str = "1"


class FaultyProxy:
    def __init__(self, target_port: int, plan: Plan) -> None:
        self.target_port = target_port
        self.plan = plan
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = self.connections
        self.connections += 1
        if n < self.plan.too_many:
            await reader.read(65536)
            body = b'{"statusCode":429,"success":false,"message":"slow down"}'
            writer.write(
                b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
                b"retry-after: " + self.plan.retry_after.encode() + b"\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + body
            )
            await writer.drain()
            writer.close()
            return
        cut = self.plan.cut_after_bytes[n] if n < len(self.plan.cut_after_bytes) else None
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, limit: int | None
        ) -> None:
            sent = 0
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    if limit is not None and sent + len(data) >= limit:
                        dst.write(data[: max(0, limit - sent)])
                        await dst.drain()
                        raise ConnectionResetError("cut on purpose")
                    sent += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (dst, writer, up_writer):
                    w.close()

        await asyncio.gather(pipe(reader, up_writer, None), pipe(up_reader, writer, cut))
