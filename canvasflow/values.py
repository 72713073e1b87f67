"""Reading the loosely typed values of canvases and requests (Flowise stores numbers and
booleans as strings as often as not)."""

from __future__ import annotations

from typing import Any

import orjson


def to_float(value: Any, default: float | None = None) -> float | None:
    if value is None or value == "":
        return default
    return float(value)


def to_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    return int(float(value))


def to_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def json_setting(value: Any) -> Any:
    """A setting Flowise keeps as a JSON string and canvasflow as an object: either (None
    for a string that is not JSON)."""
    if isinstance(value, str) and value.strip():
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value
