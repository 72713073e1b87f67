"""Runs nobody typed: webhooks (signatures, idempotency, response modes), schedules
(due ticks under a fake clock, a real server's ticks, exactly once across three
processes), and the record of every run (executions: filters, trace, sharing,
retention, run again)."""

from __future__ import annotations

import asyncio
import base64
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from canvasflow.errors import SettingsInvalid
from canvasflow.runtime.template import fill_webhook
from canvasflow.triggers import schedule, webhook
from tests.support import (
    Proc,
    canvasflow_server,
    create_pg_database,
    drop_pg_database,
    llm_chain_flow,
    make_canvas,
    node,
    poll,
)

T0 = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


# -- schedules: which ticks are due (a fake clock) -------------------------------------------------


def every_minute(**kw: Any) -> schedule.ScheduleConfig:
    return schedule.ScheduleConfig(cron="* * * * *", **kw)


def test_a_tick_on_time_runs_once_and_never_again() -> None:
    config = every_minute()
    run, skipped = schedule.due(config, T0, T0 + timedelta(seconds=61))
    assert run == [T0 + timedelta(minutes=1)] and skipped == []
    # the same tick taken: asked again, nothing is due
    assert schedule.due(config, run[0], T0 + timedelta(seconds=62)) == ([], [])


def test_missed_ticks_run_once_or_are_skipped_as_the_schedule_says() -> None:
    down_until = T0 + timedelta(minutes=10, seconds=40)  # no process ran for ten minutes
    run, skipped = schedule.due(every_minute(), T0, down_until)
    assert run == [T0 + timedelta(minutes=10)] and len(skipped) == 9
    run, skipped = schedule.due(every_minute(misfire="skip"), T0, down_until)
    assert run == [] and len(skipped) == 10


def test_a_clock_that_jumps_back_reruns_nothing_and_one_that_jumps_ahead_runs_once() -> None:
    config = every_minute()
    last = T0 + timedelta(minutes=5)
    assert schedule.due(config, last, T0 + timedelta(minutes=2)) == ([], [])  # back 3 minutes
    run, skipped = schedule.due(config, last, T0 + timedelta(hours=3, seconds=10))  # ahead
    assert run == [T0 + timedelta(hours=3)] and skipped[-1] == T0 + timedelta(hours=2, minutes=59)


def test_an_end_date_stops_a_schedule_and_time_zones_are_the_schedules() -> None:
    ended = every_minute(end=T0 + timedelta(minutes=1))
    assert (
        schedule.due(ended, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2, seconds=5))[0]
        == []
    )
    nine = schedule.ScheduleConfig(cron="0 9 * * *", timezone="Europe/Moscow")
    run, _ = schedule.due(nine, T0 - timedelta(days=1), datetime(2026, 12, 7, 6, 0, 5, tzinfo=UTC))
    assert run == [datetime(2026, 12, 7, 6, 0, tzinfo=UTC)]  # 09:00 in Moscow is 06:00 UTC


def test_six_fields_have_seconds_first_and_the_visual_picker_makes_cron() -> None:
    config = schedule.ScheduleConfig(cron="*/10 * * * * *")
    run, _ = schedule.due(config, T0, T0 + timedelta(seconds=10, milliseconds=5))
    assert run == [T0 + timedelta(seconds=10)]
    inputs = {"scheduleFrequency": "weekly", "scheduleOnTime": "07:30"}
    assert schedule.visual_cron({**inputs, "scheduleOnDayOfWeek": ["monday", "friday"]}) == (
        "30 7 * * 1,5"
    )
    assert schedule.visual_cron({"scheduleFrequency": "hourly", "scheduleOnMinute": 15}) == (
        "15 * * * *"
    )


