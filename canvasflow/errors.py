"""canvasflow's errors: one tree, each class knowing its HTTP status and its code.

Raised anywhere (a route, the engine, a node, a model); turned into an HTTP answer or
an ``error`` event in one place each (``server/errors.py``, ``Outcome``). An ``error``
event carries the code, and :func:`from_event` turns it back into the right class, so a
JSON prediction answers the same status whether it ran here or on a worker."""

from __future__ import annotations

import re
from typing import Any, ClassVar


class CanvasflowError(Exception):
    """Base class. ``status`` is the HTTP status, ``code`` the machine-readable kind."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance's own code over its class's
            if code in MORE_CODES:
                self.status = MORE_CODES[code]  # type: ignore[misc]  # the code's status
        self.headers = headers

    def event_data(self) -> dict[str, str]:
        """The data of the ``error`` event this error becomes in a stream."""
        return {"message": self.message, "code": self.code}


# -- the request ------------------------------------------------------------------------


class BadRequest(CanvasflowError):
    status, code = 400, "bad_request"


class Unauthorized(CanvasflowError):
    status, code = 401, "unauthorized"


class Forbidden(CanvasflowError):
    status, code = 403, "forbidden"


class NotFound(CanvasflowError):
    status, code = 404, "not_found"


class MethodNotAllowed(CanvasflowError):
    status, code = 405, "method_not_allowed"


class SettingsInvalid(CanvasflowError):
    """A canvas's settings that cannot be kept (a schedule that does not parse, or runs
    more often than the server allows): refused at save."""

    status, code = 422, "settings_invalid"


class AlreadyExists(CanvasflowError):
    status, code = 409, "conflict"


class PayloadTooLarge(CanvasflowError):
    status, code = 413, "too_large"


class UnsupportedMediaType(CanvasflowError):
    status, code = 415, "unsupported_media_type"


class RequestTimeout(CanvasflowError):
    """The request (its body) did not arrive in time."""

    status, code = 408, "request_timeout"


class StillRunning(CanvasflowError):
    """Work the request waits for (a document store's job) has not ended in time; it
    goes on."""

    status, code = 504, "still_running"


class CanvasInvalid(CanvasflowError):
    """A canvas that cannot run: unknown node, missing input, cycle, bad connection."""

    status, code = 422, "canvas_invalid"

    def __init__(self, message: str, node_id: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.node_id = node_id
        # every problem of the canvas (runtime/problems.py: Problem), the studio's list
        self.problems: list[Any] = []


class RateLimited(CanvasflowError):
    status, code = 429, "rate_limited"


class Unavailable(CanvasflowError):
    """Overloaded, shutting down, or a shared service (Redis) is down: retry later."""

    status, code = 503, "unavailable"


# -- the run ------------------------------------------------------------------------------


class RunFailed(CanvasflowError):
    """A prediction that started and failed. The catch-all for node failures."""

    status, code = 500, "model_error"


class Refused(RunFailed):
    """Input moderation refused the question."""

    status, code = 403, "moderation"


class InputInvalid(RunFailed):
    """A value given to a node (a file, a setting) it cannot use."""

    status, code = 400, "input_invalid"


_SECRETS = re.compile(
    r"(?i)(bearer\s+)[^\s\"',;]+"  # an Authorization header's token
    r"|\b(sk|pk|rk|gsk|xai|hf|ghp|gho|github_pat|whsec|cf)[-_][A-Za-z0-9_\-]{8,}"  # API keys
    r"|((?:api[-_]?key|access[-_]?token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
)
_INTERNAL = re.compile(
    r"\b(?:127(?:\.\d{1,3}){3}|10(?:\.\d{1,3}){3}|192\.168(?:\.\d{1,3}){2}"
    r"|172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2}|169\.254(?:\.\d{1,3}){2}|localhost)"
    r"(?::\d+)?|\[::1\](?::\d+)?"
)


def redact(text: str) -> str:
    """What an upstream said, fit for any caller: keys and tokens it echoed replaced,
    the server's internal addresses (loopback, private ranges) not told."""
    text = _SECRETS.sub(lambda m: (m.group(1) or m.group(3) or "") + "[redacted]", text)
    return _INTERNAL.sub("an internal address", text)


class UpstreamError(RunFailed):
    """The model's (or embeddings', or a tool's) upstream server failed. Its message
    reaches callers (anonymous ones too), so it is redacted; the server log keeps the
    original (``detail``)."""

    status, code = 502, "upstream_error"

    def __init__(self, message: str, *, upstream_status: int | None = None, **kw: Any) -> None:
        super().__init__(redact(message), **kw)
        self.detail = message
        self.upstream_status = upstream_status
        self.node_id: str | None = None  # the node whose model failed, once known

    def event_data(self) -> dict[str, str]:
        data = super().event_data()
        if self.node_id is not None:
            data["nodeId"] = self.node_id
        return data


class UpstreamUnreachable(UpstreamError):
    status, code = 502, "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    status, code = 504, "upstream_timeout"


class OutputInvalid(RunFailed):
    """The model answered, but not in the shape the canvas asked for."""

    status, code = 502, "output_parser"


class StorageError(RunFailed):
    status, code = 500, "storage_error"


def _subclasses(cls: type[CanvasflowError]) -> list[type[CanvasflowError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


# codes raised with a class whose own code is more general (``InputInvalid(...,
# code="file_invalid")``): their status is the class's, listed here so that a process
# that only sees the ``error`` event answers the same status
MORE_CODES = {
    "file_invalid": InputInvalid.status,
    "file_unavailable": InputInvalid.status,
    "tools_unsupported": CanvasInvalid.status,
    "credential_missing": CanvasInvalid.status,
    "bad_input": CanvasInvalid.status,
    "host_not_allowed": CanvasInvalid.status,
    "path_not_allowed": CanvasInvalid.status,
    "role_not_allowed": CanvasInvalid.status,
    "command_not_allowed": CanvasInvalid.status,
    "already_resumed": AlreadyExists.status,
    "model_missing": RunFailed.status,
    "busy": Unavailable.status,
    "max_iterations": RunFailed.status,
}


def status_for(code: str) -> int:
    """The HTTP status of an error code (an ``error`` event's code)."""
    if code in MORE_CODES:
        return MORE_CODES[code]
    for cls in _subclasses(CanvasflowError):
        if cls.code == code:
            return cls.status
    if code.startswith("upstream"):
        return UpstreamError.status
    return CanvasflowError.status


def from_event(data: dict[str, Any]) -> CanvasflowError:
    """An ``error`` event's data as the error that answers a JSON prediction."""
    code = str(data.get("code") or "internal_error")
    message = str(data.get("message") or "error")
    err = CanvasflowError(message, code=code)
    err.status = status_for(code)  # type: ignore[misc]  # the status its code says
    if err.status == Unavailable.status:  # every 503 says when to try again
        err.headers = {"Retry-After": "2"}
    return err
