"""Any OpenAI-compatible chat endpoint.

Clients are shared per (base URL, key, timeout) so connections are pooled and kept
alive across predictions. The official ``openai`` client holds the endpoint, the key
and the pooled connections, and makes every call but one: a plain chat completion (the
one call on every prediction's start) is posted straight on its pooled httpx client, as
bytes built with orjson, because the official client's request building (typed
parameter transforms) cost a measurable share of a prediction's CPU (BENCHMARKS.md,
issue 17). Azure keeps the official client for everything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import orjson
from httpx_sse import EventSource

from canvasflow.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from canvasflow.models.base import KEEP_IDLE_CONNECTIONS, Message, Usage, provider

_clients: dict[tuple[Any, ...], openai.AsyncOpenAI] = {}


def client_for(
    base_url: str | None,
    api_key: str | None,
    timeout: float = 600.0,
    retries: int = 2,
    connect: float = 10.0,
) -> openai.AsyncOpenAI:
    key = (base_url or None, api_key or "", timeout, retries, connect)
    client = _clients.get(key)
    if client is None:
        client = openai.AsyncOpenAI(
            base_url=base_url or None,
            # OpenAI-compatible servers that need no key still get a non-empty one
            api_key=api_key or "no-key",
            timeout=httpx.Timeout(timeout, connect=min(timeout, connect)),
            max_retries=retries,
            http_client=httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=None, max_keepalive_connections=KEEP_IDLE_CONNECTIONS
                ),
                timeout=httpx.Timeout(timeout, connect=min(timeout, connect)),
            ),
        )
        _clients[key] = client
    return client


def azure_client_for(
    endpoint: str, api_key: str | None, deployment: str, version: str, retries: int = 2
) -> openai.AsyncAzureOpenAI:
    key = ("azure", endpoint, api_key or "", deployment, version)
    client = _clients.get(key)  # type: ignore[arg-type]
    if client is None:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment,
            api_version=version,
            api_key=api_key or "no-key",
            max_retries=retries,
        )
        _clients[key] = client  # type: ignore[index]
    return client  # type: ignore[return-value]


async def close_clients() -> None:
    for client in _clients.values():
        await client.close()
    _clients.clear()


async def sse_chunks(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of an OpenAI-style event stream: parsed by httpx-sse (the one SSE
    parser canvasflow uses for upstreams) and orjson (building the client's Pydantic
    object per chunk was most of a token's CPU)."""
    source = getattr(response, "http_response", response)  # the official client's, or httpx's
    # At [DONE] the response is closed before its body's last chunk, which closes its
    # connection: reading to the end would let the next call reuse it (0.5 ms less to a
    # lone stream's first token), but holds each answer's end until the upstream ends
    # its body, and a 500-stream burst's first tokens came twice as late (BENCHMARKS.md).
    async for sse in EventSource(source).aiter_sse():
        data = sse.data
        if not data:
            continue
        if data == "[DONE]":
            return
        chunk = orjson.loads(data)
        if "error" in chunk and not chunk.get("choices"):
            err = chunk["error"]
            message = err.get("message") if isinstance(err, dict) else str(err)
            raise UpstreamError(f"upstream model failed: {message}")
        yield chunk


def answer_text(body: dict[str, Any], usage: Usage) -> str | None:
    """A chat completion's text (not streamed), its usage added to ``usage``."""
    answer_usage = body.get("usage") or {}
    usage.add(answer_usage.get("prompt_tokens") or 0, answer_usage.get("completion_tokens") or 0)
    choices = body.get("choices") or []
    return (choices[0].get("message") or {}).get("content") if choices else ""


async def answer_pieces(response: Any, usage: Usage) -> AsyncIterator[str]:
    """A streamed chat completion's text pieces; the usage it reports (else one
    completion token per piece) added to ``usage``."""
    pieces = 0
    reported = False
    async for chunk in sse_chunks(response):
        chunk_usage = chunk.get("usage")
        if chunk_usage:
            usage.add(
                chunk_usage.get("prompt_tokens") or 0, chunk_usage.get("completion_tokens") or 0
            )
            reported = True
        choices = chunk.get("choices")
        if choices:
            delta = (choices[0].get("delta") or {}).get("content")
            if delta:
                pieces += 1
                yield delta
    if not reported:
        usage.add(0, pieces)


