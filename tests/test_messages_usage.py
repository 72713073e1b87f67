"""A canvas's conversations (Flowise's chat message filters and pages, conversations by
session) and usage per day, from the stored messages and the record of every run."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.support import Proc, llm_chain_flow, make_canvas, poll


def test_conversations_are_listed_filtered_and_paged(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=2"), name="Talked to")
    with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as c:
        answers = [
            c.post(f"/prediction/{canvas['id']}", json={"question": q, "chatId": chat}).json()
            for q, chat in (
                ("about apples", "a"),
                ("more apples", "a"),
                ("about pears", "b"),
                ("plums?", "c"),
            )
        ]
        c.post(
            f"/feedback/{canvas['id']}",
            json={"chatId": "b", "messageId": answers[2]["chatMessageId"], "rating": "THUMBS_UP"},
        )
        # the run records are written aside, in batches: wait for them
        poll(
            lambda: (
                all(
                    s["source"]
                    for s in c.get(f"/chatmessage/{canvas['id']}/conversations").json()[
                        "conversations"
                    ]
                )
                or None
            ),
            timeout=15,
        )
        page = c.get(f"/chatmessage/{canvas['id']}/conversations").json()
        assert page["total"] == 3
        assert [s["sessionId"] for s in page["conversations"]] == ["c", "b", "a"]
        a = page["conversations"][2]
        assert a["messages"] == 4 and a["firstQuestion"] == "about apples"
        assert a["tokens"] > 0 and a["source"] == "prediction" and a["version"] == "1"
        assert page["conversations"][1]["thumbsUp"] == 1
        only = c.get(f"/chatmessage/{canvas['id']}/conversations", params={"text": "apples"})
        assert [s["sessionId"] for s in only.json()["conversations"]] == ["a"]
        rated = c.get(
            f"/chatmessage/{canvas['id']}/conversations", params={"feedbackType": "THUMBS_UP"}
        )
        assert [s["sessionId"] for s in rated.json()["conversations"]] == ["b"]
        second = c.get(
            f"/chatmessage/{canvas['id']}/conversations", params={"page": 2, "pageSize": 2}
        ).json()
        assert second["total"] == 3 and [s["sessionId"] for s in second["conversations"]] == ["a"]
        # Flowise's filters on the messages themselves, the feedback with each answer
        messages = c.get(f"/chatmessage/{canvas['id']}", params={"sessionId": "b"}).json()
        assert [m["role"] for m in messages] == ["userMessage", "apiMessage"]
        assert messages[1]["feedback"] == {"rating": "THUMBS_UP", "content": None}
        up = c.get(f"/chatmessage/{canvas['id']}", params={"feedbackType": "THUMBS_UP"}).json()
        assert [m["id"] for m in up] == [answers[2]["chatMessageId"]]
        paged = c.get(
            f"/chatmessage/{canvas['id']}", params={"page": 2, "pageSize": 3, "order": "ASC"}
        ).json()
        assert len(paged) == 3 and paged[0]["content"] == "word0 word1"  # the 4th message
        one = c.get(
            f"/chatmessage/{canvas['id']}", params={"messageId": answers[3]["chatMessageId"]}
        ).json()
        assert [m["chatId"] for m in one] == ["c"]
        # a conversation deleted is gone from the list
        assert (
            c.delete(f"/chatmessage/{canvas['id']}", params={"sessionId": "c"}).json()["deleted"]
            == 2
        )
        assert c.get(f"/chatmessage/{canvas['id']}/conversations").json()["total"] == 2


def test_usage_per_day(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=3"), name="Used")
    failing = make_canvas(server.url, llm_chain_flow("mock?status=500"), name="Failing")
    with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as c:
        for _ in range(3):
            c.post(f"/prediction/{canvas['id']}", json={"question": "q"})
        c.post(f"/prediction/{failing['id']}", json={"question": "q"})

        def recorded() -> bool | None:  # the run records are written aside, in batches
            day = c.get("/usage", params={"canvasId": canvas["id"], "days": 1}).json()["days"][0]
            return (day["predictions"] == 3 and day["latencyP50"] is not None) or None

        poll(recorded, timeout=15)
        used = c.get("/usage", params={"canvasId": canvas["id"], "days": 7}).json()
        assert len(used["days"]) == 7 and used["canvasId"] == canvas["id"]
        today = used["days"][-1]
        assert today["date"] == datetime.now(UTC).date().isoformat()
        assert today["predictions"] == 3 and today["errors"] == 0
        assert today["completionTokens"] == 9 and today["promptTokens"] > 0
        assert today["latencyP50"] is not None and today["latencyP95"] >= today["latencyP50"]
        assert today["ttftP50"] is not None
        assert used["total"]["predictions"] == 3
        assert all(d["predictions"] == 0 for d in used["days"][:-1])
        everything = c.get("/usage", params={"days": 1}).json()
        assert everything["canvasId"] is None and everything["days"][0]["predictions"] >= 4
        assert everything["days"][0]["errors"] >= 1
        assert c.get("/usage", params={"canvasId": "nope"}).status_code == 404
