"""Telling a database that cannot be reached from a query that failed: the first is an
outage (503 with Retry-After, writes kept and retried), the second an error."""

from __future__ import annotations

RETRY_AFTER = "5"


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable (refused, reset, gone, starting
    up or shutting down), rather than that a statement failed."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if isinstance(current, InterfaceError | OperationalError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        name = type(current).__name__
        if name in (
            "ConnectionDoesNotExistError",
            "CannotConnectNowError",
            "ConnectionFailureError",
            "AdminShutdownError",
            "CrashShutdownError",
            "InterfaceError",
        ):
            return True
        current = current.__cause__ or current.__context__
    return False
