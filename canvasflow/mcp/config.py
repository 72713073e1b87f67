"""A canvas's MCP server configuration (Flowise's ``mcpServerConfig``: enabled, tool name,
description, token), kept in the canvas's settings under ``mcpServer``. The token is
stored as its SHA-256 only: shown once when made or rotated, never read back."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from canvasflow.store.models import Canvas

KEY = "mcpServer"
_NAME = re.compile(r"[^a-z0-9_-]+")


def new_token() -> str:
    """128 random bits as 32 hex characters (Flowise's form)."""
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def config_of(canvas: Canvas) -> dict[str, Any]:
    value = (canvas.settings or {}).get(KEY)
    return dict(value) if isinstance(value, dict) else {}


def enabled(canvas: Canvas) -> bool:
    cfg = config_of(canvas)
    return bool(cfg.get("enabled")) and bool(cfg.get("tokenHash"))


def token_matches(canvas: Canvas, token: str | None) -> bool:
    stored = config_of(canvas).get("tokenHash")
    if not token or not stored:
        return False
    return hmac.compare_digest(token_hash(token), str(stored))


def default_tool_name(canvas: Canvas) -> str:
    name = _NAME.sub("_", (canvas.name or canvas.slug or "").lower()).strip("_")
    return re.sub("_+", "_", name)[:64] or "canvas_tool"


def tool_name(canvas: Canvas) -> str:
    return str(config_of(canvas).get("toolName") or default_tool_name(canvas))


def tool_description(canvas: Canvas) -> str:
    return str(config_of(canvas).get("description") or f'Ask the "{canvas.name}" canvas')


def keep_mcp_token(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """Settings written by a client: its ``mcpServer`` may change ``enabled``, the tool's
    name and description; the token's hash stays the stored one (or none)."""
    given = new.get(KEY)
    stored = (old or {}).get(KEY)
    kept = dict(stored) if isinstance(stored, dict) else {}
    if isinstance(given, dict):
        kept.update({k: given[k] for k in ("enabled", "toolName", "description") if k in given})
    out = dict(new)
    if kept:
        out[KEY] = kept
    else:
        out.pop(KEY, None)
    return out
