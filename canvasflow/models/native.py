"""Chat models with APIs of their own: Ollama (NDJSON stream) and Anthropic's Messages
API (server-sent events), over one shared, pooled httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from httpx_sse import aconnect_sse

from canvasflow.errors import UpstreamError, UpstreamUnreachable
from canvasflow.models.base import KEEP_IDLE_CONNECTIONS, Message, Usage, provider

_client: httpx.AsyncClient | None = None


def http() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(
            timeout=httpx.Timeout(600, connect=10),
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=KEEP_IDLE_CONNECTIONS
            ),
        )
    return _client


async def close_http() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


def _fail(exc: Exception, who: str) -> UpstreamError:
    if isinstance(exc, httpx.HTTPStatusError):
        return UpstreamError(
            f"{who} answered {exc.response.status_code}: {exc.response.text[:300]}",
            upstream_status=exc.response.status_code,
        )
    return UpstreamUnreachable(f"{who} unreachable: {exc}")


async def _probe(url: str, who: str, headers: dict[str, str] | None = None) -> Any:
    """GET a provider's model list: whether it answers and takes the key (no tokens).
    Its JSON answer."""
    try:
        r = await http().get(url, headers=headers or {}, timeout=10)
        r.raise_for_status()
        return r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise _fail(exc, who) from None


async def ollama_models(base_url: str) -> list[str]:
    """The models an Ollama server has pulled (its ``/api/tags``)."""
    found = await _probe(base_url.rstrip("/") + "/api/tags", "Ollama")
    return sorted(str(m.get("name")) for m in found.get("models") or [] if m.get("name"))


def _data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:`` URL, else None."""
    if not url.startswith("data:") or ";base64," not in url:
        return None
    head, data = url[5:].split(";base64,", 1)
    return head, data


def _ollama_message(message: Any) -> Any:
    """A message with OpenAI-style content parts in Ollama's shape: the text, and the
    images as base64 (Ollama takes no image URLs; those are left out)."""
    content = message["content"]
    if not isinstance(content, list):
        return message
    text = "".join(p.get("text", "") for p in content if p.get("type") == "text")
    images = [
        found[1]
        for p in content
        if p.get("type") == "image_url" and (found := _data_url(p["image_url"]["url"]))
    ]
    return {"role": message["role"], "content": text, **({"images": images} if images else {})}


def _anthropic_message(message: Any) -> Any:
    """A message with OpenAI-style content parts in Anthropic's shape."""
    content = message["content"]
    if not isinstance(content, list):
        return message
    parts: list[dict[str, Any]] = []
    for p in content:
        if p.get("type") == "text":
            parts.append({"type": "text", "text": p["text"]})
        elif p.get("type") == "image_url":
            url = p["image_url"]["url"]
            found = _data_url(url)
            source = (
                {"type": "base64", "media_type": found[0], "data": found[1]}
                if found
                else {"type": "url", "url": url}
            )
            parts.append({"type": "image", "source": source})
    return {"role": message["role"], "content": parts}


