"""Evaluators: each judges one answer and gives pass or fail and a score in [0, 1].

Their configuration follows Flowise's evaluators (``type`` with ``operator``,
``value``, ``measure``, ``prompt``) with canvasflow's additions: text against the
expected answer (``ExactMatch``, ``Contains``, ``NotContains``), ``Regex``, JSON Schema,
semantic ``similarity`` and an LLM judge with a rubric on any chat-model node. A
builtin evaluator is named by a short reference (``contains``, ``regex:^Yes``,
``latency<2000``...), as the CLI takes them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson

from canvasflow.errors import BadRequest

Kind = Literal["text", "json", "numeric", "similarity", "llm"]
KINDS: tuple[str, ...] = ("text", "json", "numeric", "similarity", "llm")

TEXT_OPERATORS = (
    "ExactMatch",
    "Contains",
    "NotContains",
    "ContainsAny",
    "ContainsAll",
    "DoesNotContainAny",
    "DoesNotContainAll",
    "StartsWith",
    "NotStartsWith",
    "Regex",
)
# the operators that compare with the row's expected answer (no value of their own)
EXPECTED_OPERATORS = ("ExactMatch", "Contains", "NotContains")
JSON_OPERATORS = ("IsValidJSON", "IsNotValidJSON", "MatchesSchema")
MEASURES = (
    "latency",
    "totalTokens",
    "promptTokens",
    "completionTokens",
    "cost",
    "responseLength",
)
NUMERIC_OPERATORS = {
    "equals": lambda a, b: a == b,
    "notEquals": lambda a, b: a != b,
    "greaterThan": lambda a, b: a > b,
    "lessThan": lambda a, b: a < b,
    "greaterThanOrEquals": lambda a, b: a >= b,
    "lessThanOrEquals": lambda a, b: a <= b,
}
_SIGNS = {
    "<=": "lessThanOrEquals",
    ">=": "greaterThanOrEquals",
    "!=": "notEquals",
    "==": "equals",
    "<": "lessThan",
    ">": "greaterThan",
    "=": "equals",
}
_MEASURE_NAMES = {
    "latency": "latency",
    "tokens": "totalTokens",
    "prompt-tokens": "promptTokens",
    "completion-tokens": "completionTokens",
    "cost": "cost",
    "length": "responseLength",
}
DEFAULT_SIMILARITY = 0.8

JUDGE_PROMPT = """You are grading an answer given by an AI assistant.

Rubric: {rubric}

Question:
{question}

Expected answer (may be empty):
{expected}

Answer to grade:
{answer}

Reply with one JSON object and nothing else:
{{"score": <a number from 0 to 1>, "pass": <true or false>, "reason": "<one sentence>"}}"""
DEFAULT_RUBRIC = (
    "The answer is correct, relevant to the question and agrees with the expected answer."
)


@dataclass(frozen=True)
class Spec:
    """One evaluator's configuration."""

    name: str
    type: Kind
    operator: str | None = None
    value: str | None = None
    measure: str | None = None
    # llm: the rubric, the judge's prompt (its placeholders) and its chat model node
    prompt: str | None = None
    rubric: str | None = None
    model: dict[str, Any] | None = None
    id: str | None = None

    def config(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "operator": self.operator,
                "value": self.value,
                "measure": self.measure,
                "prompt": self.prompt,
                "rubric": self.rubric,
                "model": self.model,
            }.items()
            if v is not None
        }

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type, **self.config()}


@dataclass
class Answered:
    """What an evaluator sees of one row: the question, the expected answer, the answer
    and what it cost."""

    question: str
    answer: str
    expected: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None

    def measure(self, name: str) -> float | None:
        return {
            "latency": self.latency_ms,
            "totalTokens": self.prompt_tokens + self.completion_tokens,
            "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens,
            "cost": self.cost,
            "responseLength": len(self.answer),
        }.get(name)


@dataclass
class Verdict:
    name: str
    type: str
    result: Literal["Pass", "Fail", "Error"]
    score: float | None
    detail: str | None = None

    @property
    def passed(self) -> bool:
        return self.result == "Pass"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "result": self.result,
            "score": self.score,
            "detail": self.detail,
        }


