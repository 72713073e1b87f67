"""Evaluations (issue 36): datasets, every evaluator on known cases, runs over a 50-row
dataset on the mock model (versions compared, run again, aborted), a small run on every
storage backend, and the CLI's exit codes, JSON and JUnit output (on the embedded
model, offline)."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import orjson
import pytest

from canvasflow.errors import BadRequest
from canvasflow.evals import datasets as files
from canvasflow.evals.evaluators import (
    Answered,
    builtin,
    check_plain,
    judge_prompt,
    judge_verdict,
    similarity_verdict,
    spec_from,
)
from canvasflow.evals.prices import Prices
from canvasflow.evals.summary import compare, percentile, summarize
from tests.support import Proc, llm_chain_flow, make_canvas, poll

CLI = [sys.executable, "-m", "canvasflow.cli"]


# -- evaluators, datasets, summaries: in-process ------------------------------------------


def verdict(ref: str, answer: str, expected: str | None = None, **row: Any) -> Any:
    spec = builtin(ref)
    assert spec is not None, ref
    return check_plain(spec, Answered(question="q", answer=answer, expected=expected, **row))


def test_text_json_and_numeric_evaluators() -> None:
    assert verdict("exact", " Paris ", "paris").result == "Pass"
    assert verdict("exact", "Paris, France", "paris").result == "Fail"
    assert verdict("contains", "It is Paris.", "paris").result == "Pass"
    assert verdict("contains", "It is Rome.", "paris").score == 0.0
    assert verdict("contains", "anything").result == "Error"  # no expected answer
    assert verdict("not-contains", "It is Rome.", "paris").result == "Pass"
    assert verdict("not-contains:sorry,cannot", "Sorry, no").result == "Fail"
    v = verdict("contains-all:red,green,blue", "red and green")
    assert v.result == "Fail" and v.score == pytest.approx(2 / 3, abs=1e-3)
    assert verdict("contains-any:red,blue", "a blue sky").result == "Pass"
    assert verdict("starts-with:yes", "Yes, it is").result == "Pass"
    assert verdict("regex:^\\d{3}-\\d{4}$", "555-1234").result == "Pass"
    assert verdict("regex:^\\d{3}-\\d{4}$", "call 555-1234").result == "Fail"
    assert verdict("json", '```json\n{"a": 1}\n```').result == "Pass"
    assert verdict("json", "{a: 1}").result == "Fail"
    schema = orjson.dumps(
        {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    ).decode()
    assert verdict(f"json-schema:{schema}", '{"city": "Paris"}').result == "Pass"
    v = verdict(f"json-schema:{schema}", '{"city": 3}')
    assert v.result == "Fail" and "city" in (v.detail or "")
    assert verdict("latency<2000", "x", latency_ms=1500).result == "Pass"
    assert verdict("latency<2000", "x", latency_ms=2500).result == "Fail"
    assert verdict("tokens<=10", "x", prompt_tokens=4, completion_tokens=6).result == "Pass"
    assert verdict("cost<0.01", "x", cost=0.02).result == "Fail"
    assert verdict("cost<0.01", "x").result == "Error"  # a model with no price
    assert verdict("length>3", "abcd").result == "Pass"
    assert builtin("nonsense") is None
    for bad in (
        ("text", {"operator": "Regex", "value": "("}),
        ("text", {"operator": "ContainsAny"}),
        ("json", {"operator": "MatchesSchema", "value": "{nope"}),
        ("numeric", {"measure": "latency", "operator": "lessThan", "value": "x"}),
        ("similarity", {"value": "2"}),
        ("llm", {"prompt": "no placeholder"}),
        ("magic", {}),
    ):
        with pytest.raises(BadRequest):
            spec_from("bad", bad[0], bad[1])


def test_similarity_and_judge() -> None:
    from canvasflow.evals.evaluators import cosine
    from canvasflow.nodes.retrieval import WordLlamaEmbedder

    vectors = asyncio.run(
        WordLlamaEmbedder().embed(
            ["The capital of France is Paris.", "Paris is France's capital city.", "Bananas."]
        )
    )
    spec = builtin("similarity:0.7")
    assert spec is not None
    close, far = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
    assert similarity_verdict(spec, close).result == "Pass"
    assert similarity_verdict(spec, far).result == "Fail" and far < close
    judge = spec_from("judge", "llm", {"rubric": "Be kind."})
    row = Answered(question="Q?", answer="A!", expected="E.")
    prompt = judge_prompt(judge, row)
    assert "Be kind." in prompt and "Q?" in prompt and "A!" in prompt and '{"score"' in prompt
    assert judge_verdict(judge, 'Sure: {"score": 0.8, "pass": true, "reason": "ok"}').passed
    low = judge_verdict(judge, '{"score": 0.2}')
    assert low.result == "Fail" and low.score == 0.2
    off = judge_verdict(judge, "I think it is good")
    assert off.result == "Error" and "I think it is good" in (off.detail or "")


def test_dataset_files() -> None:
    rows, problems = files.read_csv('question,expected,topic\nWho?,Me,people\n"",x,\nWhy?,,\n')
    assert [r["input"] for r in rows] == ["Who?", "Why?"]
    assert rows[0]["output"] == "Me" and rows[0]["meta"] == {"topic": "people"}
    assert [(p.line, "no question" in p.reason) for p in problems] == [(3, True)]
    # Flowise's shape: no header, input then output; sent as a data URI
    uri = "data:text/csv;base64," + base64.b64encode(b"2+2?,4\n3+3?,6\n").decode()
    rows, problems = files.read_csv(files.data_uri_text(uri))
    assert [(r["input"], r["output"]) for r in rows] == [("2+2?", "4"), ("3+3?", "6")]
    text = "\n".join(
        [
            '{"question": "a", "expected": "b", '
            '"history": [{"role": "userMessage", "content": "hi"}]}',
            "{broken",
            '{"form": {"topic": "x"}}',
            "[1, 2]",
            '{"input": "c", "history": "nope"}',
        ]
    )
    rows, problems = files.read_jsonl(text)
    assert len(rows) == 2 and rows[0]["history"] == [{"role": "user", "content": "hi"}]
    assert rows[1]["form"] == {"topic": "x"}
    assert [p.line for p in problems] == [2, 4, 5]
    # written and read back
    objs = [SimpleNamespace(**r) for r in rows]
    again, _ = files.read_jsonl(files.write_jsonl(objs))
    assert again == rows
    back, _ = files.read_csv(files.write_csv(objs))
    assert back == rows


def test_summary_compare_and_prices() -> None:
    def row(row_id: str, outcome: str, version: int = 1, ms: int = 100) -> Any:
        return SimpleNamespace(
            row_id=row_id,
            seq=int(row_id),
            version=version,
            input=row_id,
            expected=None,
            answer="a",
            error=None,
            outcome=outcome,
            latency_ms=ms,
            prompt_tokens=1,
            completion_tokens=2,
            cost=None,
            execution_id=None,
            verdicts=[
                {
                    "name": "c",
                    "result": "Pass" if outcome == "passed" else "Fail",
                    "score": 1.0 if outcome == "passed" else 0.0,
                }
            ],
        )

    a = [row("1", "passed"), row("2", "passed"), row("3", "failed")]
    b = [row("1", "failed", 2), row("2", "passed", 2), row("3", "passed", 2)]
    s = summarize(a + b)
    assert s["rows"] == 6 and s["passed"] == 4 and s["passRate"] == round(4 / 6, 4)
    assert [v["passRate"] for v in s["byVersion"]] == [round(2 / 3, 4)] * 2
    assert (
        s["byEvaluator"][0]["name"] == "c" and sum(h["count"] for h in s["latencyHistogram"]) == 6
    )
    rows = compare(a, b)
    assert [(r["rowId"], r["change"]) for r in rows] == [
        ("1", "worse"),
        ("3", "better"),
        ("2", "same"),
    ]
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([], 95) is None
    prices = Prices({"my-model": (1.0, 2.0)})
    assert prices.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == 0.15
    assert prices.cost("my-model", 500_000, 500_000) == 1.5
    assert prices.cost("unknown", 1, 1) is None


# -- runs on a server ---------------------------------------------------------------------


def wait_done(url: str, evaluation_id: str, timeout: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        e = httpx.get(f"{url}/api/v1/evaluations/{evaluation_id}").json()
        return e if e["status"] not in ("pending", "running") else None

    return poll(done, timeout=timeout, interval=0.2)  # type: ignore[no-any-return]


def csv_of(n: int) -> str:
    """Rows whose expected answer the ``echo: answer`` canvas gives for even rows only."""
    lines = ["question,expected"]
    for i in range(n):
        lines.append(f"q{i},answer q{i}" if i % 2 == 0 else f"q{i},nope")
    return "\n".join(lines) + "\n"


def test_fifty_rows_two_versions_compare_and_run_again(server: Proc) -> None:
    url = server.url
    canvas = make_canvas(url, llm_chain_flow(template="echo: answer {question}"), name="evaluated")
    # a dataset from a CSV with one bad row: the others are imported, the bad one named
    d = httpx.post(f"{url}/api/v1/datasets/set", json={"name": "fifty"}).json()
    body = {"content": csv_of(50) + '"",orphan\n', "format": "csv"}
    imported = httpx.post(f"{url}/api/v1/datasets/set/{d['id']}/import", json=body).json()
    assert imported["added"] == 50 and imported["problems"][0]["line"] == 52
    regex = httpx.post(
        f"{url}/api/v1/evaluators",
        json={"name": "shape", "type": "text", "operator": "Regex", "value": "^answer q\\d+$"},
    )
    assert regex.status_code == 201, regex.text
    bad = httpx.post(f"{url}/api/v1/evaluators", json={"name": "x", "type": "numeric"})
    assert bad.status_code == 400 and "measure" in bad.json()["message"]
    r = httpx.post(
        f"{url}/api/v1/evaluations",
        json={
            "chatflowId": canvas["id"],
            "datasetId": "fifty",
            "evaluators": ["contains", "shape", "latency<60000"],
            "concurrency": 8,
        },
    )
    assert r.status_code == 202, r.text
    first = wait_done(url, r.json()["id"])
    s = first["summary"]
    assert first["status"] == "completed" and first["done"] == 50, first
    assert (s["rows"], s["passed"], s["failed"], s["errors"]) == (50, 25, 25, 0)
    by = {e["name"]: e["passRate"] for e in s["byEvaluator"]}
    assert by == {"contains": 0.5, "shape": 1.0, "latency<60000": 1.0}
    assert s["latencyMs"]["p95"] is not None and s["tokens"]["total"] > 0
    row = first["rows"][0]
    assert row["answer"] == "answer q0" and row["outcome"] == "passed" and row["version"] == 1
    # each row is an execution, recorded with its trigger and version
    execution = poll(
        lambda: (
            httpx.get(f"{url}/api/v1/executions/{row['executionId']}").json()
            if httpx.get(f"{url}/api/v1/executions/{row['executionId']}").status_code == 200
            else None
        )
    )
    assert execution["trigger"] == "evaluation" and execution["version"] == "1"

    # a new version: the run is outdated; run both versions and compare them
    r = httpx.put(
        f"{url}/api/v1/canvases/{canvas['id']}",
        json={"flowData": orjson.dumps(llm_chain_flow(template="echo: reply {question}")).decode()},
    )
    assert r.json()["version"] == 2
    outdated = httpx.get(f"{url}/api/v1/evaluations/is-outdated/{first['id']}").json()
    assert outdated["outdated"] and "version 2" in outdated["changes"][0]
    r = httpx.post(
        f"{url}/api/v1/evaluations",
        json={
            "canvasId": canvas["slug"],
            "datasetId": d["id"],
            "versions": [1, 2],
            "concurrency": 10,
        },
    )
    both = wait_done(url, r.json()["id"])
    assert [e["name"] for e in both["evaluators"]] == ["contains"]  # the default
    rates = {v["version"]: v["passRate"] for v in both["summary"]["byVersion"]}
    assert rates == {1: 0.5, 2: 0.0} and both["total"] == 100
    cmp = httpx.get(
        f"{url}/api/v1/evaluations/compare",
        params={"a": both["id"], "b": both["id"], "aVersion": 1, "bVersion": 2},
    ).json()
    assert "rows" in cmp, cmp
    changes = [row["change"] for row in cmp["rows"]]
    assert changes == ["worse"] * 25 + ["same"] * 25
    assert (
        cmp["rows"][0]["a"]["answer"] == "answer q0" and cmp["rows"][0]["b"]["answer"] == "reply q0"
    )
    # run again with nothing changed: it says so; after a dataset edit it says what changed
    again = httpx.post(f"{url}/api/v1/evaluations/run-again/{both['id']}", json={}).json()
    assert again["changes"][0].startswith("nothing changed") and again["previous"] == both["id"]
    wait_done(url, again["id"])
    rows = httpx.get(f"{url}/api/v1/datasets/set/{d['id']}").json()["rows"]
    httpx.put(
        f"{url}/api/v1/datasets/rows/{rows[1]['id']}", json={"input": "q1", "output": "answer q1"}
    )
    httpx.post(f"{url}/api/v1/datasets/rows", json={"datasetId": d["id"], "input": "new"})
    outdated = httpx.get(f"{url}/api/v1/evaluations/is-outdated/{both['id']}").json()
    assert outdated["changes"] == ["dataset 'fifty': 1 rows added, 0 removed, 1 changed"]
    # the dataset exported, and read back the same
    exported = httpx.get(f"{url}/api/v1/datasets/set/{d['id']}/export?format=jsonl").text
    assert len(exported.splitlines()) == 51 and '"question":"new"' in exported
    assert (
        httpx.get(f"{url}/api/v1/evaluations?canvasId={canvas['id']}").json()[0]["id"]
        == again["id"]
    )


def test_judges_and_abort(server: Proc) -> None:
    url = server.url
    canvas = make_canvas(url, llm_chain_flow(template="echo: answer {question}"), name="judged")
    d = httpx.post(
        f"{url}/api/v1/datasets/set",
        json={"name": "judged", "rows": [{"question": "a"}, {"question": "b"}]},
    ).json()
    mock = {"name": "chatOpenAICustom", "inputs": {"modelName": "mock"}}
    good = {
        "name": "fair",
        "type": "llm",
        "model": mock,
        "prompt": 'echo: {{"score": 0.75, "pass": true, "reason": "fine"}} {answer}',
    }
    off = {"name": "rambling", "type": "llm", "model": mock}  # the default prompt
    r = httpx.post(
        f"{url}/api/v1/evaluations",
        json={"canvasId": canvas["id"], "datasetId": d["id"], "evaluators": [good, off]},
    )
    e = wait_done(url, r.json()["id"])
    assert e["status"] == "completed"
    for row in e["rows"]:
        fair, rambling = row["verdicts"]
        assert fair["result"] == "Pass" and fair["score"] == 0.75 and fair["detail"] == "fine"
        assert rambling["result"] == "Error" and rambling["detail"].startswith("the judge answered")
        assert row["outcome"] == "error" and row["error"].startswith("rambling:")
    # the operator's prices: a run's rows cost what its model's tokens do
    prices = httpx.put(
        f"{url}/api/v1/evaluations/prices",
        json={"prices": {"mock": {"input": 1.0, "output": 2.0}}},
    ).json()["prices"]
    assert prices["mock"] == {"input": 1.0, "output": 2.0} and "gpt-4o-mini" in prices
    r = httpx.post(
        f"{url}/api/v1/evaluations",
        json={"canvasId": canvas["id"], "datasetId": d["id"], "evaluators": ["cost<0.001"]},
    )
    costed = wait_done(url, r.json()["id"])
    row = costed["rows"][0]
    expected_cost = (row["promptTokens"] * 1.0 + row["completionTokens"] * 2.0) / 1e6
    assert row["cost"] == pytest.approx(expected_cost) and row["cost"] > 0
    assert row["verdicts"][0]["result"] == "Pass" and costed["summary"]["cost"] > 0
    catalog = httpx.get(f"{url}/api/v1/evaluators/catalog").json()
    assert "{answer}" in catalog["judgePrompt"] and "Regex" in catalog["textOperators"]

    slow = make_canvas(url, llm_chain_flow("mock?first_byte=30"), name="slow")
    rows = [{"question": f"q{i}"} for i in range(4)]
    d2 = httpx.post(f"{url}/api/v1/datasets/set", json={"name": "slow", "rows": rows}).json()
    r = httpx.post(
        f"{url}/api/v1/evaluations",
        json={"canvasId": slow["id"], "datasetId": d2["id"], "concurrency": 1},
    )
    started = r.json()
    poll(
        lambda: httpx.get(f"{url}/api/v1/evaluations/{started['id']}").json()["status"] == "running"
    )
    aborted = httpx.post(f"{url}/api/v1/evaluations/{started['id']}/abort", timeout=30).json()
    assert aborted["status"] == "aborted" and aborted["done"] < 4
    assert httpx.delete(f"{url}/api/v1/evaluations/{started['id']}").json()["deletedCount"] == 1
    # bad input: an unknown evaluator, a version the canvas lacks, an empty dataset
    for body, status, words in (
        ({"evaluators": ["nope"]}, 400, "no evaluator 'nope'"),
        ({"versions": [9]}, 404, "no version 9"),
        ({"datasetId": "missing"}, 404, "Dataset missing"),
    ):
        r = httpx.post(
            f"{url}/api/v1/evaluations",
            json={"canvasId": canvas["id"], "datasetId": d["id"], **body},
        )
        assert r.status_code == status and words in r.json()["message"], r.text


@pytest.mark.parametrize("_backend", ["all"])
def test_a_small_run_on_every_backend(backend_server: Proc, _backend: str) -> None:
    url = backend_server.url
    canvas = make_canvas(url, llm_chain_flow(template="echo: answer {question}"), name="small")
    rows = [{"input": f"q{i}", "output": f"answer q{i}"} for i in range(5)]
    d = httpx.post(f"{url}/api/v1/datasets/set", json={"name": "small", "rows": rows}).json()
    assert d["rowCount"] == 5
    r = httpx.post(
        f"{url}/api/v1/evaluations",
        json={"canvasId": canvas["id"], "datasetId": d["id"], "evaluators": ["exact"]},
    )
    e = wait_done(url, r.json()["id"])
    assert e["status"] == "completed" and e["summary"]["passRate"] == 1.0, e
    ids = [row["id"] for row in httpx.get(f"{url}/api/v1/datasets/set/{d['id']}").json()["rows"]]
    r = httpx.request("PATCH", f"{url}/api/v1/datasets/rows", json={"ids": ids[:2]})
    assert r.json()["deletedCount"] == 2
    assert httpx.delete(f"{url}/api/v1/datasets/set/{d['id']}").json()["deletedCount"] == 1


# -- the CLI ------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


def test_cli_eval_run_on_the_embedded_model(tmp_path: Path) -> None:
    """Offline, on a fresh data dir: the default canvas (the embedded model) over a file."""
    env = {"CANVASFLOW_DATA_DIR": str(tmp_path / "data")}
    data = tmp_path / "qa.csv"
    data.write_text('question,expected\nSay hello,\nWhat is 2+2?,\n"",orphan\n')
    junit = tmp_path / "junit.xml"
    r = cli(
        "eval",
        "run",
        "default",
        str(data),
        "--evaluator",
        "tokens<100000",
        "--evaluator",
        "length>0",
        "--junit",
        str(junit),
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "qa.csv:4:" in r.stderr  # the bad row, named with its line
    assert r.stdout.strip().splitlines()[-1] == "pass rate 1.00 (2 of 2)"
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and len(suite.findall("testcase")) == 2
    # bad input: exit 2, one line, before any model is loaded
    r = cli("eval", "run", "nope", "qa.csv", env=env)
    assert r.returncode == 2 and "no canvas 'nope'" in r.stderr


def test_cli_eval_run_against_a_server(server: Proc, tmp_path: Path) -> None:
    canvas = make_canvas(server.url, llm_chain_flow(template="echo: answer {question}"), name="cli")
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "\n".join(
            orjson.dumps({"question": f"q{i}", "expected": f"answer q{i}"}).decode()
            for i in range(4)
        )
    )
    r = cli(
        "eval",
        "run",
        canvas["slug"],
        str(data),
        "--url",
        server.url,
        "--fail-under",
        "0.9",
        env={},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "pass rate 1.00 (4 of 4)"
    # below the threshold: exit 1; the JSON is one document on stdout
    r = cli(
        "eval",
        "run",
        canvas["id"],
        "rows.jsonl",
        "--url",
        server.url,
        "--evaluator",
        "regex:^NEVER$",
        "--json",
        "--fail-under",
        "0.5",
        env={},
    )
    assert r.returncode == 1, r.stderr
    result = orjson.loads(r.stdout)
    assert result["summary"]["passed"] == 0 and "pass rate 0.00 (0 of 4)" in r.stderr
    r = cli(
        "eval",
        "run",
        canvas["id"],
        "rows.jsonl",
        "--url",
        server.url,
        "--evaluator",
        "magic",
        env={},
    )
    assert r.returncode == 2 and "no evaluator 'magic'" in r.stderr
