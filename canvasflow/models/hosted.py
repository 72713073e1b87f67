"""Text-completion models hosted behind their own HTTP APIs: Replicate (a prediction
created, then followed until it ends) and Hugging Face inference (one request). Neither
streams here: the whole answer comes as one piece."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from canvasflow.errors import UpstreamError, UpstreamUnreachable
from canvasflow.models.base import Message, Usage, provider
from canvasflow.models.native import http


def as_prompt(messages: list[Message]) -> str:
    """Chat messages as one prompt for a text-completion model."""
    parts = []
    for m in messages:
        content = m["content"]
        text = (
            content
            if isinstance(content, str)
            else " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        )
        if m["role"] == "assistant":
            parts.append(f"Assistant: {text}")
        elif m["role"] == "user" and len(messages) > 1:
            parts.append(f"User: {text}")
        else:
            parts.append(text)
    return "\n\n".join(parts)


async def _request(method: str, url: str, who: str, **kwargs: Any) -> Any:
    try:
        r = await http().request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise UpstreamUnreachable(f"{who} unreachable: {exc}") from None
    if r.status_code >= 400:
        raise UpstreamError(f"{who} answered {r.status_code}: {r.text[:300]}")
    return r.json()


@provider("replicate")
class ReplicateModel:
    """A model on Replicate: ``owner/name`` (its latest version) or ``owner/name:version``."""

    capabilities = frozenset({"stream"})

    def __init__(
        self, base: str, key: str | None, model: str, params: dict[str, Any], timeout: float
    ) -> None:
        self.base = base
        self.key = key
        self.model_name = model
        self.params = {k: v for k, v in params.items() if v is not None}
        self.timeout = timeout

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        headers = {"Authorization": f"Bearer {self.key}", "Prefer": "wait=5"}
        body: dict[str, Any] = {"input": {"prompt": as_prompt(messages), **self.params}}
        owner_name, _, version = self.model_name.partition(":")
        if version:
            url = f"{self.base}/v1/predictions"
            body["version"] = version
        else:
            url = f"{self.base}/v1/models/{owner_name}/predictions"
        data = await _request("POST", url, "Replicate", json=body, headers=headers, timeout=30)
        deadline = time.monotonic() + self.timeout
        wait = 0.2
        while data.get("status") not in ("succeeded", "failed", "canceled"):
            if time.monotonic() > deadline:
                raise UpstreamError(f"Replicate: no answer in {self.timeout:.0f} s")
            await asyncio.sleep(wait)
            wait = min(wait * 2, 2.0)
            get = (data.get("urls") or {}).get("get") or f"{self.base}/v1/predictions/{data['id']}"
            data = await _request("GET", get, "Replicate", headers=headers, timeout=30)
        if data["status"] != "succeeded":
            raise UpstreamError(f"Replicate: the prediction {data['status']}: {data.get('error')}")
        output = data.get("output")
        if isinstance(output, list):
            items = [str(o) for o in output]
            urls = all(i.startswith(("http://", "https://")) for i in items)
            yield ("\n".join if urls else "".join)(items)
        elif output is not None:
            yield str(output)


@provider("huggingface")
class HuggingFaceModel:
    """A text-generation model on Hugging Face's inference API (or an endpoint of its
    kind), answered in one piece."""

    capabilities = frozenset({"stream"})

    def __init__(self, url: str, key: str | None, model: str, params: dict[str, Any]) -> None:
        self.url = url
        self.key = key
        self.model_name = model
        self.params = {k: v for k, v in params.items() if v is not None}

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        prompt = as_prompt(messages)
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        body = {
            "inputs": prompt,
            "parameters": {**self.params, "return_full_text": False},
            "options": {"wait_for_model": True},
        }
        data = await _request(
            "POST", self.url, "Hugging Face", json=body, headers=headers, timeout=120
        )
        item = data[0] if isinstance(data, list) and data else data
        text = item.get("generated_text") if isinstance(item, dict) else None
        if text is None:
            raise UpstreamError(f"Hugging Face answered no generated_text: {str(data)[:200]}")
        # some endpoints give the prompt back in front of the answer
        yield text[len(prompt) :] if text.startswith(prompt) else text
