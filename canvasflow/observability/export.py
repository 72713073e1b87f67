"""Where finished spans go: trace destinations, each a bounded queue and a thread that
passes batches of it to the exporter process (observability/exporter.py), which writes
OTLP's protobuf (observability/otlp.py) and sends it over OTLP/HTTP. A prediction only
appends to a queue (never waits for a collector, nor for that process); a full queue
drops the span and counts it, a failed export counts its spans, and ``/metrics`` shows
both (:class:`ExportCollector`). The encoding and the talk with collectors run in that
process, not under this one's interpreter lock, where they cost a traced server a
tenth of its throughput.

Two kinds of destination share this: the server's own OTLP exporter (the ``OTEL_*``
variables, every prediction's spans) and a canvas's analytic providers (its spans only,
routed by :class:`Router` from the :data:`ROUTES` of the prediction that made them)."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from canvasflow.observability.exporter import frame, read_frame
from canvasflow.observability.otlp import encode, heads
from canvasflow.observability.tracing import ROUTES

try:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
except ImportError:  # canvasflow[otel] is not installed: nothing is exported
    SpanProcessor = object

log = logging.getLogger("canvasflow.tracing")

BATCH = 512  # spans sent in one export
CHUNK = 16  # spans encoded while holding the GIL
DELAY = 1.0  # seconds a span may wait for its batch to fill


class Destination:
    """One place spans are sent: an OTLP/HTTP endpoint (``url``, with ``headers``) behind a
    bounded queue and a daemon thread. ``resource`` replaces the spans' own (a
    provider's project name lives there)."""

    def __init__(
        self,
        name: str,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        max_queue: int = 2048,
        resource: Resource | None = None,
        delay: float = DELAY,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.ident = next(_IDENTS)
        self.resource = resource
        self.max_queue = max_queue
        self.delay = delay
        self.queue: deque[Any] = deque()  # SDK spans and Noted traces
        self.queued = 0  # spans in the queue
        self.wake = threading.Condition()
        self.exported = 0
        self.dropped = 0  # the queue was full
        self.dropped_there = 0  # the exporter process's queue was full
        self.failed = 0  # spans of exports that failed
        self.sending = False  # a batch is on its way to the exporter process
        self.closed = False
        self._warned = False
        self.thread = threading.Thread(target=self._run, name=f"trace export {name}", daemon=True)
        self.thread.start()

    def put(self, span: ReadableSpan) -> None:
        """Queue a finished span (the SDK's); drop it (counted) when the queue is full.
        Never waits."""
        self._put(span, 1)

    def put_trace(self, spans: bytes, count: int, resource: Any, scope: Any) -> None:
        """Queue a noted trace's ``count`` spans, already written (``tracing.flat``),
        to be sent under ``resource`` (this destination's own, if it has one) and
        ``scope``. Dropped (its spans counted) when the queue is full."""
        self._put(Noted(spans, count, self.resource or resource, scope), count)

    def _put(self, item: Any, count: int) -> None:
        if self.queued + count > self.max_queue or self.closed:
            self.dropped += count
            return
        self.queue.append(item)
        self.queued += count  # one bytecode sequence the GIL does not split
        if self.queued >= BATCH:
            with self.wake:
                self.wake.notify()

    def _take(self) -> list[Any]:
        batch: list[Any] = []
        taken = 0
        while self.queue and taken < BATCH:
            item = self.queue.popleft()
            batch.append(item)
            taken += item.count if type(item) is Noted else 1
        self.queued -= taken
        return batch

    def _run(self) -> None:
        while True:
            with self.wake:
                if self.queued < BATCH and not self.closed:
                    self.wake.wait(self.delay)
            self.sending = True  # before the queue empties: flush() waits for both
            try:
                batch = self._take()
                if batch:
                    self._send(batch)
            finally:
                self.sending = False
            if self.closed and not self.queue:
                return

    def _send(self, batch: list[Any]) -> None:
        spans = [item for item in batch if type(item) is not Noted]
        if spans and self.resource is not None:
            spans = [_with_resource(s, self.resource) for s in spans]
        traces = [item for item in batch if type(item) is Noted]
        # the SDK's spans (other code's, rare) are written here, a few at a time, letting
        # the GIL go between: the event loop waits for it at most that long, never a
        # whole switch interval (5 ms)
        parts = []
        for i in range(0, len(spans), CHUNK):
            parts.append(encode(spans[i : i + CHUNK]))
            time.sleep(0)
        # noted traces go to the exporter process as they were written, grouped by the
        # resource and scope they are sent under: it writes the protobuf
        groups: list[tuple[tuple[bytes, ...], list[bytes]]] = []
        start = 0
        for j, noted in enumerate(traces):
            after = traces[j + 1] if j + 1 < len(traces) else None
            if (
                after is None
                or after.resource is not noted.resource
                or after.scope is not noted.scope
            ):
                group = [n.spans for n in traces[start : j + 1]]
                groups.append((heads(noted.resource, noted.scope), group))
                start = j + 1
        count = len(spans) + sum(n.count for n in traces)
        try:
            EXPORTER.send(self, ("send", self.ident, count, groups, b"".join(parts)))
        except OSError as exc:
            self.answered("failed", count, f"the exporter process is not running ({exc})")

    def answered(self, kind: str, count: int, why: str = "") -> None:
        """What the exporter process said of ``count`` of this destination's spans:
        ``sent``, ``failed`` (``why``) or ``dropped`` (its queue there was full)."""
        if kind == "sent":
            self.exported += count
            self._warned = False
        elif kind == "dropped":
            self.dropped_there += count
        else:
            self.failed += count
            if not self._warned:  # once until it works again, not once a batch
                self._warned = True
                log.warning("trace export to %s failed (%s): its spans are dropped", self.name, why)

    def flush(self, timeout: float = 30.0) -> bool:
        """Send what is queued now (tests, shutdown); whether it was sent, or failed, in
        time."""
        deadline = time.monotonic() + timeout
        while (self.queue or self.sending) and time.monotonic() < deadline:
            with self.wake:
                self.wake.notify()
            time.sleep(0.01)
        if self.queue or self.sending:
            return False
        return EXPORTER.flush(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 5.0) -> None:
        self.closed = True
        with self.wake:
            self.wake.notify()
        self.thread.join(timeout)


_IDENTS = itertools.count(1)


class Exporter:
    """The exporter process (observability/exporter.py) this process's destinations pass
    their batches to: started with the first batch, told of each destination before its
    first batch, started again (and told again) when it has ended. Its answers (spans
    sent, failed, dropped; flushes done) are read by a thread of its own."""

    RESTART_AFTER = 5.0  # seconds between starts when it keeps ending

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one writer at a time, and one start
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.told: set[int] = set()  # destinations the running process knows
        self.destinations: dict[int, Destination] = {}
        self.flushes: dict[int, threading.Event] = {}
        self.seq = itertools.count(1)

    def send(self, destination: Destination, message: tuple[Any, ...]) -> None:
        """``message`` for ``destination``'s spans; OSError when the process is not
        running and cannot be started now."""
        with self.lock:
            process = self._running()
            assert process.stdin is not None
            if destination.ident not in self.told:
                self.destinations[destination.ident] = destination
                told = ("to", destination.ident, destination.url, destination.headers)
                process.stdin.write(frame((*told, destination.timeout)))
                self.told.add(destination.ident)
            try:
                process.stdin.write(frame(message))
                process.stdin.flush()
            except OSError:
                process.kill()
                raise

    def flush(self, timeout: float) -> bool:
        """Whether everything passed on so far was sent (or failed) within ``timeout``."""
        seq = next(self.seq)
        done = self.flushes[seq] = threading.Event()
        try:
            with self.lock:
                if self.process is None or self.process.poll() is not None:
                    return True  # nothing is held there
                assert self.process.stdin is not None
                self.process.stdin.write(frame(("flush", seq)))
                self.process.stdin.flush()
            return done.wait(timeout)
        except OSError:
            return False
        finally:
            self.flushes.pop(seq, None)

    def _running(self) -> subprocess.Popen[bytes]:
        process = self.process
        if process is not None and process.poll() is None:
            return process
        if process is not None and time.monotonic() - self.started < self.RESTART_AFTER:
            raise OSError(f"it ended ({process.returncode}); started again shortly")
        self.started = time.monotonic()
        process = self.process = subprocess.Popen(  # the same interpreter: marshal's bytes
            [sys.executable, "-m", "canvasflow.observability.exporter"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self.told = set()
        threading.Thread(
            target=self._answers, args=(process,), name="trace exporter answers", daemon=True
        ).start()
        return process

    def _answers(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        while (message := read_frame(process.stdout)) is not None:
            kind = message[0]
            if kind == "flushed":
                done = self.flushes.get(message[1])
                if done is not None:
                    done.set()
                continue
            destination = self.destinations.get(message[1])
            if destination is not None:
                try:
                    destination.answered(kind, *message[2:])
                except Exception:  # this thread reads on, whatever one answer was
                    log.exception("the trace exporter's answer %r was not understood", kind)


EXPORTER = Exporter()


class Noted:
    """A noted trace's spans in a destination's queue (written), with the resource and
    scope they are sent under."""

    __slots__ = ("count", "resource", "scope", "spans")

    def __init__(self, spans: bytes, count: int, resource: Any, scope: Any) -> None:
        self.spans, self.count, self.resource, self.scope = spans, count, resource, scope


def _with_resource(span: ReadableSpan, resource: Resource) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class Exporting(SpanProcessor):
    """Every finished span to one destination (the server's OTLP exporter)."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.destination.put(span)

    def shutdown(self) -> None:
        self.destination.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.destination.flush(timeout_millis / 1000)


class Router(SpanProcessor):
    """Each span to the destinations of the prediction that made it (:data:`ROUTES` when
    the span started); a span made outside one goes nowhere from here."""

    def __init__(self) -> None:
        self._live: dict[int, tuple[Destination, ...]] = {}

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        routes = ROUTES.get()
        if routes:
            self._live[span.context.span_id] = routes

    def on_end(self, span: ReadableSpan) -> None:
        if not self._live:
            return
        routes = self._live.pop(span.context.span_id, None)
        for destination in routes or ():
            destination.put(span)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


# every destination made in this process, by name, for /metrics
DESTINATIONS: list[Destination] = []


def register(destination: Destination) -> Destination:
    DESTINATIONS.append(destination)
    return destination


class ExportCollector:
    """The destinations' counts for Prometheus: spans exported, dropped (queue full),
    failed (their export failed), and queued now, by destination."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        exported = CounterMetricFamily(
            "canvasflow_trace_spans_exported", "Spans sent to a trace destination", labels=["to"]
        )
        dropped = CounterMetricFamily(
            "canvasflow_trace_spans_dropped",
            "Spans not sent: the destination's queue was full (queue) or its export failed "
            "(failed)",
            labels=["to", "reason"],
        )
        queued = GaugeMetricFamily(
            "canvasflow_trace_spans_queued", "Spans waiting to be sent", labels=["to"]
        )
        totals: dict[str, list[int]] = {}
        for d in DESTINATIONS:
            t = totals.setdefault(d.name, [0, 0, 0, 0])
            t[0] += d.exported
            t[1] += d.dropped + d.dropped_there
            t[2] += d.failed
            t[3] += d.queued
        for name, (sent, full, failed, waiting) in sorted(totals.items()):
            exported.add_metric([name], sent)
            dropped.add_metric([name, "queue"], full)
            dropped.add_metric([name, "failed"], failed)
            queued.add_metric([name], waiting)
        yield exported
        yield dropped
        yield queued
