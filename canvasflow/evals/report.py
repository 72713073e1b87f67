"""An evaluation's result for a terminal or a CI: a table, the last line, JUnit XML."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET


def _counts(result: dict[str, Any]) -> tuple[int, int]:
    summary = result.get("summary") or {}
    return int(summary.get("passed") or 0), int(summary.get("rows") or 0)


def pass_rate(result: dict[str, Any]) -> float:
    passed, rows = _counts(result)
    return passed / rows if rows else 0.0


def pass_line(result: dict[str, Any]) -> str:
    passed, rows = _counts(result)
    return f"pass rate {pass_rate(result):.2f} ({passed} of {rows})"


def _cut(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(result: dict[str, Any], file: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    names = [e["name"] for e in result.get("evaluators") or []]
    table = Table("#", "v", "question", "expected", "answer", *names, "ms", "outcome")
    colour = {"passed": "green", "failed": "red", "error": "yellow"}
    for row in result.get("rows") or []:
        verdicts = {v["name"]: v for v in row.get("verdicts") or []}
        cells = []
        for name in names:
            v = verdicts.get(name)
            if v is None:
                cells.append("-")
            else:
                score = "" if v.get("score") is None else f" {v['score']:.2f}"
                cells.append(f"{v['result']}{score}")
        outcome = row["outcome"]
        table.add_row(
            str(row["sequenceNo"]),
            str(row["version"]),
            _cut(row["input"], 40),
            _cut(row.get("expected"), 24),
            _cut(row.get("answer") or row.get("error"), 40),
            *cells,
            "" if row.get("latencyMs") is None else str(row["latencyMs"]),
            f"[{colour.get(outcome, 'white')}]{outcome}[/]",
        )
    console = Console(file=file, width=160)
    console.print(table)
    summary = result.get("summary") or {}
    for block in summary.get("byVersion") or []:
        latency = block.get("latencyMs") or {}
        console.print(
            f"version {block['version']}: {block['passed']} passed, {block['failed']} failed, "
            f"{block['errors']} errors; mean score {block.get('meanScore')}; "
            f"latency p50 {latency.get('p50')} ms, p95 {latency.get('p95')} ms",
            highlight=False,
        )


def junit(result: dict[str, Any]) -> str:
    """One test suite per evaluation, one test case per row and version."""
    summary = result.get("summary") or {}
    suite = ET.Element(
        "testsuite",
        name=str(result.get("name")),
        tests=str(summary.get("rows") or 0),
        failures=str(summary.get("failed") or 0),
        errors=str(summary.get("errors") or 0),
    )
    for row in result.get("rows") or []:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{result.get('canvasName')}.v{row['version']}",
            name=f"{row['sequenceNo']}: {_cut(row['input'], 80)}",
            time=f"{(row.get('latencyMs') or 0) / 1000:.3f}",
        )
        failed = [v for v in row.get("verdicts") or [] if v["result"] == "Fail"]
        if row["outcome"] == "error":
            ET.SubElement(case, "error", message=str(row.get("error") or "error"))
        elif failed:
            message = "; ".join(
                f"{v['name']}" + (f": {v['detail']}" if v.get("detail") else "") for v in failed
            )
            node = ET.SubElement(case, "failure", message=message)
            node.text = f"expected: {row.get('expected')}\nanswer: {row.get('answer')}"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
