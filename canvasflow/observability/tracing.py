"""OpenTelemetry traces, when the optional extra is installed (``canvasflow[otel]``).

Without it every span is a no-op. With it, :func:`setup` exports every prediction's
spans over OTLP when the standard ``OTEL_*`` environment variables ask for it, and a
prediction whose canvas names analytic providers (observability/analytic.py) records its
spans for them, whether the server exports or not. A prediction that is sent nowhere
makes no span at all."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import trace
except ImportError:  # the extra is not installed
    trace = None  # the otel extra is not installed

if TYPE_CHECKING:
    from canvasflow.config import Settings
    from canvasflow.observability.export import Destination

# the destinations of the running prediction's spans besides the server's own: set by
# the prediction (its canvas's analytic providers, in its own task), read as spans start
ROUTES: ContextVar[tuple[Destination, ...]] = ContextVar("canvasflow_trace_routes", default=())

log = logging.getLogger("canvasflow.tracing")


_TRACER: Any = None
_ROUTER: Any = None


def _tracer() -> Any:
    """The global provider's tracer (setup's or an application's), with the router on the
    provider once a prediction has destinations of its own."""
    global _TRACER
    if _TRACER is None:  # a proxy: it follows the provider set later
        _TRACER = trace.get_tracer("canvasflow")
    _route(trace.get_tracer_provider())
    return _TRACER


def _router() -> Any:
    global _ROUTER
    if _ROUTER is None:
        from canvasflow.observability.export import Router

        _ROUTER = Router()
    return _ROUTER


def _route(provider: Any) -> None:
    """The router on a provider, once: a canvas's own destinations get its spans."""
    if ROUTES.get() and not getattr(provider, "_canvasflow_routed", False):
        if hasattr(provider, "add_span_processor"):
            provider.add_span_processor(_router())
            provider._canvasflow_routed = True


def enabled() -> bool:
    return trace is not None


def recording() -> bool:
    """Whether spans are recorded: OpenTelemetry is installed, and a tracer provider is
    set or the running prediction's canvas sends its traces somewhere."""
    return trace is not None and (_recording() or bool(ROUTES.get()))


def _recording() -> bool:
    """Whether a tracer provider is set (setup, or a test's): until then OpenTelemetry's
    own no-op spans still cost a prediction's start a measurable share of its CPU. The
    set provider is read from OpenTelemetry's module global: ``get_tracer_provider()``
    reads the environment on every call while none is set (2 % of a burst's samples)."""
    if hasattr(trace, "_TRACER_PROVIDER"):
        provider = trace._TRACER_PROVIDER
        if provider is None:
            return False
    else:  # a release without that global
        provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


class Pending:
    """A span noted as the prediction runs (its name, times, attributes, children) and
    made into OpenTelemetry's once its trace has ended (:func:`span`): nothing of the
    SDK's runs before a prediction's first token, or on its token path."""

    __slots__ = ("attributes", "children", "end", "error", "lazy", "name", "start", "status")

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        lazy: Callable[[], dict[str, Any]] | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.lazy = lazy  # more attributes, worked out only when the span is made
        self.start = start or time.time_ns()
        self.end = end
        self.status: Any = None
        self.error: BaseException | None = None
        self.children: list[Pending] = []

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_status(self, status: Any) -> None:
        self.status = status

    def add(
        self, name: str, start: int, end: int, attributes: dict[str, Any], error: bool = False
    ) -> Pending:
        """A child whose times are known (made from what a prediction recorded)."""
        child = Pending(name, attributes, start=start, end=max(start, end))
        if error and trace is not None:
            child.status = trace.Status(trace.StatusCode.ERROR)
        self.children.append(child)
        return child


_OPEN: ContextVar[Pending | None] = ContextVar("canvasflow_open_span", default=None)


@contextmanager
def span(
    name: str, lazy: Callable[[], dict[str, Any]] | None = None, **attributes: Any
) -> Iterator[Any]:
    """A span named ``name`` under the current one (nothing without OpenTelemetry, or
    when the prediction's spans go nowhere). It is noted (:class:`Pending`); the
    outermost one makes them all OpenTelemetry's spans when it ends."""
    if not recording():
        with nullcontext() as nothing:
            yield nothing
        return
    attrs = {k: v for k, v in attributes.items() if v is not None}
    parent = _OPEN.get()
    current = Pending(name, attrs, lazy)
    if parent is not None:
        parent.children.append(current)
    token = _OPEN.set(current)
    try:
        yield current
    except Exception as exc:
        current.error = exc
        raise
    finally:
        current.end = time.time_ns()
        _OPEN.reset(token)
        if parent is None:  # the trace has ended: its spans are made now
            try:
                make_spans(current)
            except Exception:
                log.exception("the spans of %r could not be made", name)


# the server's own OTLP destination and resource (setup), when it exports
_SERVER: Any = None
_RESOURCE: Any = None
_SCOPE: Any = None


