"""The CSV agent: questions about a table. The model sees the columns and the first
rows and writes JavaScript over ``$rows`` (Flowise's agent writes pandas for Pyodide);
that code runs in the V8 sandbox, never in the server, and the model answers from its
result. ``customReadCSV`` (pandas options) does not apply here."""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.errors import InputInvalid, RunFailed
from canvasflow.events import Event, step
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Usage, complete
from canvasflow.nodes.chains import stream_answer
from canvasflow.nodes.documents import decode_files
from canvasflow.nodes.safety import moderate
from canvasflow.runtime.node import Input, Node, flowise_inputs, register
from canvasflow.sandbox import SandboxError, run_js

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

MAX_ROWS = 100_000
CODE_PROMPT = """You are working with a table of {count} rows in the JavaScript array \
`$rows`: one object per row, keyed by column. Columns: {columns}.
The first rows:
{head}

Write the body of an async JavaScript function that computes what answers the question \
from `$rows` and returns it (a number, a string, an array or an object). Answer with the \
code only.

Question: {question}
JavaScript:"""
ANSWER_PROMPT = """{system}

Question: {question}
The code that was run over the table:
{code}
Its result: {result}

Answer the question from the result."""


def typed(value: str) -> Any:
    """A CSV cell as a number when it reads as one."""
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return value


@functools.lru_cache(maxsize=8)
def read_rows(data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """A CSV file's columns and typed rows, parsed once per file (a canvas's file is the
    same on every prediction; callers only read them)."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig", "replace")))
    rows = []
    for i, row in enumerate(reader):
        if i >= MAX_ROWS:
            break
        rows.append({k: typed(v or "") for k, v in row.items() if k is not None})
    return list(reader.fieldnames or []), rows


def code_of(text: str) -> str:
    fenced = re.search(r"```(?:javascript|js)?\s*\n(.*?)```", text, re.S)
    return (fenced.group(1) if fenced else text).strip()


@register
class CSVAgent(Node):
    name = "csvAgent"
    label = "CSV Agent"
    category = "Agents"
    description = "Answers questions about a CSV file: the model's code runs in the sandbox"
    base_classes = ("AgentExecutor", "BaseChain", "Runnable")
    ending = True
    inputs = flowise_inputs(
        name,
        Input("systemMessagePrompt", "string", optional=True, rows=4),
        Input("customReadCSV", "code", optional=True),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        files = decode_files(self.get("csvFile"))
        columns: list[str] = []
        rows: list[dict[str, Any]] = []
        for _, data in files:  # several files: one table, their rows one after another
            cols, more = read_rows(data)
            columns += [c for c in cols if c not in columns]
            rows += more
        if not columns:
            raise InputInvalid("the CSV file has no header row", code="file_invalid")
        head = "\n".join(orjson.dumps(r).decode() for r in rows[:5])
        prompt = (
            CODE_PROMPT.replace("{count}", str(len(rows)))
            .replace("{columns}", ", ".join(columns))
            .replace("{head}", head)
            .replace("{question}", ctx.question)
        )
        used = Usage()
        code = code_of(await complete(model, prompt, used))
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        settings = ctx.settings
        try:
            result = await run_js(
                code,
                {"$rows": rows},
                fetch=_no_fetch,
                time_limit=settings.tool_timeout,
                memory_mb=max(settings.tool_memory_mb, 256),
            )
        except SandboxError as exc:
            result = f"error: {exc}"
        yield step("csv", "tool", code, result)
        if result.startswith("error: ") and not code:
            raise RunFailed("the model wrote no code", code="output_invalid")
        answer = (
            ANSWER_PROMPT.replace("{system}", str(self.get("systemMessagePrompt") or ""))
            .replace("{question}", ctx.question)
            .replace("{code}", code)
            .replace("{result}", result[:4000])
            .strip()
        )
        async for event in stream_answer(model, [{"role": "user", "content": answer}]):
            yield event


async def _no_fetch(url: str, init: dict[str, Any]) -> dict[str, Any]:
    raise SandboxError("the CSV agent's code cannot reach the network")
