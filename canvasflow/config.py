"""Server settings: defaults, overridden by environment variables, then by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CANVASFLOW_{name}", default)


@dataclass
class Settings:
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "3000")))
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", ".canvasflow")))
    database_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL"))
    # Redis: the event log, aborts and rate limits shared by several processes
    redis_url: str | None = field(default_factory=lambda: os.environ.get("REDIS_URL") or None)
    # "local": each web process runs its predictions; "queue": workers run them
    mode: str = field(default_factory=lambda: _env("MODE", "local"))
    max_queue: int = field(default_factory=lambda: int(_env("MAX_QUEUE", "1000")))
    queue_timeout: float = field(default_factory=lambda: float(_env("QUEUE_TIMEOUT", "120")))
    shutdown_grace: float = field(default_factory=lambda: float(_env("SHUTDOWN_GRACE", "30")))
    # a limit for every client on every canvas, e.g. "120/minute" (off when empty)
    rate_limit: str | None = field(default_factory=lambda: _env("RATE_LIMIT", "") or None)
    # the header a trusted reverse proxy puts the client address in (X-Forwarded-For)
    trusted_proxy_header: str | None = field(
        default_factory=lambda: _env("TRUSTED_PROXY_HEADER", "") or None
    )
    # "canvasflow" (the guide's format) or "flowise" (Flowise's own SDKs)
    stream_format: str = field(default_factory=lambda: _env("STREAM_FORMAT", "canvasflow"))
    ping_interval: float = field(default_factory=lambda: float(_env("PING_INTERVAL", "15")))
    flowise_heartbeat_interval: float = field(
        default_factory=lambda: float(_env("FLOWISE_HEARTBEAT_INTERVAL", "30"))
    )
    # how long a finished prediction's events stay available for resume
    retention_seconds: float = field(default_factory=lambda: float(_env("RETENTION", "600")))
    # events kept per prediction (ring buffer)
    max_events: int = field(default_factory=lambda: int(_env("MAX_EVENTS", "100000")))
    max_body_bytes: int = field(default_factory=lambda: int(_env("MAX_BODY_BYTES", "10485760")))
    max_question_chars: int = field(
        default_factory=lambda: int(_env("MAX_QUESTION_CHARS", "100000"))
    )
    # a stream client this many events behind the generation is cut (it can resume)
    max_lag_events: int = field(default_factory=lambda: int(_env("MAX_LAG_EVENTS", "10000")))
    metrics_enabled: bool = field(
        default_factory=lambda: _env("METRICS", "1") not in ("0", "false", "off")
    )
    log_format: str = field(default_factory=lambda: _env("LOG_FORMAT", "text"))
    log_prompts: bool = field(
        default_factory=lambda: _env("LOG_PROMPTS", "0") not in ("0", "false", "off")
    )
    create_default_canvas: bool = field(
        default_factory=lambda: _env("CREATE_DEFAULT_CANVAS", "1") not in ("0", "false")
    )

    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: DATABASE_URL, else a SQLite file in the data dir."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'canvasflow.db').resolve()}"
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url