def make_spans(root: Pending) -> None:
    """A noted trace's spans, sent where they go. When canvasflow's own exporters are the
    only ones (the server's ``OTEL_*`` exporter, the canvases' analytic providers), the
    spans are made for them directly, as OTLP needs them (``_send``): the SDK's span
    objects would cost a prediction more than the rest of its trace. When another
    tracer provider is set (an application's, a test's), OpenTelemetry's spans are made,
    parents before children, each ended with its own times, and its processors see them
    as usual."""
    if not _recording() or getattr(trace.get_tracer_provider(), "_canvasflow_own", False):
        _send(root)
        return
    tracer = _tracer()

    def make(noted: Pending, context: Any) -> None:
        attrs = dict(noted.attributes)
        if noted.lazy is not None:
            attrs.update(noted.lazy())
        made = tracer.start_span(
            noted.name, context=context, start_time=noted.start, attributes=attrs
        )
        if noted.error is not None:
            made.record_exception(noted.error)
            message = f"{type(noted.error).__name__}: {noted.error}"
            made.set_status(trace.Status(trace.StatusCode.ERROR, message))
        elif noted.status is not None:
            made.set_status(noted.status)
        inner = trace.set_span_in_context(made)
        for child in noted.children:
            make(child, inner)
        made.end(end_time=noted.end or time.time_ns())

    make(root, None)


def _send(root: Pending) -> None:
    """The noted trace as OTLP spans, to the server's destination and the prediction's
    routes (ids drawn as the SDK draws them: random, 128 and 64 bits)."""
    global _RESOURCE, _SCOPE
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from canvasflow.observability import otlp

    if _RESOURCE is None:
        _RESOURCE = Resource.create({"service.name": "canvasflow"})
    if _SCOPE is None:
        _SCOPE = InstrumentationScope("canvasflow")
    destinations = ((_SERVER,) if _SERVER is not None else ()) + ROUTES.get()
    if not destinations:
        return
    bits = random.getrandbits
    trace_id = bits(128) or 1
    unset = trace.Status(trace.StatusCode.UNSET)
    internal = trace.SpanKind.INTERNAL
    made: list[otlp.Span] = []

    def make(noted: Pending, parent: otlp.Context | None) -> None:
        context = otlp.Context(trace_id, bits(64) or 1)
        attrs = noted.attributes
        if noted.lazy is not None:
            attrs = {**attrs, **noted.lazy()}
        end = noted.end or time.time_ns()
        events = []
        status = noted.status or unset
        if noted.error is not None:  # as the SDK records an exception
            kind, message = type(noted.error).__name__, str(noted.error)
            events.append(
                otlp.Event(
                    "exception",
                    end,
                    {"exception.type": kind, "exception.message": message},
                )
            )
            status = trace.Status(trace.StatusCode.ERROR, f"{kind}: {message}")
        made.append(
            otlp.Span(
                name=noted.name,
                context=context,
                parent=parent,
                kind=internal,
                start_time=noted.start,
                end_time=end,
                attributes=attrs,
                events=events,
                status=status,
                resource=_RESOURCE,
                instrumentation_scope=_SCOPE,
            )
        )
        for child in noted.children:
            make(child, context)

    make(root, None)
    for destination in destinations:
        for one in made:
            destination.put(one)


def set_attributes(current: Any, **attributes: Any) -> None:
    if current is not None:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, value)


def setup(settings: Settings) -> bool:
    """Export spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT or
    OTEL_TRACES_EXPORTER=otlp is set (read into the settings). Returns whether tracing
    was set up."""
    endpoint = settings.otel_exporter_otlp_traces_endpoint or (
        settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        if settings.otel_exporter_otlp_endpoint
        else None
    )
    from canvasflow.observability import llm_spans

    llm_spans.CONTENT = settings.trace_content  # the canvases' analytic providers too
    wanted = endpoint or settings.otel_traces_exporter == "otlp"
    if not wanted or trace is None:
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.util.re import parse_env_headers
    except ImportError:
        log.warning("OTEL_* is set but canvasflow[otel] is not installed: no traces")
        return False
    from canvasflow.observability import export

    service = settings.otel_service_name or "canvasflow"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    headers = parse_env_headers(
        settings.otel_exporter_otlp_traces_headers or settings.otel_exporter_otlp_headers or "",
        liberal=True,
    )
    # a bounded queue whose drops /metrics counts (observability/export.py)
    destination = export.Destination(
        "otlp",
        endpoint or "http://localhost:4318/v1/traces",
        headers,
        max_queue=settings.trace_queue,
        delay=settings.otel_bsp_schedule_delay / 1000,
        timeout=settings.trace_export_timeout,
    )
    # other code's SDK spans, if any, are exported too; canvasflow's own skip the SDK
    # (make_spans) and reach the server's and the canvases' destinations directly
    provider.add_span_processor(export.Exporting(export.register(destination)))
    provider._canvasflow_own = True
    global _SERVER, _RESOURCE
    _SERVER, _RESOURCE = destination, provider.resource
    trace.set_tracer_provider(provider)
    return True
