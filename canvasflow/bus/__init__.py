"""Event logs and abort signals shared between the engine and the server.

Backends register under URL schemes; :func:`create_bus` picks one from the settings
(no URL: the in-process bus). A new backend is one module in this package with a
``Bus`` subclass decorated with :func:`backend`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from canvasflow.bus.base import Bus, EventLog, EventsExpired

if TYPE_CHECKING:
    from canvasflow.config import Settings

BACKENDS: dict[str, Callable[[Settings], Bus]] = {}


def backend(*schemes: str) -> Callable[[type[Bus]], type[Bus]]:
    """Register a bus class (with a ``from_settings`` classmethod) for URL schemes."""

    def register(cls: type[Bus]) -> type[Bus]:
        for scheme in schemes:
            BACKENDS[scheme] = cls.from_settings  # type: ignore[attr-defined]  # set by the decorator on the backend class
        return cls

    return register


def create_bus(settings: Settings) -> Bus:
    missing: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name not in ("base", "keys"):
            try:
                importlib.import_module(f"{__name__}.{info.name}")
            except ImportError as exc:  # a backend whose library is an extra not installed
                missing[info.name] = exc.name or str(exc)
    url = settings.redis_url
    scheme = urlsplit(url).scheme if url else "memory"
    factory = BACKENDS.get(scheme)
    if factory is None:
        if scheme in ("redis", "rediss", "unix") and "redis" in missing:
            raise ValueError("REDIS_URL needs canvasflow[redis]: pip install 'canvasflow[redis]'")
        raise ValueError(f"no event-bus backend for {scheme!r} URLs (have: {sorted(BACKENDS)})")
    return factory(settings)


__all__ = ["BACKENDS", "Bus", "EventLog", "EventsExpired", "backend", "create_bus"]
