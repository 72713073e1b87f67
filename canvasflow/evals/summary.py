"""A run's summary (pass rate, mean score, latency and token percentiles, by version and
by evaluator, a latency histogram) and two runs compared row by row."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

ORDER = {"passed": 2, "failed": 1, "error": 0}


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _scores(row: Any) -> list[float]:
    return [v["score"] for v in row.verdicts or () if v.get("score") is not None]


def _block(rows: list[Any]) -> dict[str, Any]:
    n = len(rows)
    passed = sum(r.outcome == "passed" for r in rows)
    failed = sum(r.outcome == "failed" for r in rows)
    latency = [float(r.latency_ms) for r in rows if r.latency_ms is not None]
    tokens = [float(r.prompt_tokens + r.completion_tokens) for r in rows]
    scores = [s for r in rows for s in _scores(r)]
    costs = [r.cost for r in rows if r.cost is not None]
    return {
        "rows": n,
        "passed": passed,
        "failed": failed,
        "errors": n - passed - failed,
        "passRate": round(passed / n, 4) if n else None,
        "meanScore": _mean(scores),
        "latencyMs": {
            "p50": percentile(latency, 50),
            "p95": percentile(latency, 95),
            "mean": _mean(latency),
        },
        "tokens": {
            "p50": percentile(tokens, 50),
            "p95": percentile(tokens, 95),
            "total": int(sum(tokens)),
        },
        "cost": round(sum(costs), 8) if costs else None,
    }


def histogram(values: list[float], bins: int = 10) -> list[dict[str, float]]:
    if not values:
        return []
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    return [
        {"from": round(low + i * width, 1), "to": round(low + (i + 1) * width, 1), "count": c}
        for i, c in enumerate(counts)
    ]


def summarize(rows: list[Any]) -> dict[str, Any]:
    out = _block(rows)
    versions = sorted({r.version for r in rows})
    out["byVersion"] = [
        {"version": v, **_block([r for r in rows if r.version == v])} for v in versions
    ]
    names: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for verdict in r.verdicts or ():
            names.setdefault(verdict["name"], []).append(verdict)
    out["byEvaluator"] = [
        {
            "name": name,
            "passed": sum(v["result"] == "Pass" for v in given),
            "failed": sum(v["result"] == "Fail" for v in given),
            "errors": sum(v["result"] == "Error" for v in given),
            "passRate": round(sum(v["result"] == "Pass" for v in given) / len(given), 4),
            "meanScore": _mean([v["score"] for v in given if v.get("score") is not None]),
        }
        for name, given in names.items()
    ]
    out["latencyHistogram"] = histogram(
        [float(r.latency_ms) for r in rows if r.latency_ms is not None]
    )
    return out


def _side(row: Any | None) -> dict[str, Any] | None:
    if row is None:
        return None
    scores = _scores(row)
    return {
        "outcome": row.outcome,
        "answer": row.answer,
        "error": row.error,
        "score": _mean(scores),
        "latencyMs": row.latency_ms,
        "verdicts": row.verdicts,
        "executionId": row.execution_id,
        "version": row.version,
    }


def compare(a: Iterable[Any], b: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows of two runs side by side, matched by their dataset row: those whose outcome
    changed first (the ones that got worse before the ones that got better), then by
    the dataset's order."""
    left = {r.row_id: r for r in a}
    right = {r.row_id: r for r in b}
    out = []
    for row_id in left.keys() | right.keys():
        x, y = left.get(row_id), right.get(row_id)
        base = x or y
        assert base is not None
        was = ORDER.get(x.outcome, -1) if x else -1
        now = ORDER.get(y.outcome, -1) if y else -1
        change = "same" if was == now else ("better" if now > was else "worse")
        out.append(
            {
                "rowId": row_id,
                "sequenceNo": base.seq,
                "input": base.input,
                "expected": base.expected,
                "change": change,
                "a": _side(x),
                "b": _side(y),
            }
        )
    rank = {"worse": 0, "better": 1, "same": 2}
    out.sort(key=lambda r: (rank[r["change"]], r["sequenceNo"]))
    return out
