"""The HTTP transport of a model call on the hot path: a JSON POST on pooled
connections, with retries, and the data of a server-sent event stream.

It runs on aiohttp, whose HTTP parser is C (llhttp). Measured on the benchmark's relay
(BENCHMARKS.md, issue 17): a 50-token streamed answer cost 2.5 ms of CPU read through
httpx and 1.3 ms through aiohttp; a JSON answer cost 1.1 ms and 0.16 ms.

- One session per event loop, kept for the life of the server. Its connections are
  pooled and kept alive.
- It has no cookie jar. An upstream's cookies are not kept, or sent to anyone.
- Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``), as with httpx. They
  are looked up once per :class:`Endpoint`, not per request in a thread as aiohttp's
  ``trust_env`` would.
- TLS certificates are checked against the system's store (which ``SSL_CERT_FILE``
  and ``SSL_CERT_DIR`` name) and certifi's bundle, the one httpx uses: a container
  without system certificates still reaches a hosted model."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import certifi
import orjson
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from canvasflow.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable

RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
# an event stream's line longer than this is refused, not buffered without end
MAX_LINE_BYTES = 8 * 1024 * 1024
# idle connections are kept this long for the next call (as Node's fetch, undici, does):
# after a burst, thousands of them would otherwise hold memory for aiohttp's default 15 s
KEEPALIVE_SECONDS = 4.0

_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(certifi.where())
    return context


def session() -> aiohttp.ClientSession:
    """This event loop's session (created on first use)."""
    loop = asyncio.get_running_loop()
    current = _sessions.get(loop)
    if current is None or current.closed:
        for other in [lp for lp in _sessions if lp.is_closed()]:
            del _sessions[other]  # a finished loop's session cannot be used or closed
        current = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=0, limit_per_host=0, ssl=_tls(), keepalive_timeout=KEEPALIVE_SECONDS
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        _sessions[loop] = current
    return current


def connectors() -> list[aiohttp.BaseConnector]:
    """The sessions' connection pools (their tables are compacted when the server is
    idle, observability/memory.py)."""
    return [s.connector for s in _sessions.values() if s.connector is not None]


async def close_sessions() -> None:
    """Close this loop's session (at shutdown)."""
    current = _sessions.pop(asyncio.get_running_loop(), None)
    if current is not None:
        await current.close()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Everything about a model endpoint that does not change from call to call: built
    once per (URL, key, timeouts, retries), not per request."""

    url: URL
    headers: Mapping[str, str]  # for a streamed answer
    json_headers: Mapping[str, str]  # for one JSON answer
    timeout: aiohttp.ClientTimeout
    retries: int
    proxy: URL | None
    proxy_auth: aiohttp.BasicAuth | None


@functools.lru_cache(maxsize=1024)
def endpoint(url: str, api_key: str, read: float, connect: float, retries: int) -> Endpoint:
    target = URL(url)
    try:
        proxy, proxy_auth = get_env_proxy_for_url(target)
    except LookupError:
        proxy, proxy_auth = None, None
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        "User-Agent": "canvasflow",
    }
    return Endpoint(
        url=target,
        headers={**headers, "Accept": "text/event-stream"},
        json_headers={**headers, "Accept": "application/json"},
        # connect: a pooled connection or a new one; sock_read: the longest silence
        timeout=aiohttp.ClientTimeout(total=None, connect=min(read, connect), sock_read=read),
        retries=retries,
        proxy=proxy,
        proxy_auth=proxy_auth,
    )


async def post(to: Endpoint, content: bytes, *, stream: bool) -> aiohttp.ClientResponse:
    """POST ``content``; the response once its status is below 400 (its body not read).

    A refused connection, a timeout or 408/409/429/5xx before the answer starts is
    retried ``to.retries`` times, waiting as ``Retry-After`` says or 0.5 s, 1 s, 2 s...
    An error status is raised as :class:`UpstreamError` with the upstream's message."""
    http = session()
    headers = to.headers if stream else to.json_headers
    for attempt in range(to.retries + 1):
        last = attempt == to.retries
        try:
            response = await http.post(
                to.url,
                data=content,
                headers=headers,
                timeout=to.timeout,
                proxy=to.proxy,
                proxy_auth=to.proxy_auth,
            )
        except TimeoutError:
            if last:
                raise UpstreamTimeout("upstream model timed out") from None
            await asyncio.sleep(0.5 * 2**attempt)
            continue
        except (aiohttp.ClientConnectionError, OSError) as exc:
            if last:
                raise UpstreamUnreachable(f"upstream model unreachable: {_describe(exc)}") from None
            await asyncio.sleep(0.5 * 2**attempt)
            continue
        except aiohttp.ClientError as exc:  # a bad URL, a malformed answer
            raise UpstreamError(f"upstream model failed: {_describe(exc)}") from None
        if response.status < 400:
            return response
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            raw = b""
        finally:
            response.release()
        if response.status in RETRYABLE and not last:
            await asyncio.sleep(_retry_after(response) or 0.5 * 2**attempt)
            continue
        raise UpstreamError(
            f"upstream model answered {response.status}: {error_text(raw)}",
            upstream_status=response.status,
        )
    raise UpstreamUnreachable("upstream model unreachable")  # pragma: no cover


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    try:
        return min(float(response.headers.get("retry-after", "")), 30.0)
    except ValueError:
        return None


def error_text(raw: bytes) -> str:
    """An upstream error body's message (OpenAI's ``{"error": {"message": ...}}``)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode(errors="replace") or "no message"
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return str(err)[:300]


def body_reader(response: Any) -> Callable[[], Awaitable[bytes]]:
    """What reads a response's body as it arrives, a chunk a call (``b""`` at its end):
    an aiohttp response's own ``readany`` (no iterator between it and a token's
    reader), or the next of an httpx response's chunks."""
    if isinstance(response, aiohttp.ClientResponse):
        return response.content.readany
    chunks = getattr(response, "http_response", response).aiter_bytes()

    async def read() -> bytes:
        return await anext(chunks, b"")

    return read


class EventData:
    """The data of each event of a server-sent event stream, as the WHATWG rules read it:
    ``data`` lines joined with newlines, one event per blank line, comments and the other
    fields (``event``, ``id``, ``retry``) skipped, an event cut off by the stream's end
    dropped. Lines end with LF or CRLF (a lone CR, which no model server sends, is not
    taken as a line end). Fed the body's chunks as they arrive (:meth:`feed`): the
    caller's own loop reads them, one generator fewer on a token's way."""

    __slots__ = ("data", "tail")

    def __init__(self) -> None:
        self.tail = b""
        self.data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of the events this chunk completes."""
        if self.tail:
            chunk = self.tail + chunk
        lines = chunk.split(b"\n")
        self.tail = lines.pop()
        if len(self.tail) > MAX_LINE_BYTES:
            raise ValueError(f"an event stream line longer than {MAX_LINE_BYTES} bytes")
        done: list[bytes] = []
        data = self.data
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:
                if data:
                    done.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data = self.data = []
            elif line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line == b"data":
                data.append(b"")
        return done
