"""Any OpenAI-compatible chat endpoint.

Clients are shared per (base URL, key, timeout). The official ``openai`` client holds the
endpoint, the key, the timeouts and the retries, and makes every call but one: a plain
chat completion (the one call on every prediction's start) is posted straight through
:mod:`canvasflow.models.upstream` (aiohttp), as bytes built with orjson. The official
client's request building (typed parameter transforms) and httpx's pure-Python HTTP
parsing cost most of a bare relay's CPU per answer (BENCHMARKS.md, issue 17). Azure and
tool calls keep the official client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import httpx
import openai
import orjson

from canvasflow.errors import OutputInvalid, UpstreamError, UpstreamTimeout, UpstreamUnreachable
from canvasflow.models import upstream
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
        limit = httpx.Timeout(timeout, connect=min(timeout, connect))
        # openai 3 types its HTTP client and timeout as httpx2's; httpx's have the same API
        http: Any = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=KEEP_IDLE_CONNECTIONS
            ),
            timeout=limit,
        )
        client = openai.AsyncOpenAI(
            base_url=base_url or None,
            # OpenAI-compatible servers that need no key still get a non-empty one
            api_key=api_key or "no-key",
            timeout=cast(Any, limit),
            max_retries=retries,
            http_client=http,
        )
        _clients[key] = client
    return client


def azure_client_for(
    endpoint: str, api_key: str | None, deployment: str, version: str, retries: int = 2
) -> openai.AsyncAzureOpenAI:
    key = ("azure", endpoint, api_key or "", deployment, version)
    client = _clients.get(key)
    if client is None:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment,
            api_version=version,
            api_key=api_key or "no-key",
            max_retries=retries,
        )
        _clients[key] = client
    return client


async def close_clients() -> None:
    for client in _clients.values():
        await client.close()
    _clients.clear()
    await upstream.close_sessions()


async def sse_chunks(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of an OpenAI-style event stream (an aiohttp response, or the
    official client's): events read by :class:`upstream.EventData`, parsed by orjson
    (building the client's Pydantic object per chunk was most of a token's CPU). It
    stops at ``[DONE]``; the caller releases the response."""
    read, events = upstream.body_reader(response), upstream.EventData()
    while chunk := await read():
        for data in events.feed(chunk):
            parsed = _chunk(data)
            if parsed is None:
                return
            if parsed:
                yield parsed


def _chunk(data: bytes) -> dict[str, Any] | None:
    """An event's chunk: None at ``[DONE]``, empty for an event without data; an
    error the stream reports raised."""
    if data == b"[DONE]":
        return None
    if not data:
        return {}
    chunk = orjson.loads(data)
    if "error" in chunk and not chunk.get("choices"):
        err = chunk["error"]
        message = err.get("message") if isinstance(err, dict) else str(err)
        raise UpstreamError(f"upstream model failed: {message}")
    return chunk


def answer_text(body: dict[str, Any], usage: Usage) -> str | None:
    """A chat completion's text (not streamed), its usage added to ``usage``."""
    answer_usage = body.get("usage") or {}
    usage.add(answer_usage.get("prompt_tokens") or 0, answer_usage.get("completion_tokens") or 0)
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list):  # 200, but not a chat completion: not an answer
        raise OutputInvalid(
            f"the model's answer is not a chat completion (no choices): {str(body)[:200]}"
        )
    return (choices[0].get("message") or {}).get("content") if choices else ""


