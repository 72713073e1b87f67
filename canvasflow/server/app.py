"""The ASGI application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI
from pydantic import BaseModel

from canvasflow import __version__
from canvasflow.bus.memory import MemoryBus
from canvasflow.config import Settings
from canvasflow.defaults import DEFAULT_SLUG, default_flow
from canvasflow.models.openai_compat import close_clients
from canvasflow.server import errors
from canvasflow.server.routes import canvases, messages, openai_door, predictions
from canvasflow.server.state import ServerState
from canvasflow.store.repo import Conflict, Store

log = logging.getLogger("canvasflow")


class Ping(BaseModel):
    status: str = "ok"
    version: str = __version__


async def ensure_default_canvas(store: Store) -> None:
    if await store.get_canvas(DEFAULT_SLUG) is None:
        try:
            await store.create_canvas(
                "Default (embedded model)",
                orjson.dumps(default_flow()).decode(),
                slug=DEFAULT_SLUG,
            )
        except Conflict:
            pass  # another process created it first


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.resolved_database_url())
        await store.migrate()
        if settings.create_default_canvas:
            await ensure_default_canvas(store)
        bus = MemoryBus(settings.retention_seconds, settings.max_events)
        st = ServerState(settings=settings, store=store, bus=bus)
        app.state.canvasflow = st
        try:
            yield
        finally:
            running = list(st.predictions)
            for prediction in running:
                prediction.abort("shutdown")
            if running:
                await asyncio.wait([p.task for p in running if p.task], timeout=10)
            await bus.close()
            await close_clients()
            await store.close()

    app = FastAPI(
        title="canvasflow",
        version=__version__,
        description="Run LLM flows (canvases) and stream their answers.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(predictions.router)
    app.include_router(canvases.router)
    app.include_router(messages.router)
    app.include_router(openai_door.router)

    @app.get("/api/v1/ping", response_model=Ping, tags=["health"])
    async def ping() -> Ping:
        return Ping()

    return app
