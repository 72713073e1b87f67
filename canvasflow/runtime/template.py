"""Flowise's agentflow variables, and its rich-text fields read as plain text.

Message fields come from a rich-text editor: ``<p>`` paragraphs, and mentions as
``<span class="variable" data-id="question">{{ question }}</span>``. They are read as
Flowise reads them: paragraphs become blank-line separated text, a mention its
``{{ ... }}`` text, entities are decoded; then every ``{{ name }}`` is replaced.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import orjson

_BLOCK = re.compile(r"</?(?:p|div|h[1-6]|ul|ol|pre|blockquote)(?:\s[^>]*)?>", re.I)
_BREAK = re.compile(r"<br\s*/?>", re.I)
_ITEM = re.compile(r"<li(?:\s[^>]*)?>", re.I)
_TAG = re.compile(r"<[^>]+>")
_VARIABLE = re.compile(r"\{\{\s*(.+?)\s*\}\}")


def html_to_text(value: str) -> str:
    """A rich-text field as plain text (plain text is returned as it is)."""
    if "<" not in value:
        return value
    text = _ITEM.sub("\n- ", _BREAK.sub("\n", value))
    blocks = (html.unescape(_TAG.sub("", part)).strip() for part in _BLOCK.split(text))
    return "\n\n".join(b for b in blocks if b)


def as_text(value: Any) -> str:
    """A value put into text: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


def dig(value: Any, path: list[str]) -> Any:
    for key in path:
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


Lookup = Callable[[str], Any]
MISSING = object()


def lookup_in(scope: Any, outputs: dict[str, dict[str, Any]]) -> Lookup:
    """How a ``{{ name }}`` is found: a name of the scope (``question``, ``$flow``,
    ``$vars``, ``$form``, ``$iteration``, ``output``...), with a dotted path into it, or
    a node id (its output's content, or ``nodeId.output.path`` into its output)."""

    def find(name: str) -> Any:
        head, *path = name.split(".")
        value = scope.get(head, MISSING)  # a dict, or anything with get(name, default)
        if value is not MISSING:
            return dig(value, path) if path else value
        if head in outputs:
            output = outputs[head]
            if not path:
                return output.get("content", output)
            if path[0] == "output":
                path = path[1:]
            return dig(output, path) if path else output.get("content", output)
        return MISSING

    return find


def render(value: Any, find: Lookup) -> str:
    """A field with its variables replaced; unknown names are left as written."""
    if value is None:
        return ""
    text = html_to_text(value) if isinstance(value, str) else as_text(value)
    if "{{" not in text:
        return text

    def replace(m: re.Match[str]) -> str:
        found = find(m.group(1).strip())
        return m.group(0) if found is MISSING else as_text(found)

    return _VARIABLE.sub(replace, text)


# a webhook's request in a prompt or a template: {{ $webhook.body.x }}
_WEBHOOK_REF = re.compile(r"\{\{\s*\$webhook\.([A-Za-z0-9_.\-\[\]]+)\s*\}\}")


def fill_webhook(text: str, payload: dict[str, Any] | None) -> str:
    """``{{ $webhook.body.x }}`` (and ``query``, ``headers``, ``method``) replaced."""
    if payload is None or "$webhook" not in text:
        return text

    def value(m: re.Match[str]) -> str:
        path = m.group(1).replace("[", ".").replace("]", "")
        return as_text(dig(payload, [key for key in path.split(".") if key]))

    return _WEBHOOK_REF.sub(value, text)


# a global variable in a chatflow's prompt or a prompt's values: {{ $vars.name }}
_VARS_REF = re.compile(r"\{\{\s*\$vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def fill_vars(text: str, variables: dict[str, Any]) -> str:
    """``{{ $vars.name }}`` replaced by the variable's value (an unknown one is left as it
    is written, so a typo shows in the answer rather than vanishing)."""
    if "$vars" not in text:
        return text
    return _VARS_REF.sub(
        lambda m: as_text(variables[m.group(1)]) if m.group(1) in variables else m.group(0),
        text,
    )
