"""The studio's server side: the node catalogue, credentials (encrypted, never
returned), drafts imported from Flowise's marketplace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import Proc, llm_chain_flow, make_canvas

ROOT = Path(__file__).resolve().parent.parent


def test_catalogue_routes(client: httpx.Client) -> None:
    nodes = client.get("/api/v1/nodes").json()
    names = {n["name"] for n in nodes}
    assert {"chatOpenAI", "llmChain", "bm25Retriever", "chatLocal", "scriptedSteps"} <= names
    one = client.get("/api/v1/nodes/llmChain").json()
    assert one["baseClasses"][0] == "LLMChain" and one["ending"] is True
    model = next(i for i in one["inputs"] if i["name"] == "model")
    assert model["type"] == "BaseLanguageModel" and model["description"]
    assert client.get("/api/v1/nodes/nope").status_code == 404
    icon = client.get(one["icon"])
    assert icon.headers["content-type"].startswith("image/svg+xml") and b"<svg" in icon.content


def test_nodes_command() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "canvasflow.cli", "nodes"], capture_output=True, text=True, cwd=ROOT
    )
    assert listed.returncode == 0 and "bm25Retriever" in listed.stdout
    one = subprocess.run(
        [sys.executable, "-m", "canvasflow.cli", "nodes", "promptTemplate"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert one.returncode == 0 and "template" in one.stdout and "placeholders" in one.stdout


def test_credentials_are_encrypted_masked_and_used(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    secret = "sk-canvasflow-test-secret-123"
    r = client.post(
        "/api/v1/credentials",
        json={
            "name": "my openai",
            "credentialName": "openAIApi",
            "plainDataObj": {"openAIApiKey": secret},
        },
    )
    assert r.status_code == 201, r.text
    cred = r.json()
    assert cred["plainDataObj"] == {"openAIApiKey": "********"}
    assert secret not in r.text
    assert all(secret not in str(c) for c in client.get("/api/v1/credentials").json())
    assert secret not in client.get(f"/api/v1/credentials/{cred['id']}").text
    # unknown kinds and fields are refused
    bad = client.post("/api/v1/credentials", json={"name": "x", "credentialName": "nope"})
    assert bad.status_code == 400
    bad = client.post(
        "/api/v1/credentials",
        json={"name": "x", "credentialName": "openAIApi", "plainDataObj": {"apiKey": "x"}},
    )
    assert bad.status_code == 400 and "apiKey" in bad.json()["message"]
    kinds = client.get("/api/v1/components-credentials").json()
    assert any(k["name"] == "anthropicApi" for k in kinds)
    # encrypted at rest: the secret is nowhere in the database file
    db = (server.data_dir / "canvasflow.db").read_bytes()  # type: ignore[attr-defined]
    assert secret.encode() not in db
    # a node picks it by id, as a Flowise node does: the model receives it
    flow = llm_chain_flow("mock?tokens=1", credential=cred["id"])
    canvas = make_canvas(server.url, flow)
    assert (
        client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"}).status_code == 200
    )
    assert httpx.get(upstream + "/requests").json()[-1]["_auth"] == f"Bearer {secret}"
    v = client.get(f"/api/v1/canvases/{canvas['id']}/validate").json()
    assert v == {"valid": True, "problems": []}
    # an update that sends the masked value back keeps the secret; a new one replaces it
    r = client.put(
        f"/api/v1/credentials/{cred['id']}",
        json={"name": "renamed", "plainDataObj": {"openAIApiKey": "********"}},
    )
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    assert httpx.get(upstream + "/requests").json()[-1]["_auth"] == f"Bearer {secret}"
    client.put(
        f"/api/v1/credentials/{cred['id']}", json={"plainDataObj": {"openAIApiKey": "sk-new"}}
    )
    client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    assert httpx.get(upstream + "/requests").json()[-1]["_auth"] == "Bearer sk-new"
    # deleted: the canvas falls back to the environment and says so
    assert client.delete(f"/api/v1/credentials/{cred['id']}").status_code == 204
    assert client.get(f"/api/v1/credentials/{cred['id']}").status_code == 404
    warnings = client.get(f"/api/v1/canvases/{canvas['id']}/validate").json()["problems"]
    assert warnings[0]["input"] == "credential" and warnings[0]["level"] == "warning"


def test_credential_command(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "canvasflow.cli", *args, "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    made = cli(
        "credential",
        "create",
        "anthropicApi",
        "--name",
        "claude",
        "--field",
        "anthropicApiKey=sk-ant-1",
    )
    assert made.returncode == 0, made.stderr
    listed = cli("credential", "list")
    assert (
        "anthropicApi" in listed.stdout
        and "claude" in listed.stdout
        and "sk-ant" not in listed.stdout
    )
    assert b"sk-ant-1" not in (tmp_path / "canvasflow.db").read_bytes()
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    wrong = cli("credential", "create", "anthropicApi", "--name", "x", "--field", "nope=1")
    assert wrong.returncode == 2 and "nope" in wrong.stderr
    assert cli("credential", "delete", "claude").returncode == 0
    assert "claude" not in cli("credential", "list").stdout


@pytest.mark.parametrize("template", ["Simple LLM Chain", "Conversational Retrieval QA Chain"])
def test_flowise_templates_with_empty_file_inputs_import_as_drafts(
    client: httpx.Client, template: str
) -> None:
    """A Flowise template whose file input is empty imports; its problems say what to fill."""
    from tests.support import edge, node, ref

    if template == "Simple LLM Chain":
        nodes = [
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "gpt-4o-mini", "temperature": 0.9}),
            node("promptTemplate_0", "promptTemplate", {"template": "{question}"}),
            node(
                "llmChain_0",
                "llmChain",
                {"model": ref("chatOpenAI_0"), "prompt": ref("promptTemplate_0")},
            ),
        ]
        edges = [edge("chatOpenAI_0", "llmChain_0"), edge("promptTemplate_0", "llmChain_0")]
    else:
        nodes = [
            node("textFile_0", "textFile", {"txtFile": ""}),
            node("emb_0", "openAIEmbeddings", {}),
            node(
                "store_0",
                "memoryVectorStore",
                {"document": [ref("textFile_0")], "embeddings": ref("emb_0")},
            ),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "gpt-4o-mini"}),
            node(
                "qa_0",
                "conversationalRetrievalQAChain",
                {"model": ref("chatOpenAI_0"), "vectorStoreRetriever": ref("store_0")},
            ),
        ]
        edges = [
            edge("textFile_0", "store_0"),
            edge("emb_0", "store_0"),
            edge("store_0", "qa_0"),
            edge("chatOpenAI_0", "qa_0"),
        ]
    doc = {"name": template, "flowData": {"nodes": nodes, "edges": edges}}
    r = client.post("/api/v1/canvases/import", json=doc)
    assert r.status_code == 201, r.text
    problems = r.json()["problems"]
    if template == "Simple LLM Chain":
        assert [p for p in problems if p["level"] == "error"] == []
    else:
        assert [(p["nodeId"], p["input"]) for p in problems] == [("textFile_0", "txtFile")]


MARKETPLACE = ROOT / "tests" / "js" / "flowise-3.1.2" / "marketplaces" / "chatflows"


def test_every_flowise_marketplace_chatflow_imports(client: httpx.Client) -> None:
    """Flowise 3.1.2's 24 chatflow templates (from its npm package, fetched by the test
    command) all import: as drafts where an input is empty or a node is one canvasflow
    lacks, each problem named where it is."""
    import json

    files = sorted(MARKETPLACE.glob("*.json"))
    assert len(files) == 24, MARKETPLACE
    ready, drafts = [], []
    for path in files:
        r = client.post("/api/v1/canvases/import", json=json.loads(path.read_text()))
        assert r.status_code == 201, (path.name, r.text[:300])
        errors = [p for p in r.json()["problems"] if p["level"] == "error"]
        assert all(p["message"] for p in errors)
        (drafts if errors else ready).append(path.stem)
    print(f"\n{len(ready)} ready to run, {len(drafts)} drafts: {', '.join(drafts)}")
    assert len(ready) >= 5


def test_node_inputs_come_from_flowise_and_declare_only_differences() -> None:
    """A node of Flowise's takes its inputs from Flowise's own description; what it
    declares is only where canvasflow differs (never an input as Flowise has it)."""
    from canvasflow.runtime.node import (
        DIFFERENCES,
        REGISTRY,
        Input,
        as_flowise_describes,
        flowise_inputs,
        flowise_interface,
        load_all,
    )

    load_all()
    described = flowise_interface()
    assert len(DIFFERENCES) >= 90
    restated = []
    for node, (changed, dropped, added) in DIFFERENCES.items():
        flowise = {i["name"]: as_flowise_describes(i) for i in described[node]["inputs"]}
        restated += [(node, i.name) for i in changed if flowise[i.name] == i]
        assert not {i.name for i in added} & set(flowise), node  # added: not Flowise's
        names = [i.name for i in REGISTRY[node].inputs]
        assert not set(dropped) & set(names), node
    assert restated == []
    # changed in place, dropped, added after; a name Flowise lacks is refused
    made = flowise_inputs(
        "bufferMemory",
        Input("sessionId", "string", optional=True, default="s"),
        drop=("memoryKey",),
        add=(Input("mine", "number", optional=True),),
    )
    flowise_order = [i["name"] for i in described["bufferMemory"]["inputs"]]
    assert [i.name for i in made] == [n for n in flowise_order if n != "memoryKey"] + ["mine"]
    assert next(i for i in made if i.name == "sessionId").default == "s"
    with pytest.raises(ValueError, match="no input"):
        flowise_inputs("bufferMemory", Input("nope", "string"))
    with pytest.raises(ValueError, match="Flowise has no node"):
        flowise_inputs("notAFlowiseNode")
