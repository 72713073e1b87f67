"""A canvas's settings applied to its answers, in Flowise's shapes: post-processing (a
JavaScript function over the answer, in the sandbox) and follow-up prompts (a model
suggests the next questions), through every door; the allowed-domains message; the
settings carried both ways by a Flowise export."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.support import Proc, llm_chain_flow, make_canvas, sse_events

UPPER = "return $flow.rawOutput.toUpperCase() + ' (' + $flow.input + ')';"
FOLLOW_UPS = {
    "status": True,
    "selectedProvider": "chatOpenAI",
    "chatOpenAI": {"modelName": "mock", "prompt": "Next questions after: {history}"},
}


def post_processing(code: str) -> dict[str, Any]:
    # Flowise stores the function JSON-encoded
    return {"postProcessing": {"enabled": True, "customFunction": orjson.dumps(code).decode()}}


def test_post_processing_changes_the_answer_at_every_door(server: Proc) -> None:
    canvas = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=3"),
        settings={"chatbotConfig": post_processing(UPPER)},
    )
    want = "WORD0 WORD1 WORD2 (hi there)"
    with httpx.Client(base_url=server.url, timeout=60) as c:
        body = c.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "hi there"}).json()
        assert body["text"] == want
        # streamed: the answer comes whole, once processed (as Flowise: no token before)
        raw = c.post(
            f"/api/v1/prediction/{canvas['id']}", json={"question": "hi there", "streaming": True}
        ).content
        events = sse_events(raw)
        tokens = [e["data"] for e in events if e["event"] == "token"]
        assert tokens == [want]
        flowise = c.post(
            f"/api/v1/prediction/{canvas['id']}",
            json={"question": "hi there", "streaming": True, "streamFormat": "flowise"},
        ).text
        assert '"event":"token","data":"WORD0 WORD1 WORD2 (hi there)"' in flowise
        # the OpenAI door
        chat = c.post(
            "/v1/chat/completions",
            json={"model": canvas["slug"], "messages": [{"role": "user", "content": "hi there"}]},
        ).json()
        assert chat["choices"][0]["message"]["content"] == want
        # the stored answer is the processed one
        messages = c.get(f"/api/v1/chatmessage/{canvas['id']}").json()
        assert want in [m["content"] for m in messages]


def test_a_failing_post_processing_keeps_the_answer(server: Proc) -> None:
    for code in ("throw new Error('nope');", "while (true) {}"):
        canvas = make_canvas(
            server.url,
            llm_chain_flow("mock?tokens=2"),
            settings={"chatbotConfig": post_processing(code)},
        )
        r = httpx.post(
            f"{server.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"}, timeout=60
        )
        assert r.status_code == 200 and r.json()["text"] == "word0 word1", code


def test_an_object_from_post_processing_becomes_a_json_block(server: Proc) -> None:
    canvas = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=2"),
        settings={"chatbotConfig": post_processing("return {said: $flow.rawOutput};")},
    )
    text = httpx.post(
        f"{server.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"}, timeout=60
    ).json()["text"]
    assert text == '```json\n{\n  "said": "word0 word1"\n}\n```'


def test_follow_up_prompts_come_with_the_answer(server: Proc, upstream: str) -> None:
    canvas = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=3"),
        settings={
            "followUpPrompts": FOLLOW_UPS,
            "chatbotConfig": {"followUpPrompts": {"status": True}},
        },
    )
    with httpx.Client(base_url=server.url, timeout=60) as c:
        body = c.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "tell me"}).json()
        # as Flowise: a JSON string of the questions (the mock answers the schema's example)
        assert orjson.loads(body["followUpPrompts"]) == ["mock"]
        asked = [
            r for r in httpx.get(upstream + "/requests").json() if "Next questions after" in str(r)
        ]
        assert asked and "word0 word1 word2" in str(asked[-1]) and "tell me" in str(asked[-1])
        for fmt in ("canvasflow", "flowise"):
            raw = c.post(
                f"/api/v1/prediction/{canvas['id']}",
                json={"question": "tell me", "streaming": True, "streamFormat": fmt},
            ).content
            payloads = [  # both formats: "data: {...}" and "data:{...}"
                orjson.loads(line.removeprefix("data:"))
                for line in raw.decode().split("\n")
                if line.startswith("data:") and line.removeprefix("data:").lstrip().startswith("{")
            ]
            meta = [e for e in payloads if e["event"] == "metadata"]
            assert orjson.loads(meta[0]["data"]["followUpPrompts"]) == ["mock"], fmt
        # the widget learns they are on; the provider's settings stay private
        public = c.get(f"/api/v1/public-chatbotConfig/{canvas['id']}").json()
        assert public["followUpPrompts"] == {"status": True}
        assert "chatOpenAI" not in str(public)


def test_follow_up_prompts_that_fail_cost_the_answer_nothing(server: Proc) -> None:
    broken = {**FOLLOW_UPS, "chatOpenAI": {"modelName": "mock?status=500"}}
    canvas = make_canvas(
        server.url, llm_chain_flow("mock?tokens=2"), settings={"followUpPrompts": broken}
    )
    body = httpx.post(
        f"{server.url}/api/v1/prediction/{canvas['id']}", json={"question": "q"}, timeout=60
    ).json()
    assert body["text"] == "word0 word1" and body["status"] == "completed"
    assert "followUpPrompts" not in body


def test_finishing_settings_are_checked_at_save(server: Proc) -> None:
    for settings, said in (
        ({"followUpPrompts": {"status": True, "selectedProvider": "nope"}}, "nope"),
        ({"chatbotConfig": {"postProcessing": {"enabled": True}}}, "customFunction"),
    ):
        r = httpx.post(
            f"{server.url}/api/v1/canvases",
            json={
                "name": "x",
                "flowData": orjson.dumps(llm_chain_flow()).decode(),
                "settings": settings,
            },
        )
        assert r.status_code == 422 and said in r.json()["message"], r.text


def test_the_allowed_domains_message_is_the_canvas_own(server: Proc) -> None:
    canvas = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=2"),
        settings={
            "chatbotConfig": {
                "allowedOrigins": ["https://shop.example"],
                "allowedOriginsError": "This assistant lives on shop.example only.",
            }
        },
    )
    url = f"{server.url}/api/v1/prediction/{canvas['id']}"
    refused = httpx.post(url, json={"question": "q"}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json()["message"] == "This assistant lives on shop.example only."
    allowed = httpx.post(
        url, json={"question": "q"}, headers={"Origin": "https://shop.example"}, timeout=60
    )
    assert allowed.status_code == 200


def test_a_flowise_export_carries_the_settings_both_ways(server: Proc) -> None:
    chatbot = {
        "welcomeMessage": "Hi!",
        "postProcessing": {"enabled": True, "customFunction": orjson.dumps(UPPER).decode()},
        "followUpPrompts": {"status": True},
    }
    exported = {
        "name": "From Flowise",
        "flowData": orjson.dumps(llm_chain_flow("mock?tokens=2")).decode(),
        "chatbotConfig": orjson.dumps(chatbot).decode(),
        "followUpPrompts": orjson.dumps(FOLLOW_UPS).decode(),
        "apiConfig": orjson.dumps({"rateLimit": {"limitMax": 5}}).decode(),
        "isPublic": True,
    }
    with httpx.Client(base_url=server.url, timeout=60) as c:
        made = c.post("/api/v1/canvases/import", json=exported)
        assert made.status_code in (200, 201), made.text
        canvas = made.json()
        assert canvas["settings"]["chatbotConfig"] == chatbot
        assert canvas["settings"]["followUpPrompts"] == FOLLOW_UPS
        assert canvas["settings"]["isPublic"] is True
        body = c.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "hey"}).json()
        assert body["text"] == "WORD0 WORD1 (hey)" and body["followUpPrompts"]
        back = c.get(f"/api/v1/canvases/{canvas['id']}/export").json()
        assert orjson.loads(back["chatbotConfig"]) == chatbot
        assert orjson.loads(back["followUpPrompts"]) == FOLLOW_UPS
        assert orjson.loads(back["apiConfig"]) == {"rateLimit": {"limitMax": 5}}
        assert back["isPublic"] is True


def test_questions_are_read_from_what_models_answer() -> None:
    from canvasflow.engine.finishing import questions_in

    assert questions_in('{"questions": ["A?", "B?"]}') == ["A?", "B?"]
    assert questions_in('```json\n["A?", " B? "]\n```') == ["A?", "B?"]
    assert questions_in("Sure:\n1. What is X?\n2. Why Y?\nThanks") == ["What is X?", "Why Y?"]
    six = '{"questions": ["1", "2", "3", "4", "5", "6"]}'
    assert questions_in(six) == ["1", "2", "3", "4", "5"]
    assert questions_in("nothing here") == []


def test_the_statistics_count_messages_sessions_and_feedback(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=2"))
    url = f"{server.url}/api/v1/prediction/{canvas['id']}"
    answers = [
        httpx.post(url, json={"question": "q", "chatId": chat}, timeout=60).json()
        for chat in ("a", "a", "b")
    ]
    for answer, rating in zip(answers[:2], ("THUMBS_UP", "THUMBS_DOWN"), strict=True):
        r = httpx.post(
            f"{server.url}/api/v1/feedback/{canvas['id']}",
            json={
                "chatId": answer["chatId"],
                "messageId": answer["chatMessageId"],
                "rating": rating,
            },
        )
        assert r.status_code == 201, r.text
    stats = httpx.get(f"{server.url}/api/v1/stats/{canvas['id']}").json()
    assert stats == {
        "totalMessages": 6,
        "totalSessions": 2,
        "totalFeedback": 2,
        "positiveFeedback": 1,
    }
    later = httpx.get(
        f"{server.url}/api/v1/stats/{canvas['id']}", params={"startDate": "2999-01-01T00:00:00Z"}
    ).json()
    assert later["totalMessages"] == 0 and later["totalFeedback"] == 0
