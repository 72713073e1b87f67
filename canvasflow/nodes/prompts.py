"""Prompt templates with ``{var}`` placeholders (``{{`` and ``}}`` for literal braces)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.models.base import Message
from canvasflow.runtime.node import Input, Node, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext
from canvasflow.runtime.template import fill_vars, fill_webhook

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_QUESTION_REF = re.compile(r"\{\{\s*question\s*\}\}")


@functools.lru_cache(maxsize=4096)
def variables(template: str) -> tuple[str, ...]:
    """The ``{name}`` placeholders of a template (a canvas's templates are the same
    strings request after request: read once)."""
    return tuple(m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1))


def fill(template: str, values: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name is None:
            return m.group(0)[0]
        if name in values:
            return str(values[name])
        return m.group(0)

    return _PLACEHOLDER.sub(sub, template)


def parse_values(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
    return dict(raw) if isinstance(raw, dict) else {}


@dataclass
class Prompt:
    """A prompt ready to turn a question into chat messages."""

    human: str
    system: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # once per prompt, not per question (new strings per request outlive a burst)
        self._names = variables(self.human) + variables(self.system or "")

    def _values(self, question: str, ctx: RunContext) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            if isinstance(value, str):
                value = fill_vars(_QUESTION_REF.sub(lambda _m: question, value), ctx.vars)
            out[key] = value
        for name in self._names:
            out.setdefault(name, ctx.vars.get(name, question))
        return out

    def messages(self, question: str, ctx: RunContext) -> list[Message]:
        values = self._values(question, ctx)
        out: list[Message] = []
        system, human = self.system, self.human
        if ctx.webhook is not None:  # a webhook's request: {{ $webhook.body.x }}
            system = fill_webhook(system, ctx.webhook) if system else system
            human = fill_webhook(human, ctx.webhook)
        variables = ctx.vars
        if variables:  # the global variables: {{ $vars.name }}
            system = fill_vars(system, variables) if system else system
            human = fill_vars(human, variables)
        if system:
            out.append({"role": "system", "content": fill(system, values)})
        out.append({"role": "user", "content": fill(human, values)})
        return out


@register
class PromptTemplate(Node):
    name = "promptTemplate"
    label = "Prompt Template"
    category = "Prompts"
    base_classes = ("PromptTemplate", "BaseStringPromptTemplate", "BasePromptTemplate", "Runnable")
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> Prompt:
        return Prompt(
            human=str(self.get("template")), values=parse_values(self.get("promptValues"))
        )


@register
class ChatPromptTemplate(Node):
    name = "chatPromptTemplate"
    label = "Chat Prompt Template"
    category = "Prompts"
    base_classes = (
        "ChatPromptTemplate",
        "BaseChatPromptTemplate",
        "BasePromptTemplate",
        "Runnable",
    )
    inputs = flowise_inputs(name, Input("messageHistory", "tabs", optional=True))

    async def build(self, ctx: RunContext) -> Prompt:
        return Prompt(
            human=str(self.get("humanMessagePrompt")),
            system=str(self.get("systemMessagePrompt") or "") or None,
            values=parse_values(self.get("promptValues")),
        )
