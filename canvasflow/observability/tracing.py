"""OpenTelemetry traces, when the optional extra is installed (``canvasflow[otel]``).

Without it every span is a no-op. With it, :func:`setup` exports every prediction's
spans over OTLP when the standard ``OTEL_*`` environment variables ask for it, and a
prediction whose canvas names analytic providers (observability/analytic.py) records its
spans for them, whether the server exports or not. A prediction that is sent nowhere
makes no span at all."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
# canvasflow's own provider, for the spans of canvases with analytic providers when the
# server exports none itself (no global provider is set then)
_OWN: Any = None
_ROUTER: Any = None


def _tracer() -> Any:
    """The tracer spans are made with: the global provider's when one is set (setup, or
    a test's), else canvasflow's own (only a prediction with routes records then)."""
    global _TRACER
    if _recording():
        if _TRACER is None:  # a proxy: it follows the provider set later
            _TRACER = trace.get_tracer("canvasflow")
        _route(trace.get_tracer_provider())
        return _TRACER
    return _own().get_tracer("canvasflow")


def tracer() -> Any:
    return _tracer()


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


def _own() -> Any:
    global _OWN
    if _OWN is None:
        from opentelemetry.sdk.trace import TracerProvider

        _OWN = TracerProvider()
        _OWN.add_span_processor(_router())
        _OWN._canvasflow_routed = True
    return _OWN


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


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A span named ``name`` under the current one (a no-op without OpenTelemetry or
    without a tracer provider)."""
    if not recording():
        with nullcontext() as nothing:
            yield nothing
        return
    attrs = {k: v for k, v in attributes.items() if v is not None}
    with _tracer().start_as_current_span(name, attributes=attrs) as current:
        yield current


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
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        log.warning("OTEL_* is set but canvasflow[otel] is not installed: no traces")
        return False
    from canvasflow.observability import export

    service = settings.otel_service_name or "canvasflow"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    timeout = int(max(1, settings.trace_export_timeout))
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=timeout)
    # a bounded queue whose drops /metrics counts (observability/export.py)
    destination = export.Destination(
        "otlp",
        exporter,
        max_queue=settings.trace_queue,
        delay=settings.otel_bsp_schedule_delay / 1000,
    )
    provider.add_span_processor(export.Exporting(export.register(destination)))
    provider.add_span_processor(_router())
    provider._canvasflow_routed = True
    trace.set_tracer_provider(provider)
    return True
