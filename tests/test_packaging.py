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

from tests.support import Proc, free_port

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