async def answer_pieces(response: Any, usage: Usage) -> AsyncIterator[str]:
    """A streamed chat completion's text pieces; the usage it reports (else one
    completion token per piece) added to ``usage``. The body's chunks are read and
    parsed here, in one loop: a token passes no generator on its way but this one."""
    pieces = 0
    reported = False
    shaped = False  # some chunk was a chat completion chunk (no work per token for it)
    read, events = upstream.body_reader(response), upstream.EventData()
    done = False
    while not done and (body := await read()):
        for data in events.feed(body):
            chunk = _chunk(data)
            if chunk is None:  # [DONE]
                done = True
                break
            chunk_usage = chunk.get("usage")
            if chunk_usage:
                usage.add(
                    chunk_usage.get("prompt_tokens") or 0,
                    chunk_usage.get("completion_tokens") or 0,
                )
                reported = True
            choices = chunk.get("choices")
            if choices:
                delta = (choices[0].get("delta") or {}).get("content")
                if delta:
                    pieces += 1
                    yield delta
                else:
                    shaped = True
            elif choices is not None:
                shaped = True
    if not pieces and not shaped:  # 200, but no chat completion chunk in the stream
        raise OutputInvalid("the model's stream held no chat completion chunk (no choices)")
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

    async def model_names(self) -> list[str]:
        return await list_models(self.client)

    def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        """The answer's pieces: called over aiohttp (the lean path), or through the
        official client for Azure. The chosen generator itself, no relay around it."""
        if type(self.client) is openai.AsyncOpenAI:  # not Azure: the lean path
            return self._stream_direct(messages, usage)
        return self._stream_client(messages, usage)

    async def _stream_client(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        try:
            if not self.streaming:
                raw = await self.client.chat.completions.with_raw_response.create(
                    model=self.model_name,
                    messages=cast(Any, messages),  # plain dicts; the SDK types TypedDicts
                    **self.params,
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
                messages=cast(Any, messages),  # plain dicts; the SDK types TypedDicts
                stream=True,
                stream_options={"include_usage": True},
                **self.params,
            ) as response:
                async for piece in answer_pieces(response, usage):
                    yield piece
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise upstream_error(exc) from None
        except (httpx.HTTPError, openai.APIError) as exc:
            raise UpstreamError(f"upstream model stream failed: {exc}") from None
        except ValueError as exc:  # a chunk that is not JSON
            raise UpstreamError(f"upstream model sent invalid data: {exc}") from None

    async def _stream_direct(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        body: dict[str, Any] = {"model": self.model_name, "messages": messages, **self.params}
        if self.streaming:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        response = await upstream.post(
            _endpoint_of(self.client), orjson.dumps(body), stream=self.streaming
        )
        try:
            # a server that ignores ``stream`` and answers with one JSON body is read as one
            if not self.streaming or response.content_type == "application/json":
                text = answer_text(orjson.loads(await response.read()), usage)
                if text:
                    yield text
                return
            if response.content_type != "text/event-stream":
                raise UpstreamError(
                    f"upstream model answered {response.content_type or 'no content type'}, "
                    "not an event stream"
                )
            async for piece in answer_pieces(response, usage):
                yield piece
        except TimeoutError:
            raise UpstreamTimeout("upstream model timed out") from None
        except aiohttp.ClientError as exc:
            reason = str(exc) or type(exc).__name__
            raise UpstreamError(f"upstream model stream failed: {reason}") from None
        except ValueError as exc:  # a chunk that is not JSON
            raise UpstreamError(f"upstream model sent invalid data: {exc}") from None
        finally:
            # back to the pool when its body was read to the end (a stream's usually is
            # by its [DONE]: the chunked body's end comes in the same packet), else closed
            response.release()

    def chat_with_tools(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], usage: Usage
    ) -> AsyncIterator[tuple[str, Any]]:
        """One tool-calling turn, streamed: ``("token", text)`` as the answer comes, then
        ``("tool_calls", [ToolCall, ...])`` if the model asked for tools."""
        return _chat_with_tools(self, messages, tools, usage)


def _endpoint_of(client: openai.AsyncOpenAI) -> upstream.Endpoint:
    """The chat completions endpoint of an official client: its URL, key, timeouts and
    retries (built once per client, see :func:`upstream.endpoint`)."""
    timeout: Any = client.timeout  # the httpx.Timeout given above (typed as httpx2's)
    read, connect = (
        (timeout.read or 600.0, timeout.connect or 10.0)
        if isinstance(timeout, httpx.Timeout)
        else (float(timeout or 600.0), 10.0)
    )
    return upstream.endpoint(
        str(client.base_url).rstrip("/") + "/chat/completions",
        client.api_key,
        read,
        connect,
        client.max_retries,
    )


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
            messages=cast(Any, messages),  # plain dicts; the SDK types TypedDicts
            tools=cast(Any, tools),
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


async def list_models(client: openai.AsyncOpenAI) -> list[str]:
    """Ask an OpenAI-compatible server for its model list (whether it answers and takes
    the key, without spending a token): the models' ids."""
    try:
        page = await client.models.list()
        return sorted(m.id for m in page.data)
    except (openai.APIStatusError, openai.APIConnectionError) as exc:
        raise upstream_error(exc) from None
    except (openai.APIError, httpx.HTTPError) as exc:
        raise UpstreamError(f"upstream model failed: {exc}") from None


def upstream_error(exc: openai.APIStatusError | openai.APIConnectionError) -> UpstreamError:
    """The typed error of the official client's refusal, time-out or failed connection."""
    if isinstance(exc, openai.APIStatusError):
        return UpstreamError(
            f"upstream model answered {exc.status_code}: {_message(exc)}",
            upstream_status=exc.status_code,
        )
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout("upstream model timed out")
    return UpstreamUnreachable(f"upstream model unreachable: {exc}")


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return exc.message
