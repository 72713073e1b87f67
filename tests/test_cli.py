"""The canvasflow command: canvas import/list/export and predict against a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.support import Proc, llm_chain_flow, make_canvas, node

CLI = [sys.executable, "-m", "canvasflow.cli"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def test_canvas_import_list_export(tmp_path: Path) -> None:
    data = tmp_path / "data"
    export = {"name": "Imported", "flowData": orjson.dumps(llm_chain_flow()).decode()}
    f = tmp_path / "flow.json"
    f.write_bytes(orjson.dumps(export))
    r = run("canvas", "import", str(f), "--slug", "imp", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    listed = run("canvas", "list", "--data-dir", str(data)).stdout
    assert "imp" in listed and "Imported" in listed
    out = run("canvas", "export", "imp", "--data-dir", str(data))
    doc = orjson.loads(out.stdout)
    assert doc["name"] == "Imported" and orjson.loads(doc["flowData"]) == llm_chain_flow()
    # by its name too, as the list shows it
    assert orjson.loads(run("canvas", "export", "imported", "--data-dir", str(data)).stdout) == doc
    # a long slug does not shift the other columns: each starts where its header does
    long = "a-very-long-slug-for-a-canvas-that-has-a-long-name-indeed"
    assert run("canvas", "import", str(f), "--slug", long, "--data-dir", str(data)).returncode == 0
    lines = run("canvas", "list", "--data-dir", str(data)).stdout.splitlines()
    at = lines[0].index("name")
    assert all(line[at:].strip() for line in lines[1:]), lines
    assert all(
        line.split()[-1] == "Imported" for line in lines[1:] if long in line or " imp " in line
    )
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"nodes": [node("q_1", "nope", {})], "edges": []}))
    r = run("canvas", "import", str(bad), "--data-dir", str(data))
    assert r.returncode == 0 and "node q_1" in r.stderr  # a draft: stored, its problem named
    r = run("canvas", "import", str(tmp_path / "nope.json"), "--data-dir", str(data))
    assert r.returncode == 2
    assert run("canvas", "export", "missing", "--data-dir", str(data)).returncode == 1
    # names wherever an id is: deleted by the name the list shows
    r = run("canvas", "update", "imp", "--name", "Renamed here", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    r = run("canvas", "delete", "Renamed here", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    assert "Renamed here" not in run("canvas", "list", "--data-dir", str(data)).stdout


def test_predict(server: Proc) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=3"))
    r = run("predict", canvas["id"], "hi", "--url", server.url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "word0 word1 word2"
    r = run("predict", canvas["slug"], "hi", "--stream", "--url", server.url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("word0 word1 word2\n")
    assert "tokens" in r.stderr and "mock?tokens=3" in r.stderr
    r = run("predict", canvas["id"], "hi", "--stream", "--json", "--url", server.url)
    kinds = [orjson.loads(line)["event"] for line in r.stdout.splitlines()]
    assert kinds == ["start", "token", "token", "token", "metadata", "end"]
    r = run("predict", "missing", "hi", "--url", server.url)
    assert r.returncode == 1 and "not found" in r.stderr


def test_cli_talks_to_a_running_server_and_fails_in_one_line(upstream: str, tmp_path: Path) -> None:
    """--url instead of a database (the admin key from the data dir), canvas update and
    delete, --override; user errors in one line, never a traceback."""
    from tests.support import canvasflow_server

    data = tmp_path / "d"
    proc = canvasflow_server(data, upstream, auth=True).start()
    try:
        # every start says where things are: the studio, the chat, the docs, the key
        started = proc.log_text()
        for line in (f"studio     {proc.url}/studio/", f"API docs   {proc.url}/docs"):
            assert line in started, started
        assert f"admin key  {data / 'admin.key'}" in started and "database   SQLite" in started
        f = tmp_path / "c.json"
        f.write_bytes(
            orjson.dumps({"name": "Over URL", "flowData": llm_chain_flow("mock?tokens=2")})
        )
        r = run(
            "canvas", "import", str(f), "--slug", "over", "--url", proc.url, "--data-dir", str(data)
        )
        assert r.returncode == 0, r.stderr
        assert f"server at {proc.url}" in r.stderr
        listed = run("canvas", "list", "--url", proc.url, "--data-dir", str(data))
        assert "over" in listed.stdout
        again = run("canvas", "import", str(f), "--slug", "over", "--data-dir", str(data))
        assert again.returncode == 2 and "Traceback" not in again.stderr
        assert "--slug" in again.stderr and len(again.stderr.strip().splitlines()) <= 3
        r = run(
            "canvas",
            "update",
            "over",
            "--name",
            "Renamed",
            "--url",
            proc.url,
            "--data-dir",
            str(data),
        )
        assert r.returncode == 0, r.stderr
        assert "Renamed" in run("canvas", "list", "--url", proc.url, "--data-dir", str(data)).stdout
        r = run(
            "predict", "over", "q", "--url", proc.url, "--override", "temperature=0.3", "--json"
        )
        assert r.returncode == 0, r.stderr
        assert httpx.get(upstream + "/requests").json()[-1]["temperature"] == 0.3
        r = run("canvas", "delete", "over", "--url", proc.url, "--data-dir", str(data))
        assert r.returncode == 0, r.stderr
        assert (
            "over" not in run("canvas", "list", "--url", proc.url, "--data-dir", str(data)).stdout
        )
    finally:
        proc.stop()
    gone = run("predict", "default", "q", "--url", proc.url)
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert gone.stderr.strip().startswith("error: no canvasflow server answers")
    bad_port = subprocess.run(
        [sys.executable, "-m", "canvasflow.cli", "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "CANVASFLOW_PORT": "abc"},
        timeout=60,
    )
    assert bad_port.returncode == 2 and "CANVASFLOW_PORT" in bad_port.stderr
    assert "Traceback" not in bad_port.stderr


def test_usage_errors_are_one_line_and_predict_finds_the_server_as_serve_starts_it(
    tmp_path: Path,
) -> None:
    """A bad option value or a missing argument is one ``error:`` line and exit 2, like
    every other error (no box); ``predict`` without --url asks the server ``serve``
    starts with the same settings (CANVASFLOW_PORT), not a fixed port."""
    import os

    bad = run("serve", "--port", "abc")
    assert bad.returncode == 2 and bad.stdout == ""
    [line] = bad.stderr.strip().splitlines()
    assert line.startswith("error: Invalid value for '--port'") and "serve --help" in line
    missing = run("predict")
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1
    assert "Missing argument 'canvas'" in missing.stderr
    helped = run("canvas")  # a group alone: its help
    assert helped.returncode == 0 and "import" in helped.stdout
    env = {**os.environ, "CANVASFLOW_PORT": "9"}
    env.pop("CANVASFLOW_URL", None)
    asked = run("predict", "default", "hi", env=env)
    assert asked.returncode == 1
    assert "no canvasflow server answers at http://127.0.0.1:9" in asked.stderr


def test_docstore_commands_work_on_a_fresh_data_dir_and_against_a_server(
    server: Proc, tmp_path: Path
) -> None:
    """create, add, process, query and list with nothing configured: the embedded
    embeddings and canvasflow's own vector store, no key, no network."""
    data = ["--data-dir", str(tmp_path / "data")]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rome.txt").write_text("Rome is the capital of Italy, on the Tiber.")
    (docs / "paris.md").write_text("Paris is the capital of France, on the Seine.")
    (docs / "blob.bin").write_bytes(b"\x00\x01")
    r = run("docstore", "create", "atlas", *data)
    assert r.returncode == 0, r.stderr
    store_id = r.stdout.strip()
    files = [str(docs / n) for n in ("rome.txt", "paris.md", "blob.bin")]
    r = run("docstore", "add", "atlas", *files, *data)
    assert r.returncode == 0 and "3 files added" in r.stdout, r.stderr
    r = run("docstore", "process", "atlas", *data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "embedded 2, skipped 0, deleted 0, failed 1"
    assert "failed: blob.bin: no loader reads .bin files" in r.stderr
    (docs / "rome.txt").write_text("Rome is the capital of Italy. Milan is not.")
    r = run("docstore", "add", store_id, str(docs / "rome.txt"), *data)  # by id, a new version
    r = run("docstore", "process", "atlas", "--json", *data)
    done = orjson.loads(r.stdout)
    assert (done["embedded"], done["skipped"], done["deleted"]) == (1, 1, 1)
    r = run("docstore", "query", "atlas", "capital of France", "--top-k", "1", "--json", *data)
    (top,) = orjson.loads(r.stdout)
    assert top["metadata"]["source"] == "paris.md" and 0 < top["score"] <= 1
    r = run("docstore", "query", "atlas", "Tiber river", *data)
    assert r.returncode == 0 and r.stdout.split()[1] in ("rome.txt", "paris.md")
    listed = run("docstore", "list", *data).stdout
    assert "atlas" in listed and store_id in listed
    assert run("docstore", "query", "nope", "x", *data).returncode == 1

    # the same against a running server (--url)
    remote = ["--url", server.url]
    r = run("docstore", "create", "cli-remote", *remote)
    assert r.returncode == 0, r.stderr
    assert run("docstore", "add", "cli-remote", files[0], files[1], *remote).returncode == 0
    r = run("docstore", "process", "cli-remote", *remote)
    assert r.returncode == 0 and r.stdout.strip() == "embedded 2, skipped 0, deleted 0, failed 0"
    r = run("docstore", "query", "cli-remote", "capital of Italy", "--json", *remote)
    assert orjson.loads(r.stdout)[0]["metadata"]["source"] == "rome.txt"
    assert "cli-remote" in run("docstore", "list", *remote).stdout
    httpx.delete(f"{server.url}/api/v1/document-store/store/cli-remote")
