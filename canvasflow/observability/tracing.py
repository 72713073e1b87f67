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

import orjson

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
        "later",
        "name",
        "opened_in",
        "start",
        "status",
        "to_server",
        "token",
        "trace_id",
    )

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        later: Later | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> None:
        self.name = name
        self.attributes = attributes
        # more attributes, worked out only when the span is written (:data:`BUILDERS`)
        self.later: list[Later] | None = [later] if later is not None else None
        self.start = start or time.time_ns()
        self.end = end
        self.status: Any = None
        self.error: BaseException | None = None
        self.children: list[Pending] = []
        self.trace_id = 0  # a root's, when the sampler drew it (0: drawn when written)
        self.to_server = True  # a root's: whether the server's exporter gets its trace
        self.opened_in: Pending | None = None  # the span open when this one was (span)
        self.token: Any = None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)

    def add_later(self, later: Later) -> None:
        """Attributes to be worked out from ``later`` when the span is written."""
        if self.later is None:
            self.later = [later]
        else:
            self.later.append(later)

    def __enter__(self) -> Pending:
        """Open (:func:`span`): the current span inside ``with``."""
        parent = self.opened_in
        if parent is not None:
            parent.children.append(self)
        self.token = _OPEN.set(self)
        return self

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if isinstance(error, Exception):
            self.error = error
        self.end = time.time_ns()
        _OPEN.reset(self.token)
        if self.opened_in is None:  # the trace has ended: its spans are made now
            try:
                make_spans(self)
            except Exception:
                log.exception("the spans of %r could not be made", self.name)

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


def span(name: str, later: Later | None = None, **attributes: Any) -> AbstractContextManager[Any]:
    """A span named ``name`` under the current one (nothing without OpenTelemetry, or
    when the prediction's spans go nowhere: ``with`` gives None). It is noted
    (:class:`Pending`); the outermost one makes them all spans when it ends."""
    if not recording():
        return _NOTHING
    parent = _OPEN.get()
    if parent is _LEFT_OUT:  # the sampler left this trace out: its spans too
        return _NOTHING
    noted = Pending(name, {k: v for k, v in attributes.items() if v is not None}, later)
    if parent is None and _SAMPLER is not None:  # a trace begins: is it sampled?
        noted.trace_id = getrandbits(128) or 1
        decision = _SAMPLER.should_sample(None, noted.trace_id, name)
        if not decision.decision.is_sampled():
            if not ROUTES.get():  # sent nowhere: nothing of it is noted
                return _LeftOut()
            noted.to_server = False  # its canvas's providers still get it
    noted.opened_in = parent
    return noted


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
        attrs = expand(noted.attributes, noted.later)
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
    """The noted trace to the server's destination and the prediction's routes, written
    once for them all as the exporter process reads it (:func:`flat`, a few µs): a
    destination's queue holds a string per trace, its thread passes batches of them to
    that process, and the protobuf is written and sent there, away from this
    interpreter's lock. (Queueing the trace's objects cost the server more: they
    outlived their prediction by up to a second.)"""
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
    count, spans = flat(root, time.time_ns())
    for destination in destinations:
        destination.put_trace(spans, count, _RESOURCE, _SCOPE)


def flat(root: Pending, now: int) -> tuple[int, bytes]:
    """A noted trace made final and written for the exporter process: how many spans,
    and JSON (orjson: the fastest writer here) of its id in two 64-bit halves (0: none
    drawn yet) and its spans, parents before children, each ``[name, start, end,
    attributes, parent's index, error, status, later]``, with an end time where none was
    noted, its error as ``[type, message]``, its status as ``[code, description]`` and
    what its attributes are worked out from (:func:`expand`) as it is written there
    (``otlp.flat_spans`` writes the protobuf)."""
    spans: list[tuple[Any, ...]] = []
    _flatten(root, now, -1, spans)
    trace_id = root.trace_id
    try:
        written = orjson.dumps((trace_id >> 64, trace_id & _LOW, spans))
    except TypeError:  # what JSON does not take: worked out here, then written as text
        spans = [(*s[:3], _plain(expand(s[3], s[7])), *s[4:7], None) for s in spans]
        written = orjson.dumps((trace_id >> 64, trace_id & _LOW, spans))
    return len(spans), written


_LOW = (1 << 64) - 1


def read_flat(written: bytes) -> tuple[int, list[Any]]:
    """What :func:`flat` wrote: the trace's id and its spans, their attributes worked
    out (in the exporter process)."""
    high, low, spans = orjson.loads(written)
    for span in spans:
        if span[7]:
            span[3] = expand(span[3], span[7])
    return high << 64 | low, spans


def _flatten(noted: Pending, now: int, parent: int, out: list[tuple[Any, ...]]) -> None:
    error, status = noted.error, noted.status
    here = len(out)
    out.append(
        (
            noted.name,
            noted.start,
            noted.end or now,
            noted.attributes,
            parent,
            None if error is None else (type(error).__name__, str(error)),
            None if status is None else (status.status_code.value, status.description or ""),
            noted.later,
        )
    )
    for child in noted.children:
        _flatten(child, now, here, out)


# a span's attributes worked out when it is written, from plain values noted as it ran:
# the name of a builder (:data:`BUILDERS`) and its arguments
Later = tuple[str, tuple[Any, ...]]
# the builders by name (observability/llm_spans.py registers the LLM conventions')
BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {}


def expand(attributes: dict[str, Any], later: list[Any] | None) -> dict[str, Any]:
    """A span's attributes with those its builders work out after them."""
    if not later:
        return dict(attributes)
    if not BUILDERS:
        from canvasflow.observability import llm_spans  # noqa: F401  (it registers them)
    out = dict(attributes)
    for name, args in later:
        out.update(BUILDERS[name](*args))
    return out


def _plain(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes whose values JSON takes: strings, booleans, 64-bit integers, floats
    and lists of them; anything else as its text."""

    def plain(value: Any) -> Any:
        if isinstance(value, str | bool | float) or (
            isinstance(value, int) and -(1 << 63) <= value < 1 << 64
        ):
            return value
        return str(value)

    return {
        key: [plain(v) for v in value] if isinstance(value, list | tuple) else plain(value)
        for key, value in attributes.items()
    }


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
