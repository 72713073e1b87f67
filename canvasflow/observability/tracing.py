"""OpenTelemetry traces, when the optional extra is installed (``canvasflow[otel]``).

Without it every span is a no-op. With it, :func:`setup_from_env` exports spans over
OTLP when the standard ``OTEL_*`` environment variables ask for it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import trace
except ImportError:  # the extra is not installed
    trace = None  # the otel extra is not installed

if TYPE_CHECKING:
    from canvasflow.config import Settings

log = logging.getLogger("canvasflow.tracing")


_TRACER: Any = None


def _tracer() -> Any:
    # a proxy: it follows the provider set later by setup_from_env (or by tests)
    global _TRACER
    if _TRACER is None:
        _TRACER = trace.get_tracer("canvasflow")
    return _TRACER


def enabled() -> bool:
    return trace is not None


def recording() -> bool:
    """Whether spans are recorded (OpenTelemetry installed, a tracer provider set)."""
    return trace is not None and _recording()


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
    if trace is None or not _recording():
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
    wanted = endpoint or settings.otel_traces_exporter == "otlp"
    if not wanted or trace is None:
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_* is set but canvasflow[otel] is not installed: no traces")
        return False
    from canvasflow.observability import llm_spans

    llm_spans.CONTENT = settings.trace_content
    service = settings.otel_service_name or "canvasflow"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True
