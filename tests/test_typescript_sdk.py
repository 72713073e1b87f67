"""The TypeScript SDK (clients/typescript): its Node test suite against a live server,
and `npm pack` giving an installable package with no build step."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy import FaultyProxy, Plan
from tests.support import Proc, canvasflow_server, llm_chain_flow, make_canvas

SDK = Path(__file__).resolve().parent.parent / "clients" / "typescript"


@pytest.fixture(scope="module")
def server(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = canvasflow_server(tmp_path_factory.mktemp("ts-sdk"), upstream).start()
    yield proc
    proc.stop()


def test_node_suite_against_a_live_server(server: Proc) -> None:
    short = make_canvas(server.url, llm_chain_flow("mock?tokens=5"))
    long = make_canvas(server.url, llm_chain_flow("mock?tokens=500&delay=0.02"))
    slow = make_canvas(server.url, llm_chain_flow("mock?tokens=30&delay=0.01"))
    port = int(server.url.rsplit(":", 1)[1])
    with FaultyProxy(port, Plan(cut_after_bytes=[1800])) as proxy:
        env = {
            **os.environ,
            "CANVASFLOW_URL": server.url,
            "CANVAS_SHORT": short["id"],
            "CANVAS_LONG": long["id"],
            "CANVAS_SLOW": slow["id"],
            "PROXY_URL": proxy.url,
        }
        out = subprocess.run(
            ["node", "--test", "test/"],
            cwd=SDK,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout and "# skipped 0" in out.stdout
    assert "# pass 8" in out.stdout


def test_npm_pack_gives_an_installable_package(tmp_path: Path) -> None:
    out = subprocess.run(
        ["npm", "pack", "--json", "--pack-destination", str(tmp_path)],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    files = {f["path"] for f in json.loads(out.stdout)[0]["files"]}
    assert {"index.js", "index.d.ts", "package.json"} <= files
    tarball = next(tmp_path.glob("canvasflow-sdk-*.tgz"))
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "private": true, "type": "module"}')
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", str(tarball)],
        cwd=app,
        check=True,
        capture_output=True,
        timeout=120,
    )
    check = subprocess.run(
        ["node", "-e", "import('canvasflow-sdk').then(m => console.log(typeof m.FlowiseClient))"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "function"