def spec_from(name: str, type: str, config: dict[str, Any], id: str | None = None) -> Spec:
    """A spec from a stored or posted configuration, checked (400 naming what is wrong)."""
    if type not in KINDS:
        raise BadRequest(f"evaluator {name!r}: type must be one of {', '.join(KINDS)}")
    operator = config.get("operator")
    value = config.get("value")
    value = None if value is None else str(value)
    if type == "text":
        if operator not in TEXT_OPERATORS:
            raise BadRequest(
                f"evaluator {name!r}: a text operator is one of {', '.join(TEXT_OPERATORS)}"
            )
        if operator not in EXPECTED_OPERATORS and not value:
            raise BadRequest(f"evaluator {name!r}: {operator} needs a value")
        if operator == "Regex":
            try:
                re.compile(value or "")
            except re.error as exc:
                raise BadRequest(f"evaluator {name!r}: the regular expression: {exc}") from None
    elif type == "json":
        if operator not in JSON_OPERATORS:
            raise BadRequest(
                f"evaluator {name!r}: a json operator is one of {', '.join(JSON_OPERATORS)}"
            )
        if operator == "MatchesSchema":
            _schema(name, value)
    elif type == "numeric":
        if config.get("measure") not in MEASURES:
            raise BadRequest(f"evaluator {name!r}: measure is one of {', '.join(MEASURES)}")
        if operator not in NUMERIC_OPERATORS:
            raise BadRequest(
                f"evaluator {name!r}: a numeric operator is one of {', '.join(NUMERIC_OPERATORS)}"
            )
        if _number(value) is None:
            raise BadRequest(f"evaluator {name!r}: value must be a number")
    elif type == "similarity":
        threshold = _number(value) if value is not None else DEFAULT_SIMILARITY
        if threshold is None or not 0 <= threshold <= 1:
            raise BadRequest(f"evaluator {name!r}: the threshold is a number from 0 to 1")
    elif type == "llm":
        model = config.get("model")
        if model is not None and not (isinstance(model, dict) and model.get("name")):
            raise BadRequest(f"evaluator {name!r}: model is a chat model node: {{name, inputs}}")
        prompt = config.get("prompt")
        if prompt:
            for needed in ("{answer}",):
                if needed not in prompt:
                    raise BadRequest(f"evaluator {name!r}: the prompt must contain {needed}")
    return Spec(
        name=name,
        type=cast(Kind, type),  # one of KINDS, checked above
        operator=operator,
        value=value,
        measure=config.get("measure"),
        prompt=config.get("prompt") or None,
        rubric=config.get("rubric") or None,
        model=config.get("model"),
        id=id,
    )


def builtin(ref: str) -> Spec | None:
    """A builtin evaluator by its short name: ``exact``, ``contains``,
    ``not-contains[:A,B]``, ``contains-any:A,B``, ``contains-all:A,B``,
    ``starts-with:A``, ``regex:PATTERN``, ``json``, ``json-schema:SCHEMA``,
    ``similarity[:0.8]``, ``latency<MS``, ``tokens<N``, ``cost<USD``, ``length<N``,
    ``judge[:RUBRIC]``. None when the reference is none of them."""
    head, sep, arg = ref.partition(":")
    text = {
        "contains-any": "ContainsAny",
        "contains-all": "ContainsAll",
        "not-contains-any": "DoesNotContainAny",
        "starts-with": "StartsWith",
        "regex": "Regex",
    }
    if head == "exact" and not sep:
        return spec_from(ref, "text", {"operator": "ExactMatch"})
    if head == "contains" and not sep:
        return spec_from(ref, "text", {"operator": "Contains"})
    if head == "not-contains":
        if sep:
            return spec_from(ref, "text", {"operator": "DoesNotContainAny", "value": arg})
        return spec_from(ref, "text", {"operator": "NotContains"})
    if head in text and sep:
        return spec_from(ref, "text", {"operator": text[head], "value": arg})
    if head == "json" and not sep:
        return spec_from(ref, "json", {"operator": "IsValidJSON"})
    if head == "json-schema" and sep:
        return spec_from(ref, "json", {"operator": "MatchesSchema", "value": arg})
    if head == "similarity":
        return spec_from(ref, "similarity", {"value": arg} if sep else {})
    if head == "judge":
        return spec_from(ref, "llm", {"rubric": arg} if sep else {})
    m = re.fullmatch(r"([a-z-]+)\s*(<=|>=|!=|==|<|>|=)\s*([0-9.eE+-]+)", ref.strip())
    if m and m.group(1) in _MEASURE_NAMES:
        return spec_from(
            ref,
            "numeric",
            {
                "measure": _MEASURE_NAMES[m.group(1)],
                "operator": _SIGNS[m.group(2)],
                "value": m.group(3),
            },
        )
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _schema(name: str, value: str | None) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        schema = orjson.loads(value or "")
        Draft202012Validator.check_schema(schema)
    except (orjson.JSONDecodeError, SchemaError) as exc:
        raise BadRequest(f"evaluator {name!r}: the JSON Schema: {exc}") from None
    if not isinstance(schema, dict):
        raise BadRequest(f"evaluator {name!r}: the JSON Schema must be an object")
    return schema


def _values(value: str | None) -> list[str]:
    return [v.strip().lower() for v in (value or "").split(",") if v.strip()]


def _fraction(hits: int, of: int) -> float:
    return hits / of if of else 1.0


