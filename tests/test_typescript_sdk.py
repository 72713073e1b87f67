"""The TypeScript SDK (clients/typescript): its Node test suite against a live server,
`npm pack` giving an installable package with no build step, and its JavaScript and
declarations built from its TypeScript, on types generated from the server's OpenAPI
schema."""

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


def test_the_sdk_is_built_from_its_typescript_on_the_schema_types(tmp_path: Path) -> None:
    """``src/api-types.ts`` is what openapi-typescript makes of the server's prediction
    routes, ``index.js`` and ``index.d.ts`` what ``tsc`` makes of ``src/``, and a
    TypeScript user's code type-checks against them (``./scripts/api-types.sh`` makes
    all three again after a route's models change)."""
    import sys

    schema = tmp_path / "openapi.json"
    dumped = subprocess.run(
        [
            sys.executable,
            "-m",
            "canvasflow.cli",
            "openapi",
            "--path",
            "/api/v1/prediction/",
            "--path",
            "/api/v1/chatmessage/abort/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dumped.returncode == 0, dumped.stderr
    schema.write_text(dumped.stdout)
    types = tmp_path / "api-types.ts"
    made = subprocess.run(
        [
            "npx",
            "--no-install",
            "openapi-typescript",
            str(schema),
            "-o",
            str(types),
            "--root-types",
        ],
        cwd=SDK.parent.parent / "studio",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    stale = "a route's models changed: ./scripts/api-types.sh"
    assert types.read_text() == (SDK / "src" / "api-types.ts").read_text(), stale
    built = tmp_path / "built"
    tsc = subprocess.run(
        ["npx", "--no-install", "tsc", "-p", "tsconfig.json", "--outDir", str(built)],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    for name in ("index.js", "index.d.ts", "api-types.d.ts"):
        assert (built / name).read_text() == (SDK / name).read_text(), f"{name}: npm run build"
    typed = subprocess.run(
        [
            "npx",
            "--no-install",
            "tsc",
            "--noEmit",
            "--strict",
            "--module",
            "NodeNext",
            "--moduleResolution",
            "NodeNext",
            "--target",
            "ES2022",
            "--lib",
            "ES2022,DOM,DOM.Iterable",
            "--skipLibCheck",
            "test/typed.ts",
        ],
        cwd=SDK,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr
