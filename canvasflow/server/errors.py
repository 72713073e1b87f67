"""canvasflow's errors (``canvasflow.errors``) as HTTP answers: always the error's own
status and Flowise's JSON envelope. The one place errors become responses."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from canvasflow.errors import CanvasflowError


class JSONBody(Response):
    """A JSON response rendered with orjson."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def envelope(status: int, message: str, headers: dict[str, str] | None = None) -> JSONBody:
    return JSONBody(
        {"statusCode": status, "success": False, "message": message},
        status_code=status,
        headers=headers,
    )


def describe_validation(errors: list[dict]) -> str:  # type: ignore[type-arg]
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(CanvasflowError)
    async def _error(request: Request, exc: CanvasflowError) -> JSONBody:
        response = envelope(exc.status, exc.message, exc.headers)
        problems = getattr(exc, "problems", None)
        if problems:  # a canvas that cannot run: every problem, where it is
            body = {
                "statusCode": exc.status,
                "success": False,
                "message": exc.message,
                "problems": [p.as_dict() for p in problems],
            }
            response = JSONBody(body, status_code=exc.status, headers=exc.headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        return envelope(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONBody:
        return envelope(400, describe_validation(list(exc.errors())))