def check_text(spec: Spec, row: Answered) -> Verdict:
    """Text checks, case-insensitive (as Flowise's): the share of values found is the
    score of the ``All``/``Any`` operators."""
    answer = row.answer.strip().lower()
    op = spec.operator
    if op in EXPECTED_OPERATORS:
        if not (row.expected or "").strip():
            return Verdict(spec.name, spec.type, "Error", None, "the row has no expected answer")
        expected = (row.expected or "").strip().lower()
        if op == "ExactMatch":
            ok = answer == expected
        elif op == "Contains":
            ok = expected in answer
        else:
            ok = expected not in answer
        return _verdict(spec, ok, 1.0 if ok else 0.0)
    if op == "Regex":
        from canvasflow.sandbox.regex import search

        try:
            ok = search(spec.value or "", row.answer)
        except Exception as exc:  # a pattern that takes too long
            return Verdict(spec.name, spec.type, "Error", None, str(exc))
        return _verdict(spec, ok, 1.0 if ok else 0.0)
    if op in ("StartsWith", "NotStartsWith"):
        starts = answer.startswith((spec.value or "").strip().lower())
        ok = starts if op == "StartsWith" else not starts
        return _verdict(spec, ok, 1.0 if ok else 0.0)
    values = _values(spec.value)
    found = sum(v in answer for v in values)
    if op == "ContainsAny":
        ok, score = found > 0, min(1.0, float(found))
    elif op == "ContainsAll":
        ok, score = found == len(values), _fraction(found, len(values))
    elif op == "DoesNotContainAny":
        ok, score = found == 0, 1.0 - _fraction(found, len(values))
    else:  # DoesNotContainAll
        ok = found < len(values)
        score = 1.0 if ok else 0.0
    return _verdict(spec, ok, score, f"{found} of {len(values)} found")


def check_json(spec: Spec, row: Answered) -> Verdict:
    try:
        parsed = orjson.loads(_unfenced(row.answer))
        valid = True
    except orjson.JSONDecodeError as exc:
        parsed, valid, reason = None, False, str(exc)
    if spec.operator == "IsValidJSON":
        return _verdict(spec, valid, 1.0 if valid else 0.0, None if valid else reason)
    if spec.operator == "IsNotValidJSON":
        return _verdict(spec, not valid, 0.0 if valid else 1.0)
    if not valid:
        return _verdict(spec, False, 0.0, f"not JSON: {reason}")
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_schema(spec.name, spec.value))
    errors = sorted(validator.iter_errors(parsed), key=lambda e: list(e.path))
    if not errors:
        return _verdict(spec, True, 1.0)
    where = "/".join(str(p) for p in errors[0].path) or "(the root)"
    return _verdict(spec, False, 0.0, f"{where}: {errors[0].message}")


def _unfenced(text: str) -> str:
    """A JSON answer inside a Markdown code fence, as models often write it."""
    stripped = text.strip()
    m = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.S)
    return m.group(1) if m else stripped


def check_numeric(spec: Spec, row: Answered) -> Verdict:
    measured = row.measure(spec.measure or "")
    if measured is None:
        return Verdict(spec.name, spec.type, "Error", None, f"no {spec.measure} for this row")
    limit = _number(spec.value) or 0.0
    ok = NUMERIC_OPERATORS[spec.operator or "equals"](measured, limit)
    return _verdict(spec, ok, 1.0 if ok else 0.0, f"{spec.measure} {measured:g}")


def cosine(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm else 0.0


def similarity_verdict(spec: Spec, score: float) -> Verdict:
    threshold = _number(spec.value) if spec.value is not None else DEFAULT_SIMILARITY
    score = max(0.0, min(1.0, score))
    return _verdict(spec, score >= (threshold or 0.0), round(score, 4), f"similarity {score:.3f}")


def judge_prompt(spec: Spec, row: Answered) -> str:
    template = spec.prompt or JUDGE_PROMPT
    values = {
        "rubric": spec.rubric or DEFAULT_RUBRIC,
        "question": row.question,
        "expected": row.expected or "",
        "answer": row.answer,
    }
    # only the four placeholders are filled; any other brace is the author's text
    return re.sub(
        r"\{(rubric|question|expected|answer)\}|\{\{|\}\}",
        lambda m: values[m.group(1)] if m.group(1) else m.group(0)[0],
        template,
    )


def judge_verdict(spec: Spec, text: str) -> Verdict:
    """The judge's reply read: a JSON object with ``score`` and ``pass`` (or a score
    alone, passing at 0.5). Anything else is an error that keeps the judge's text."""
    m = re.search(r"\{.*\}", text, re.S)
    try:
        data = orjson.loads(m.group(0)) if m else None
    except orjson.JSONDecodeError:
        data = None
    score = _number(data.get("score")) if isinstance(data, dict) else None
    if score is None or not 0 <= score <= 1:
        return Verdict(spec.name, spec.type, "Error", None, f"the judge answered: {text[:2000]}")
    said = data.get("pass") if isinstance(data, dict) else None
    ok = said if isinstance(said, bool) else score >= 0.5
    reason = data.get("reason") if isinstance(data, dict) else None
    return _verdict(spec, ok, score, str(reason)[:1000] if reason else None)


def _verdict(spec: Spec, ok: bool, score: float, detail: str | None = None) -> Verdict:
    return Verdict(spec.name, spec.type, "Pass" if ok else "Fail", round(score, 4), detail)


def check_plain(spec: Spec, row: Answered) -> Verdict:
    """The evaluators that need nothing but the row (text, JSON, numbers)."""
    if spec.type == "text":
        return check_text(spec, row)
    if spec.type == "json":
        return check_json(spec, row)
    return check_numeric(spec, row)