@pytest.mark.parametrize(
    ("cron", "zone", "says"),
    [
        ("every day", "UTC", "does not parse"),
        ("61 * * * *", "UTC", "does not parse"),
        ("* * * * * *", "UTC", "shortest interval allowed is 60"),
        ("0 9 * * *", "Mars/Olympus", "time zone"),
    ],
)
def test_a_schedule_that_cannot_be_kept_is_named(cron: str, zone: str, says: str) -> None:
    with pytest.raises(SettingsInvalid) as caught:
        schedule.check(schedule.ScheduleConfig(cron=cron, timezone=zone), 60)
    assert says in caught.value.message and caught.value.status == 422


# -- webhooks: the request as the run sees it ------------------------------------------------------


def test_webhook_payloads_and_templates() -> None:
    payload = webhook.payload_of(
        "POST",
        b'{"order": {"id": 42, "items": ["a", "b"]}}',
        {"page": "2"},
        {"content-type": "application/json", "authorization": "Bearer x", "x-event": "paid"},
    )
    assert "authorization" not in payload["headers"] and payload["headers"]["x-event"] == "paid"
    text = (
        "order {{ $webhook.body.order.id }} ({{$webhook.body.order.items[1]}})"
        " p{{ $webhook.query.page }}"
    )
    assert fill_webhook(text, payload) == "order 42 (b) p2"
    config = webhook.WebhookConfig(template="event {{ $webhook.headers.x-event }}")
    assert webhook.question_of(config, payload) == "event paid"
    assert webhook.question_of(webhook.WebhookConfig(), {"body": {"question": "hi"}}) == "hi"
    # GitHub's form deliveries: the JSON is in "payload"
    form = webhook.parse_body(
        b"payload=%7B%22ref%22%3A%22main%22%7D", "application/x-www-form-urlencoded"
    )
    assert form == {"ref": "main"}


def signed(
    secret: str, body: bytes, msg_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    at = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
        "content-type": "application/json",
    }


# -- a server --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = canvasflow_server(
        tmp_path_factory.mktemp("triggers"),
        upstream,
        {"CANVASFLOW_MIN_SCHEDULE_S": "2", "CANVASFLOW_MAX_BODY_BYTES": "200000"},
    ).start()
    yield proc
    proc.stop()


