"""Canvas CRUD and validation on save."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.support import Proc, edge, llm_chain_flow, node, ref


@pytest.fixture(scope="session")
def server(backend_server: Proc) -> Proc:
    """These tests touch storage and the bus: they run on every backend."""
    return backend_server


@pytest.mark.parametrize("prefix", ["/api/v1/canvases", "/api/v1/chatflows"])
def test_crud(server: Proc, client: httpx.Client, prefix: str) -> None:
    flow = llm_chain_flow("mock?tokens=1")
    r = client.post(prefix, json={"name": "My Flow", "flowData": orjson.dumps(flow).decode()})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["slug"].startswith("my-flow")
    assert orjson.loads(created["flowData"]) == flow
    assert created["isStreaming"] is True
    cid = created["id"]
    assert client.get(f"{prefix}/{cid}").json()["name"] == "My Flow"
    assert client.get(f"{prefix}/{created['slug']}").json()["id"] == cid
    assert cid in [c["id"] for c in client.get(prefix).json()]
    # flowData may be sent as an object too
    r = client.put(f"{prefix}/{cid}", json={"name": "Renamed", "flowData": flow})
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    assert r.json()["updatedDate"] >= created["updatedDate"]
    # the slug is unique
    r2 = client.post(prefix, json={"name": "x", "slug": created["slug"], "flowData": flow})
    assert r2.status_code == 409
    assert client.delete(f"{prefix}/{cid}").status_code == 204
    assert client.get(f"{prefix}/{cid}").status_code == 404
    assert client.delete(f"{prefix}/{cid}").status_code == 404


def _post(client: httpx.Client, flow: object) -> httpx.Response:
    return client.post("/api/v1/canvases", json={"name": "bad", "flowData": flow})


def test_validation_names_the_node(client: httpx.Client) -> None:
    r = _post(client, {"nodes": [node("zz_1", "noSuchNode", {})], "edges": []})
    assert r.status_code == 422 and "zz_1" in r.json()["message"]
    assert "noSuchNode" in r.json()["message"]

    flow = llm_chain_flow()
    flow["nodes"][1]["data"]["inputs"]["template"] = ""
    r = _post(client, flow)
    assert r.status_code == 422
    assert "promptTemplate_0" in r.json()["message"] and "template" in r.json()["message"]

    flow = llm_chain_flow()
    flow["nodes"][2]["data"]["inputs"]["model"] = ""
    r = _post(client, flow)
    assert r.status_code == 422 and "llmChain_0" in r.json()["message"]

    flow = llm_chain_flow()
    flow["nodes"][2]["data"]["inputs"]["prompt"] = ref("chatOpenAICustom_0")
    r = _post(client, flow)
    assert r.status_code == 422 and "BasePromptTemplate" in r.json()["message"]

    cycle = {
        "nodes": [
            node("a", "llmChain", {"model": ref("m"), "prompt": ref("p")}),
            node("m", "chatOpenAI", {"modelName": "x"}),
            node("p", "promptTemplate", {"template": "{question}"}),
        ],
        "edges": [edge("m", "a"), edge("p", "a"), edge("a", "m")],
    }
    r = _post(client, cycle)
    assert r.status_code == 422 and "cycle" in r.json()["message"]

    no_end = {"nodes": [node("m", "chatOpenAI", {"modelName": "x"})], "edges": []}
    r = _post(client, no_end)
    assert r.status_code == 422 and "ending node" in r.json()["message"]
    assert "m (chatOpenAI)" in r.json()["message"]

    r = _post(client, "{not json")
    assert r.status_code == 422
    r = _post(client, {"nodes": [], "edges": []})
    assert r.status_code == 422
    r = client.post("/api/v1/canvases", json={"flowData": {}})
    assert r.status_code == 400 and "name" in r.json()["message"]


def test_sticky_notes_are_ignored(client: httpx.Client) -> None:
    flow = llm_chain_flow("mock?tokens=1")
    flow["nodes"].append(node("stickyNote_0", "stickyNote", {"note": "hello"}))
    r = _post(client, flow)
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/prediction/{r.json()['id']}", json={"question": "q"})
    assert r.json()["text"] == "word0"


def test_history_filters_and_delete(server: Proc, client: httpx.Client) -> None:
    flow = llm_chain_flow("mock?tokens=1")
    cid = _post(client, flow).json()["id"]
    for chat in ("a", "a", "b"):
        client.post(f"/api/v1/prediction/{cid}", json={"question": "q", "chatId": chat})
    assert len(client.get(f"/api/v1/chatmessage/{cid}").json()) == 6
    only_a = client.get(f"/api/v1/chatmessage/{cid}", params={"chatId": "a"}).json()
    assert len(only_a) == 4 and {m["chatId"] for m in only_a} == {"a"}
    desc = client.get(f"/api/v1/chatmessage/{cid}", params={"order": "DESC"}).json()
    assert desc[0]["createdDate"] >= desc[-1]["createdDate"]
    assert (
        client.get(
            f"/api/v1/chatmessage/{cid}", params={"startDate": "2999-01-01T00:00:00Z"}
        ).json()
        == []
    )
    r = client.delete(f"/api/v1/chatmessage/{cid}", params={"chatId": "a"})
    assert r.json() == {"deleted": 4}
    assert len(client.get(f"/api/v1/chatmessage/{cid}").json()) == 2
