"""Prometheus metrics of one server process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from canvasflow.engine.prediction import Prediction

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The server's metrics, in a registry of their own. Updated once per prediction and
    once per stream (never per token)."""

    def __init__(self, log_stats: Callable[[], tuple[int, int]] | None = None) -> None:
        r = self.registry = CollectorRegistry()
        self.predictions_started = Counter(
            "canvasflow_predictions_started", "Predictions started", ["canvas"], registry=r
        )
        self.predictions_finished = Counter(
            "canvasflow_predictions_finished",
            "Predictions finished, by status (completed, aborted, error)",
            ["canvas", "status"],
            registry=r,
        )
        self.ttft = Histogram(
            "canvasflow_time_to_first_token_seconds",
            "From the request to the first token",
            ["canvas"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "canvasflow_prediction_seconds",
            "From the request to the end of the answer",
            ["canvas", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "canvasflow_tokens_generated", "Tokens generated", ["canvas"], registry=r
        )
        self.usage = Counter(
            "canvasflow_model_tokens", "Tokens the models reported, by kind", ["kind"], registry=r
        )
        self.model_latency = Histogram(
            "canvasflow_model_first_token_seconds",
            "From the model call to its first token",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "canvasflow_model_errors", "Failed model calls, by error code", ["code"], registry=r
        )
        self.streams_open = Gauge("canvasflow_streams_open", "Event streams open", registry=r)
        self.events_sent = Counter(
            "canvasflow_stream_events_sent", "Events written to stream clients", registry=r
        )
        self.slow_clients = Counter(
            "canvasflow_slow_clients_cut",
            "Stream clients cut because they fell too far behind",
            registry=r,
        )
        self.queue_depth = Gauge(
            "canvasflow_queue_depth", "Predictions waiting for a worker (queue mode)", registry=r
        )
        self.webhooks_refused = Counter(
            "canvasflow_webhooks_refused",
            "Webhook requests refused before anything ran, by reason (signature...)",
            ["reason"],
            registry=r,
        )
        self.running = Gauge("canvasflow_predictions_running", "Predictions running", registry=r)
        logs = Gauge("canvasflow_event_logs", "Prediction event logs kept", registry=r)
        events = Gauge("canvasflow_event_log_events", "Events held in event logs", registry=r)
        # spans sent to trace destinations, dropped and queued (observability/export.py)
        from canvasflow.observability.export import ExportCollector

        r.register(ExportCollector())
        if log_stats is not None:
            logs.set_function(lambda: log_stats()[0])
            events.set_function(lambda: log_stats()[1])

    # -- Observer --------------------------------------------------------------------

    def started(self, prediction: Prediction) -> None:
        self.predictions_started.labels(prediction.ctx.canvas_id).inc()
        self.running.inc()

    def finished(self, prediction: Prediction) -> None:
        ctx = prediction.ctx
        canvas = ctx.canvas_id
        self.running.dec()
        self.predictions_finished.labels(canvas, prediction.status).inc()
        self.duration.labels(canvas, prediction.status).observe(prediction.latency_ms / 1000)
        if prediction.ttft_ms is not None:
            self.ttft.labels(canvas).observe(prediction.ttft_ms / 1000)
        outcome = prediction.outcome
        used = outcome.usage
        self.tokens.labels(canvas).inc(used.completion_tokens or outcome.tokens)
        self.usage.labels("prompt").inc(used.prompt_tokens)
        self.usage.labels("completion").inc(used.completion_tokens)
        if outcome.model_latency is not None and outcome.model:
            self.model_latency.labels(outcome.model).observe(outcome.model_latency)
        if prediction.error is not None:
            self.model_errors.labels(prediction.error["code"]).inc()

    # -- streams ------------------------------------------------------------------------

    def stream_opened(self) -> None:
        self.streams_open.inc()

    def stream_closed(self, events_sent: int, cut: bool) -> None:
        self.streams_open.dec()
        self.events_sent.inc(events_sent)
        if cut:
            self.slow_clients.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
