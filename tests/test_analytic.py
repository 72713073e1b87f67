"""A canvas's analytic providers (Flowise's ``analytic`` settings): each one that is on
receives the canvas's spans over OTLP/HTTP at its own endpoint with its own key, in the
shape it documents; a destination that is away costs the prediction nothing and its
losses are counted. The receiver here records what arrives (the real collector is
Phoenix, in tests/test_phoenix.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import canvasflow_server, llm_chain_flow, make_canvas, poll

pytest.importorskip("opentelemetry.sdk")


class Receiver:
    """An OTLP/HTTP endpoint that records each request (path, headers, decoded body)."""

    def __init__(self) -> None:
        got: list[dict[str, Any]] = []
        self.got = got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                )

                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                got.append({"path": self.path, "headers": headers, "body": request})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class FakeCredentials:
    def __init__(self, stored: dict[str, dict[str, Any]]) -> None:
        self.stored = stored

    async def plain(self, ref: str) -> dict[str, Any] | None:
        return self.stored.get(ref)


def run(flow: dict, analytic: dict[str, Any], credentials: Any, upstream: str) -> str:
    from canvasflow.bus.memory import MemoryBus
    from canvasflow.config import Settings
    from canvasflow.engine import RunContext, parse
    from canvasflow.engine.graph import DEFAULT_OVERRIDES
    from canvasflow.engine.prediction import Prediction
    from canvasflow.models.openai_compat import close_clients
    from canvasflow.observability.analytic import analytic_of

    settings = Settings(
        environ={"OPENAI_API_KEY": "server-key", "OPENAI_BASE_URL": upstream + "/v1"},
        trace_export_timeout=2,
        trace_queue=8,
    )

    async def go() -> str:
        p = Prediction(
            graph=parse(flow),
            ctx=RunContext(
                question="where do traces go?",
                canvas_id="analysed",
                chat_id="t",
                session_id="t",
                chat_message_id="m",
                settings=settings,
                credentials=credentials,
                analytic=analytic_of({"analytic": analytic}),
            ),
            allowed_overrides=DEFAULT_OVERRIDES,
            bus=MemoryBus(),
            store=None,
        )
        p.start()
        try:
            await p.wait()
        finally:
            await close_clients()
        return p.outcome.text

    return asyncio.run(go())


@pytest.fixture(params=["own", "foreign"])
def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Whose tracer provider is set: none (canvasflow makes its spans for its own
    exporters) or an application's (OpenTelemetry's spans, routed by a span processor)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from canvasflow.observability import tracing

    foreign = TracerProvider() if request.param == "foreign" else None
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", foreign)
    monkeypatch.setattr(tracing, "_TRACER", None)
    return str(request.param)


def test_each_provider_gets_the_spans_at_its_endpoint_with_its_key(
    receiver: Receiver, upstream: str, provider: str
) -> None:
    url = receiver.url
    stored = {
        "lf": {"langFusePublicKey": "pk-1", "langFuseSecretKey": "sk-1", "langFuseEndpoint": url},
        "ls": {"langSmithApiKey": "ls-key", "langSmithEndpoint": url},
        "px": {"phoenixApiKey": "px-key", "phoenixEndpoint": url},
        "az": {"arizeApiKey": "az-key", "arizeSpaceId": "space", "arizeEndpoint": url},
        "op": {"opikApiKey": "op-key", "opikUrl": url + "/opik/api", "opikWorkspace": "ws"},
        "lu": {"lunaryAppId": "lu-app", "lunaryEndpoint": url},
        "lw": {"langWatchApiKey": "lw-key", "langWatchEndpoint": url},
    }
    analytic = {
        # Flowise lets a canvas set Langfuse's endpoint: canvasflow never sends a stored
        # key where a canvas points, only to the credential's own endpoint
        "langFuse": {"credentialId": "lf", "status": True, "endpoint": "http://attacker"},
        "langSmith": {"credentialId": "ls", "projectName": "smith-proj", "status": True},
        "phoenix": {"credentialId": "px", "projectName": "px-proj", "status": True},
        "arize": {"credentialId": "az", "projectName": "az-proj", "status": True},
        "opik": {"credentialId": "op", "opikProjectName": "op-proj", "status": True},
        "lunary": {"credentialId": "lu", "status": True},
        "langWatch": {"credentialId": "lw", "status": True},
        "jlinc": {"credentialId": "x", "status": False},
    }
    text = run(llm_chain_flow("mock?tokens=2"), analytic, FakeCredentials(stored), upstream)
    assert text == "word0 word1"
    got = poll(lambda: receiver.got if len(receiver.got) >= 7 else None, timeout=20)
    by_path = {g["path"]: g for g in got}
    expected = {
        "/api/public/otel/v1/traces": (
            "authorization",
            "Basic " + base64.b64encode(b"pk-1:sk-1").decode(),
        ),
        "/otel/v1/traces": ("x-api-key", "ls-key"),
        "/v1/traces": None,  # Phoenix and Arize: told apart below
        "/opik/api/v1/private/otel/v1/traces": ("authorization", "op-key"),
        "/v1/otel/v1/traces": ("authorization", "Bearer lu-app"),
        "/api/otel/v1/traces": ("authorization", "Bearer lw-key"),
    }
    assert set(by_path) == set(expected), sorted(by_path)
    for path, header in expected.items():
        if header is not None:
            assert by_path[path]["headers"][header[0]] == header[1], path
    assert by_path["/otel/v1/traces"]["headers"]["langsmith-project"] == "smith-proj"
    opik = by_path["/opik/api/v1/private/otel/v1/traces"]["headers"]
    assert opik["comet-workspace"] == "ws" and opik["projectname"] == "op-proj"

    def resource(g: dict[str, Any]) -> dict[str, str]:
        attrs = g["body"].resource_spans[0].resource.attributes
        return {a.key: a.value.string_value for a in attrs}

    plain_v1 = [g for g in got if g["path"] == "/v1/traces"]
    phoenix = next(g for g in plain_v1 if g["headers"].get("authorization") == "Bearer px-key")
    arize = next(g for g in plain_v1 if g["headers"].get("space_id") == "space")
    assert resource(phoenix)["openinference.project.name"] == "px-proj"
    assert resource(arize)["model_id"] == "az-proj" and arize["headers"]["api_key"] == "az-key"
    for g in got:  # the whole trace, each time: the prediction, its nodes, the model call
        names = {
            s.name for rs in g["body"].resource_spans for ss in rs.scope_spans for s in ss.spans
        }
        assert {"prediction", "node llmChain", "model call"} <= names, (g["path"], names)
        assert b"server-key" not in g["body"].SerializeToString()


def test_a_destination_that_is_away_drops_and_counts_never_waits() -> None:
    """A collector that hangs: the prediction's side only appends to a bounded queue;
    what does not fit is dropped and counted, and /metrics says so."""
    import socket

    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry, generate_latest

    from canvasflow.observability.export import (
        Destination,
        ExportCollector,
        Exporting,
        register,
    )

    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(4)  # accepts, never answers
    url = f"http://127.0.0.1:{hanging.getsockname()[1]}/v1/traces"
    away = register(Destination("away", url, max_queue=5, delay=0.01, timeout=1))
    provider = TracerProvider()
    provider.add_span_processor(Exporting(away))
    tracer = provider.get_tracer("t")
    started = time.monotonic()
    for i in range(200):
        tracer.start_span(f"s{i}").end()
    assert time.monotonic() - started < 2  # generous: a hang, not a timing
    assert away.dropped >= 150  # what the queue (5) could not hold while it hangs
    assert len(away.queue) <= 5
    registry = CollectorRegistry()
    registry.register(ExportCollector())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert (
        f'canvasflow_trace_spans_dropped_total{{reason="queue",to="away"}} {float(away.dropped)}'
        in text
    )
    # the batch it was sending fails once its timeout passes: counted too
    poll(lambda: away.failed > 0 or None, timeout=30)
    away.close(timeout=5)
    hanging.close()


def test_the_request_body_is_the_one_opentelemetrys_encoder_makes() -> None:
    """canvasflow writes OTLP's protobuf itself (for speed): the message it writes is the
    one OpenTelemetry's own encoder makes of the same spans, field for field."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    from canvasflow.observability.export import _with_resource
    from canvasflow.observability.otlp import encode

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "t", "n": 3}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("canvasflow", "1.2", schema_url="https://s")
    with tracer.start_as_current_span("prediction", kind=SpanKind.SERVER) as root:
        root.set_attributes(
            {
                "text": "héllo " * 3000,  # a long value: a two-byte length
                "int": 7,
                "negative": -5,
                "big": 2**62,
                "float": 0.25,
                "yes": True,
                "no": False,
                "empty": "",
                "tags": ["a", "b"],
                "numbers": [1, 2],
            }
        )
        root.add_event("started", {"at": 1})
        with tracer.start_as_current_span("child", links=[Link(root.get_span_context())]) as c:
            c.set_status(Status(StatusCode.ERROR, "it broke"))
        with tracer.start_as_current_span("ok") as ok:
            ok.set_status(Status(StatusCode.OK))
    spans = list(memory.get_finished_spans())
    spans.append(_with_resource(spans[0], Resource.create({"openinference.project.name": "p"})))
    ours = ExportTraceServiceRequest()
    ours.ParseFromString(encode(spans))
    assert ours == encode_spans(spans)
    assert len(ours.resource_spans) == 2 and len(ours.resource_spans[0].scope_spans[0].spans) == 3


