"""Typed handles on the store's tables, for the Core statements the hot paths use
(SQLAlchemy types a mapped class's ``__table__`` as the general ``FromClause``)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import CursorResult, Result

from canvasflow.store.models import ChatMessage, DocumentChunk, Execution

MESSAGES = cast(Table, ChatMessage.__table__)
EXECUTIONS = cast(Table, Execution.__table__)
CHUNKS = cast(Table, DocumentChunk.__table__)


def rowcount(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched (its result is a cursor's)."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)
