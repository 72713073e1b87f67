"""Regular expressions a canvas author writes (a condition's ``regex``): run by the
``regex`` package with a time limit, in a worker thread with the GIL released, so a
catastrophic pattern (``^(a+)+$``) costs one request a second, never the server's loop."""

from __future__ import annotations

import regex

from canvasflow.sandbox.errors import SandboxError

SECONDS = 1.0


def search(pattern: str, text: str, seconds: float = SECONDS) -> bool:
    """Whether ``pattern`` is found in ``text``; a pattern that does not compile is not
    found; one that runs past ``seconds`` raises :class:`SandboxError`."""
    try:
        compiled = regex.compile(pattern)
    except (regex.error, ValueError, OverflowError):
        return False
    try:
        return compiled.search(text, timeout=seconds, concurrent=True) is not None
    except TimeoutError:
        raise SandboxError(
            f"the regular expression {pattern[:80]!r} ran longer than {seconds:g} s and was stopped"
        ) from None
