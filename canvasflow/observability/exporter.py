"""The trace exporter: a process of its own, started by the server's first trace
destination (observability/export.py), that writes OTLP's protobuf and sends it, so
that neither the encoding nor the talk with collectors holds the server's interpreter
lock while predictions run (``bench``: scenario k).

The server writes frames to its standard input and reads frames from its standard
output; a frame is a 4-byte length (little-endian) and a :mod:`marshal`-ed tuple (the
same interpreter is at both ends):

- ``("to", id, url, headers, timeout)``: a destination (again after a restart);
- ``("send", id, count, groups, raw)``: ``count`` spans for destination ``id``:
  ``groups`` of noted traces, each ``(heads, [trace, ...])``: what goes around them
  (``otlp.heads``: their resource and scope) and the traces as
  :func:`canvasflow.observability.tracing.flat` wrote them; and ``raw``, spans the
  SDK made, already written as ``ResourceSpans``;
- ``("flush", seq)``: answered ``("flushed", seq)`` once everything sent before it has
  been sent or has failed;

and back: ``("sent", id, count)``, ``("failed", id, count, why)`` (the collector said
no, is away or timed out), ``("dropped", id, count)`` (its queue here was full). Each
destination sends from a thread of its own, so a collector that hangs holds up only
its own spans. The process ends when its standard input does (its server has gone),
once what it holds has been sent."""

from __future__ import annotations

import marshal
import queue
import struct
import sys
import threading
from typing import IO, Any, BinaryIO

HEAD = struct.Struct("<I")
QUEUED = 8  # batches a destination may hold here while its collector is slow


def frame(message: tuple[Any, ...]) -> bytes:
    body = marshal.dumps(message)
    return HEAD.pack(len(body)) + body


def read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next frame's message; None at the end of the stream."""
    head = stream.read(HEAD.size)
    if len(head) < HEAD.size:
        return None
    (size,) = HEAD.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    message: tuple[Any, ...] = marshal.loads(body)
    return message


class _Answers:
    """Frames back to the server, one writer at a time."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, *message: Any) -> None:
        with self.lock:
            try:
                self.stream.write(frame(message))
                self.stream.flush()
            except (BrokenPipeError, ValueError):  # the server has gone
                pass


class _Sender:
    """One destination: its batches, sent in order from a thread of its own."""

    def __init__(self, ident: int, answer: _Answers) -> None:
        self.ident = ident
        self.answer = answer
        self.url = ""
        self.headers: dict[str, str] = {}
        self.client: Any = None
        self.batches: queue.Queue[tuple[int, list[Any], bytes] | None] = queue.Queue(QUEUED)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def configure(self, url: str, headers: dict[str, str], timeout: float) -> None:
        import httpx

        self.url, self.headers = url, {**headers, "Content-Type": "application/x-protobuf"}
        self.client = httpx.Client(timeout=timeout)

    def put(self, count: int, groups: list[Any], raw: bytes) -> None:
        try:
            self.batches.put_nowait((count, groups, raw))
        except queue.Full:
            self.answer("dropped", self.ident, count)

    def _run(self) -> None:
        while True:
            batch = self.batches.get()
            try:
                if batch is None:
                    return
                self._send(*batch)
            finally:
                self.batches.task_done()

    def _send(self, count: int, groups: list[Any], raw: bytes) -> None:
        from canvasflow.observability.otlp import flat_spans, wrap
        from canvasflow.observability.tracing import read_flat

        try:
            parts = [raw]
            for heads, traces in groups:
                spans = b"".join(flat_spans(read_flat(trace)) for trace in traces)
                parts.append(wrap(spans, heads))
            r = self.client.post(self.url, content=b"".join(parts), headers=self.headers)
            if r.is_success:
                self.answer("sent", self.ident, count)
            else:
                self.answer("failed", self.ident, count, f"{r.status_code} {r.text[:200]}")
        except Exception as exc:  # away, refused, timed out: counted, never raised on
            self.answer("failed", self.ident, count, f"{type(exc).__name__}: {exc}")


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Read the server's frames until its end of the stream; then send what is held."""
    answer = _Answers(out)
    senders: dict[int, _Sender] = {}

    def sender(ident: int) -> _Sender:
        got = senders.get(ident)
        if got is None:
            got = senders[ident] = _Sender(ident, answer)
        return got

    def flushed(seq: int, waiting: list[_Sender]) -> None:
        for s in waiting:
            s.batches.join()
        answer("flushed", seq)

    while (message := read_frame(inp)) is not None:
        kind = message[0]
        if kind == "send":
            _, ident, count, groups, raw = message
            sender(ident).put(count, groups, raw)
        elif kind == "to":
            _, ident, url, headers, timeout = message
            sender(ident).configure(url, headers, timeout)
        elif kind == "flush":
            waiting = list(senders.values())
            threading.Thread(target=flushed, args=(message[1], waiting), daemon=True).start()
    for s in senders.values():  # the server has gone: what is queued still goes
        s.batches.put(None)
    for s in senders.values():
        s.thread.join(timeout=30)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