@provider("ollama")
class OllamaChatModel:
    capabilities = frozenset({"stream", "usage", "json", "vision"})

    def __init__(
        self,
        base_url: str,
        model_name: str,
        options: dict[str, Any],
        keep_alive: str | None,
        json_mode: bool,
    ) -> None:
        self.url = base_url.rstrip("/") + "/api/chat"
        self.model_name = model_name
        self.options = {k: v for k, v in options.items() if v is not None}
        self.keep_alive = keep_alive
        self.json_mode = json_mode

    async def model_names(self) -> list[str]:
        return await ollama_models(self.url.removesuffix("/api/chat"))

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [_ollama_message(m) for m in messages],
            "stream": True,
            "options": self.options,
        }
        if self.keep_alive:
            body["keep_alive"] = self.keep_alive
        if self.json_mode:
            body["format"] = "json"
        try:
            async with http().stream("POST", self.url, content=orjson.dumps(body)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    chunk = orjson.loads(line)
                    if chunk.get("error"):
                        raise UpstreamError(f"Ollama: {chunk['error']}")
                    text = (chunk.get("message") or {}).get("content")
                    if text:
                        yield text
                    if chunk.get("done"):
                        usage.add(chunk.get("prompt_eval_count") or 0, chunk.get("eval_count") or 0)
        except httpx.HTTPError as exc:
            raise _fail(exc, "Ollama") from None


def _anthropic_turns(messages: list[Any]) -> tuple[str, list[Any]]:
    """OpenAI-style messages as Anthropic's: the system text apart; an assistant's tool
    calls as ``tool_use`` blocks; tool results as ``tool_result`` blocks of one user
    turn."""
    system = "\n\n".join(str(m["content"]) for m in messages if m["role"] == "system")
    turns: list[Any] = []
    for m in messages:
        role = m["role"]
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m.get("tool_call_id", ""),
                "content": str(m.get("content", "")),
            }
            last = turns[-1] if turns else None
            if (
                last
                and last["role"] == "user"
                and isinstance(last["content"], list)
                and all(b.get("type") == "tool_result" for b in last["content"])
            ):
                last["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks: list[Any] = [{"type": "text", "text": m["content"]}] if m.get("content") else []
            for call in m["tool_calls"]:
                fn = call["function"]
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    args = {"input": fn.get("arguments")}
                blocks.append(
                    {"type": "tool_use", "id": call["id"], "name": fn["name"], "input": args}
                )
            turns.append({"role": "assistant", "content": blocks})
        elif role in ("user", "assistant"):
            turns.append(_anthropic_message(m))
    return system, turns


@provider("anthropic")
class AnthropicChatModel:
    capabilities = frozenset({"stream", "usage", "vision", "tools"})

    def __init__(
        self, base_url: str, api_key: str | None, model_name: str, params: dict[str, Any]
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/messages"
        self.api_key = api_key
        self.model_name = model_name
        self.params = {k: v for k, v in params.items() if v is not None}

    async def model_names(self) -> list[str]:
        headers = {"anthropic-version": "2023-06-01", "x-api-key": self.api_key or ""}
        found = await _probe(self.url.removesuffix("/messages") + "/models", "Anthropic", headers)
        return sorted(str(m.get("id")) for m in found.get("data") or [] if m.get("id"))

    async def _events(
        self, messages: list[Any], usage: Usage, tools: list[dict[str, Any]] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The Messages API's stream events (usage counted, errors raised)."""
        system, turns = _anthropic_turns(messages)
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": turns,
            "stream": True,
            "max_tokens": 1024,
            **self.params,
        }
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [
                {
                    "name": t["function"]["name"],
                    "description": t["function"].get("description", ""),
                    "input_schema": t["function"].get("parameters") or {"type": "object"},
                }
                for t in tools
            ]
        headers = {
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
            "x-api-key": self.api_key or "",
        }
        try:
            async with aconnect_sse(
                http(), "POST", self.url, content=orjson.dumps(body), headers=headers
            ) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    source.response.raise_for_status()
                async for sse in source.aiter_sse():
                    data = orjson.loads(sse.data) if sse.data else {}
                    kind = data.get("type") or sse.event
                    if kind == "message_start":
                        u = (data.get("message") or {}).get("usage") or {}
                        usage.add(u.get("input_tokens") or 0, 0)
                    elif kind == "message_delta":
                        usage.add(0, (data.get("usage") or {}).get("output_tokens") or 0)
                    elif kind == "error":
                        message = (data.get("error") or {}).get("message", "error")
                        raise UpstreamError(f"Anthropic: {message}")
                    else:
                        yield data
        except httpx.HTTPError as exc:
            raise _fail(exc, "Anthropic") from None

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        async for data in self._events(messages, usage):
            if data.get("type") == "content_block_delta":
                text = (data.get("delta") or {}).get("text")
                if text:
                    yield text

    def chat_with_tools(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], usage: Usage
    ) -> AsyncIterator[tuple[str, Any]]:
        """One tool-calling turn: ``("token", text)`` as the answer comes, then
        ``("tool_calls", [ToolCall, ...])`` if the model asked for tools."""
        return self._tool_turn(messages, tools, usage)

    async def _tool_turn(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], usage: Usage
    ) -> AsyncIterator[tuple[str, Any]]:
        from canvasflow.models.openai_compat import ToolCall

        calls: dict[int, ToolCall] = {}
        async for data in self._events(messages, usage, tools):
            kind = data.get("type")
            if kind == "content_block_start":
                block = data.get("content_block") or {}
                if block.get("type") == "tool_use":
                    call = ToolCall()
                    call.id, call.name = str(block.get("id", "")), str(block.get("name", ""))
                    calls[int(data.get("index", len(calls)))] = call
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "input_json_delta":
                    found = calls.get(int(data.get("index", -1)))
                    if found is not None:
                        found.arguments += str(delta.get("partial_json", ""))
                elif delta.get("text"):
                    yield "token", delta["text"]
        if calls:
            yield "tool_calls", [calls[i] for i in sorted(calls)]