@provider("openai")
class OpenAIChatModel:
    """OpenAI and every server that speaks its chat API (Azure, LocalAI, Mistral...)."""

    capabilities = frozenset({"stream", "usage", "tools", "json", "vision"})

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model_name: str,
        params: dict[str, Any],
        streaming: bool = True,
    ) -> None:
        self.client = client
        self.model_name = model_name
        self.params = {k: v for k, v in params.items() if v is not None}
        self.streaming = streaming

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        if type(self.client) is openai.AsyncOpenAI:  # not Azure: the lean path
            async for piece in self._stream_direct(messages, usage):
                yield piece
            return
        try:
            if not self.streaming:
                raw = await self.client.chat.completions.with_raw_response.create(
                    model=self.model_name,
                    messages=messages,
                    **self.params,  # type: ignore[arg-type]
                )
                text = answer_text(orjson.loads(raw.content), usage)
                if text:
                    yield text
                return
            # The official client builds the request (auth, retries, errors); the chunks
            # are read raw and parsed with orjson: building a pydantic object per chunk
            # was most of the CPU a streamed token cost (see BENCHMARKS.md).
            async with self.client.chat.completions.with_streaming_response.create(
                model=self.model_name,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
                **self.params,
            ) as response:
                async for piece in answer_pieces(response, usage):
                    yield piece
        except openai.APIStatusError as exc:
            raise UpstreamError(
                f"upstream model answered {exc.status_code}: {_message(exc)}",
                upstream_status=exc.status_code,
            ) from None
        except openai.APITimeoutError:
            raise UpstreamTimeout("upstream model timed out") from None
        except openai.APIConnectionError as exc:
            raise UpstreamUnreachable(f"upstream model unreachable: {exc}") from None
        except (httpx.HTTPError, openai.APIError) as exc:
            raise UpstreamError(f"upstream model stream failed: {exc}") from None
        except ValueError as exc:  # a chunk that is not JSON
            raise UpstreamError(f"upstream model sent invalid data: {exc}") from None

    async def _stream_direct(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        body: dict[str, Any] = {"model": self.model_name, "messages": messages, **self.params}
        if self.streaming:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        response = await _post(self.client, "/chat/completions", body, self.streaming)
        try:
            if not self.streaming:
                text = answer_text(orjson.loads(await response.aread()), usage)
                if text:
                    yield text
                return
            async for piece in answer_pieces(response, usage):
                yield piece
        except httpx.TimeoutException:
            raise UpstreamTimeout("upstream model timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream model stream failed: {exc}") from None
        except ValueError as exc:  # a chunk that is not JSON
            raise UpstreamError(f"upstream model sent invalid data: {exc}") from None
        finally:
            await response.aclose()

    def chat_with_tools(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], usage: Usage
    ) -> AsyncIterator[tuple[str, Any]]:
        """One tool-calling turn, streamed: ``("token", text)`` as the answer comes, then
        ``("tool_calls", [ToolCall, ...])`` if the model asked for tools."""
        return _chat_with_tools(self, messages, tools, usage)


RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})


async def _post(
    client: openai.AsyncOpenAI, path: str, body: dict[str, Any], stream: bool
) -> httpx.Response:
    """POST a JSON body on the official client's pooled connections, with its key and its
    retries (a refused connection, a timeout or 408/409/429/5xx before the answer starts,
    waiting as ``Retry-After`` says or 0.5 s, 1 s, 2 s...). An error status is raised as
    :class:`UpstreamError` with the upstream's message."""
    http: httpx.AsyncClient = client._client  # the pooled httpx client it was given
    url = str(client.base_url).rstrip("/") + path
    headers = {
        "Authorization": f"Bearer {client.api_key}",
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "User-Agent": "canvasflow",
    }
    content = orjson.dumps(body)
    retries = client.max_retries
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            response = await http.send(
                http.build_request("POST", url, content=content, headers=headers), stream=True
            )
        except httpx.TimeoutException:
            if last:
                raise UpstreamTimeout("upstream model timed out") from None
            await asyncio.sleep(0.5 * 2**attempt)
            continue
        except httpx.TransportError as exc:
            if last:
                raise UpstreamUnreachable(f"upstream model unreachable: {exc}") from None
            await asyncio.sleep(0.5 * 2**attempt)
            continue
        if response.status_code < 400:
            return response
        raw = await response.aread()
        await response.aclose()
        if response.status_code in RETRYABLE and not last:
            await asyncio.sleep(_retry_after(response) or 0.5 * 2**attempt)
            continue
        raise UpstreamError(
            f"upstream model answered {response.status_code}: {_error_text(raw)}",
            upstream_status=response.status_code,
        )
    raise UpstreamUnreachable("upstream model unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers.get("retry-after", "")), 30.0)
    except ValueError:
        return None


def _error_text(raw: bytes) -> str:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode(errors="replace") or "no message"
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return str(err)[:300]


class ToolCall:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments = ""


async def _chat_with_tools(
    model: OpenAIChatModel,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    usage: Usage,
) -> AsyncIterator[tuple[str, Any]]:
    calls: dict[int, ToolCall] = {}
    try:
        async with model.client.chat.completions.with_streaming_response.create(
            model=model.model_name,
            messages=messages,  # type: ignore[arg-type]
            tools=tools,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            **model.params,
        ) as response:
            async for chunk in sse_chunks(response):
                if chunk.get("usage"):
                    u = chunk["usage"]
                    usage.add(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0)
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield "token", delta["content"]
                    for part in delta.get("tool_calls") or []:
                        call = calls.setdefault(int(part.get("index", 0)), ToolCall())
                        call.id = part.get("id") or call.id
                        fn = part.get("function") or {}
                        call.name = fn.get("name") or call.name
                        call.arguments += fn.get("arguments") or ""
    except openai.APIStatusError as exc:
        raise UpstreamError(
            f"upstream model answered {exc.status_code}: {_message(exc)}",
        ) from None
    except (openai.APIError, httpx.HTTPError) as exc:
        raise UpstreamError(f"upstream model failed: {exc}") from None
    if calls:
        yield "tool_calls", [calls[i] for i in sorted(calls)]


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return exc.message
