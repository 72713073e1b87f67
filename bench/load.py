"""A light async load generator over bare asyncio sockets (an HTTP client would cost
more CPU than the servers it measures). Loopback only; every loop is bounded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

TOKEN = b'"event":"token"'
UPSTREAM_TOKEN = b'"delta":{"content"'


@dataclass
class StreamResult:
    ok: bool = False
    status: int = 0
    ttft: float | None = None
    total: float | None = None
    tokens: int = 0
    gaps: list[float] = field(default_factory=list)
    error: str | None = None
    start: bytes = b""  # the body's first bytes while no token has come (why none came)


def request(host: str, port: int, path: str, body: dict, keep_alive: bool = False) -> bytes:
    data = orjson.dumps(body)
    conn = b"keep-alive" if keep_alive else b"close"
    return (
        b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: %s\r\n\r\n%s"
        % (path.encode(), host.encode(), port, len(data), conn, data)
    )


async def stream_once(
    host: str,
    port: int,
    path: str,
    body: dict,
    limit_seconds: float = 120.0,
    gaps: bool = True,
    pattern: bytes = TOKEN,
) -> StreamResult:
    """One streamed request; token arrival times as the client sees them."""
    res = StreamResult()
    t0 = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(limit_seconds):
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
            writer.write(request(host, port, path, body))
            head = await reader.readuntil(b"\r\n\r\n")
            res.status = int(head.split(b" ", 2)[1])
            tail = b""
            last = None
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                now = time.perf_counter()
                if not res.tokens and len(res.start) < 600:
                    res.start = (res.start + chunk)[:600]
                data = tail + chunk
                n = data.count(pattern)
                tail = data[-(len(pattern) - 1) :]
                if n:
                    if res.ttft is None:
                        res.ttft = now - t0
                    if gaps:
                        if last is not None:
                            res.gaps.append(now - last)
                        res.gaps.extend([0.0] * (n - 1))
                    last = now
                    res.tokens += n
            res.total = time.perf_counter() - t0
            res.ok = res.status == 200
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        res.error = type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
    return res


async def json_worker(
    host: str,
    port: int,
    path: str,
    body: dict,
    deadline: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    """Back-to-back JSON requests on one keep-alive connection until the deadline."""
    payload = request(host, port, path, body, keep_alive=True)
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            t0 = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")  # type: ignore[union-attr]
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)  # type: ignore[union-attr]
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                errors.append(head.split(b"\r\n", 1)[0].decode())
                continue
            latencies.append(time.perf_counter() - t0)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
