"""Where finished spans go: trace destinations, each a bounded queue and a thread that
sends batches over OTLP/HTTP (protobuf, encoded by observability/otlp.py). A prediction
only appends to a queue (never waits for a collector); a full queue drops the span and
counts it, a failed export counts its spans, and ``/metrics`` shows both
(:class:`ExportCollector`).

Two kinds of destination share this: the server's own OTLP exporter (the ``OTEL_*``
variables, every prediction's spans) and a canvas's analytic providers (its spans only,
routed by :class:`Router` from the :data:`ROUTES` of the prediction that made them)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import httpx

from canvasflow.observability.otlp import encode, wrap
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
        self.headers = {**(headers or {}), "Content-Type": "application/x-protobuf"}
        self.client = httpx.Client(timeout=timeout)
        self.resource = resource
        self.max_queue = max_queue
        self.delay = delay
        self.queue: deque[Any] = deque()  # SDK spans and Noted traces
        self.queued = 0  # spans in the queue
        self.wake = threading.Condition()
        self.exported = 0
        self.dropped = 0  # the queue was full
        self.failed = 0  # spans of exports that failed
        self.closed = False
        self._warned = False
        self.thread = threading.Thread(target=self._run, name=f"trace export {name}", daemon=True)
        self.thread.start()

    def put(self, span: ReadableSpan) -> None:
        """Queue a finished span (the SDK's); drop it (counted) when the queue is full.
        Never waits."""
        self._put(span, 1)

    def put_trace(self, spans: bytes, count: int, resource: Any, scope: Any) -> None:
        """Queue a noted trace's ``count`` spans, already written (``otlp.noted_spans``),
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
            batch = self._take()
            if batch:
                self._send(batch)
            if self.closed and not self.queue:
                return

    def _send(self, batch: list[Any]) -> None:
        spans = [item for item in batch if type(item) is not Noted]
        if spans and self.resource is not None:
            spans = [_with_resource(s, self.resource) for s in spans]
        traces = [item for item in batch if type(item) is Noted]
        # encoded a few spans at a time, letting the GIL go between: the event loop waits
        # for it at most that long, never a whole switch interval (5 ms); requests
        # concatenate into one
        parts = []
        for i in range(0, len(spans), CHUNK):
            parts.append(encode(spans[i : i + CHUNK]))
            time.sleep(0)
        start = 0  # traces written as they ended: one ResourceSpans per resource and scope
        for j, noted in enumerate(traces):
            after = traces[j + 1] if j + 1 < len(traces) else None
            if (
                after is None
                or after.resource is not noted.resource
                or after.scope is not noted.scope
            ):
                group = [n.spans for n in traces[start : j + 1]]
                parts.append(wrap(group, noted.resource, noted.scope))
                start = j + 1
        count = len(spans) + sum(n.count for n in traces)
        try:
            r = self.client.post(self.url, content=b"".join(parts), headers=self.headers)
            sent = r.is_success
            why = f"{r.status_code} {r.text[:200]}"
        except Exception as exc:  # away, refused, timed out: counted, never raised on
            sent, why = False, f"{type(exc).__name__}: {exc}"
        if sent:
            self.exported += count
            self._warned = False
            return
        self.failed += count
        if not self._warned:  # once until it works again, not once a batch
            self._warned = True
            log.warning("trace export to %s failed (%s): its spans are dropped", self.name, why)

    def flush(self, timeout: float = 30.0) -> bool:
        """Send what is queued now (tests, shutdown); whether the queue emptied in time."""
        deadline = time.monotonic() + timeout
        while self.queue and time.monotonic() < deadline:
            with self.wake:
                self.wake.notify()
            time.sleep(0.01)
        return not self.queue

    def close(self, timeout: float = 5.0) -> None:
        self.closed = True
        with self.wake:
            self.wake.notify()
        self.thread.join(timeout)
        self.client.close()


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
            t[1] += d.dropped
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
