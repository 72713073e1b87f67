"""Clients that read a stream exactly the way each example of the streaming guide
does (same line handling, same keys, same stop condition), written for these tests.
Each returns what it saw, so the tests can assert on it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from canvasflow.sdk import StreamBuffer


@dataclass
class Seen:
    text: str = ""
    done: bool = False
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def _data_lines(response: requests.Response):  # type: ignore[no-untyped-def]
    """Lines as the guide reads them: iter_lines(decode_unicode=True), 'data: ' prefix."""
    for line in response.iter_lines(decode_unicode=True):
        if line and line.startswith("data: "):
            yield line[6:]


def requests_with_error_handling(url: str, question: str, timeout: float = 60) -> Seen:
    """'Python with error handling': raise_for_status, stop at [DONE], print 'text'."""
    seen = Seen()
    try:
        response = requests.post(
            url, json={"question": question, "streaming": True}, stream=True, timeout=timeout
        )
        response.raise_for_status()
        for data_part in _data_lines(response):
            if data_part == "[DONE]":
                seen.done = True
                break
            try:
                parsed = json.loads(data_part)
            except json.JSONDecodeError:
                continue
            seen.events.append(parsed)
            seen.text += parsed.get("text", "") or ""
    except requests.exceptions.Timeout:
        seen.error = "timeout"
    except requests.exceptions.RequestException as exc:
        seen.error = f"request error: {exc}"
    return seen


def buffered_sentences(url: str, question: str) -> tuple[list[str], str]:
    """'Buffering and chunk processing': chunks with 'text' fed to a StreamBuffer."""
    buffer = StreamBuffer()
    sentences: list[str] = []
    response = requests.post(url, json={"question": question, "streaming": True}, stream=True)
    for data_part in _data_lines(response):
        if data_part == "[DONE]":
            break
        chunk = json.loads(data_part)
        if chunk.get("text"):
            buffer.add_text(chunk["text"])
            sentences.extend(buffer.get_complete_sentences())
    return sentences, buffer.get_remaining_buffer()


def enhanced_streaming(url: str, question: str) -> Seen:
    """'Streaming with metadata': asks for sources and steps; dispatches on 'event'."""
    seen = Seen()
    body = {
        "question": question,
        "streaming": True,
        "overrideConfig": {"returnSourceDocuments": True, "returnIntermediateSteps": True},
    }
    response = requests.post(url, json=body, stream=True)
    for data_part in _data_lines(response):
        if data_part == "[DONE]":
            seen.done = True
            break
        try:
            parsed = json.loads(data_part)
        except json.JSONDecodeError:
            continue
        seen.events.append(parsed)
        event_type = parsed.get("event", "token")
        if event_type == "token":
            seen.text += parsed.get("text", "")
        elif event_type == "step":
            seen.log.append(f"step:{parsed.get('data', {}).get('step')}")
        elif event_type == "source":
            seen.log.append(f"sources:{len(parsed.get('data', []))}")
        elif event_type == "error":
            seen.error = str(parsed.get("data", "unknown error"))
    return seen


def streaming_to_file(url: str, question: str, path: Path) -> Seen:
    """'Saving to a file': every text written and flushed as it arrives."""
    seen = Seen()
    response = requests.post(url, json={"question": question, "streaming": True}, stream=True)
    with open(path, "w", encoding="utf-8") as file:
        for data_part in _data_lines(response):
            if data_part == "[DONE]":
                seen.done = True
                break
            try:
                parsed = json.loads(data_part)
            except json.JSONDecodeError:
                continue
            text = parsed.get("text", "")
            if text:
                file.write(text)
                file.flush()
                seen.log.append(path.read_text(encoding="utf-8"))  # what is on disk now
                seen.text += text
    return seen


def event_type_handlers(url: str, question: str, body: dict[str, Any] | None = None) -> Seen:
    """'Event structure': a handler per event type, each reading the keys the guide reads."""
    seen = Seen()
    response = requests.post(
        url, json={"question": question, "streaming": True, **(body or {})}, stream=True
    )
    for data_part in _data_lines(response):
        if data_part == "[DONE]":
            seen.log.append("end")
            seen.done = True
            break
        event = json.loads(data_part)
        seen.events.append(event)
        event_type = event.get("event", "token")
        if event_type == "token":
            seen.text += event.get("data", "")
        elif event_type == "start":
            seen.log.append(f"start:{event.get('data', {}).get('timestamp')}")
        elif event_type == "error":
            seen.error = event.get("data", {}).get("message", "unknown error")
        elif event_type == "step":
            seen.log.append(f"step:{event.get('data', {}).get('step', 'unknown')}")
        elif event_type == "source":
            sources = event.get("data", [])
            titles = [
                s.get("metadata", {}).get("title", f"doc {i + 1}")
                for i, s in enumerate(sources[:3])
            ]
            seen.log.append("sources:" + "|".join(titles))
        elif event_type == "metadata":
            metadata = event.get("data", {})
            seen.log.append(f"metadata:{metadata.get('model')}:{metadata.get('tokens_used', 0)}")
    return seen


class PooledClient:
    """'Connection pooling': a Session with urllib3 retries mounted, yielding JSON events."""

    def __init__(self, base_url: str, max_retries: int = 3) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        retry_strategy = Retry(
            total=max_retries, backoff_factor=1, status_forcelist=[429, 500, 502, 503, 504]
        )
        adapter = HTTPAdapter(max_retries=retry_strategy)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def stream_prediction(self, canvas_id: str, question: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        url = f"{self.base_url}/api/v1/prediction/{canvas_id}"
        response = self.session.post(
            url, json={"question": question, "streaming": True, **kwargs}, stream=True, timeout=60
        )
        response.raise_for_status()
        for data_part in _data_lines(response):
            if data_part == "[DONE]":
                break
            try:
                yield json.loads(data_part)
            except json.JSONDecodeError:
                continue


async def aiohttp_streaming(url: str, question: str) -> Seen:
    """'Asynchronous processing': aiohttp, lines from response.content, decode + strip."""
    seen = Seen()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"question": question, "streaming": True}) as response,
    ):
        async for line in response.content:
            line_str = line.decode("utf-8").strip()
            if line_str.startswith("data: "):
                data_part = line_str[6:]
                if data_part == "[DONE]":
                    seen.done = True
                    break
                try:
                    event = json.loads(data_part)
                except json.JSONDecodeError:
                    continue
                seen.events.append(event)
                seen.text += event.get("text", "")
    return seen
