"""OpenTelemetry traces, when the optional extra is installed (``canvasflow[otel]``).

Without it every span is a no-op. With it, :func:`setup` exports every prediction's
spans over OTLP when the standard ``OTEL_*`` environment variables ask for it, and a
prediction whose canvas names analytic providers (observability/analytic.py) records its
spans for them, whether the server exports or not. A prediction that is sent nowhere
makes no span at all."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from random import getrandbits
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
    reads the environment on every call while none is set (2 % of a burst's samples);
    the answer is kept until the provider changes."""
    provider = _provider()
    if provider is _SEEN[0]:
        return _SEEN[1]
    answer = provider is not None and not isinstance(
        provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )
    _SEEN[:] = [provider, answer, getattr(provider, "_canvasflow_own", False)]
    return answer


def _provider() -> Any:
    if _GLOBAL:
        return trace._TRACER_PROVIDER
    return trace.get_tracer_provider()  # a release without that global


_GLOBAL = hasattr(trace, "_TRACER_PROVIDER")


# the provider last looked at: whether it records, whether it is setup's own
_SEEN: list[Any] = [object(), False, False]


class Pending:
    """A span noted as the prediction runs (its name, times, attributes, children) and
    made into OpenTelemetry's once its trace has ended (:func:`span`): nothing of the
    SDK's runs before a prediction's first token, or on its token path."""

    __slots__ = (
        "attributes",
        "children",
        "end",
        "error",
        "lazy",
        "name",
        "start",
        "status",
        "to_server",
        "trace_id",
    )

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
        self.trace_id = 0  # a root's, when the sampler drew it (0: drawn when written)
        self.to_server = True  # a root's: whether the server's exporter gets its trace

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


def span(
    name: str, lazy: Callable[[], dict[str, Any]] | None = None, **attributes: Any
) -> AbstractContextManager[Any]:
    """A span named ``name`` under the current one (nothing without OpenTelemetry, or
    when the prediction's spans go nowhere: ``with`` gives None). It is noted
    (:class:`Pending`); the outermost one makes them all spans when it ends."""
    if not recording():
        return _NOTHING
    parent = _OPEN.get()
    if parent is _LEFT_OUT:  # the sampler left this trace out: its spans too
        return _NOTHING
    noted = Pending(name, {k: v for k, v in attributes.items() if v is not None}, lazy)
    if parent is None and _SAMPLER is not None:  # a trace begins: is it sampled?
        noted.trace_id = getrandbits(128) or 1
        decision = _SAMPLER.should_sample(None, noted.trace_id, name)
        if not decision.decision.is_sampled():
            if not ROUTES.get():  # sent nowhere: nothing of it is noted
                return _LeftOut()
            noted.to_server = False  # its canvas's providers still get it
    return _Opened(noted)


_NOTHING = nullcontext()
# the server's sampler (setup: OTEL_TRACES_SAMPLER) when it is not "every trace"
_SAMPLER: Any = None
# what the open span is while a trace the sampler left out runs
_LEFT_OUT = Pending("left out", {})


class _LeftOut:
    """A trace the sampler left out while it runs: the spans inside it note nothing."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = _OPEN.set(_LEFT_OUT)

    def __exit__(self, *exc: Any) -> None:
        _OPEN.reset(self.token)


class _Opened:
    """A noted span while it is open: the current one (:data:`_OPEN`) inside ``with``."""

    __slots__ = ("noted", "parent", "token")

    def __init__(self, noted: Pending) -> None:
        self.noted = noted

    def __enter__(self) -> Pending:
        noted = self.noted
        parent = self.parent = _OPEN.get()
        if parent is not None:
            parent.children.append(noted)
        self.token = _OPEN.set(noted)
        return noted

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        noted = self.noted
        if isinstance(error, Exception):
            noted.error = error
        noted.end = time.time_ns()
        _OPEN.reset(self.token)
        if self.parent is None:  # the trace has ended: its spans are made now
            try:
                make_spans(noted)
            except Exception:
                log.exception("the spans of %r could not be made", noted.name)


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
    if not _recording() or _SEEN[2]:
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
    """The noted trace to the server's destination and the prediction's routes: its lazy
    attributes and end times settled, its spans written as OTLP's protobuf once for them
    all (``otlp.noted_spans``, ~30 µs a prediction of five spans): a destination's queue
    holds a string per trace, and its thread only puts a resource around them and sends.
    (Queueing the trace's objects for that thread to write cost the server more: they
    outlived their prediction by up to a second.)"""
    from canvasflow.observability import otlp

    global _RESOURCE, _SCOPE
    server = (_SERVER,) if _SERVER is not None and root.to_server else ()
    destinations = server + ROUTES.get()
    if not destinations:
        return
    if _RESOURCE is None or _SCOPE is None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        _RESOURCE = _RESOURCE or Resource.create({"service.name": "canvasflow"})
        _SCOPE = InstrumentationScope("canvasflow")
    count = _settle(root, time.time_ns())
    spans = otlp.noted_spans(root)
    for destination in destinations:
        destination.put_trace(spans, count, _RESOURCE, _SCOPE)


def _settle(noted: Pending, now: int) -> int:
    """A noted span and its children made final (their lazy attributes worked out, an
    end time where none was noted); how many spans there are."""
    if noted.lazy is not None:
        noted.attributes = {**noted.attributes, **noted.lazy()}
        noted.lazy = None
    if noted.end is None:
        noted.end = now
    count = 1
    for child in noted.children:
        count += _settle(child, now)
    return count


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
    sampler = sampler_of(settings)
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)
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
    global _SERVER, _RESOURCE, _SAMPLER
    _SERVER, _RESOURCE = destination, provider.resource
    # canvasflow's own traces ask it as they begin, unless it takes every one
    every = (settings.otel_traces_sampler or "parentbased_always_on").endswith("always_on")
    _SAMPLER = None if every else sampler
    trace.set_tracer_provider(provider)
    return True


def sampler_of(settings: Settings) -> Any:
    """OpenTelemetry's sampler named by OTEL_TRACES_SAMPLER (and its ARG), as the SDK
    reads them: a prediction starts its trace, so a parent-based one decides by its
    root sampler."""
    from opentelemetry.sdk.trace import sampling

    name = settings.otel_traces_sampler or "parentbased_always_on"
    ratio = 1.0 if settings.otel_traces_sampler_arg is None else settings.otel_traces_sampler_arg
    root = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }[name.removeprefix("parentbased_")]
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root