def test_a_noted_trace_is_written_as_the_sdk_would_send_it() -> None:
    """canvasflow's own spans skip the SDK: a noted trace (tracing.Pending) is written
    straight to protobuf by the destination's thread. What it writes is what the SDK's
    spans of the same trace encode to, ids aside: names, parents, times, attributes, an
    error's exception event and status, a child's status."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Status, StatusCode

    from canvasflow.observability import tracing
    from canvasflow.observability.otlp import flat_spans, heads, wrap

    def noted() -> tracing.Pending:
        root = tracing.Pending("prediction", {"canvas": "c1", "tokens": 7}, start=1_000)
        node = tracing.Pending("node llmChain", {"node": "llmChain"}, start=1_100, end=1_900)
        messages = [{"role": "user", "content": "hi"}]  # worked out as it is written
        call = tracing.Pending(
            "model call", {"x": 0.5}, later=("llm input", ("m", messages, True)), start=1_200
        )
        call.add_later(("llm output", ("hello", 3, 1, True)))
        call.error = ValueError("the model said no")
        call.end = 1_800
        node.children.append(call)
        root.children.append(node)
        root.add("retrieval", 1_150, 1_160, {"documents": ["a", "b"]}, error=True)
        root.end = 2_000
        return root

    resource = Resource.create({"service.name": "canvasflow"})
    scope = InstrumentationScope("canvasflow")
    count, written = tracing.flat(noted(), 5_000)  # as the exporter process gets it
    assert count == 4
    mine = ExportTraceServiceRequest()
    mine.ParseFromString(wrap(flat_spans(tracing.read_flat(written)), heads(resource, scope)))

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing._TRACER = provider.get_tracer("canvasflow")
    try:
        theirs_root = noted()
        original = tracing._SEEN[:]
        tracing._SEEN[:] = [tracing._provider(), True, False]
        try:
            _make_with(tracing, provider, theirs_root)
        finally:
            tracing._SEEN[:] = original
    finally:
        tracing._TRACER = None
    spans = sorted(memory.get_finished_spans(), key=lambda s: s.start_time or 0)
    theirs = encode_spans(spans)

    def shape(request: Any) -> list[tuple[Any, ...]]:
        got = request.resource_spans[0].scope_spans[0].spans
        index = {s.span_id: s.name for s in got}
        assert len({s.trace_id for s in got}) == 1 and len(got[0].trace_id) == 16
        rows = []
        for s in got:
            copy = type(s)()
            copy.CopyFrom(s)
            parent = index.get(copy.parent_span_id)
            for field in ("trace_id", "span_id", "parent_span_id"):
                copy.ClearField(field)
            for event in copy.events:  # the SDK adds the stack and the time it was recorded
                event.ClearField("time_unix_nano")
                kept = [a for a in event.attributes if a.key.endswith((".type", ".message"))]
                event.ClearField("attributes")
                event.attributes.extend(kept)
            rows.append((parent, copy.SerializeToString(deterministic=True)))
        return sorted(rows, key=lambda row: row[1])

    assert shape(mine) == shape(theirs)
    assert [s.name for s in mine.resource_spans[0].scope_spans[0].spans] == [
        "prediction",
        "node llmChain",
        "model call",
        "retrieval",
    ]
    call = mine.resource_spans[0].scope_spans[0].spans[2]
    assert call.status.code == StatusCode.ERROR.value
    assert call.events[0].name == "exception"
    worked_out = {a.key: a.value for a in call.attributes}
    assert worked_out["llm.input_messages.0.message.content"].string_value == "hi"
    assert worked_out["llm.token_count.completion"].int_value == 1
    assert worked_out["x"].double_value == 0.5
    assert mine.resource_spans[0].resource == theirs.resource_spans[0].resource
    assert Status(StatusCode.UNSET).status_code.value == 0


def _make_with(tracing: Any, provider: Any, root: Any) -> None:
    """make_spans on a provider of the SDK's (as with an application's own provider)."""
    from opentelemetry import trace

    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider
    try:
        tracing.make_spans(root)
    finally:
        trace._TRACER_PROVIDER = previous


def spans_by_trace(got: list[dict[str, Any]]) -> dict[bytes, list[Any]]:
    traces: dict[bytes, list[Any]] = {}
    for g in got:
        for rs in g["body"].resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    traces.setdefault(s.trace_id, []).append(s)
    return traces


def test_the_servers_sampler_keeps_a_share_of_whole_traces(
    receiver: Receiver, upstream: str, tmp_path: Path
) -> None:
    """OTEL_TRACES_SAMPLER and its ARG, as OpenTelemetry's SDK reads them: a ratio keeps
    that share of the predictions' traces, each whole, chosen by its trace id as the
    SDK's TraceIdRatioBased chooses; the rest make no span."""
    proc = canvasflow_server(
        tmp_path,
        upstream,
        extra_env={
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url + "/v1/traces",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.5",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    ).start()
    try:
        canvas = make_canvas(proc.url, llm_chain_flow("mock?tokens=2"), name="sampled")
        asked = {
            httpx.post(
                f"{proc.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"}, timeout=30
            ).json()["chatMessageId"]
            for _ in range(40)
        }

        def exported() -> int | None:  # everything queued has been sent and received
            metrics = httpx.get(f"{proc.url}/metrics").text
            values = {
                line.split("{")[0]: float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("canvasflow_trace_spans_") and 'to="otlp"' in line
            }
            spans = sum(len(s) for s in spans_by_trace(receiver.got).values())
            sent = values.get("canvasflow_trace_spans_exported_total")
            return (
                spans
                if values.get("canvasflow_trace_spans_queued") == 0 and sent == spans
                else None
            )

        poll(exported, timeout=20)
        # the protobuf was written and sent by the server's exporter process
        assert proc.proc is not None
        exporters = exporter_processes(proc.proc.pid)
        assert len(exporters) == 1, exporters
    finally:
        proc.stop()
    # which leaves with its server
    poll(lambda: not Path(f"/proc/{exporters[0]}").exists() or None, timeout=30)
    traces = spans_by_trace(receiver.got)
    # 40 draws of a fair coin: fewer than 6 or more than 34 is a one-in-a-million run
    assert 6 <= len(traces) <= 34, len(traces)
    bound = round(0.5 * (1 << 64))  # the SDK's TraceIdRatioBased bound
    for trace_id, spans in traces.items():
        assert int.from_bytes(trace_id, "big") & ((1 << 64) - 1) < bound
        names = sorted(s.name for s in spans)
        assert names == sorted(
            [
                "prediction",
                "node chatOpenAICustom",
                "node promptTemplate",
                "node llmChain",
                "model call",
            ]
        ), names
        root = next(s for s in spans if s.name == "prediction")
        metadata = next(a.value.string_value for a in root.attributes if a.key == "metadata")
        assert json.loads(metadata)["chatMessageId"] in asked


def test_a_trace_the_sampler_leaves_out_still_goes_to_its_canvas_providers(
    receiver: Receiver, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sampler is the server's exporter's: a canvas's own analytic provider gets every
    trace of that canvas."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import sampling

    from canvasflow.config import Settings
    from canvasflow.observability import export, tracing

    sampler = tracing.sampler_of(Settings(otel_traces_sampler="always_off"))
    server = export.Destination("server", receiver.url + "/server/v1/traces", delay=0.05)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(tracing, "_SERVER", server)
    monkeypatch.setattr(tracing, "_SAMPLER", sampler)
    assert sampler is sampling.ALWAYS_OFF
    stored = {"px": {"phoenixApiKey": "px-key", "phoenixEndpoint": receiver.url}}
    analytic = {"phoenix": {"credentialId": "px", "projectName": "p", "status": True}}
    try:
        assert run(llm_chain_flow("mock?tokens=2"), analytic, FakeCredentials(stored), upstream)
        got = poll(lambda: receiver.got or None, timeout=20)
        assert server.flush(5)
        assert [g["path"] for g in got] == ["/v1/traces"]
        assert len(spans_by_trace(got)) == 1
        # with no provider either, nothing at all is noted
        assert run(llm_chain_flow("mock?tokens=2"), {}, FakeCredentials({}), upstream)
        assert server.flush(5) and server.exported == 0 and len(receiver.got) == 1
    finally:
        server.close()


def exporter_processes(pid: int) -> list[int]:
    """The trace exporter processes (observability/exporter.py) process ``pid`` started."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"canvasflow.observability.exporter" in cmdline:
                found.append(int(child))
    return found


def test_the_exporter_process_is_started_again_when_it_has_ended(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporter process ends (killed, out of memory): it is started again with the
    next batch, told of its destinations again, and their spans arrive; a batch that
    comes within RESTART_AFTER of its last start (it keeps ending) is counted failed,
    never raised on."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from canvasflow.observability import export, tracing

    monkeypatch.setattr(export.Exporter, "RESTART_AFTER", 0.5)
    resource = Resource.create({"service.name": "again"})
    scope = InstrumentationScope("canvasflow")
    again = export.Destination("again", receiver.url + "/v1/traces", delay=0.01)

    def one_trace() -> None:
        root = tracing.Pending("prediction", {"n": len(receiver.got)})
        count, written = tracing.flat(root, time.time_ns())
        again.put_trace(written, count, resource, scope)

    try:
        one_trace()
        assert again.flush(10) and again.exported == 1
        first = export.EXPORTER.process
        assert first is not None and first.pid in exporter_processes(os.getpid())
        first.kill()
        first.wait(10)
        # it was started a moment ago (as when it keeps ending): this one fails, counted
        monkeypatch.setattr(export.EXPORTER, "started", time.monotonic())
        one_trace()
        poll(lambda: again.failed or None, timeout=10)
        assert again.failed == 1 and export.EXPORTER.process is first

        def arrived() -> int | None:
            one_trace()
            return again.exported if again.flush(5) and again.exported >= 2 else None

        poll(arrived, timeout=30)
        assert export.EXPORTER.process is not first
        assert export.EXPORTER.process is not None
        assert export.EXPORTER.process.poll() is None
        names = {
            s.name for g in receiver.got for s in g["body"].resource_spans[0].scope_spans[0].spans
        }
        assert names == {"prediction"}
        services = {
            a.value.string_value
            for g in receiver.got
            for a in g["body"].resource_spans[0].resource.attributes
            if a.key == "service.name"
        }
        assert services == {"again"}
    finally:
        again.close()


def test_a_sampler_that_does_not_exist_is_refused() -> None:
    from pydantic import ValidationError

    from canvasflow.config import Settings

    with pytest.raises(ValidationError, match="OTEL_TRACES_SAMPLER"):
        Settings.model_validate({"OTEL_TRACES_SAMPLER": "jaeger_remote"})
    with pytest.raises(ValidationError, match="OTEL_TRACES_SAMPLER_ARG"):
        Settings.model_validate({"OTEL_TRACES_SAMPLER_ARG": "2"})
    # the server says so in one line, and does not start
    env = {**os.environ, "OTEL_TRACES_SAMPLER": "jaeger_remote"}
    done = subprocess.run(
        [sys.executable, "-m", "canvasflow.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: OTEL_TRACES_SAMPLER: Input should be 'always_on'")
