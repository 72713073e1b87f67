"""The ASGI application."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.routing import Route

from canvasflow import __version__
from canvasflow.auth import KeyRing, bootstrap_admin
from canvasflow.bus import create_bus
from canvasflow.config import Settings
from canvasflow.credentials import Credentials
from canvasflow.defaults import DEFAULT_SLUG, default_flow
from canvasflow.engine.prediction import recover_interrupted, repair_running
from canvasflow.errors import NotFound
from canvasflow.evals import runner as evals_runner
from canvasflow.keyfiles import ADMIN_KEY_FILE, check_shared_secret, secret_key
from canvasflow.mcp.client import close_pool
from canvasflow.mcp.door import McpDoor
from canvasflow.models.native import close_http
from canvasflow.models.openai_compat import close_clients
from canvasflow.observability.logs import PredictionLog
from canvasflow.observability.metrics import Metrics
from canvasflow.observability.tracing import setup as setup_tracing
from canvasflow.queue import JobQueue
from canvasflow.runtime.node import load_all
from canvasflow.sandbox import slots as sandbox_slots
from canvasflow.server import errors
from canvasflow.server.cors import CHATBOT_PAGE_HEADERS, PAGE_SECURITY_HEADERS, PublicCORS
from canvasflow.server.gate import Gate
from canvasflow.server.guards import RateLimiter, require_admin
from canvasflow.server.routes import (
    api_dialog,
    apikeys,
    canvases,
    credentials,
    docstores,
    evals,
    executions,
    files,
    generator,
    library,
    marketplaces,
    mcp_server,
    messages,
    model_defaults,
    nodes,
    openai_door,
    predictions,
    session,
    triggers,
    usage,
    vectors,
    versions,
    widget,
)
from canvasflow.server.schemas import ErrorResponse, Ping, QueueStats
from canvasflow.server.sse import DirectBody
from canvasflow.server.state import ServerState
from canvasflow.store.repo import Conflict, Store
from canvasflow.triggers.schedule import ScheduleBeat

log = logging.getLogger("canvasflow")


async def warm_up(settings: Settings) -> None:
    """Load the embedded model in the background: the server answers at once, and the
    first answer on the model does not wait for the load."""
    from canvasflow.models.local import LocalModel

    started = time.perf_counter()
    try:
        model = LocalModel.get(
            settings.local_model,
            settings.local_ctx,
            settings.local_threads,
            settings.local_parallel,
        )
        await model.warm_up()
    except Exception as exc:  # no model installed: canvases that need it will say so
        log.warning("embedded model not loaded: %s", exc)
        return
    log.info("embedded model ready in %.1f s", time.perf_counter() - started)


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


async def prepare_store(store: Store, settings: Settings) -> None:
    """What a server makes once on its database: the schema, the default canvas, the
    first admin key (shown once; the operator's copy is in the data dir, 0600)."""
    await store.migrate()
    await check_shared_secret(store, settings)
    if settings.create_default_canvas:
        await ensure_default_canvas(store)
    if not settings.no_auth:
        first_key = await bootstrap_admin(store, settings)
        if first_key is not None:
            sys.stderr.write(
                f"canvasflow: created the admin API key (kept in "
                f"{settings.data_dir / ADMIN_KEY_FILE}, shown only now): {first_key}\n"
            )


async def repair_now_and_then(st: ServerState, every: float = 60.0) -> None:
    """Answers left ``running`` by nobody are repaired while the server runs, not only at
    its next start (engine/prediction.py: repair_running); execution records older than
    their retention, and webhook delivery ids older than a day, are deleted."""
    while True:
        await asyncio.sleep(every)
        try:
            await repair_running(st.store, st.bus, {p.ctx.chat_message_id for p in st.predictions})
            await forget_old(st)
        except Exception as exc:  # the database away: the next round tries again
            log.warning("repairing running answers failed: %s", exc)


async def forget_old(st: ServerState) -> int:
    now = datetime.now(UTC)
    days = st.settings.execution_retention_days
    return await st.store.forget_old(
        now - timedelta(days=days) if days else None, now - timedelta(days=1)
    )


def _no_fastapi_telemetry() -> dict[str, Any]:
    import inspect

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}  # a FastAPI before its telemetry (0.165): none to turn off
    return {
        "telemetry": {
            "tracing": False,
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
        }
    }


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[ServerState]:
    """What a server holds while it runs (store, bus, queue, keys, credentials), made
    and closed in one place: by the app's lifespan, and by the CLI's commands that run
    canvases in their own process (``canvasflow eval run`` without ``--url``)."""
    load_all(settings.extra_node_modules)
    sandbox_slots.configure(settings.sandbox_processes)
    if setup_tracing(settings):
        log.info("exporting traces over OTLP")
    store = Store(settings.resolved_database_url())
    await prepare_store(store, settings)
    bus = create_bus(settings)
    queue = None
    if bus.shared:  # other processes: their jobs, and what they ran if they die
        queue = JobQueue(bus, store, settings.max_queue, settings.queue_timeout)
        bus.on_idle = queue.check
    elif settings.mode == "queue":
        raise RuntimeError("--mode queue needs REDIS_URL")
    await bus.start()
    await recover_interrupted(store, bus)
    metrics = Metrics(bus.stats)
    st = ServerState(
        settings=settings,
        store=store,
        bus=bus,
        metrics=metrics,
        observers=[metrics, PredictionLog(settings.log_prompts)],
        queue=queue,
        keys=KeyRing(store),
        limiter=RateLimiter(
            bus.rate_storage(),
            settings.rate_limit,
            settings.auth_failures,
            settings.rate_limit_fail,
        ),
        credentials=Credentials(store, secret_key(settings)),
        secret=secret_key(settings),
    )
    await evals_runner.repair(st)
    try:
        yield st
    finally:
        for evaluation in list(st.evaluations.values()):
            evaluation.cancel()
        if st.evaluations:
            await asyncio.wait(list(st.evaluations.values()), timeout=10)
        running = list(st.predictions)
        for prediction in running:
            prediction.abort("shutdown")
        if running:
            await asyncio.wait([p.task for p in running if p.task], timeout=10)
        st.collector.close()
        await bus.close()
        await close_pool()
        await close_clients()
        await close_http()
        await store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.no_auth and not settings.binds_loopback():
        raise ValueError(
            f"--no-auth opens the management routes to anyone who can reach the server: "
            f"it is refused when binding to {settings.host} (loopback addresses only)"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_state(settings) as st:
            app.state.canvasflow = st
            warming = asyncio.create_task(warm_up(settings)) if settings.warm_up else None
            repairing = asyncio.create_task(repair_now_and_then(st))
            await forget_old(st)
            beat = ScheduleBeat(st) if settings.scheduler else None
            beating = asyncio.create_task(beat.run()) if beat is not None else None
            try:
                async with mcp_door.run():
                    yield
            finally:
                repairing.cancel()
                if beat is not None and beating is not None:
                    beating.cancel()
                    await beat.close()
                if warming is not None:
                    warming.cancel()

    app = FastAPI(
        # any route may answer these (a bad Host, a NUL, no key, a limit, an outage)
        responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 429, 500, 503)},
        docs_url=None,  # served below from the package's own Swagger UI
        redoc_url=None,
        title="canvasflow",
        version=__version__,
        description="Run LLM flows (canvases) and stream their answers.",
        lifespan=lifespan,
        # FastAPI's own spans (HTTP request, dependencies, serialization: 6 a request)
        # and logs, made whenever a tracer provider is set: a trace here is a prediction's,
        # in the LLM conventions, and those would cost a traced server a third of its
        # throughput (bench scenario k)
        **_no_fastapi_telemetry(),
    )
    errors.install(app)
    # innermost: management routes check the key before any body is read; every body is
    # limited in size and time
    app.add_middleware(Gate, limit=settings.max_body_bytes, seconds=settings.body_timeout)
    # only the configured host names: a DNS-rebinding page cannot reach this server
    app.add_middleware(errors.TrustedHosts, allowed_hosts=settings.server_names)
    app.add_middleware(PublicCORS)
    app.add_middleware(errors.RefuseNul)
    # outermost: an event stream's frames go by the send it is given (see server/sse.py)
    app.add_middleware(DirectBody)
    app.include_router(predictions.router)
    # a prediction is dispatched by this route, first, without FastAPI's handler around
    # it (its dependency solving was 7 % of a burst's per-request CPU, for a path
    # parameter and the request); the APIRoute above is the same handler, for /docs
    app.router.routes.insert(
        0,
        Route(
            "/api/v1/prediction/{canvas_id}",
            endpoint=predictions.predict_route,
            methods=["POST"],
            include_in_schema=False,
        ),
    )
    app.include_router(canvases.router)
    app.include_router(messages.router)
    app.include_router(openai_door.router)
    app.include_router(apikeys.router)
    app.include_router(vectors.router)
    app.include_router(session.router)
    app.include_router(nodes.router)
    app.include_router(credentials.router)
    app.include_router(widget.router)
    app.include_router(mcp_server.router)
    app.include_router(executions.router)
    app.include_router(triggers.router)
    app.include_router(versions.router)
    app.include_router(evals.router)
    app.include_router(files.router)
    app.include_router(model_defaults.router)
    app.include_router(marketplaces.router)
    app.include_router(generator.router)
    app.include_router(library.router)
    app.include_router(docstores.router)
    app.include_router(api_dialog.router)
    app.include_router(usage.router)
    # canvases as MCP servers: Streamable HTTP, answered by the mcp SDK (not in /docs:
    # JSON-RPC, described in PROTOCOL.md)
    mcp_door = McpDoor()
    for path in ("/api/v1/mcp/{canvas_id}", "/api/v1/mcp"):
        app.router.routes.append(Route(path, endpoint=mcp_door, methods=["GET", "POST", "DELETE"]))

    @app.get("/api/v1/ping", response_model=Ping, tags=["health"])
    async def ping() -> Ping:
        return Ping()

    @app.get(
        "/api/v1/queue",
        response_model=QueueStats,
        tags=["health"],
        dependencies=[Depends(require_admin)],
    )
    async def queue_stats(request: Request) -> QueueStats:
        """Queue depth, running jobs and workers (queue mode); running predictions here
        otherwise."""
        st = request.app.state.canvasflow
        if st.queue is not None and settings.mode == "queue":
            stats = await st.queue.stats()
            st.metrics.queue_depth.set(stats["depth"])
            return QueueStats(**stats)
        return QueueStats(mode="local", depth=0, running=len(st.predictions), workers=[])

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}}, 404: {"model": ErrorResponse}},
        summary="Prometheus metrics",
        dependencies=[Depends(require_admin)],
    )
    async def metrics(request: Request) -> Response:
        if not settings.metrics_enabled:
            raise NotFound("metrics are turned off (CANVASFLOW_METRICS=0)")
        body = request.app.state.canvasflow.metrics.render()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    web = Path(__file__).resolve().parent.parent / "web"
    static = web / "static"
    app.mount("/static", StaticFiles(directory=static, follow_symlink=True), name="static")
    studio = web / "studio"
    app.mount(
        "/studio/assets",
        StaticFiles(directory=studio / "assets", check_dir=False),
        name="studio-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        """Swagger UI from the package's own copy: no CDN, works offline."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="canvasflow API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/api/v1/node-icon/llmChain",
        )

    @app.get("/studio", include_in_schema=False)
    @app.get("/studio/{path:path}", include_in_schema=False)
    async def studio_page(path: str = "") -> Response:
        """The studio (a single-page app built with Vite, shipped in the package)."""
        page = studio / "index.html"
        if not page.is_file():
            raise NotFound("the studio is not built in this installation")
        return FileResponse(page, headers={"Cache-Control": "no-cache", **PAGE_SECURITY_HEADERS})

    @app.get("/chatbot/{canvas_id}", include_in_schema=False)
    async def chatbot_page(canvas_id: str) -> FileResponse:
        """A canvas's public chatbot page (Flowise's ``/chatbot/:id``): the widget on the
        whole page, themed by its settings; it says so when the canvas is not public."""
        return FileResponse(
            static / "chatbot.html",
            headers={"Cache-Control": "no-cache", **CHATBOT_PAGE_HEADERS},
        )

    @app.get("/", include_in_schema=False)
    @app.get("/chat/{canvas_id}", include_in_schema=False)
    async def chat_page(canvas_id: str | None = None) -> FileResponse:
        """The chat page (it picks the canvas from the path)."""
        return FileResponse(
            static / "index.html",
            headers={"Cache-Control": "no-cache", **PAGE_SECURITY_HEADERS},
        )

    return app
