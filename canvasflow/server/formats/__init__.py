"""Wire formats: how a prediction's events become bytes.

Each format is one module in this package with an encoder class decorated with
:func:`wire_format`; the routes find it by name (``streamFormat``, ``--stream-format``).
An encoder turns one event into the bytes of one write (or several, or none)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, Protocol

from canvasflow.errors import BadRequest
from canvasflow.events import Event


class Encoder(Protocol):
    content_type: bytes
    heartbeat: bytes
    # the Settings field that says how often to send ``heartbeat``
    heartbeat_setting: str

    def encode(self, event: Event) -> bytes | tuple[bytes, ...] | None: ...


FORMATS: dict[str, Callable[..., Encoder]] = {}


def wire_format(name: str) -> Callable[[type], type]:
    def register(cls: type) -> type:
        FORMATS[name] = cls
        cls.format_name = name  # type: ignore[attr-defined]  # set by the decorator on the encoder class
        return cls

    return register


def _load() -> None:
    if not FORMATS:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")


def format_names() -> list[str]:
    _load()
    return sorted(FORMATS)


def encoder_for(name: str, **options: Any) -> Encoder:
    """A fresh encoder of the named format (encoders keep state per stream)."""
    _load()
    factory = FORMATS.get(name)
    if factory is None:
        raise BadRequest(f"unknown stream format {name!r}; one of: {', '.join(format_names())}")
    return factory(**options)
