"""What a deployment needs of the server: one clear line when it cannot start, and the
Kubernetes manifests rendered and checked (the container image itself is built and
exercised by scripts/check_container.sh, which takes minutes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, canvasflow_server, create_pg_database, drop_pg_database, free_port


def serve(data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "canvasflow.cli",
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "CANVASFLOW_WARM_UP": "0", **(env or {})},
    )


def test_a_data_directory_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = serve(blocker / "data")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not writable" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_second_process_with_another_secret_key_refuses_to_start(
    upstream: str, tmp_path: Path
) -> None:
    pg = create_pg_database()
    try:
        first = canvasflow_server(
            tmp_path / "a",
            upstream,
            {"DATABASE_URL": pg, "CANVASFLOW_SECRET_KEY": "a" * 43 + "="},
        ).start()
        try:
            done = serve(
                tmp_path / "b", {"DATABASE_URL": pg, "CANVASFLOW_SECRET_KEY": "b" * 43 + "="}
            )
            assert done.returncode == 1
            assert "CANVASFLOW_SECRET_KEY" in done.stderr.strip().splitlines()[-1], done.stderr
            assert "Traceback" not in done.stderr
        finally:
            first.stop()
    finally:
        drop_pg_database(pg)


def test_the_admin_key_can_come_from_a_secret(upstream: str, tmp_path: Path) -> None:
    """CANVASFLOW_ADMIN_KEY (a Kubernetes Secret): stored as the admin key, not printed,
    not written to the data dir."""
    import httpx

    key = "cf_0123456789ab_" + "s" * 43
    proc = canvasflow_server(
        tmp_path / "d", upstream, {"CANVASFLOW_ADMIN_KEY": key}, auth=True
    ).start()
    try:
        ok = httpx.get(proc.url + "/api/v1/canvases", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        assert not (tmp_path / "d" / "admin.key").exists()
    finally:
        proc.stop()


# -- Kubernetes ----------------------------------------------------------------------------

KUBE = ROOT / "deploy" / "kubernetes"
TOOLS = ROOT / ".venv-tools" / "bin"  # kubernetes-validate and checkov (scripts/test.sh)


def render(overlay: str) -> list[dict]:  # type: ignore[type-arg]
    import shutil

    import yaml

    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is installed by scripts/test.sh"
    done = subprocess.run(
        [kubectl, "kustomize", str(KUBE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_the_manifests_render_validate_and_pass_the_policy_scanner(tmp_path: Path) -> None:
    import json

    import yaml

    for overlay in ("single", "cluster"):
        docs = render(overlay)
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        validated = subprocess.run(
            [str(TOOLS / "kubernetes-validate"), "-k", "1.32.0", "--strict", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert validated.returncode == 0, validated.stdout + validated.stderr
        assert validated.stdout.count("passed") == len(docs), validated.stdout
        scanned = subprocess.run(
            [
                str(TOOLS / "checkov"),
                *("-f", str(path), "--framework", "kubernetes"),
                *("--output", "json", "--quiet", "--compact"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        report = json.loads(scanned.stdout or "{}")
        results = report.get("results", {})
        assert results.get("failed_checks", []) == [], [
            (c["check_id"], c["resource"]) for c in results.get("failed_checks", [])
        ]
        # what is left is skipped with a reason written beside it, in the manifests
        for skipped in results.get("skipped_checks", []):
            assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped


def test_the_cluster_overlay_has_what_a_cluster_needs() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in render("cluster")}
    web = docs[("Deployment", "canvasflow-web")]["spec"]
    worker = docs[("Deployment", "canvasflow-worker")]["spec"]
    assert web["replicas"] == 2
    container = web["template"]["spec"]["containers"][0]
    assert container["args"][:4] == ["canvasflow", "serve", "--mode", "queue"]
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/api/v1/ping"
    assert {"name": "Host", "value": "localhost"} in probe["httpHeaders"]  # Host is checked
    for spec in (web, worker):
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = pod["containers"][0]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/data", "/tmp"} <= mounts
    assert worker["template"]["spec"]["containers"][0]["args"][:2] == ["canvasflow", "worker"]
    hpa = docs[("HorizontalPodAutoscaler", "canvasflow-worker")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "canvasflow-worker"
    assert ("PodDisruptionBudget", "canvasflow-web") in docs
    assert ("PodDisruptionBudget", "canvasflow-worker") in docs
    secret = docs[("Secret", "canvasflow")]
    assert {"CANVASFLOW_SECRET_KEY", "CANVASFLOW_ADMIN_KEY", "DATABASE_URL", "REDIS_URL"} <= set(
        secret["data"]
    )
    notes = docs[("Ingress", "canvasflow")]["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    single = {(d["kind"], d["metadata"]["name"]): d for d in render("single")}
    volumes = single[("Deployment", "canvasflow-web")]["spec"]["template"]["spec"]["volumes"]
    data = next(v for v in volumes if v["name"] == "data")
    assert data == {"name": "data", "persistentVolumeClaim": {"claimName": "canvasflow-data"}}


def test_the_images_llama_cpp_is_the_packages() -> None:
    """The Dockerfile builds llama.cpp in a layer of its own, by version: the version
    pyproject.toml pins."""
    import re

    docker = re.search(r"ARG LLAMA_CPP_VERSION=(\S+)", (ROOT / "Dockerfile").read_text())
    pinned = re.search(r'"llama-cpp-python==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert docker and pinned and docker.group(1) == pinned.group(1)


async def test_processes_starting_together_on_a_new_database_all_start() -> None:
    """Pods or containers started at once on a new PostgreSQL database: one migrates the
    schema, the others wait for it (a race here made a worker container exit 1)."""
    import asyncio

    from canvasflow.store.repo import Store

    url = create_pg_database()
    try:
        stores = [Store(url.replace("postgresql://", "postgresql+asyncpg://")) for _ in range(6)]
        await asyncio.gather(*(s.migrate() for s in stores))
        for s in stores:
            await s.close()
    finally:
        drop_pg_database(url)
