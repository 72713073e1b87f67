"""The package as a user installs it: the wheel built from this tree, installed into a
fresh virtualenv with nothing else, `pip check` clean, serving the embedded model, the
studio and the docs with no Node.js and no network of its own. And the container files
linted (no container engine runs on these machines: see the README)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.support import Proc, edge, free_port, make_canvas, node, ref

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_installs_cleanly_and_serves(tmp_path: Path) -> None:
    built = run(
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--no-isolation",
        "--outdir",
        str(tmp_path / "dist"),
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("canvasflow-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "canvasflow/web/studio/index.html",
        "canvasflow/web/static/vendor/swagger-ui-bundle.js",
        "canvasflow/data/flowise_3.1.2_nodes.json",
        "canvasflow/store/migrations/versions/0001_initial.py",
    ):
        assert needed in names, needed
    assert any(n.startswith("canvasflow/web/studio/assets/") for n in names)
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    installed = run(*pip, str(wheel))
    assert installed.returncode == 0, installed.stderr[-3000:]
    check = run(str(venv / "bin" / "python"), "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    proc = Proc(
        [
            str(venv / "bin" / "canvasflow"),
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        port,
        "/api/v1/ping",
        {"CANVASFLOW_WARM_UP": "0"},
        tmp_path / "server.log",
    ).start(timeout=120)
    try:
        r = httpx.post(
            f"{proc.url}/api/v1/prediction/default",
            json={"question": "Say hello.", "overrideConfig": {}},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        assert r.json()["text"].strip() and r.json()["model"] == "SmolLM2-135M-Instruct"
        assert httpx.get(proc.url + "/studio/").status_code == 200
        assert "swagger-ui-bundle.js" in httpx.get(proc.url + "/docs").text
        assert (tmp_path / "data" / "admin.key").is_file()  # made at first start
        # the embedded embeddings work on the default install, without torch
        no_torch = run(str(venv / "bin" / "python"), "-c", "import torch")
        assert no_torch.returncode != 0 and "torch" in no_torch.stderr
        admin = {"Authorization": "Bearer " + (tmp_path / "data" / "admin.key").read_text().strip()}
        rag = {
            "nodes": [
                node("text_0", "plainText", {"text": "Rome is the capital of Italy."}),
                node("text_1", "plainText", {"text": "The cat sat on the mat all day."}),
                node("emb_0", "wordLlamaEmbeddings", {}),
                node(
                    "store_0",
                    "memoryVectorStore",
                    {
                        "document": [ref("text_0"), ref("text_1")],
                        "embeddings": ref("emb_0"),
                        "topK": 1,
                    },
                ),
                node("chatLocal_0", "chatLocal", {"maxTokens": 8}),
                node(
                    "chain_0",
                    "retrievalQAChain",
                    {"model": ref("chatLocal_0"), "vectorStoreRetriever": ref("store_0")},
                ),
            ],
            "edges": [
                edge("text_0", "store_0"),
                edge("text_1", "store_0"),
                edge("emb_0", "store_0"),
                edge("store_0", "chain_0"),
                edge("chatLocal_0", "chain_0"),
            ],
        }
        canvas = make_canvas(proc.url, rag, headers=admin)
        answered = httpx.post(
            f"{proc.url}/api/v1/prediction/{canvas['id']}",
            json={
                "question": "Where does the Italian government sit?",
                "overrideConfig": {"returnSourceDocuments": True},
            },
            timeout=120,
        )
        assert answered.status_code == 200, answered.text
        found = answered.json()["sourceDocuments"]
        assert [d["pageContent"] for d in found] == ["Rome is the capital of Italy."]
    finally:
        proc.stop()


def test_dockerfile_is_clean_by_hadolint() -> None:
    linted = run(str(Path(sys.executable).parent / "hadolint"), "Dockerfile")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_compose_files_describe_one_process_and_a_cluster() -> None:
    one = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert set(one["services"]) == {"canvasflow"}
    assert "/data" in one["services"]["canvasflow"]["volumes"][0]
    cluster = yaml.safe_load((ROOT / "compose.cluster.yaml").read_text())
    assert {"postgres", "redis", "web1", "web2", "worker1", "worker2", "nginx"} == set(
        cluster["services"]
    )
    for web in ("web1", "web2"):
        assert cluster["services"][web]["command"][-2:] == ["--mode", "queue"]
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_buffering off" in conf and "web1:3000" in conf and "web2:3000" in conf
