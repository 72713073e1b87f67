"""Errors as HTTP answers: always a status and Flowise's JSON envelope."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response


class JSONBody(Response):
    """A JSON response rendered with orjson."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


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
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONBody:
        return envelope(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        return envelope(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONBody:
        return envelope(400, describe_validation(list(exc.errors())))
