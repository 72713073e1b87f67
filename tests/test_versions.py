"""Versions: every save of a canvas's flow is one; list, read, compare, restore, and
pin the one predictions are answered with (the studio's test panel runs the draft).
On SQLite, PostgreSQL, and PostgreSQL with Redis."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.support import Proc, llm_chain_flow, poll


@pytest.fixture(scope="module")
def server(backend_server: Proc) -> Proc:
    return backend_server


def save(
    url: str, canvas_id: str, flow: dict[str, Any], message: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"flowData": orjson.dumps(flow).decode()}
    if message:
        body["versionMessage"] = message
    r = httpx.put(f"{url}/api/v1/canvases/{canvas_id}", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def ask(url: str, canvas_id: str, headers: dict[str, str] | None = None) -> str:
    r = httpx.post(
        f"{url}/api/v1/prediction/{canvas_id}", json={"question": "what"}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r.json()["text"]  # type: ignore[no-any-return]


def test_versions_compare_restore_and_publish(server: Proc) -> None:
    url = server.url
    v1 = llm_chain_flow(template="echo: one {question}")
    r = httpx.post(f"{url}/api/v1/canvases", json={"name": "versioned", "flowData": v1})
    canvas = r.json()
    assert canvas["version"] == 1 and canvas["published"] is None
    v2 = llm_chain_flow(template="echo: two {question}")
    assert save(url, canvas["id"], v2, "say two")["version"] == 2
    assert save(url, canvas["id"], v2)["version"] == 2  # nothing changed: no version
    v3 = llm_chain_flow(template="echo: three {question}", temperature=0.2)
    assert save(url, canvas["id"], v3)["version"] == 3
    # settings alone make no version
    httpx.put(
        f"{url}/api/v1/canvases/{canvas['id']}", json={"settings": {"a": 1}}
    ).raise_for_status()
    listed = httpx.get(f"{url}/api/v1/canvases/{canvas['id']}/versions").json()
    assert [v["number"] for v in listed] == [3, 2, 1]
    assert listed[1]["message"] == "say two" and listed[0]["latest"] and listed[0]["nodes"] == 3
    two = httpx.get(f"{url}/api/v1/chatflows/{canvas['slug']}/versions/2").json()
    assert "echo: two" in two["flowData"]
    # a structural diff: which node's inputs changed, from what to what
    d = httpx.get(f"{url}/api/v1/canvases/{canvas['id']}/versions/1/diff/3").json()
    changed = {(c["nodeId"], c["input"]): (c["old"], c["new"]) for c in d["inputsChanged"]}
    assert changed[("promptTemplate_0", "template")] == (
        "echo: one {question}",
        "echo: three {question}",
    )
    assert changed[("chatOpenAICustom_0", "temperature")] == (None, 0.2)
    assert d["nodesAdded"] == [] and d["nodesRemoved"] == [] and d["edgesAdded"] == []
    assert httpx.get(f"{url}/api/v1/canvases/{canvas['id']}/versions/9").status_code == 404
    # serving: the latest, until a version is pinned
    assert ask(url, canvas["id"]) == "three what"
    pinned = httpx.put(f"{url}/api/v1/canvases/{canvas['id']}/published", json={"version": 2})
    assert pinned.status_code == 200 and pinned.json()["published"] == 2
    assert ask(url, canvas["id"]) == "two what"
    # the studio's test panel runs the draft
    draft = {"X-Canvasflow-Version": "draft", "X-Canvasflow-Trigger": "studio"}
    assert ask(url, canvas["id"], draft) == "three what"
    # a new draft does not change what is served
    save(url, canvas["id"], llm_chain_flow(template="echo: four {question}"))
    assert ask(url, canvas["id"]) == "two what"

    # each run's record says which version answered
    def versions_seen() -> set[str] | None:
        rows = httpx.get(f"{url}/api/v1/executions", params={"canvasId": canvas["id"]}).json()[
            "data"
        ]
        seen = {r["version"] for r in rows if r["status"] == "completed"}
        return seen if seen >= {"2", "3"} else None

    assert poll(versions_seen, timeout=15) == {"2", "3"}
    # restore: a new version equal to an old one; unpinned, the latest serves
    restored = httpx.post(f"{url}/api/v1/canvases/{canvas['id']}/versions/1/restore").json()
    assert restored["version"] == 5
    newest = httpx.get(f"{url}/api/v1/canvases/{canvas['id']}/versions").json()[0]
    assert newest["message"] == "restored version 1"
    httpx.put(
        f"{url}/api/v1/canvases/{canvas['id']}/published", json={"version": None}
    ).raise_for_status()
    assert ask(url, canvas["id"]) == "one what"
    assert (
        httpx.put(
            f"{url}/api/v1/canvases/{canvas['id']}/published", json={"version": 42}
        ).status_code
        == 404
    )
