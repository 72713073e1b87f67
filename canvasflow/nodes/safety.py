"""Input moderation and output parsers."""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.errors import OutputInvalid, Refused
from canvasflow.runtime.node import Input, Node, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext


class DenyList:
    def __init__(self, words: list[str], message: str) -> None:
        self.words = [w.lower() for w in words if w]
        self.message = message

    def check(self, text: str) -> None:
        low = text.lower()
        if any(w in low for w in self.words):
            raise Refused(self.message)


@register
class InputModerationSimple(Node):
    name = "inputModerationSimple"
    label = "Simple Prompt Moderation"
    category = "Moderation"
    base_classes = ("Moderation",)
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> DenyList:
        words = [w.strip() for w in re.split(r"[\n,]", str(self.get("denyList"))) if w.strip()]
        return DenyList(words, str(self.get("moderationErrorMessage")))


def moderate(moderations: Any, question: str) -> None:
    """Raise (a ``moderation`` error) if any moderation refuses the question."""
    for m in moderations if isinstance(moderations, list) else [moderations]:
        if m is not None:
            m.check(question)


class OutputParser:
    instructions = ""

    def parse(self, text: str) -> Any:
        raise NotImplementedError


class CSVParser(OutputParser):
    instructions = "Answer with a comma-separated list of values and nothing else."

    def parse(self, text: str) -> list[str]:
        row = next(csv.reader(io.StringIO(text.strip().replace("\n", ","))), [])
        return [v.strip() for v in row if v.strip()]


class StructuredParser(OutputParser):
    def __init__(self, fields: list[dict[str, Any]]) -> None:
        self.fields = fields
        described = ", ".join(
            f'"{f["property"]}" ({f.get("type", "string")}: {f.get("description", "")})'
            for f in fields
        )
        self.instructions = (
            f"Answer with one JSON object and nothing else, with the keys {described}."
        )

    def parse(self, text: str) -> dict[str, Any]:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            raise OutputInvalid("the model's answer holds no JSON object")
        try:
            value = orjson.loads(text[start : end + 1])
        except orjson.JSONDecodeError as exc:
            raise OutputInvalid(f"the model's JSON does not parse: {exc}") from None
        return {f["property"]: value.get(f["property"]) for f in self.fields}


@register
class CSVOutputParser(Node):
    name = "csvOutputParser"
    label = "CSV Output Parser"
    category = "Output Parsers"
    base_classes = ("CSVListOutputParser", "BaseLLMOutputParser", "Runnable")
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> OutputParser:
        return CSVParser()


@register
class StructuredOutputParser(Node):
    name = "structuredOutputParser"
    label = "Structured Output Parser"
    category = "Output Parsers"
    base_classes = ("StructuredOutputParser", "BaseLLMOutputParser", "Runnable")
    inputs = flowise_inputs(
        name,
        Input(
            "jsonStructure",
            "datagrid",
            default=[
                {"property": "answer", "type": "string", "description": "answer to the question"}
            ],
        ),
    )

    async def build(self, ctx: RunContext) -> OutputParser:
        raw = self.get("jsonStructure")
        fields = orjson.loads(raw) if isinstance(raw, str) else raw
        return StructuredParser(list(fields or []))
