"""The advanced structured output parser: Flowise's zod-style description of the answer
(``z.object({ title: z.string(), ... })``) read as a JSON Schema, given to the model,
and its answer checked against it. The zod text is parsed, never run."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.errors import CanvasInvalid, OutputInvalid
from canvasflow.nodes.safety import OutputParser
from canvasflow.runtime.node import Input, Node, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Schema = dict[str, Any]


class ZodError(ValueError):
    pass


class _Reader:
    """A recursive-descent reader of zod expressions: ``z.base(args)`` then
    ``.modifier(args)``s; a ``// comment`` after an object property describes it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def error(self, what: str) -> ZodError:
        line = self.text.count("\n", 0, self.i) + 1
        return ZodError(f"{what} at line {line}: {self.text[self.i : self.i + 30]!r}")

    def skip(self, comments: bool = True) -> None:
        while self.i < len(self.text):
            if self.text[self.i].isspace():
                self.i += 1
            elif comments and self.text.startswith("//", self.i):
                end = self.text.find("\n", self.i)
                self.i = len(self.text) if end < 0 else end
            elif comments and self.text.startswith("/*", self.i):
                end = self.text.find("*/", self.i)
                self.i = len(self.text) if end < 0 else end + 2
            else:
                break

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.i)

    def expect(self, token: str) -> None:
        if not self.peek(token):
            raise self.error(f"expected {token!r}")
        self.i += len(token)

    def name(self) -> str:
        self.skip()
        m = re.compile(r"[A-Za-z_$][\w$]*").match(self.text, self.i)
        if m is None:
            m = re.compile(r"\"[^\"]*\"|'[^']*'").match(self.text, self.i)
            if m is None:
                raise self.error("expected a name")
            self.i = m.end()
            return m.group()[1:-1]
        self.i = m.end()
        return m.group()

    def literal(self) -> Any:
        self.skip()
        m = re.compile(
            r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|true|false|null"
        ).match(self.text, self.i)
        if m is None:
            raise self.error("expected a value")
        self.i = m.end()
        raw = m.group()
        if raw[0] in "'\"":
            return raw[1:-1]
        return orjson.loads(raw)

    def args(self) -> list[Any]:
        """A call's arguments: zod expressions, literals, [lists] or {objects}."""
        self.expect("(")
        out: list[Any] = []
        while not self.peek(")"):
            out.append(self.value())
            if not self.peek(")"):
                self.expect(",")
        self.expect(")")
        return out

    def value(self) -> Any:
        if self.peek("z."):
            return self.schema()
        if self.peek("["):
            self.expect("[")
            items = []
            while not self.peek("]"):
                items.append(self.value())
                if not self.peek("]"):
                    self.expect(",")
            self.expect("]")
            return items
        if self.peek("{"):
            return self.shape()
        return self.literal()

    def shape(self) -> dict[str, Schema]:
        self.expect("{")
        props: dict[str, Schema] = {}
        while not self.peek("}"):
            key = self.name()
            self.expect(":")
            props[key] = self.schema()
            if self.peek(","):
                self.expect(",")
            self.skip(comments=False)
            while self.text.startswith((" ", "\t"), self.i):
                self.i += 1
            if self.text.startswith("//", self.i):  # a comment on the property's line
                end = self.text.find("\n", self.i)
                end = len(self.text) if end < 0 else end
                note = self.text[self.i + 2 : end].strip()
                props[key].setdefault("description", note)
                self.i = end
        self.expect("}")
        return props

    def schema(self) -> Schema:
        self.expect("z.")
        base = self.name()
        args = self.args()
        out = _base(base, args, self)
        while self.peek("."):
            self.expect(".")
            mod = self.name()
            out = _modify(out, mod, self.args(), self)
        return out


def _base(name: str, args: list[Any], r: _Reader) -> Schema:
    if name in ("string", "date", "coerce"):
        return {"type": "string"}
    if name in ("number", "bigint"):
        return {"type": "number"}
    if name == "boolean":
        return {"type": "boolean"}
    if name == "null":
        return {"type": "null"}
    if name in ("any", "unknown"):
        return {}
    if name == "literal" and args:
        return {"const": args[0]}
    if name in ("enum", "nativeEnum") and args and isinstance(args[0], list):
        return {"type": "string", "enum": [str(a) for a in args[0]]}
    if name == "array" and args:
        return {"type": "array", "items": args[0]}
    if name in ("object", "strictObject") and args and isinstance(args[0], dict):
        props = args[0]
        required = [k for k, v in props.items() if not v.pop("_optional", False)]
        return {"type": "object", "properties": props, "required": required}
    if name == "record" and args:
        return {"type": "object", "additionalProperties": args[-1]}
    if name == "union" and args and isinstance(args[0], list):
        return {"anyOf": args[0]}
    if name == "optional" and args:
        return {**args[0], "_optional": True}
    raise r.error(f"zod type z.{name}() is not supported")