def executions(srv: Proc, **params: Any) -> dict[str, Any]:
    r = httpx.get(srv.url + "/api/v1/executions", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def finished(srv: Proc, execution_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = httpx.get(f"{srv.url}/api/v1/executions/{execution_id}")
        if r.status_code == 200 and r.json()["status"] != "running":
            return r.json()  # type: ignore[no-any-return]
        return None

    return poll(done, timeout=20)  # type: ignore[no-any-return]


def hook_canvas(srv: Proc, **hook: Any) -> dict[str, Any]:
    settings = {"webhook": {"enabled": True, "input": "echo: order {{ $webhook.body.id }}", **hook}}
    return make_canvas(
        srv.url, llm_chain_flow(), name="hook " + uuid.uuid4().hex[:6], settings=settings
    )


def test_a_webhook_that_waits_answers_with_the_run(srv: Proc) -> None:
    canvas = hook_canvas(srv)
    r = httpx.post(f"{srv.url}/api/v1/webhook/{canvas['id']}", json={"id": 42}, params={"q": "1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "order 42"
    record = finished(srv, body["executionId"])
    assert record["trigger"] == "webhook" and record["status"] == "completed"
    assert record["request"]["webhook"]["body"] == {"id": 42}
    assert record["request"]["webhook"]["query"] == {"q": "1"}
    names = {e["name"] for e in record["trace"]}
    assert {"chatOpenAICustom", "promptTemplate", "llmChain"} <= names
    ending = next(e for e in record["trace"] if e["name"] == "llmChain")
    assert ending["status"] == "done" and ending["output"]["text"] == "order 42"
    assert ending["tokens"] >= 1 and isinstance(ending["ms"], int)


def test_a_chatflow_prompt_template_sees_webhook(srv: Proc) -> None:
    flow = llm_chain_flow(template="echo: {{ $webhook.body.user }} asks {question}")
    settings = {"webhook": {"enabled": True}}  # no template: the body's question
    canvas = make_canvas(srv.url, flow, name="prompted hook", settings=settings)
    r = httpx.post(
        f"{srv.url}/api/v1/webhook/{canvas['id']}", json={"user": "alice", "question": "why"}
    )
    assert r.status_code == 200 and r.json()["text"] == "alice asks why", r.text


def test_a_webhook_that_does_not_wait_answers_202_and_runs(srv: Proc) -> None:
    canvas = hook_canvas(srv, responseMode="async")
    r = httpx.post(f"{srv.url}/api/v1/webhook/{canvas['slug']}", json={"id": 7})
    assert r.status_code == 202, r.text
    record = finished(srv, r.json()["executionId"])
    assert record["answer"] == "order 7" and record["canvasName"] == canvas["name"]


def test_a_webhook_streams_when_asked(srv: Proc) -> None:
    canvas = hook_canvas(srv, responseMode="stream")
    r = httpx.post(f"{srv.url}/api/v1/webhook/{canvas['id']}", json={"id": 9})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert b"order" in r.content and b"9" in r.content


def test_webhook_signatures_and_replays(srv: Proc) -> None:
    canvas = hook_canvas(srv)
    url = f"{srv.url}/api/v1/webhook/{canvas['id']}"
    made = httpx.post(f"{srv.url}/api/v1/canvases/{canvas['id']}/webhook-secret")
    assert made.status_code == 200, made.text
    secret = made.json()["webhookSecret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    # the secret never shows again: not in the canvas, not in its export
    shown = httpx.get(f"{srv.url}/api/v1/canvases/{canvas['id']}").json()
    assert shown["settings"]["webhook"]["secretConfigured"] is True
    assert secret[6:20] not in httpx.get(f"{srv.url}/api/v1/canvases/{canvas['id']}").text
    assert "fernet" not in httpx.get(f"{srv.url}/api/v1/canvases/{canvas['id']}/export").text
    before = executions(srv, canvasId=canvas["id"])["total"]
    body = b'{"id": 5}'
    refused = [
        httpx.post(url, content=body, headers={"content-type": "application/json"}),  # unsigned
        httpx.post(
            url, content=body, headers=signed("whsec_" + base64.b64encode(b"x" * 32).decode(), body)
        ),
        httpx.post(
            url,
            content=body,
            headers=signed(secret, body, at=datetime.now(UTC) - timedelta(minutes=6)),
        ),
        httpx.post(url, content=b'{"id": 6}', headers=signed(secret, body)),  # body changed
    ]
    assert [r.status_code for r in refused] == [401, 401, 401, 401], [r.text for r in refused]
    metrics = httpx.get(srv.url + "/metrics").text
    assert 'canvasflow_webhooks_refused_total{reason="signature"} 4.0' in metrics
    headers = signed(secret, body)
    first = httpx.post(url, content=body, headers=headers)
    assert first.status_code == 200 and first.json()["text"] == "order 5"
    again = httpx.post(url, content=body, headers=headers)  # the sender retries: same id
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["executionId"] == first.json()["executionId"]
    # one run in all: the refused requests and the replay ran nothing, kept nothing
    finished(srv, first.json()["executionId"])
    assert executions(srv, canvasId=canvas["id"])["total"] == before + 1
    # an Idempotency-Key works the same way on an unsigned webhook
    assert (
        httpx.delete(f"{srv.url}/api/v1/canvases/{canvas['id']}/webhook-secret").status_code == 204
    )
    key = {"Idempotency-Key": uuid.uuid4().hex}
    assert httpx.post(url, json={"id": 1}, headers=key).json()["text"] == "order 1"
    assert httpx.post(url, json={"id": 1}, headers=key).json()["status"] == "duplicate"


def test_what_bad_webhook_requests_get(srv: Proc) -> None:
    canvas = hook_canvas(srv)
    url = f"{srv.url}/api/v1/webhook/{canvas['id']}"
    r = httpx.get(url)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert (
        httpx.post(
            url, content=b"x" * 300_000, headers={"content-type": "application/json"}
        ).status_code
        == 413
    )
    assert (
        httpx.post(url, content=b"{nope", headers={"content-type": "application/json"}).status_code
        == 400
    )
    plain = make_canvas(srv.url, llm_chain_flow(), name="not a hook")
    assert httpx.post(f"{srv.url}/api/v1/webhook/{plain['id']}", json={}).status_code == 404
    # no CORS: a page elsewhere cannot read a webhook's answer
    r = httpx.options(
        url, headers={"Origin": "https://else.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in r.headers


def agentflow_with_start(start: dict[str, Any], message: str) -> dict[str, Any]:
    model = {"llmModel": "chatOpenAICustom", "llmModelConfig": {"modelName": "mock"}}
    return {
        "nodes": [
            node("startAgentflow_0", "startAgentflow", start),
            node(
                "llmAgentflow_0",
                "llmAgentflow",
                {**model, "llmMessages": [], "llmUserMessage": message, "llmEnableMemory": False},
            ),
        ],
        "edges": [
            {
                "source": "startAgentflow_0",
                "target": "llmAgentflow_0",
                "sourceHandle": "startAgentflow_0-output-startAgentflow",
                "targetHandle": "llmAgentflow_0",
                "id": "e1",
            }
        ],
    }


def test_an_agentflow_webhook_trigger_sees_webhook_in_its_nodes(srv: Proc) -> None:
    flow = agentflow_with_start(
        {"startInputType": "webhookTrigger", "webhookMethod": "PUT", "webhookInputMode": "none"},
        "echo: ticket {{ $webhook.body.ticket }} from {{ $webhook.headers.x-source }}",
    )
    canvas = make_canvas(srv.url, flow, name="agent hook")
    r = httpx.put(
        f"{srv.url}/api/v1/webhook/{canvas['id']}",
        json={"ticket": "T-9"},
        headers={"x-source": "crm"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "ticket T-9 from crm"
    record = finished(srv, r.json()["executionId"])
    # the flow's own execution id is the record's (Flowise's executionId)
    assert r.json()["executionId"] == record["id"]
    start = next(e for e in record["trace"] if e["nodeId"] == "startAgentflow_0")
    assert start["output"]["webhook"]["body"] == {"ticket": "T-9"} and start["status"] == "done"
    assert [e["nodeId"] for e in record["trace"]] == ["startAgentflow_0", "llmAgentflow_0"]
    assert orjson.loads(record["executionData"])[1]["nodeId"] == "llmAgentflow_0"


def test_a_chatflow_on_a_schedule_runs_each_tick_and_can_be_turned_off(srv: Proc) -> None:
    settings = {"schedule": {"cron": "*/2 * * * * *", "input": "echo: it is time"}}
    canvas = make_canvas(srv.url, llm_chain_flow(), name="every 2 s", settings=settings)
    logs_url = f"{srv.url}/api/v1/canvases/{canvas['id']}/schedule/logs"

    def ran(n: int) -> list[dict[str, Any]] | None:
        rows = [t for t in httpx.get(logs_url).json()["data"] if t["status"] == "SUCCEEDED"]
        return rows if len(rows) >= n else None

    rows = poll(lambda: ran(2), timeout=20)
    ticks = [datetime.fromisoformat(t["scheduledAt"]) for t in rows]
    assert all(t.second % 2 == 0 and t.microsecond == 0 for t in ticks)
    record = finished(srv, rows[0]["executionId"])
    assert record["trigger"] == "schedule" and record["answer"] == "it is time"
    status = httpx.get(f"{srv.url}/api/v1/canvases/{canvas['id']}/schedule/status").json()
    assert status["enabled"] and status["record"]["cron"] == "*/2 * * * * *"
    off = httpx.patch(
        f"{srv.url}/api/v1/chatflows/{canvas['id']}/schedule/enabled", json={"enabled": False}
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    time.sleep(0.5)  # a tick already claimed may still finish
    count = httpx.get(logs_url).json()["total"]
    deadline = time.monotonic() + 6  # three more ticks' time: none is taken
    while time.monotonic() < deadline:
        assert httpx.get(logs_url).json()["total"] == count
        time.sleep(0.5)


def test_a_schedule_that_cannot_be_kept_is_refused_at_save(srv: Proc) -> None:
    for cron, says in (("soon", "does not parse"), ("* * * * * *", "shortest interval")):
        r = httpx.post(
            srv.url + "/api/v1/canvases",
            json={
                "name": "bad schedule",
                "flowData": orjson.dumps(llm_chain_flow()).decode(),
                "settings": {"schedule": {"cron": cron, "input": "x"}},
            },
        )
        assert r.status_code == 422 and says in r.json()["message"], r.text
    flow = agentflow_with_start(
        {
            "startInputType": "scheduleInput",
            "scheduleType": "cronExpression",
            "scheduleCronExpression": "61 * * * *",
        },
        "hi",
    )
    r = httpx.post(
        srv.url + "/api/v1/canvases", json={"name": "bad", "flowData": orjson.dumps(flow).decode()}
    )
    assert r.status_code == 422 and "61 * * * *" in r.json()["message"]


def test_executions_are_listed_filtered_shared_and_run_again(srv: Proc) -> None:
    canvas = make_canvas(srv.url, llm_chain_flow(), name="listed")
    for i in range(3):
        r = httpx.post(
            f"{srv.url}/api/v1/prediction/{canvas['id']}", json={"question": f"echo: q{i}"}
        )
        assert r.status_code == 200
    studio = httpx.post(
        f"{srv.url}/api/v1/prediction/{canvas['id']}",
        json={"question": "echo: from the studio"},
        headers={"X-Canvasflow-Trigger": "studio"},
    )
    failing = make_canvas(srv.url, llm_chain_flow(model="mock?status=500"), name="failing")
    assert (
        httpx.post(
            f"{srv.url}/api/v1/prediction/{failing['id']}", json={"question": "x"}
        ).status_code
        >= 500
    )
    poll(lambda: executions(srv, canvasId=canvas["id"], status="completed")["total"] == 4)
    page = executions(srv, canvasId=canvas["slug"], limit=2, page=2)
    assert page["total"] == 4 and len(page["data"]) == 2 and page["page"] == 2
    assert (
        executions(srv, canvasId=canvas["id"], trigger="studio")["data"][0]["question"]
        == "echo: from the studio"
    )
    assert studio.status_code == 200
    errors = poll(lambda: executions(srv, agentflowId=failing["id"], state="ERROR")["data"] or None)
    one = httpx.get(f"{srv.url}/api/v1/executions/{errors[0]['id']}").json()
    assert one["status"] == "error" and one["error"]["code"]
    assert any(e["status"] == "error" for e in one["trace"])  # the failing node, marked
    # dates filter
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert executions(srv, canvasId=canvas["id"], startDate=later)["total"] == 0
    # shared read-only, or not at all
    target = executions(srv, canvasId=canvas["id"])["data"][0]["id"]
    assert httpx.get(f"{srv.url}/api/v1/public-executions/{target}").status_code == 404
    shared = httpx.put(f"{srv.url}/api/v1/executions/{target}", json={"isPublic": True})
    assert shared.json()["isPublic"] is True
    public = httpx.get(f"{srv.url}/api/v1/public-executions/{target}")
    assert public.status_code == 200 and public.json()["request"] is None and public.json()["trace"]
    # run again with the same input: a new execution
    again = httpx.post(f"{srv.url}/api/v1/executions/{target}/run")
    assert again.status_code == 202
    rerun = finished(srv, again.json()["executionId"])
    assert rerun["question"] == public.json()["question"] and rerun["trigger"] == "studio"
    # deleted, one and several
    ids = [e["id"] for e in executions(srv, canvasId=canvas["id"])["data"]]
    assert httpx.delete(f"{srv.url}/api/v1/executions/{ids[0]}").json()["deletedCount"] == 1
    r = httpx.request("DELETE", f"{srv.url}/api/v1/executions", json={"executionIds": ids[1:]})
    assert r.json()["deletedCount"] == len(ids) - 1
    assert executions(srv, canvasId=canvas["id"])["total"] == 0


def test_the_openai_door_and_mcp_runs_are_recorded_with_their_trigger(srv: Proc) -> None:
    canvas = make_canvas(srv.url, llm_chain_flow(), name="doors")
    r = httpx.post(
        srv.url + "/v1/chat/completions",
        json={"model": canvas["id"], "messages": [{"role": "user", "content": "echo: via openai"}]},
    )
    assert r.status_code == 200, r.text
    rows = poll(lambda: executions(srv, canvasId=canvas["id"], trigger="openai")["data"] or None)
    assert rows[0]["answer"] == "via openai"

    cfg = httpx.post(f"{srv.url}/api/v1/mcp-server/{canvas['id']}", json={}).json()

    async def call_mcp() -> None:
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        headers = {"Authorization": f"Bearer {cfg['token']}"}
        async with (
            httpx.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(cfg["url"], http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            await session.call_tool(tools.tools[0].name, {"question": "echo: via mcp"})

    asyncio.run(call_mcp())
    rows = poll(lambda: executions(srv, canvasId=canvas["id"], trigger="mcp")["data"] or None)
    assert rows[0]["answer"] == "via mcp" and rows[0]["status"] == "completed"


# -- the store: one writer, retention --------------------------------------------------------------


def test_records_share_the_writer_and_old_ones_go(tmp_path: Path) -> None:
    from canvasflow.engine.outcome import Outcome
    from canvasflow.engine.record import end_row, start_row
    from canvasflow.runtime.context import RunContext
    from canvasflow.store.repo import RunFilter, Store

    async def go() -> None:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
        await store.migrate()
        ctx = RunContext(question="q" * 50_000, canvas_id="c1", chat_message_id=str(uuid.uuid4()))
        started = start_row(ctx)
        outcome = Outcome(ctx.identity(), status="completed", pieces=["a", "b"])
        ended = end_row(ctx, None, outcome, [], 5, started)
        # begun and ended in one batch: one insert, finished
        await asyncio.gather(store.record_run(started), store.finish_run(ended))
        row = await store.get_execution(ctx.chat_message_id)
        assert row is not None and row.status == "completed" and row.answer == "ab"
        assert row.question is not None and len(row.question) < 21_000  # cut, its size noted
        # begun in one batch, ended in another: the end updates it
        ctx2 = RunContext(question="x", canvas_id="c1", chat_message_id=str(uuid.uuid4()))
        await store.record_run(start_row(ctx2))
        assert (await store.get_execution(ctx2.chat_message_id)).status == "running"  # type: ignore[union-attr]
        await store.finish_run(
            end_row(ctx2, None, Outcome(ctx2.identity(), status="aborted"), [], None, None)
        )
        assert (await store.get_execution(ctx2.chat_message_id)).status == "aborted"  # type: ignore[union-attr]
        # retention: the older one goes, the newer stays
        old = {**start_row(ctx2), "id": str(uuid.uuid4()), "status": "completed"}
        old["started_at"] = datetime.now(UTC) - timedelta(days=40)
        await store.record_run(old)
        assert (await store.executions(RunFilter(canvas_id="c1"), 1, 10))[1] == 3
        removed = await store.forget_old(datetime.now(UTC) - timedelta(days=30), datetime.now(UTC))
        assert removed == 1 and (await store.executions(RunFilter(), 1, 10))[1] == 2
        await store.close()

    asyncio.run(go())


# -- exactly once across three processes (PostgreSQL) ----------------------------------------------


def test_each_tick_runs_once_across_three_processes_one_killed_at_a_tick(
    upstream: str, tmp_path: Path
) -> None:
    """Three servers on one database, a schedule every two seconds and one every
    minute (a real minute's tick): every tick runs exactly once, also when one of the
    processes is killed at a tick."""
    pg = create_pg_database()
    env = {"DATABASE_URL": pg, "CANVASFLOW_MIN_SCHEDULE_S": "2"}
    procs = [canvasflow_server(tmp_path / f"p{i}", upstream, env) for i in range(3)]
    try:
        procs[0].start()
        for p in procs[1:]:
            p.spawn()
        for p in procs[1:]:
            poll(lambda p=p: httpx.get(p.url + "/api/v1/ping").status_code == 200, timeout=60)  # type: ignore[misc]
        url = procs[0].url
        fast = make_canvas(
            url,
            llm_chain_flow(),
            name="fast",
            settings={"schedule": {"cron": "*/2 * * * * *", "input": "echo: fast"}},
        )
        minute = make_canvas(
            url,
            llm_chain_flow(),
            name="minute",
            settings={"schedule": {"cron": "* * * * *", "input": "echo: minute"}},
        )

        via = [procs[1]]  # the process the logs are read through (never the killed one)

        def ticks(canvas: dict[str, Any]) -> list[dict[str, Any]]:
            r = httpx.get(
                f"{via[0].url}/api/v1/canvases/{canvas['id']}/schedule/logs",
                params={"limit": 200},
            )
            return r.json()["data"]  # type: ignore[no-any-return]

        poll(lambda: len(ticks(fast)) >= 2, timeout=20)
        # kill the process that runs the next tick, at that tick
        seen = {t["id"] for t in ticks(fast)}
        newest = poll(lambda: [t for t in ticks(fast) if t["id"] not in seen] or None, timeout=10)[
            0
        ]
        killed = next(p for p in procs if newest["process"].endswith(f":{p.proc.pid}"))  # type: ignore[union-attr]
        killed.stop(signal.SIGKILL)
        alive = [p for p in procs if p is not killed]
        via[0] = alive[0]
        poll(lambda: len(ticks(minute)) >= 1, timeout=75)
        poll(
            lambda: (
                len(
                    [
                        t
                        for t in ticks(fast)
                        if t["process"] != newest["process"]
                        and t["scheduledAt"] > newest["scheduledAt"]
                    ]
                )
                >= 3
            ),
            timeout=20,
        )
        # the processes left stop as an operator stops them (their gathered records are
        # written as they go); a reader with no schedules then sees all that was kept
        for p in alive:
            p.stop()
        reader = canvasflow_server(
            tmp_path / "reader", upstream, {**env, "CANVASFLOW_SCHEDULER": "0"}
        )
        procs.append(reader)
        reader.start()
        via[0] = reader
        fast_ticks = [t["scheduledAt"] for t in ticks(fast)]
        assert len(fast_ticks) == len(set(fast_ticks))  # no tick twice
        minute_ticks = ticks(minute)
        assert len({t["scheduledAt"] for t in minute_ticks}) == len(minute_ticks)
        assert datetime.fromisoformat(minute_ticks[0]["scheduledAt"]).second == 0
        # every tick since the first is there: none lost by the kill
        times = sorted(datetime.fromisoformat(t) for t in fast_ticks)
        gaps = {(b - a).total_seconds() for a, b in pairwise(times)}
        assert gaps == {2.0}, gaps
        # each ran once: one execution per tick, never two. The killed process loses the
        # records it was still gathering (at most half a second's: its last run or two)
        runs = httpx.get(
            f"{reader.url}/api/v1/executions", params={"canvasId": fast["id"], "limit": 200}
        ).json()["data"]
        started = [t["executionId"] for t in ticks(fast) if t["executionId"]]
        # (the killed one's tick may have been taken without its run started)
        assert len(started) == len(set(started)) >= len(fast_ticks) - 1
        assert {r["id"] for r in runs} <= set(started)
        assert len(fast_ticks) - 2 <= len(runs) <= len(fast_ticks)
        assert {r["trigger"] for r in runs} == {"schedule"}
    finally:
        for p in procs:
            p.stop()
        drop_pg_database(pg)
