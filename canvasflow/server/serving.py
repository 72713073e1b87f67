"""Serving: one process, or several on one socket (``canvasflow serve --workers N``).

Several processes share what must be shared through Redis (the event log, running
predictions and aborts, rate limits), so a resume, an abort or a limit works whichever
process a request lands on; without Redis there is one process. The parent binds the
socket, prepares what only one process may create (the database schema, the admin key,
the secret key), then starts the workers with ``spawn`` and restarts one that dies.
A stop (SIGTERM, SIGINT) goes to every worker, which refuses new predictions and cuts
running ones before its grace ends, as a single process does.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from canvasflow.config import Settings

log = logging.getLogger("canvasflow.serving")


def default_workers(settings: Settings) -> int:
    """The cores of the machine when Redis is configured, else one process."""
    if settings.workers is not None:
        return settings.workers
    return max(os.cpu_count() or 1, 1) if settings.redis_url else 1


class CanvasflowServer(uvicorn.Server):
    """uvicorn's server, told of a stop first: the app refuses new predictions and cuts
    running ones before uvicorn's grace ends."""

    def __init__(self, config: uvicorn.Config, app: Any, grace: float) -> None:
        super().__init__(config)
        self.app_ = app
        self.grace = grace

    def handle_exit(self, sig: int, frame: Any) -> None:
        st = getattr(self.app_.state, "canvasflow", None)
        if st is not None:
            asyncio.get_event_loop().call_soon_threadsafe(st.begin_shutdown, self.grace)
        super().handle_exit(sig, frame)


def uvicorn_config(app: Any, settings: Settings, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        log_config=None,  # uvicorn's loggers go through the handler configured above
        # client addresses come from the socket; CANVASFLOW_TRUSTED_PROXY_HEADER names the
        # one header trusted instead (never X-Forwarded-For by default)
        proxy_headers=False,
        forwarded_allow_ips="",
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )


def _one(settings: Settings, log_level: str, sockets: list[socket.socket] | None) -> None:
    from canvasflow.observability.memory import fix_mmap_threshold
    from canvasflow.server.app import create_app

    app = create_app(settings)
    server = CanvasflowServer(
        uvicorn_config(app, settings, log_level), app, settings.shutdown_grace
    )
    # what is loaded by now lives as long as the process: out of the collector's way, so
    # a full collection (observability/memory.py, when idle) walks only newer objects
    gc.collect()
    gc.freeze()
    if settings.gc_young:  # fewer, larger collections (bench: scenario k's untraced side)
        gc.set_threshold(settings.gc_young, 20, 20)
    fix_mmap_threshold()
    server.run(sockets=sockets)


def _worker(settings: Settings, log_level: str, sock: socket.socket) -> None:
    """A worker process: the same server as a single process, on the parent's socket."""
    from canvasflow.observability.logs import configure

    configure(settings.log_format, log_level)
    _one(settings, log_level, [sock])


async def _prepare(settings: Settings) -> None:
    """What only one process may create, before the workers start: the schema, the
    default canvas, the admin key (printed once), the secret key."""
    from canvasflow.keyfiles import secret_key
    from canvasflow.server.app import prepare_store
    from canvasflow.store.repo import Store

    store = Store(settings.resolved_database_url())
    try:
        await prepare_store(store, settings)
        secret_key(settings)
    finally:
        await store.close()


def banner(settings: Settings, workers: int) -> str:
    """What a person starting the server needs to know, on every start: where the studio,
    the chat page and the docs are, where the admin key is, which database, which model."""
    from sqlalchemy.engine import make_url

    from canvasflow import __version__
    from canvasflow.keyfiles import ADMIN_KEY_FILE

    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    base = f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}"
    if settings.no_auth:
        key = "none needed (--no-auth: loopback only)"
    elif settings.admin_key:
        key = "CANVASFLOW_ADMIN_KEY"
    else:
        key = str(settings.data_dir / ADMIN_KEY_FILE)
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() == "sqlite":
        database = f"SQLite {url.database}"
    else:
        database = f"PostgreSQL {url.host or 'localhost'}:{url.port or 5432}/{url.database}"
    model = (
        "the embedded model, loading in the background"
        if settings.warm_up
        else "the embedded model, loaded when a canvas first asks (CANVASFLOW_WARM_UP=0)"
    )
    processes = f", {workers} processes" if workers > 1 else ""
    lines = [
        f"canvasflow {__version__} on {base} ({settings.mode} mode{processes})",
        f"  studio     {base}/studio/",
        f"  chat       {base}/",
        f"  API docs   {base}/docs",
        f"  admin key  {key}",
        f"  database   {database}",
        f"  model      {model}",
    ]
    return "\n".join(lines) + "\n"


def writable(folder: Path) -> str | None:
    """Why the data directory cannot be written, or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-check-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def serve(settings: Settings, log_level: str, workers: int) -> None:
    why = writable(settings.data_dir)
    if why is not None:  # one line, not a traceback: a container without its volume
        raise SystemExit(
            f"canvasflow: the data directory {settings.data_dir} is not writable ({why}): "
            "mount a writable volume there, or set CANVASFLOW_DATA_DIR"
        )
    # schema, default canvas, admin key, and one secret key for every process: checked
    # before any process answers (a refusal is one line and exit 1)
    asyncio.run(_prepare(settings))
    sys.stderr.write(banner(settings, workers))
    sys.stderr.flush()
    if workers <= 1:
        _one(settings, log_level, None)
        return
    sock = uvicorn.Config(
        app="canvasflow.server.app:create_app", host=settings.host, port=settings.port
    ).bind_socket()
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def on_signal(sig: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    def start() -> Any:
        proc = spawn.Process(target=_worker, args=(settings, log_level, sock), daemon=False)
        proc.start()
        return proc

    procs = [start() for _ in range(workers)]
    log.info("canvasflow: %d worker processes on %s:%d", workers, settings.host, settings.port)
    while not stop.wait(0.5):
        for i, proc in enumerate(procs):
            if not proc.is_alive():  # died on its own: its predictions are recovered
                log.error("worker %s exited (%s); starting another", proc.pid, proc.exitcode)
                procs[i] = start()
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.shutdown_grace + 10
    for proc in procs:
        proc.join(max(deadline - time.monotonic(), 0.1))
        if proc.is_alive():
            proc.kill()
    sock.close()
