"""What canvases share: global variables ($vars, Flowise's /api/v1/variables) and the
tools library (Flowise's /api/v1/tools), picked by a Custom Tool node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Proc, canvasflow_server, custom_tool_flow, llm_chain_flow, make_canvas


@pytest.fixture(scope="module")
def shop(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """A server whose environment holds a value a runtime variable reads."""
    data: Path = tmp_path_factory.mktemp("library")
    proc = canvasflow_server(data, upstream, {"SHOP_NAME": "Pelican Bakery"}).start()
    yield proc
    proc.stop()


def test_global_variables_reach_prompts_and_the_request_overrides_them(shop: Proc) -> None:
    with httpx.Client(base_url=shop.url + "/api/v1", timeout=60) as c:
        greeting = c.post("/variables", json={"name": "greeting", "value": "Hello"})
        assert greeting.status_code == 201, greeting.text
        runtime = c.post(
            "/variables", json={"name": "shop", "value": "SHOP_NAME", "type": "runtime"}
        )
        assert runtime.status_code == 201 and runtime.json()["value"] == "SHOP_NAME"
        clash = c.post("/variables", json={"name": "greeting", "value": "again"})
        assert clash.status_code == 409 and "greeting" in clash.json()["message"]
        for bad, said in (
            ({"name": "no spaces", "value": "x"}, "letters"),
            ({"name": "key", "value": "OPENAI_API_KEY", "type": "runtime"}, "OPENAI_API_KEY"),
            ({"name": "DATABASE_URL", "type": "runtime"}, "DATABASE_URL"),
            ({"name": "own", "value": "CANVASFLOW_SECRET_KEY", "type": "runtime"}, "CANVASFLOW"),
        ):
            r = c.post("/variables", json=bad)
            assert r.status_code == 400 and said in r.json()["message"], (bad, r.text)
        assert [v["name"] for v in c.get("/variables").json()] == ["greeting", "shop"]
        canvas = make_canvas(
            shop.url, llm_chain_flow(template="echo: {{ $vars.greeting }} from {{ $vars.shop }}")
        )
        said = c.post(f"/prediction/{canvas['id']}", json={"question": "q"}).json()["text"]
        assert said == "Hello from Pelican Bakery"
        # the request's vars over the stored ones, as in Flowise
        said = c.post(
            f"/prediction/{canvas['id']}",
            json={"question": "q", "overrideConfig": {"vars": {"greeting": "Howdy"}}},
        ).json()["text"]
        assert said == "Howdy from Pelican Bakery"
        # a change shows in the next prediction; a deleted variable is left as written
        c.put(f"/variables/{greeting.json()['id']}", json={"value": "Hi"})
        said = c.post(f"/prediction/{canvas['id']}", json={"question": "q"}).json()["text"]
        assert said == "Hi from Pelican Bakery"
        assert c.delete(f"/variables/{runtime.json()['id']}").status_code == 204
        said = c.post(f"/prediction/{canvas['id']}", json={"question": "q"}).json()["text"]
        assert said.startswith("Hi from {") and "$vars.shop" in said
        assert c.delete(f"/variables/{runtime.json()['id']}").status_code == 404


def test_a_tool_kept_once_is_picked_by_a_canvas_and_run_in_the_sandbox(shop: Proc) -> None:
    with httpx.Client(base_url=shop.url + "/api/v1", timeout=60) as c:
        made = c.post(
            "/tools",
            json={
                "name": "double",
                "description": "doubles a number",
                "schema": '[{"property": "n", "type": "number", "required": true}]',
                "func": "return String($n * 2) + ' ' + $vars.unit;",
            },
        )
        assert made.status_code == 201, made.text
        tool = made.json()
        assert tool["schema"].startswith("[") and tool["func"].startswith("return")
        clash = c.post("/tools", json={"name": "double", "func": "return 1;"})
        assert clash.status_code == 409 and "double" in clash.json()["message"]
        bad = c.post("/tools", json={"name": "broken", "schema": "{not json"})
        assert bad.status_code == 400
        c.post("/variables", json={"name": "unit", "value": "apples"})
        # "run with these arguments", in the sandbox
        ran = c.post(
            "/tools/run",
            json={"func": tool["func"], "schema": tool["schema"], "arguments": {"n": 21}},
        ).json()
        assert ran["output"] == "42 apples" and ran["error"] is None
        thrown = c.post("/tools/run", json={"func": "throw new Error('no stock');"}).json()
        assert thrown["output"] is None and "no stock" in thrown["error"]
        listed = c.post(
            "/node-load-method/customTool", json={"loadMethod": "listTools", "inputs": {}}
        )
        assert [(o["label"], o["name"]) for o in listed.json()] == [("double", tool["id"])]
        # a canvas's Custom Tool node picks it by id; the tool's own fields are the library's
        flow = custom_tool_flow("")
        tool_node = flow["nodes"][0]["data"]
        tool_node["inputs"] = {"selectedTool": tool["id"]}
        canvas = make_canvas(shop.url, flow)
        assert canvas["problems"] == [], canvas["problems"]
        body = c.post(
            f"/prediction/{canvas['id']}",
            json={
                "question": 'tool: double {"n": 4}',
                "overrideConfig": {"returnIntermediateSteps": True},
            },
        ).json()
        assert [t["toolOutput"] for t in body["usedTools"]] == ["8 apples"], body
        # an edit reaches the canvases that use it
        c.put(f"/tools/{tool['id']}", json={"func": "return 'changed';"})
        body = c.post(
            f"/prediction/{canvas['id']}", json={"question": 'tool: double {"n": 4}'}
        ).json()
        assert [t["toolOutput"] for t in body["usedTools"]] == ["changed"]
        # a tool that is gone says so on the node
        assert c.delete(f"/tools/{tool['id']}").status_code == 204
        gone = c.post(f"/prediction/{canvas['id']}", json={"question": 'tool: double {"n": 4}'})
        assert "not in the tools library" in gone.text
        # without a library tool, the node's own fields are required
        inline = custom_tool_flow("")
        inline["nodes"][0]["data"]["inputs"] = {}
        problems = make_canvas(shop.url, inline)["problems"]
        assert {p["input"] for p in problems} >= {"customToolName", "customToolFunc"}


def test_flowises_marketplace_ships_and_says_what_each_template_needs(shop: Proc) -> None:
    """Flowise 3.1.2's 24 chatflows and 13 agentflows, shipped with their licence, each
    imported as a canvas (a node canvasflow lacks leaves a draft naming it), with what it
    needs judged by the validator on this server (it has an OpenAI key)."""
    from importlib import resources

    licence = resources.files("canvasflow.data").joinpath("marketplaces", "LICENSE.md")
    assert "Apache License" in licence.read_text()
    with httpx.Client(base_url=shop.url + "/api/v1", timeout=60) as c:
        templates = c.get("/marketplaces/templates").json()
        kinds = [t["type"] for t in templates]
        assert kinds.count("Chatflow") == 24 and kinds.count("AgentflowV2") == 13
        by_name = {t["templateName"]: t for t in templates}
        assert by_name["Conversation Chain"]["runs"] is True  # ChatOpenAI, the server's key
        assert "a key: Azure ChatOpenAI" in by_name["LLM Chain"]["needs"]
        assert "a file" in by_name["CSV Agent"]["needs"]
        assert "not supported: Gmail" in by_name["Human In The Loop"]["needs"]
        assert "a server: ChatOllama" in by_name["Local QnA"]["needs"]
        assert "Chat Models" in by_name["Conversation Chain"]["categories"]
        for t in templates:
            made = c.post(
                "/canvases/import",
                params={"name": t["templateName"]},
                json={"name": t["templateName"], "flowData": t["flowData"]},
            )
            assert made.status_code == 201, (t["templateName"], made.text[:300])
            canvas = made.json()
            errors = [p for p in canvas["problems"] if p["level"] == "error"]
            if any(n.startswith("not supported") for n in t["needs"]):
                assert any("not supported" in p["message"] for p in errors), t["templateName"]
            if t["runs"]:
                assert errors == [], (t["templateName"], errors)
