"""Persistence: SQLAlchemy models, Alembic migrations, and the Store."""

from canvasflow.store.repo import Conflict, HistoryFilter, Store

__all__ = ["Conflict", "HistoryFilter", "Store"]