def _modify(schema: Schema, name: str, args: list[Any], r: _Reader) -> Schema:
    kind = schema.get("type")
    if name == "optional" or name == "nullish":
        return {**schema, "_optional": True}
    if name == "nullable":
        return {"anyOf": [schema, {"type": "null"}]}
    if name == "array":
        return {"type": "array", "items": schema}
    if name == "describe" and args:
        return {**schema, "description": str(args[0])}
    if name == "default" and args:
        return {**schema, "default": args[0], "_optional": True}
    if name == "int":
        return {**schema, "type": "integer"}
    if name in ("max", "min", "length") and args and isinstance(args[0], int | float):
        n = args[0]
        if kind == "array":
            key = {"max": "maxItems", "min": "minItems", "length": "maxItems"}[name]
        elif kind == "string":
            key = {"max": "maxLength", "min": "minLength", "length": "maxLength"}[name]
        else:
            key = {"max": "maximum", "min": "minimum", "length": "maximum"}[name]
        return {**schema, key: n}
    if name in ("positive", "nonnegative"):
        return {**schema, "minimum": 0}
    if name == "nonempty":
        return {**schema, "minItems" if kind == "array" else "minLength": 1}
    if name in ("email", "url", "uuid", "datetime", "trim", "finite", "strict", "passthrough"):
        return schema
    raise r.error(f"zod method .{name}() is not supported")


def zod_to_schema(text: str) -> Schema:
    """A JSON Schema from Flowise's zod text (raises :class:`ZodError` naming where)."""
    reader = _Reader(text.strip().rstrip(";"))
    schema = reader.schema()
    reader.skip()
    if reader.i != len(reader.text):
        raise reader.error("unexpected text after the schema")
    schema.pop("_optional", None)
    return schema


def mismatch(value: Any, schema: Schema, where: str = "answer") -> str | None:
    """Why a value does not match the schema (types, enums, required keys, sizes), or None."""
    kinds = {
        "string": str,
        "integer": int,
        "number": int | float,
        "boolean": bool,
        "array": list,
        "object": dict,
        "null": type(None),
    }
    if "anyOf" in schema:
        if all(mismatch(value, s, where) for s in schema["anyOf"]):
            return f"{where} matches none of its allowed forms"
        return None
    kind = schema.get("type")
    if kind in kinds and (
        not isinstance(value, kinds[kind]) or (kind != "boolean" and isinstance(value, bool))
    ):
        return f"{where} should be {kind}, not {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} should be one of {schema['enum']}, not {value!r}"
    if "const" in schema and value != schema["const"]:
        return f"{where} should be {schema['const']!r}"
    if kind == "array":
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where} has more than {schema['maxItems']} items"
        for i, item in enumerate(value):
            why = mismatch(item, schema.get("items") or {}, f"{where}[{i}]")
            if why:
                return why
    if kind == "object":
        for key in schema.get("required", []):
            if key not in value:
                return f"{where} lacks {key!r}"
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                why = mismatch(value[key], sub, f"{where}.{key}")
                if why:
                    return why
    return None


class SchemaParser(OutputParser):
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.instructions = (
            "Answer with JSON that matches this JSON schema, and nothing else: "
            + orjson.dumps(schema).decode()
        )

    def parse(self, text: str) -> Any:
        cleaned = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
        starts = [i for i in (cleaned.find("{"), cleaned.find("[")) if i >= 0]
        if not starts:
            raise OutputInvalid("the model's answer holds no JSON")
        start = min(starts)
        end = cleaned.rfind("}" if cleaned[start] == "{" else "]")
        try:
            value = orjson.loads(cleaned[start : end + 1])
        except orjson.JSONDecodeError as exc:
            raise OutputInvalid(f"the model's JSON does not parse: {exc}") from None
        why = mismatch(value, self.schema)
        if why:
            raise OutputInvalid(f"the model's JSON does not match the schema: {why}")
        return value


@register
class AdvancedStructuredOutputParser(Node):
    name = "advancedStructuredOutputParser"
    label = "Advanced Structured Output Parser"
    category = "Output Parsers"
    description = "The answer as JSON described by a zod schema"
    base_classes = ("AdvancedStructuredOutputParser", "BaseLLMOutputParser", "Runnable")
    inputs = flowise_inputs(
        name,
        Input(
            "exampleJson",
            "string",
            default="z.object({\n  title: z.string(), // the title\n  score: z.number()\n})",
            rows=10,
        ),
    )

    async def build(self, ctx: RunContext) -> OutputParser:
        try:
            return SchemaParser(zod_to_schema(str(self.get("exampleJson"))))
        except ZodError as exc:
            raise CanvasInvalid(
                f"node {self.id} (advancedStructuredOutputParser): {exc}", code="bad_input"
            ) from None
