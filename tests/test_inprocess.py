"""Cheap logic tested in-process: the reducer, the wire encoders, the registries, the
error tree, the settings, and the app itself through httpx's ASGI transport."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from canvasflow import errors
from canvasflow.bus import BACKENDS, create_bus
from canvasflow.bus.memory import MemoryBus
from canvasflow.config import Settings
from canvasflow.engine.outcome import Identity, Outcome
from canvasflow.events import Event, memory, model, output, source, step, token, usage
from canvasflow.models.base import PROVIDERS, supports
from canvasflow.server.app import create_app
from canvasflow.server.formats import FORMATS, encoder_for
from canvasflow.server.sse import EventStreamResponse
from tests.support import edge, llm_chain_flow, node, ref

WHO = Identity(chat_id="c1", chat_message_id="m1", session_id="s1", question="q?", canvas_id="cv")


def run_events() -> list[Event]:
    return [
        Event("start", {"chatId": "c1"}),
        memory("Buffer Memory"),
        model("mock"),
        step("search", "tool", {"q": "x"}, "found"),
        step("rephrase", "chain", "a", "b"),
        source([{"pageContent": "doc", "metadata": {}}]),
        model("mock", 0.012),
        token("Hel"),
        token("lo"),
        usage(5, 2),
        output({"answer": "Hello"}),
    ]


def reduced() -> Outcome:
    outcome = Outcome(WHO)
    for event in run_events():
        outcome.apply(event)
    outcome.status = "completed"
    outcome.latency_ms = 7
    return outcome


def test_reducer_makes_answer_message_and_metadata() -> None:
    outcome = reduced()
    assert outcome.text == "Hello" and outcome.tokens == 2
    assert outcome.model == "mock" and outcome.model_latency == 0.012
    meta = outcome.metadata()
    assert list(meta)[:10] == [
        "chatId",
        "chatMessageId",
        "sessionId",
        "question",
        "memoryType",
        "model",
        "tokens_used",
        "usage",
        "latency_ms",
        "status",
    ]
    assert meta["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert meta["usedTools"] == [{"tool": "search", "toolInput": {"q": "x"}, "toolOutput": "found"}]
    assert meta["json"] == {"answer": "Hello"}
    answer = outcome.answer(return_sources=True)
    assert answer["text"] == "Hello" and answer["memoryType"] == "Buffer Memory"
    assert answer["sourceDocuments"][0]["pageContent"] == "doc"
    assert "sourceDocuments" not in outcome.answer(return_sources=False)
    stored = outcome.message()
    assert stored["answer"] == "Hello" and stored["status"] == "completed"
    assert stored["source_documents"] and stored["used_tools"]
    assert [r["agentName"] for r in outcome.reasoning()] == ["rephrase"]


def test_reducer_replays_wire_events_of_another_process() -> None:
    """What a queue-mode web process sees: wire events only, metadata last."""
    local = reduced()
    wire = [e for e in run_events() if e.kind in ("start", "token", "step", "source")]
    wire.append(Event("metadata", local.metadata()))
    remote = Outcome(WHO)
    for event in wire:
        remote.apply(event)
    assert remote.answer(True) == local.answer(True)


def test_reducer_records_failures() -> None:
    outcome = Outcome(WHO)
    event = outcome.fail({"message": "boom", "code": "upstream_timeout"})
    assert event.kind == "error" and outcome.status == "error"
    assert outcome.metadata()["status"] == "error"


def logged(events: list[Event]) -> list[Event]:
    out = []
    for i, event in enumerate(events, 1):
        event.id = i
        out.append(event)
    return out


def encode_all(name: str, events: list[Event], **options: object) -> bytes:
    encoder = encoder_for(name, **options)
    out = b""
    for event in events:
        frame = encoder.encode(event)
        if isinstance(frame, bytes):
            out += frame
        elif frame:
            out += b"".join(frame)
    return out


def wire_run() -> list[Event]:
    outcome = reduced()
    wire = [e for e in run_events() if e.kind in ("start", "token", "step", "source")]
    return logged([*wire, Event("metadata", outcome.metadata()), Event("end", "[DONE]")])


def test_canvasflow_encoder_frames() -> None:
    raw = encode_all("canvasflow", wire_run())
    assert raw.startswith(b'id: 1\ndata: {"event":"start"')
    assert b'id: 5\ndata: {"event":"token","data":"Hel","text":"Hel"}\n\n' in raw
    assert raw.endswith(b'data: {"event":"end","data":"[DONE]"}\n\ndata: [DONE]\n\n')
    notice = encoder_for("canvasflow").encode(Event("error", {"message": "x", "code": "y"}))
    assert notice == b'data: {"event":"error","data":{"message":"x","code":"y"}}\n\n'


def test_every_canvasflow_event_is_as_the_openapi_schema_says() -> None:
    """The stream's events, of every kind, validate against the models the OpenAPI
    schema publishes for ``text/event-stream`` (and that the SDK's types come from)."""
    from canvasflow.engine.prediction import start_event
    from canvasflow.events import action, error, flow, flow_step, node
    from canvasflow.server.schemas import StreamEvent

    asked = {"type": "proceed", "startNodeId": "h1"}
    stop = {
        "id": "a1",
        "mapping": {"approve": "Proceed", "reject": "Reject"},
        "elements": [{"type": "agentflowv2-approve-button", "label": "Proceed"}],
        "data": {"nodeId": "h1", "nodeLabel": "Human Input", "input": asked},
    }
    outcome = reduced()
    outcome.execution_id, outcome.flow_status = "x1", "STOPPED"
    outcome.executed = [{"nodeId": "h1", "nodeLabel": "Human Input", "status": "STOPPED"}]
    outcome.action = stop
    events = logged(
        [
            start_event(WHO, agentflow=True),
            node("llmChain_0", "running"),
            flow("INPROGRESS", "x1"),
            flow_step({"nodeId": "h1", "label": "Human Input", "kind": "humanInput"}),
            *[e for e in run_events() if e.kind in ("token", "step", "source")],
            node("llmChain_0", "done", ms=12, tokens=2),
            action(stop),
            error("upstream model failed", "upstream_error"),
            Event("metadata", outcome.metadata()),
            Event("end", "[DONE]"),
        ]
    )
    raw = encode_all("canvasflow", events)
    lines = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: {")]
    kinds = {StreamEvent.model_validate_json(line).root.event for line in lines}
    assert kinds == {
        "start",
        "node",
        "flow",
        "step",
        "token",
        "source",
        "action",
        "error",
        "metadata",
        "end",
    }


def test_flowise_encoder_holds_sources_and_steps_until_metadata() -> None:
    raw = encode_all("flowise", wire_run())
    names = [
        orjson.loads(line[5:])["event"] for line in raw.split(b"\n") if line.startswith(b"data:")
    ]
    assert names == [
        "start",
        "token",
        "token",
        "sourceDocuments",
        "usedTools",
        "agentReasoning",
        "metadata",
        "end",
    ]
    assert b"data\\u003a" not in raw
    tricky = encoder_for("flowise").encode(Event("token", "data: x", 1))
    assert tricky == b'message:\ndata:{"event":"token","data":"data\\u003a x"}\n\n'


def test_flowise_encoder_sends_only_end_after_an_error() -> None:
    events = logged(
        [
            Event("start", {}),
            Event("error", {"message": "boom", "code": "upstream_error"}),
            Event("metadata", reduced().metadata()),
            Event("end", "[DONE]"),
        ]
    )
    raw = encode_all("flowise", events)
    assert b'"event":"metadata"' not in raw and raw.endswith(b'"end","data":"[DONE]"}\n\n')


def test_openai_encoder_chunks() -> None:
    raw = encode_all(
        "openai", wire_run(), completion_id="chatcmpl-1", model="m", include_usage=True
    )
    chunks = [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert chunks[-1] == b"[DONE]"
    first = orjson.loads(chunks[0])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    assert orjson.loads(chunks[-2])["usage"]["total_tokens"] == 7


def test_registries_name_every_kind() -> None:
    assert {"canvasflow", "flowise", "openai"} <= set(FORMATS)
    with pytest.raises(errors.BadRequest, match="unknown stream format 'nope'"):
        encoder_for("nope")
    create_bus(Settings(_env_file=None))  # loads every backend module
    assert {"memory", "redis"} <= set(BACKENDS)
    assert isinstance(create_bus(Settings(redis_url=None)), MemoryBus)
    import canvasflow.models.local
    import canvasflow.models.native
    import canvasflow.models.openai_compat  # noqa: F401

    assert {"openai", "anthropic", "ollama", "local"} <= set(PROVIDERS)
    assert supports(PROVIDERS["openai"], "tools")
    assert not supports(PROVIDERS["local"], "tools")


def test_error_tree_knows_statuses() -> None:
    assert errors.UpstreamTimeout("x").status == 504
    assert errors.status_for("upstream_timeout") == 504
    assert errors.status_for("upstream_error") == 502
    assert errors.status_for("moderation") == 403
    assert errors.status_for("canvas_invalid") == 422
    assert errors.status_for("something_else") == 500
    assert errors.status_for("file_unavailable") == 400  # raised as InputInvalid(code=...)
    assert errors.InputInvalid("x", code="file_unavailable").status == 400
    err = errors.from_event({"message": "slow", "code": "upstream_timeout"})
    assert err.status == 504 and err.message == "slow"
    assert errors.CanvasInvalid("x", code="tools_unsupported").code == "tools_unsupported"
    assert errors.CanvasInvalid.code == "canvas_invalid"  # the class keeps its own


def test_settings_read_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANVASFLOW_PORT", "4321")
    monkeypatch.setenv("CANVASFLOW_RETENTION", "12")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("CANVASFLOW_METRICS", "off")
    settings = Settings()
    assert settings.port == 4321 and settings.retention_seconds == 12
    assert settings.provider_env("OPENAI_API_KEY") == "sk-test"
    assert settings.metrics_enabled is False
    assert Settings(port=99).port == 99  # the CLI's options win
    monkeypatch.setenv("CANVASFLOW_PORT", "abc")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_no_environment_reads_outside_config() -> None:
    root = Path(__file__).resolve().parent.parent / "canvasflow"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "config.py" and ("os.environ" in p.read_text() or "getenv(" in p.read_text())
    ]
    assert offenders == []


def test_nothing_below_the_engine_imports_it() -> None:
    root = Path(__file__).resolve().parent.parent / "canvasflow"
    below = ["bus", "models", "store", "events.py", "errors.py", "values.py", "config.py"]
    offenders = []
    for part in below:
        paths = [root / part] if part.endswith(".py") else list((root / part).rglob("*.py"))
        for p in paths:
            text = p.read_text()
            if re.search(r"^\s*(from|import) canvasflow\.(engine|queue|server)", text, re.M):
                offenders.append(str(p.relative_to(root)))
    assert offenders == []


def test_every_layer_imports_only_what_is_below_it() -> None:
    """The layers, bottom up: the base modules, ``runtime`` (the run context, problems,
    the node protocol and registries), ``nodes``, ``engine``, ``agentflow`` (a graph kind
    it registers), then the doors (server, queue, triggers, evals, the CLI). An import
    anywhere in a module (in a function too) counts; the builtin packages are loaded by
    name (``runtime.node.load_all``), so no layer names one above it."""
    root = Path(__file__).resolve().parent.parent / "canvasflow"
    doors = ["queue", "server", "triggers", "evals", "cli"]
    above = {
        "runtime": ["engine", "nodes", "agentflow", "mcp", *doors],
        "nodes": ["engine", "agentflow", *doors],
        "engine": ["agentflow", "nodes", *doors],
        "agentflow": doors,
        "models": ["runtime", "engine", "nodes", "agentflow", *doors],
        "bus": ["runtime", "engine", "nodes", "agentflow", *doors],
        "store": ["runtime", "engine", "nodes", "agentflow", *doors],
        "sandbox": ["engine", "nodes", "agentflow", *doors],
    }
    offenders = []
    for layer, banned in above.items():
        for p in (root / layer).rglob("*.py"):
            for m in re.finditer(r"^\s*(?:from|import) canvasflow\.(\w+)", p.read_text(), re.M):
                if m.group(1) in banned:
                    offenders.append(f"{p.relative_to(root)}: {m.group(0).strip()}")
    assert offenders == []


# -- the app through httpx's ASGI transport --------------------------------------------


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, create_default_canvas=False, redis_url=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        admin = (tmp_path / "admin.key").read_text().strip()  # made at first start
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {admin}"},
        ) as c:
            yield c


async def post_flow(client: httpx.AsyncClient, flow: object) -> httpx.Response:
    return await client.post("/api/v1/canvases", json={"name": "t", "flowData": flow})


@pytest.mark.parametrize(
    ("flow", "status", "message"),
    [
        ({"nodes": [node("x", "noSuchNode", {})], "edges": []}, 201, "unknown node 'noSuchNode'"),
        ("{not json", 422, "not valid JSON"),
        ({"nodes": [], "edges": []}, 201, "no nodes"),
        (
            {
                "nodes": [
                    node("p", "promptTemplate", {"template": "{question}"}),
                    node("c", "llmChain", {"model": ref("p"), "prompt": ref("p")}),
                ],
                "edges": [edge("p", "c")],
            },
            201,
            "“Language Model” needs a Language Model (BaseLanguageModel), but Prompt Template (p)",
        ),
    ],
)
async def test_graph_validation_in_process(
    app_client: httpx.AsyncClient, flow: object, status: int, message: str
) -> None:
    r = await post_flow(app_client, flow)
    assert r.status_code == status, r.text
    said = r.json()["message"] if status != 201 else r.json()["problems"][0]["message"]
    assert message in said


def test_every_input_in_the_catalogue_is_described() -> None:
    from canvasflow.engine.catalog import catalogue

    nodes = catalogue()
    assert len(nodes) >= 44
    for n in nodes:
        assert n["label"] and n["category"] and n["icon"], n["name"]
        for inp in n["inputs"]:
            assert inp["description"] and "\n" not in inp["description"], (n["name"], inp)
    chat = next(n for n in nodes if n["name"] == "chatOpenAI")
    assert chat["credential"]["credentialNames"] == ["openAIApi"]
    temperature = next(i for i in chat["inputs"] if i["name"] == "temperature")
    assert temperature["label"] == "Temperature" and temperature["default"] == 0.9
    assert next(i for i in chat["inputs"] if i["name"] == "basepath")["additionalParams"]


async def test_unknown_stream_format_is_refused_before_running(
    app_client: httpx.AsyncClient,
) -> None:
    created = (await post_flow(app_client, llm_chain_flow("mock"))).json()
    r = await app_client.post(
        f"/api/v1/prediction/{created['id']}",
        json={"question": "hi", "streaming": True, "streamFormat": "xml"},
    )
    assert r.status_code == 400 and "unknown stream format" in r.json()["message"]


def test_sync_and_async_clients_offer_the_same_methods() -> None:
    from canvasflow.sdk import AsyncFlowise, Flowise
    from canvasflow.sdk.client import AsyncPredictionStream, PredictionStream

    def public(cls: type) -> set[str]:
        return {n for n in vars(cls) if not n.startswith("_")}

    assert public(Flowise) == public(AsyncFlowise)
    assert public(PredictionStream) - {"close"} == public(AsyncPredictionStream) - {"aclose"}


def test_one_retry_policy_for_both_clients() -> None:
    from canvasflow.sdk._base import Retry, retryable
    from canvasflow.sdk.errors import RateLimited, ServerError

    policy = Retry(attempts=3).policy()
    assert policy["reraise"] is True
    assert retryable(httpx.ConnectError("refused"))
    assert retryable(RateLimited("slow down", retry_after=1.0))
    assert not retryable(ServerError("boom", 500))
    assert Retry().delay(0, retry_after=2.5) == 2.5


async def test_a_finished_log_is_packed_and_still_read_in_full() -> None:
    """A closed log's events become one blob after PACK_AFTER; readers that were behind
    and resumes after the end still get every event, with its id."""
    from canvasflow.bus.memory import PACK_AFTER

    bus = MemoryBus(retention_seconds=600)
    log = bus.open_log("p1")
    log.append(Event("start", {"chatId": "c"}))
    for text in ("a", "b", "c"):
        log.append(token(text))
    log.append(Event("end", "[DONE]"))
    behind = log.follow(after=0)
    first = await anext(behind)  # a reader that read one event before the packing
    assert first is not None and first.id == 1
    log.close()
    bus._sweep(now=log.closed_at + PACK_AFTER)  # what its timer does
    packed = await bus.get_log("p1")
    assert packed is not log and packed is not None
    assert packed.closed and packed.last_id == 5 and bus.stats() == (1, 5)
    rest = [e async for e in behind]  # the old object still reads to its end
    assert [(e.id, e.kind, e.data) for e in rest if e] == [
        (2, "token", "a"),
        (3, "token", "b"),
        (4, "token", "c"),
        (5, "end", "[DONE]"),
    ]
    resumed = [e async for e in packed.follow(after=3)]
    assert [(e.id, e.data) for e in resumed if e] == [(4, "c"), (5, "[DONE]")]
    bus._sweep(now=log.closed_at + 600)
    assert await bus.get_log("p1") is None and bus.stats() == (0, 0)


async def test_a_follower_is_pinged_only_when_quiet() -> None:
    """``follow`` with a ping interval: None after a quiet interval (again after the
    next), events as they come with no ping between them, and no waiter left behind."""
    import asyncio
    import time

    log = MemoryBus().open_log("p2")
    seen = log.follow(after=0, ping=0.1)
    t0 = time.monotonic()
    assert await asyncio.wait_for(anext(seen), 5) is None
    assert await asyncio.wait_for(anext(seen), 5) is None
    assert time.monotonic() - t0 >= 0.19
    log.append(token("a"))
    got = await asyncio.wait_for(anext(seen), 5)
    assert got is not None and got.data == "a"
    for text in ("b", "c"):  # events sooner than the interval: no ping between them
        log.append(token(text))
    assert [(await anext(seen)).data for _ in range(2)] == ["b", "c"]  # type: ignore[union-attr]
    assert await asyncio.wait_for(anext(seen), 5) is None
    assert len(log._waiters) == 0  # the pings' waits are not kept
    log.close()
    assert [e async for e in seen] == []


async def test_requests_missing_the_canvas_cache_share_one_read() -> None:
    """A burst arriving as the remembered canvas expires makes one store read, not one
    per request; a write through this process is not answered from a read in flight."""
    import asyncio

    from canvasflow.server.state import ServerState

    class SlowStore:
        reads = 0

        async def get_canvas(self, ref: str) -> object:
            SlowStore.reads += 1
            await asyncio.sleep(0.05)
            return {"ref": ref, "read": SlowStore.reads}

    st = ServerState(Settings(), SlowStore(), None, None, None, None, None)  # type: ignore[arg-type]
    found = await asyncio.gather(*(st.canvas("cv") for _ in range(200)))
    assert SlowStore.reads == 1 and all(c is found[0] for c in found)
    assert await st.canvas("cv") is found[0]  # remembered
    pending = asyncio.ensure_future(st.canvas("other"))
    await asyncio.sleep(0)  # the read has begun
    st.forget_canvases()  # a write while the read is in flight
    fresh = await st.canvas("other")
    assert SlowStore.reads == 3 and (await pending) is not fresh


async def test_an_expired_canvas_or_key_ring_is_read_aside() -> None:
    """Just past its time, a remembered canvas (and the API keys) is still answered at
    once while one read refreshes it; long past it, or once forgotten, callers wait."""
    import asyncio

    from canvasflow.auth import REFRESH_SECONDS, KeyRing
    from canvasflow.server import state as state_module
    from canvasflow.server.state import ServerState

    gate = asyncio.Event()

    class GatedStore:
        reads = 0
        key_reads = 0

        async def get_canvas(self, ref: str) -> object:
            GatedStore.reads += 1
            await gate.wait()
            return {"ref": ref, "read": GatedStore.reads}

        async def api_keys(self) -> list[object]:
            GatedStore.key_reads += 1
            await gate.wait()
            return []

    st = ServerState(Settings(), GatedStore(), None, None, None, None, None)  # type: ignore[arg-type]
    gate.set()
    first = await st.canvas("cv")
    gate.clear()
    remembered = st._canvases._entries
    expires, canvas = remembered["cv"]
    remembered["cv"] = (expires - state_module.CANVAS_TTL - 0.01, canvas)  # just expired
    stale = await asyncio.wait_for(asyncio.gather(*(st.canvas("cv") for _ in range(50))), 5)
    assert all(c is first for c in stale) and GatedStore.reads == 2  # one read, aside
    gate.set()
    await asyncio.wait_for(st._canvases._loading["cv"], 5)  # the read aside lands
    assert (await st.canvas("cv"))["read"] == 2  # type: ignore[index]
    remembered["cv"] = (expires - 3 * state_module.CANVAS_TTL, canvas)  # long expired
    gate.clear()
    waiting = asyncio.ensure_future(st.canvas("cv"))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # too old to be answered from
    gate.set()
    assert (await waiting)["read"] == 3  # type: ignore[index]

    ring = KeyRing(GatedStore())  # type: ignore[arg-type]
    await ring.canvas_locked("cv")
    assert GatedStore.key_reads == 1
    gate.clear()
    expires, keys = ring._ring._entries["keys"]
    ring._ring._entries["keys"] = (expires - REFRESH_SECONDS - 0.01, keys)  # just expired
    assert await asyncio.wait_for(ring.canvas_locked("cv"), 5) is False
    assert GatedStore.key_reads == 2
    ring.invalidate()  # a change through this process: waited for
    waiting = asyncio.ensure_future(ring.canvas_locked("cv"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gate.set()
    assert await asyncio.wait_for(waiting, 5) is False


# -- cutting a slow client (server/sse.py) ---------------------------------------------


async def _serve_stream(
    response: EventStreamResponse, send_delay: Callable[[int], float | None]
) -> list[bytes]:
    """Run the response against an ASGI ``send`` that takes ``send_delay(n)`` seconds for
    the n-th body frame (None: never returns, a full socket)."""
    import asyncio

    frames: list[bytes] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never goes away
        return {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        delay = send_delay(len(frames))
        if delay is None:
            await asyncio.Event().wait()
        elif delay:
            await asyncio.sleep(delay)
        frames.append(message["body"])

    async with asyncio.timeout(30):
        await response({"type": "http"}, receive, send)
    return frames


async def test_a_stuck_client_is_cut_and_a_client_catching_up_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cut when too far behind at two checks in a row without catching up; a client
    that a burst of events left behind, but that is catching up, gets every event."""
    from canvasflow.bus.memory import MemoryEventLog
    from canvasflow.server import sse

    monkeypatch.setattr(sse, "LAG_CHECK_SECONDS", 0.05)

    def burst() -> MemoryEventLog:
        log = MemoryEventLog()
        for i in range(100):
            log.append(token(f"t{i} "))
        return log

    stuck_log = burst()
    stuck = EventStreamResponse(stuck_log, encoder_for("canvasflow"), max_lag=10)
    frames = await _serve_stream(stuck, lambda n: 0 if n < 5 else None)
    assert stuck.cut and len(frames) == 5
    assert stuck.cut_behind == 95  # as seen when it was cut, not after

    catching_log = burst()
    catching_log.append(Event("end", "[DONE]"))
    catching_log.close()
    catching = EventStreamResponse(catching_log, encoder_for("canvasflow"), max_lag=10)
    # 80 of its 101 events behind for some 0.4 s: eight checks, the lag falling at each
    frames = await _serve_stream(catching, lambda n: 0.005 if n < 80 else 0)
    assert not catching.cut
    assert sum(b'"token"' in f for f in frames) == 100 and frames[-1] == b""


async def _through_a_layer(
    direct: bool,
) -> tuple[list[dict[str, Any]], list[str]]:
    """A finished stream served through a layer that, as CORS does, wraps ``send`` (and
    adds a header to the start), with DirectBody around it or not: the messages the
    server got, and the types of those that went through the layer."""
    import asyncio

    from canvasflow.bus.memory import MemoryEventLog
    from canvasflow.server.sse import DirectBody

    log = MemoryEventLog()
    for i in range(5):
        log.append(token(f"t{i} "))
    log.append(Event("end", "[DONE]"))
    log.close()
    response = EventStreamResponse(log, encoder_for("canvasflow"))
    outer: list[dict[str, Any]] = []
    through_layer: list[str] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def server_send(message: dict[str, Any]) -> None:
        outer.append(message)

    async def layer(scope: Any, receive: Any, send: Any) -> None:
        async def wrapped(message: dict[str, Any]) -> None:
            through_layer.append(message["type"])
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-layer", b"1")]
            await send(message)

        await response(scope, receive, wrapped)

    app: Any = DirectBody(layer) if direct else layer
    async with asyncio.timeout(10):
        await app({"type": "http"}, receive, server_send)
    return outer, through_layer


async def test_an_event_streams_frames_go_past_the_layers_that_wrap_only_its_start() -> None:
    """With DirectBody outermost, a stream's start goes through every layer inside (the
    CORS headers are added there) and its frames by the send DirectBody was given; without
    it, everything goes through them, as before."""
    for direct in (True, False):
        outer, through_layer = await _through_a_layer(direct)
        assert outer[0]["type"] == "http.response.start"
        assert (b"x-layer", b"1") in outer[0]["headers"]
        bodies = [m["body"] for m in outer[1:]]
        assert sum(b'"token"' in b for b in bodies) == 5 and bodies[-1] == b""
        expected = ["http.response.start"] + ([] if direct else ["http.response.body"] * 7)
        assert through_layer == expected


async def test_a_model_error_names_the_node_the_host_and_a_missing_key() -> None:
    """A failed model call says which node on the canvas configured the model, which
    host it called, and, refused without a key, that no key was given and how to give
    one; the error event names the node (the studio marks it failed)."""
    from canvasflow.errors import UpstreamError, UpstreamUnreachable
    from canvasflow.models.deadlines import Deadlines, Origin, guarded

    async def refused() -> AsyncIterator[str]:
        raise UpstreamError("upstream model answered 401: Incorrect API key", upstream_status=401)
        yield ""

    origin = Origin(
        "chatOpenAI_0", "My model", "api.openai.com", keyed=False, key_env="OPENAI_API_KEY"
    )
    with pytest.raises(UpstreamError) as caught:
        async for _ in guarded(refused(), "gpt-4o-mini", Deadlines(origin=origin)):
            pass
    message = caught.value.message
    assert message.startswith("upstream model answered 401: Incorrect API key")
    assert "(My model, calling api.openai.com: no key was given" in message
    assert "set OPENAI_API_KEY on the server, or give the node a credential" in message
    assert caught.value.event_data()["nodeId"] == "chatOpenAI_0"

    async def unreachable() -> AsyncIterator[str]:
        raise UpstreamUnreachable("upstream model unreachable: connection refused")
        yield ""

    keyed = Origin("m", "Local server", "127.0.0.1:9", keyed=True)
    with pytest.raises(UpstreamUnreachable) as caught2:
        async for _ in guarded(unreachable(), "m", Deadlines(origin=keyed)):
            pass
    assert caught2.value.message == (
        "upstream model unreachable: connection refused (Local server, calling an internal address)"
    )
    assert "no key" not in caught2.value.message


def test_a_node_whose_extra_is_not_installed_is_a_problem_at_save() -> None:
    """A node that needs an extra this installation lacks is named at save, on that
    node, with the command that installs it, and the catalogue says so (the palette
    greys it), instead of a run failing later."""
    from canvasflow.engine.catalog import describe
    from canvasflow.engine.graph import check
    from canvasflow.runtime.node import REGISTRY, Node, load_all

    load_all()

    class Shiny(Node):
        name = "shinyEmbeddingsTest"
        label = "Shiny Embeddings"
        category = "Embeddings"
        base_classes = ("Embeddings",)
        needs = (("canvasflow_no_such_module", "shiny"),)

    REGISTRY[Shiny.name] = Shiny
    try:
        _, problems = check({"nodes": [node("s_0", Shiny.name, {})], "edges": []})
        said = [p for p in problems if p.node_id == "s_0" and "needs" in p.message]
        assert [p.message for p in said] == [
            "Shiny Embeddings (s_0): needs canvasflow[shiny], which this server does not "
            "have: pip install 'canvasflow[shiny]', then start it again"
        ]
        assert said[0].level == "error"
        assert describe(Shiny)["needs"] == ["canvasflow[shiny]"]
        assert "needs" not in describe(REGISTRY["miniLMEmbeddings"])  # installed here
    finally:
        del REGISTRY[Shiny.name]
