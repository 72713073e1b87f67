"""Tools for consuming a token stream: sentences out of tokens, and a stream to a file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import Any, TextIO

_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)|[。！？]")


class StreamBuffer:
    """Collects streamed text and hands out complete sentences; the unfinished tail
    stays in the buffer until more text (or the end of the stream) arrives.

    A sentence ends at ``.``, ``!``, ``?`` or ``…`` followed by white space or the end
    of the text, so "3.14" and "e.g.x" do not split while the number is streaming."""

    def __init__(self) -> None:
        self._buffer = ""  # only the unfinished sentence: it stays short
        self._sentences: list[str] = []

    def add_text(self, text: str) -> None:
        if not text:
            return
        self._buffer += text
        start = 0
        for match in _SENTENCE_END.finditer(self._buffer):
            end = match.end()
            if end == len(self._buffer) and match.group(0)[-1] in ".!?…":
                break  # might be the "3." of "3.14": wait for what follows
            sentence = self._buffer[start:end].strip()
            if sentence:
                self._sentences.append(sentence)
            start = end
        if start:
            self._buffer = self._buffer[start:].lstrip()

    def get_complete_sentences(self) -> list[str]:
        out, self._sentences = self._sentences, []
        return out

    def get_remaining_buffer(self) -> str:
        return self._buffer.strip()

    def flush(self) -> list[str]:
        """At the end of the stream: every sentence left, the tail included."""
        out = self.get_complete_sentences()
        tail = self.get_remaining_buffer()
        if tail:
            out.append(tail)
        self._buffer = ""
        return out


def _text_of(event: Any) -> str:
    if isinstance(event, dict):
        if event.get("event", "token") != "token":
            return ""
        text = event.get("text", event.get("data"))
        return text if isinstance(text, str) else ""
    return getattr(event, "text", "") or ""


def write_stream(events: Iterable[Any], target: str | Path | TextIO) -> str:
    """Write every token of a stream to a file, flushing after each; return the text."""
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8") as fh:
            return write_stream(events, fh)
    pieces = []
    for event in events:
        text = _text_of(event)
        if text:
            target.write(text)
            target.flush()
            pieces.append(text)
    return "".join(pieces)


async def awrite_stream(events: AsyncIterable[Any], target: str | Path | TextIO) -> str:
    """The async twin of :func:`write_stream`. The writes stay blocking on purpose: a
    token is a few bytes to a local file, cheaper than a thread hop per token."""
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8") as fh:  # noqa: ASYNC230
            return await awrite_stream(events, fh)
    pieces = []
    async for event in events:
        text = _text_of(event)
        if text:
            target.write(text)  # noqa: ASYNC240
            target.flush()  # noqa: ASYNC240
            pieces.append(text)
    return "".join(pieces)
