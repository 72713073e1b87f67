"""The real embedded model (SmolLM2-135M through llama-cpp-python), no key, no network."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support import canvasflow_server, sse_events


def test_default_canvas_streams_a_local_answer(tmp_path: Path) -> None:
    # no upstream at all: the default canvas must not need one
    proc = canvasflow_server(
        tmp_path / "data", "http://127.0.0.1:9", {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}
    ).start()
    try:
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
