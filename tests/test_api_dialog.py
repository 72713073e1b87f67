"""A canvas's API dialog: every snippet it hands out runs as shown against a live server
(an open canvas and one with a key), and the overrideConfig allow-list it edits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support import Proc, llm_chain_flow, make_canvas

ROOT = Path(__file__).resolve().parent.parent


def run_snippet(language: str, code: str, env: dict[str, str], where: Path) -> str:
    if language == "shell":
        cmd = ["bash", "-c", code]
    elif language == "python":
        (where / "snippet.py").write_text(code)
        cmd = [sys.executable, str(where / "snippet.py")]
    else:
        (where / "snippet.mjs").write_text(code)
        cmd = ["node", str(where / "snippet.mjs")]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=where, env={**os.environ, **env}
    )
    assert done.returncode == 0, (code, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose node_modules hold the TypeScript SDK and Flowise's, as installed."""
    where = tmp_path_factory.mktemp("snippets")
    modules = where / "node_modules"
    modules.mkdir()
    (modules / "canvasflow-sdk").symlink_to(ROOT / "clients" / "typescript")
    (modules / "flowise-sdk").symlink_to(ROOT / "tests" / "js" / "node_modules" / "flowise-sdk")
    return where


def test_every_snippet_runs_as_shown(server: Proc, node_modules: Path) -> None:
    with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as c:
        locked = make_canvas(server.url, llm_chain_flow("mock?tokens=3"), name="Locked one")
        key = c.post("/apikeys", json={"name": "dialog", "canvases": [locked["id"]]}).json()["key"]
        token = c.post(f"/mcp-server/{locked['id']}", json={}).json()["token"]
        dialog = c.get(f"/canvases/{locked['id']}/api-dialog").json()
        assert dialog["locked"] is True
        assert dialog["predictionUrl"] == f"{server.url}/api/v1/prediction/{locked['id']}"
        kinds = [s["key"] for s in dialog["snippets"]]
        assert kinds == [
            "curl",
            "curl-stream",
            "python-requests",
            "python-sdk",
            "python-sdk-async",
            "javascript-fetch",
            "typescript-sdk",
            "flowise-sdk",
            "flowise-py",
            "openai",
            "mcp",
        ]
        env = {"CANVASFLOW_KEY": key, "CANVASFLOW_MCP_TOKEN": token}
        for snippet in dialog["snippets"]:
            assert "<" not in snippet["code"].split("\n")[0] or snippet["language"] != "shell"
            said = run_snippet(snippet["language"], snippet["code"], env, node_modules)
            assert "word2" in said, (snippet["key"], said)
        # without the key, the locked canvas's code is refused: the key was really used
        refused = subprocess.run(
            ["bash", "-c", dialog["snippets"][0]["code"]],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "CANVASFLOW_KEY"},
        )
        assert "Unauthorized" in refused.stdout

        # an open canvas: no key anywhere in its code, and it runs
        open_one = make_canvas(server.url, llm_chain_flow("mock?tokens=3"), name="Open one")
        dialog = c.get(f"/canvases/{open_one['id']}/api-dialog").json()
        assert dialog["locked"] is False and "mcp" not in [s["key"] for s in dialog["snippets"]]
        for snippet in dialog["snippets"]:
            assert "CANVASFLOW_KEY" not in snippet["code"], snippet["key"]
        for snippet in dialog["snippets"][:3]:
            said = run_snippet(snippet["language"], snippet["code"], {}, node_modules)
            assert "word2" in said, (snippet["key"], said)


def test_the_override_allow_list_is_edited_and_obeyed(server: Proc, node_modules: Path) -> None:
    with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as c:
        canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=3"), name="Overrides")
        dialog = c.get(f"/canvases/{canvas['id']}/api-dialog", params={"override": True}).json()
        model = {i["input"]: i for i in dialog["inputs"] if i["nodeId"] == "chatOpenAICustom_0"}
        assert model["modelName"]["allowed"] is True and model["modelName"]["label"]
        # the example override is the model's own name: the code sends it, and it works
        curl = dialog["snippets"][0]["code"]
        assert '"overrideConfig": {"modelName": "mock?tokens=3"}' in curl
        assert "word2" in run_snippet("shell", curl, {}, node_modules)
        ask = {"question": "q", "overrideConfig": {"modelName": "mock?tokens=5"}}
        assert "word4" in c.post(f"/prediction/{canvas['id']}", json=ask).json()["text"]
        # taken off the allow-list (as the dialog saves it), the override is ignored
        allowed = [n for n in dialog["allowedOverrides"] if n != "modelName"]
        c.put(f"/canvases/{canvas['id']}", json={"settings": {"allowedOverrides": allowed}})
        text = c.post(f"/prediction/{canvas['id']}", json=ask).json()["text"]
        assert text == "word0 word1 word2"
        dialog = c.get(f"/canvases/{canvas['id']}/api-dialog").json()
        model = {i["input"]: i for i in dialog["inputs"] if i["nodeId"] == "chatOpenAICustom_0"}
        assert model["modelName"]["allowed"] is False
        assert orjson.loads(orjson.dumps(dialog["allowedOverrides"])) == sorted(allowed)
