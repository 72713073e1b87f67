"""What Flowise 3.1 calls its nodes (name, label, category), to explain a node that
canvasflow does not support and point at the closest one it does."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources

from canvasflow.nodes import REGISTRY, load_all


@cache
def flowise_nodes() -> dict[str, dict[str, str]]:
    text = resources.files("canvasflow.data").joinpath("flowise_nodes.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def closest_supported(name: str, category: str | None) -> str | None:
    load_all()
    same = [n for n, cls in REGISTRY.items() if category and cls.category == category]
    for pool in (same, list(REGISTRY)):
        match = difflib.get_close_matches(name, pool, n=1, cutoff=0.0)
        if match:
            return match[0]
    return None


def explain_unknown(node_id: str, name: str) -> str:
    info = flowise_nodes().get(name)
    if info is None:
        closest = closest_supported(name, None)
        hint = f"; did you mean {closest!r}?" if closest else ""
        return f"node {node_id}: unknown node {name!r}{hint}"
    category = info.get("category") or "Unknown"
    closest = closest_supported(name, category)
    hint = f"; the closest supported node is {closest!r}" if closest else ""
    return (
        f"node {node_id}: Flowise node {name!r} ({info.get('label') or name}, category "
        f"{category}) is not supported by canvasflow{hint}"
    )
