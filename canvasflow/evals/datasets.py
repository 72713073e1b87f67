"""Dataset files: CSV and JSON Lines read into rows, and rows written back.

A row is a question (``question``, or Flowise's ``input``; the first column of a CSV
without these names), the answer expected (``expected``, Flowise's ``output``; the
second column), optionally an agentflow's ``form`` and the ``history`` before it (JSON),
and any other column as metadata. A bad row is named with its line and reason; the
others are read.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import orjson

QUESTION = ("question", "input")
EXPECTED = ("expected", "output", "expected_output", "expectedOutput", "answer")
MAX_INPUT = 100_000


@dataclass
class Problem:
    line: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


def _history(value: Any) -> list[dict[str, str]] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = orjson.loads(value)
    if not isinstance(value, list):
        raise ValueError("history must be a list of {role, content}")
    out = []
    for turn in value:
        if not isinstance(turn, dict) or not isinstance(turn.get("content"), str):
            raise ValueError("history must be a list of {role, content}")
        role = {"userMessage": "user", "apiMessage": "assistant"}.get(
            str(turn.get("role") or turn.get("type")), str(turn.get("role") or "user")
        )
        if role not in ("user", "assistant", "system"):
            raise ValueError(f"history: unknown role {role!r}")
        out.append({"role": role, "content": turn["content"]})
    return out


def _form(value: Any) -> dict[str, Any] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = orjson.loads(value)
    if not isinstance(value, dict):
        raise ValueError("form must be a JSON object")
    return value


def row_from(data: dict[str, Any]) -> dict[str, Any]:
    """One row's columns from a mapping of its fields (ValueError naming the fault)."""
    question = next((data[k] for k in QUESTION if data.get(k) not in (None, "")), None)
    expected = next((data[k] for k in EXPECTED if data.get(k) not in (None, "")), None)
    try:
        form = _form(data.get("form"))
        history = _history(data.get("history"))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if question is None and form is None:
        raise ValueError("no question (a 'question' or 'input' column, or a 'form')")
    if question is not None and not isinstance(question, str):
        question = orjson.dumps(question).decode()
    if expected is not None and not isinstance(expected, str):
        expected = orjson.dumps(expected).decode()
    if len(question or "") > MAX_INPUT:
        raise ValueError(f"the question is longer than {MAX_INPUT} characters")
    if "\x00" in (question or "") + (expected or ""):
        raise ValueError("a NUL character")
    known = {*QUESTION, *EXPECTED, "form", "history"}
    meta = {k: v for k, v in data.items() if k not in known and v not in (None, "")}
    given = data.get("metadata")
    if isinstance(given, str) and given.startswith("{"):
        try:
            given = orjson.loads(given)
        except orjson.JSONDecodeError:
            pass
    if isinstance(given, dict):
        meta = {**{k: v for k, v in meta.items() if k != "metadata"}, **given}
    return {
        "input": question or "",
        "output": expected,
        "form": form,
        "history": history,
        "meta": meta or None,
    }


def read_csv(text: str, first_row_headers: bool | None = None) -> tuple[list[dict], list[Problem]]:
    """Rows of a CSV. Its first row names the columns when it has ``question`` or
    ``input`` among them (or when told so); else the columns are question, expected."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        first = next(reader)
    except StopIteration:
        return rows, problems
    except csv.Error as exc:
        return rows, [Problem(1, str(exc))]
    named = [c.strip() for c in first]
    has_header = (
        first_row_headers
        if first_row_headers is not None
        else any(c in QUESTION or c in ("form",) for c in named)
    )
    header = named if has_header else ["question", "expected"]
    pending = [] if has_header else [(1, first)]
    line = 1
    try:
        for cells in reader:
            line = reader.line_num
            pending.append((line, cells))
    except csv.Error as exc:
        problems.append(Problem(line + 1, f"not CSV: {exc}"))
    for line, cells in pending:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and has_header:
            problems.append(Problem(line, f"{len(cells)} cells, the header has {len(header)}"))
            continue
        try:
            rows.append(row_from(dict(zip(header, cells, strict=False))))
        except ValueError as exc:
            problems.append(Problem(line, str(exc)))
    return rows, problems


def read_jsonl(text: str) -> tuple[list[dict], list[Problem]]:
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append(Problem(line, f"not JSON: {exc}"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(line, "not a JSON object"))
            continue
        try:
            rows.append(row_from(data))
        except ValueError as exc:
            problems.append(Problem(line, str(exc)))
    return rows, problems


def read(text: str, kind: str, first_row_headers: bool | None = None) -> tuple[list, list]:
    """Rows of a file's text: ``csv`` or ``jsonl`` (``json``: one array of objects)."""
    if kind == "jsonl":
        return read_jsonl(text)
    if kind == "json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return [], [Problem(1, f"not JSON: {exc}")]
        if not isinstance(data, list):
            return [], [Problem(1, "a JSON dataset is an array of objects")]
        return read_jsonl("\n".join(orjson.dumps(d).decode() for d in data))
    return read_csv(text, first_row_headers)


def kind_of(filename: str) -> str:
    lower = filename.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lower.endswith(".json"):
        return "json"
    return "csv"


def data_uri_text(value: str) -> str:
    """Flowise's ``csvFile``: a data URI (``data:text/csv;base64,...``) or plain text."""
    if value.startswith("data:") and "," in value:
        head, _, payload = value.partition(",")
        raw = base64.b64decode(payload) if ";base64" in head else payload.encode()
        return raw.decode("utf-8-sig")
    return value


def write_jsonl(rows: list[Any]) -> str:
    return "".join(orjson.dumps(_plain(r)).decode() + "\n" for r in rows)


def write_csv(rows: list[Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["question", "expected", "form", "history", "metadata"])
    for r in rows:
        w.writerow(
            [
                r.input,
                r.output or "",
                orjson.dumps(r.form).decode() if r.form else "",
                orjson.dumps(r.history).decode() if r.history else "",
                orjson.dumps(r.meta).decode() if r.meta else "",
            ]
        )
    return out.getvalue()


def _plain(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"question": r.input}
    if r.output is not None:
        out["expected"] = r.output
    if r.form:
        out["form"] = r.form
    if r.history:
        out["history"] = r.history
    if r.meta:
        out["metadata"] = r.meta
    return out


def digest(r: Any) -> str:
    """What a row asks and expects, hashed: a run tells by it which rows changed."""
    body = orjson.dumps([r.input, r.output, r.form, r.history], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:16]


def slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:80] or "dataset"
