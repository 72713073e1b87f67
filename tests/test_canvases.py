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


def problems_of(r: httpx.Response) -> list[dict]:
    assert r.status_code == 201, r.text
    return r.json()["problems"]  # type: ignore[no-any-return]


def test_drafts_are_stored_with_every_problem_named(client: httpx.Client) -> None:
    # what is not a canvas at all is refused
    assert _post(client, "{not json").status_code == 422
    # a node canvasflow lacks is kept in the draft, named as a problem
    r = _post(client, {"nodes": [node("zz_1", "noSuchNode", {})], "edges": []})
    assert [p["nodeId"] for p in problems_of(r)] == ["zz_1"]
    assert "noSuchNode" in r.json()["problems"][0]["message"]
    r = client.post("/api/v1/canvases", json={"flowData": {}})
    assert r.status_code == 400 and "name" in r.json()["message"]

    # everything else is stored as a draft, its problems listed at once
    flow = llm_chain_flow()
    flow["nodes"][1]["data"]["inputs"]["template"] = ""
    flow["nodes"][0]["data"]["inputs"]["temperature"] = "hot"
    flow["nodes"][0]["data"]["inputs"]["temprature"] = 0.5
    flow["nodes"][2]["data"]["inputs"]["prompt"] = ref("chatOpenAICustom_0")
    r = _post(client, flow)
    found = {(p["nodeId"], p["input"], p["level"]) for p in problems_of(r)}
    assert found == {
        ("promptTemplate_0", "template", "error"),
        ("chatOpenAICustom_0", "temperature", "error"),
        ("chatOpenAICustom_0", "temprature", "warning"),
        ("llmChain_0", "prompt", "error"),
    }
    messages = " ".join(p["message"] for p in r.json()["problems"])
    assert "did you mean 'temperature'" in messages and "must be a number" in messages
    # suggested only when close in meaning too: Ollama's numGqa is not numGpu
    from canvasflow.engine.graph import suggestion

    assert suggestion("numGqa", {"numGpu", "numCtx"}) is None
    assert suggestion("maxToken", {"maxTokens"}) == "maxTokens"
    assert suggestion("baseURL", {"baseUrl"}) == "baseUrl"
    assert "BasePromptTemplate" in messages
    draft = r.json()
    assert draft["isStreaming"] is None
    # the same list from the validate route; a prediction answers 422 naming all of them
    v = client.get(f"/api/v1/canvases/{draft['id']}/validate").json()
    assert v["valid"] is False and len(v["problems"]) == 4
    for streaming in (False, True):
        r = client.post(
            f"/api/v1/prediction/{draft['id']}", json={"question": "q", "streaming": streaming}
        )
        assert r.status_code == 422, r.text
        assert {p["input"] for p in r.json()["problems"]} == {"template", "temperature", "prompt"}
    # fixed: it runs; the unknown input stays a warning
    flow = llm_chain_flow("mock?tokens=1")
    flow["nodes"][0]["data"]["inputs"]["temprature"] = 0.5
    r = client.put(f"/api/v1/canvases/{draft['id']}", json={"flowData": flow})
    assert [p["level"] for p in r.json()["problems"]] == ["warning"]
    assert client.get(f"/api/v1/canvases/{draft['id']}/validate").json()["valid"] is True
    ok = client.post(f"/api/v1/prediction/{draft['id']}", json={"question": "q"})
    assert ok.status_code == 200, ok.text

    flow = llm_chain_flow()
    flow["nodes"][2]["data"]["inputs"]["model"] = ""
    assert any(p["nodeId"] == "llmChain_0" for p in problems_of(_post(client, flow)))

    cycle = {
        "nodes": [
            node("a", "llmChain", {"model": ref("m"), "prompt": ref("p")}),
            node("m", "chatOpenAI", {"modelName": "x"}),
            node("p", "promptTemplate", {"template": "{question}"}),
        ],
        "edges": [edge("m", "a"), edge("p", "a"), edge("a", "m")],
    }
    assert "cycle" in problems_of(_post(client, cycle))[0]["message"]
    no_end = {"nodes": [node("m", "chatOpenAI", {"modelName": "x"})], "edges": []}
    message = problems_of(_post(client, no_end))[0]["message"]
    assert "ending node" in message and "m (chatOpenAI)" in message
    assert "no nodes" in problems_of(_post(client, {"nodes": [], "edges": []}))[0]["message"]


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


def test_a_canvas_saved_as_a_template_leaves_its_credentials_out(
    server: Proc, client: httpx.Client
) -> None:
    """Flowise's custom templates: a canvas's flow as saved, credentials left out;
    listed, used, deleted."""
    from tests.support import make_canvas

    flow = llm_chain_flow("mock")
    flow["nodes"][0]["data"]["inputs"]["credential"] = "a-credential-id"
    flow["nodes"][0]["data"]["credential"] = "a-credential-id"
    canvas = make_canvas(server.url, flow, name="To keep")
    r = client.post(
        "/api/v1/marketplaces/custom",
        json={"name": "Kept", "description": "a chain", "chatflowId": canvas["id"]},
    )
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["type"] == "Chatflow" and saved["description"] == "a chain"
    assert "a-credential-id" not in saved["flowData"]
    kept = orjson.loads(saved["flowData"])
    assert [n["id"] for n in kept["nodes"]] == [n["id"] for n in flow["nodes"]]
    assert kept["nodes"][0]["data"]["inputs"]["modelName"] == "mock"
    listed = client.get("/api/v1/marketplaces/custom").json()
    assert saved["id"] in [t["id"] for t in listed]
    assert client.post("/api/v1/marketplaces/custom", json={"name": "x"}).status_code == 400
    r = client.post("/api/v1/marketplaces/custom", json={"name": "x", "canvasId": "nope"})
    assert r.status_code == 404
    assert client.delete(f"/api/v1/marketplaces/custom/{saved['id']}").status_code == 204
    assert client.delete(f"/api/v1/marketplaces/custom/{saved['id']}").status_code == 404
