"""The real embedded model (SmolLM2-135M through llama-cpp-python), no key, no network."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support import canvasflow_server, sse_events


def test_default_canvas_streams_a_local_answer(tmp_path: Path) -> None:
    # no upstream at all: the default canvas must not need one
    proc = canvasflow_server(
        tmp_path / "data",
        "http://127.0.0.1:9",
        {
            "OPENAI_BASE_URL": "",
            "OPENAI_API_KEY": "",
            "CANVASFLOW_WARM_UP": "1",
        },
        args=["--log-level", "info"],
    ).start()
    try:
        # ready at once; the model loads in the background, before any question
        from tests.support import poll

        poll(lambda: "embedded model ready" in proc.log_text(), timeout=60)
        with httpx.Client(base_url=proc.url, timeout=120) as c:
            canvases = c.get("/api/v1/canvases").json()
            assert [x["slug"] for x in canvases] == ["default"]
            r = c.post(
                "/api/v1/prediction/default",
                json={"question": "What is the capital of France?", "streaming": True},
            )
            assert r.status_code == 200
            events = sse_events(r.content)
            tokens = [e["data"] for e in events if e["event"] == "token"]
            assert len(tokens) >= 3
            assert "".join(tokens).strip()
            meta = events[-2]["data"]
            assert meta["status"] == "completed"
            assert meta["model"] == "SmolLM2-135M-Instruct"
            assert meta["usage"]["completion_tokens"] >= len(tokens) - 1
            assert meta["usage"]["prompt_tokens"] > 0
            assert meta["memoryType"] == "Buffer Memory"
            r = c.post("/api/v1/prediction/default", json={"question": "Say hello."})
            assert r.status_code == 200 and r.json()["text"].strip()
    finally:
        proc.stop()


def test_abort_stops_local_generation(tmp_path: Path) -> None:
    import time

    import orjson

    from tests.support import make_canvas, node

    proc = canvasflow_server(tmp_path / "data", "http://127.0.0.1:9").start()
    try:
        flow = {
            "nodes": [
                node("chatLocal_0", "chatLocal", {"maxTokens": 1500, "temperature": 0.7}),
                node("mem_0", "bufferMemory", {}),
                node(
                    "chain_0",
                    "conversationChain",
                    {"model": "{{chatLocal_0.data.instance}}", "memory": "{{mem_0.data.instance}}"},
                ),
            ],
            "edges": [],
        }
        canvas = make_canvas(proc.url, flow)
        with httpx.Client(base_url=proc.url, timeout=120) as c:
            with c.stream(
                "POST",
                f"/api/v1/prediction/{canvas['id']}",
                json={
                    "question": "Write a very long story about a dragon.",
                    "streaming": True,
                    "chatId": "local-abort",
                },
            ) as r:
                lines = r.iter_lines()
                seen = 0
                for line in lines:
                    if line.startswith('data: {"event":"token"'):
                        seen += 1
                        if seen == 3:
                            break
                t0 = time.monotonic()
                a = c.put(f"/api/v1/chatmessage/abort/{canvas['id']}/local-abort")
                assert a.status_code == 200
                rest = [orjson.loads(x[6:]) for x in lines if x.startswith("data: {")]
                elapsed = time.monotonic() - t0
            assert elapsed < 0.5, elapsed
            assert rest[-2]["event"] == "metadata" and rest[-2]["data"]["status"] == "aborted"
            # the model is free again for the next generation
            r = c.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "Hi"})
            assert r.status_code == 200 and r.json()["status"] == "completed"
            stored = c.get(
                f"/api/v1/chatmessage/{canvas['id']}", params={"chatId": "local-abort"}
            ).json()
            assert stored[-1]["status"] == "aborted" and stored[-1]["content"]
    finally:
        proc.stop()
