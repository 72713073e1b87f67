"""The ``canvasflow`` command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError

from canvasflow.config import Settings
from canvasflow.errors import CanvasflowError, CanvasInvalid


class _Cli(typer.Typer):
    """The command. A usage error (a bad option value, a missing argument) is one line,
    ``error: ...`` on stderr and exit 2, as every other error of every command is."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from typer.exceptions import TyperException  # Typer's (vendored click's) errors

        try:
            code = super().__call__(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            typer.echo("error: stopped", err=True)
            sys.exit(1)
        except TyperException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())  # a group named alone: its help
                sys.exit(0)
            where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            typer.echo(f"error: {message}{where}", err=True)
            sys.exit(getattr(exc, "exit_code", 2))
        sys.exit(code if isinstance(code, int) else 0)


app = _Cli(help="canvasflow: run LLM flows and stream their answers.", no_args_is_help=True)
canvas_app = typer.Typer(help="Manage canvases in the database.", no_args_is_help=True)
app.add_typer(canvas_app, name="canvas")
apikey_app = typer.Typer(help="Manage API keys in the database.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
credential_app = typer.Typer(
    help="Manage credentials (encrypted API keys nodes use).", no_args_is_help=True
)
app.add_typer(credential_app, name="credential")


def _default(field: str) -> str:
    """A setting's real default, for ``--help``."""
    value = Settings.model_fields[field].default
    return "none" if value is None else str(value)


def _opt(field: str, help: str, *names: str) -> Any:
    return typer.Option(*names, help=help, show_default=_default(field))


DataDir = Annotated[
    Path | None, _opt("data_dir", "Where canvasflow keeps its data (CANVASFLOW_DATA_DIR)")
]


def served_url(settings: Settings) -> str:
    """The URL of the server ``canvasflow serve`` starts with these settings."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{settings.port}"


def _settings(**given: Any) -> Settings:
    """The settings: defaults < environment < the options given on the command line.
    A bad value is one line naming the variable or option, never a traceback."""
    try:
        return Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err.get("loc") else "?"
            if field.isupper():  # a standard variable's own name (OTEL_*, REDIS_URL...)
                typer.echo(f"error: {field}: {err['msg']}", err=True)
                continue
            env = f"CANVASFLOW_{field.upper()}"
            typer.echo(
                f"error: {field} ({env} or --{field.replace('_', '-')}): {err['msg']}", err=True
            )
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, _opt("host", "Address to bind")] = None,
    port: Annotated[int | None, _opt("port", "Port to listen on")] = None,
    data_dir: DataDir = None,
    stream_format: Annotated[
        str | None, _opt("stream_format", "Default stream format", "--stream-format")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level")] = "info",
    log_format: Annotated[
        str | None, _opt("log_format", "text, or json for one object per line", "--log-format")
    ] = None,
    log_prompts: Annotated[
        bool | None,
        _opt(
            "log_prompts", "Put questions and answers in the logs", "--log-prompts/--no-log-prompts"
        ),
    ] = None,
    max_lag: Annotated[
        int | None,
        _opt("max_lag_events", "Cut a stream client this many events behind", "--max-lag"),
    ] = None,
    mode: Annotated[
        str | None, _opt("mode", "local: run predictions here; queue: on workers", "--mode")
    ] = None,
    no_auth: Annotated[
        bool | None,
        _opt("no_auth", "Open management routes without a key (loopback binds only)", "--no-auth"),
    ] = None,
    host_names: Annotated[
        str | None,
        _opt(
            "host_names", "Host names to answer besides loopback, comma-separated", "--host-names"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        _opt("workers", "Processes on the port (default: the cores with Redis, else 1)"),
    ] = None,
) -> None:
    """Start the HTTP server."""
    from canvasflow.observability.memory import use_malloc

    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        stream_format=stream_format,
        log_format=log_format,
        log_prompts=log_prompts,
        max_lag_events=max_lag,
        mode=mode,
        no_auth=no_auth,
        host_names=host_names,
        workers=workers,
    )
    use_malloc(settings.allocator)  # may start this process again, before the imports below

    from canvasflow.observability.logs import configure
    from canvasflow.server.formats import format_names
    from canvasflow.server.serving import default_workers
    from canvasflow.server.serving import serve as run_server

    if settings.no_auth and not settings.binds_loopback():
        raise typer.BadParameter(
            f"refused when binding to {settings.host}: only a loopback address may run "
            "without authentication",
            param_hint="--no-auth",
        )
    if settings.stream_format not in format_names():
        raise typer.BadParameter(" or ".join(format_names()), param_hint="--stream-format")
    if settings.mode == "queue" and not settings.redis_url:
        raise typer.BadParameter("queue mode needs REDIS_URL", param_hint="--mode")
    processes = default_workers(settings)
    if processes > 1 and not settings.redis_url:
        raise typer.BadParameter(
            "several processes share the event log, aborts and rate limits through Redis: "
            "set REDIS_URL, or serve with one process",
            param_hint="--workers",
        )
    configure(settings.log_format, log_level)
    run_server(settings, log_level, processes)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Predictions run at once")] = 4,
    job_timeout: Annotated[float, typer.Option(help="Seconds a prediction may run")] = 300.0,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="Log level")] = "info",
    log_format: Annotated[str | None, _opt("log_format", "text or json", "--log-format")] = None,
) -> None:
    """Run predictions from the Redis queue (for servers started with --mode queue)."""
    from canvasflow.observability.logs import configure
    from canvasflow.queue.worker import Worker

    settings = _settings(data_dir=data_dir, log_format=log_format)
    configure(settings.log_format, log_level)
    import uvloop

    uvloop.run(Worker(settings, concurrency, job_timeout).run())


async def _with_store(data_dir: Path | None, fn: Any) -> Any:
    from canvasflow.store.repo import Store

    settings = _settings(data_dir=data_dir)
    try:
        url = settings.resolved_database_url()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    # say which data this command reads: not the server's, if the data dir differs
    where = settings.database_url or str((settings.data_dir / "canvasflow.db").resolve())
    typer.echo(f"canvasflow: data in {where} (--data-dir, DATABASE_URL)", err=True)
    store = Store(url)
    try:
        await store.migrate()
        return await fn(store)
    finally:
        await store.close()


Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Talk to this running server instead of opening a database (CANVASFLOW_URL)",
        envvar="CANVASFLOW_URL",
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="CANVASFLOW_API_KEY", help="Key for --url (else admin.key)"),
]


def _server(url: str, api_key: str | None, data_dir: Path | None) -> Any:
    """An HTTP client for a running server: its admin key from --api-key, the
    environment, or the data dir's admin.key."""
    import httpx

    from canvasflow.keyfiles import ADMIN_KEY_FILE

    key = api_key
    if not key:
        path = _settings(data_dir=data_dir).data_dir / ADMIN_KEY_FILE
        key = path.read_text().strip() if path.is_file() else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    typer.echo(f"canvasflow: server at {url}", err=True)
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60)


def _call(client: Any, method: str, path: str, **kw: Any) -> Any:
    """One API call; any failure is one line naming what to do."""
    import httpx

    try:
        r = client.request(method, path, **kw)
    except httpx.HTTPError:
        typer.echo(
            f"error: no canvasflow server answers at {client.base_url} "
            "(start one with `canvasflow serve`, or check --url)",
            err=True,
        )
        raise typer.Exit(1) from None
    if r.status_code >= 400:
        try:
            message = r.json().get("message") or r.text
        except ValueError:
            message = r.text
        typer.echo(f"error: {r.status_code}: {message}", err=True)
        raise typer.Exit(1)
    return r.json() if r.content else None


@canvas_app.command("list")
def canvas_list(data_dir: DataDir = None, url: Url = None, api_key: ApiKeyOpt = None) -> None:
    """List canvases: id, slug, name."""
    if url:
        with _server(url, api_key, data_dir) as client:
            rows = [
                (c["id"], c["slug"], c["name"]) for c in _call(client, "GET", "/api/v1/canvases")
            ]
        _table(("id", "slug", "name"), rows)
        return

    async def go(store: Any) -> None:
        _table(
            ("id", "slug", "name"), [(c.id, c.slug, c.name) for c in await store.list_canvases()]
        )

    asyncio.run(_with_store(data_dir, go))


def _table(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows in columns as wide as their longest value (long slugs do not shift the
    others), never cut: a pipe or a file gets them whole."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*header, box=None, pad_edge=False, show_edge=False, header_style="bold")
    for row in rows:
        table.add_row(*row)
    width = sum(max([len(h), *(len(r[i]) for r in rows)]) + 2 for i, h in enumerate(header))
    Console(width=max(80, width), soft_wrap=False).print(table)


async def _find_canvas(store: Any, ref: str) -> Any:
    """A canvas by id, slug, or name (as the list shows them)."""
    found = await store.get_canvas(ref)
    if found is None:
        named = [c for c in await store.list_canvases() if c.name.lower() == ref.lower()]
        found = named[0] if len(named) == 1 else None
    return found


@canvas_app.command("import")
def canvas_import(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="JSON files")],
    slug: Annotated[str | None, typer.Option(help="Slug for the new canvas (one file)")] = None,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Import canvases: canvasflow's JSON, Flowise chatflow exports or templates. A canvas
    with missing inputs is stored as a draft, its problems listed."""
    from rich.progress import track

    from canvasflow.engine.graph import check
    from canvasflow.importer import read_file
    from canvasflow.store.repo import Conflict

    docs = []
    for file in files:
        try:
            doc = read_file(file)
        except CanvasInvalid as exc:
            typer.echo(f"error: {file}: {exc.message}", err=True)
            raise typer.Exit(2) from None
        _, problems = check(doc["flowData"])
        structure = [p for p in problems if p.kind == "structure"]
        if structure:
            typer.echo(f"error: {file}: {structure[0].message}", err=True)
            raise typer.Exit(2)
        for p in problems:  # a draft: stored all the same, to be finished in the studio
            typer.echo(f"{p.level}: {file.name}: {p.message}", err=True)
        docs.append(doc)
    steps = track(docs, description="importing", disable=len(docs) < 2, transient=True)
    if url:
        with _server(url, api_key, data_dir) as client:
            for doc in steps:
                path = "/api/v1/canvases/import" + (f"?slug={slug}" if slug else "")
                made = _call(client, "POST", path, json=doc)
                typer.echo(f"{made['id']}  {made['slug']}  {made['name']}")
        return

    async def go(store: Any) -> None:
        for doc in steps:
            file_slug = await store.free_slug(doc["slug"]) if doc["slug"] else None
            try:
                canvas = await store.create_canvas(
                    doc["name"], doc["flowData"], slug=slug or file_slug, settings=doc["settings"]
                )
            except Conflict as exc:
                typer.echo(f"error: {exc}; choose another with --slug", err=True)
                raise typer.Exit(2) from None
            typer.echo(f"{canvas.id}  {canvas.slug}  {canvas.name}")

    asyncio.run(_with_store(data_dir, go))


@canvas_app.command("delete")
def canvas_delete(
    canvas: Annotated[str, typer.Argument(help="Canvas id or slug")],
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Delete a canvas (and its chat messages)."""
    if url:
        with _server(url, api_key, data_dir) as client:
            _call(client, "DELETE", f"/api/v1/canvases/{canvas}")
        return

    async def go(store: Any) -> None:
        found = await _find_canvas(store, canvas)
        if found is None:
            typer.echo(f"error: canvas {canvas} not found", err=True)
            raise typer.Exit(1)
        await store.delete_canvas(found.id)

    asyncio.run(_with_store(data_dir, go))


@canvas_app.command("update")
def canvas_update(
    canvas: Annotated[str, typer.Argument(help="Canvas id or slug")],
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
    file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="New flowData from a file")
    ] = None,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Rename a canvas, or replace its flow with a file's."""
    from canvasflow.importer import read_file

    flow = None
    if file is not None:
        try:
            flow = read_file(file)["flowData"]
        except CanvasInvalid as exc:
            typer.echo(f"error: {file}: {exc.message}", err=True)
            raise typer.Exit(2) from None
    if url:
        with _server(url, api_key, data_dir) as client:
            body = {k: v for k, v in (("name", name), ("flowData", flow)) if v is not None}
            made = _call(client, "PUT", f"/api/v1/canvases/{canvas}", json=body)
            for p in made.get("problems", []):
                typer.echo(f"{p['level']}: {p['message']}", err=True)
        return

    async def go(store: Any) -> None:
        found = await _find_canvas(store, canvas)
        if found is None:
            typer.echo(f"error: canvas {canvas} not found", err=True)
            raise typer.Exit(1)
        await store.update_canvas(found.id, name=name, flow_data=flow)

    asyncio.run(_with_store(data_dir, go))


@canvas_app.command("export")
def canvas_export(
    canvas: Annotated[str, typer.Argument(help="Canvas id, slug or name")],
    data_dir: DataDir = None,
) -> None:
    """Print a canvas as a Flowise-shaped chatflow JSON."""
    from canvasflow.importer import export

    async def go(store: Any) -> None:
        found = await _find_canvas(store, canvas)
        if found is None:
            typer.echo(f"error: canvas {canvas} not found", err=True)
            raise typer.Exit(1)
        typer.echo(orjson.dumps(export(found), option=orjson.OPT_INDENT_2).decode())

    asyncio.run(_with_store(data_dir, go))


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="A name to know the key by")],
    admin: Annotated[bool, typer.Option("--admin", help="May manage canvases and keys")] = False,
    canvas: Annotated[
        list[str] | None, typer.Option("--canvas", help="Canvas id or slug this key opens")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from canvasflow.auth import new_key

    async def go(store: Any) -> None:
        ids = []
        for ref in canvas or []:
            found = await _find_canvas(store, ref)
            if found is None:
                typer.echo(f"error: canvas {ref} not found", err=True)
                raise typer.Exit(1)
            ids.append(found.id)
        row, key = new_key(name, admin, ids)
        await store.add_api_key(row)
        typer.echo(key)

    asyncio.run(_with_store(data_dir, go))


@apikey_app.command("list")
def apikey_list(data_dir: DataDir = None) -> None:
    """List keys: id, prefix, name, admin, canvases (never the keys themselves)."""

    async def go(store: Any) -> None:
        for k in await store.api_keys():
            role = "admin" if k.is_admin else "canvas"
            typer.echo(f"{k.id}  cf_{k.prefix}_…  {k.name:<20} {role:<6} {','.join(k.canvas_ids)}")

    asyncio.run(_with_store(data_dir, go))


@apikey_app.command("delete")
def apikey_delete(
    key: Annotated[str, typer.Argument(help="Key id, prefix or name")], data_dir: DataDir = None
) -> None:
    """Delete a key."""

    async def go(store: Any) -> None:
        if not await store.delete_api_key(key):
            typer.echo(f"error: no key {key}", err=True)
            raise typer.Exit(1)

    asyncio.run(_with_store(data_dir, go))


@app.command()
def openapi(
    path: Annotated[
        list[str] | None,
        typer.Option(help="Only the routes under this path (repeat for several)"),
    ] = None,
) -> None:
    """Print the server's OpenAPI schema (JSON, keys sorted): what /openapi.json serves,
    without a server; the studio's and the TypeScript SDK's types are generated from it."""
    import warnings

    from canvasflow.server.app import create_app

    with warnings.catch_warnings():  # FastAPI's note on Flowise's one handler per method
        warnings.simplefilter("ignore")
        schema = create_app(Settings(redis_url=None)).openapi()
    if path:
        schema["paths"] = {
            route: spec
            for route, spec in schema["paths"].items()
            if any(route.startswith(prefix) for prefix in path)
        }
        used = _referenced(schema["paths"], schema.get("components", {}).get("schemas", {}))
        schema["components"]["schemas"] = {
            name: spec for name, spec in schema["components"]["schemas"].items() if name in used
        }
    typer.echo(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode())


def _referenced(node: Any, schemas: dict[str, Any], found: set[str] | None = None) -> set[str]:
    """The component schemas ``node`` refers to, and those they refer to."""
    found = set() if found is None else found
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                _referenced(schemas.get(name), schemas, found)
        for value in node.values():
            _referenced(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, schemas, found)
    return found


@app.command()
def nodes(
    name: Annotated[str | None, typer.Argument(help="A node's name: show its inputs")] = None,
) -> None:
    """The node catalogue: every node by category, or one node's inputs."""
    from rich.console import Console
    from rich.table import Table

    from canvasflow.engine.catalog import catalogue

    console = Console()
    listed = catalogue()
    if name is None:
        table = Table("category", "name", "label", "description")
        for n in sorted(listed, key=lambda n: (n["category"], n["name"])):
            table.add_row(n["category"], n["name"], n["label"], n["description"])
        console.print(table)
        return
    found = next((n for n in listed if n["name"] == name), None)
    if found is None:
        typer.echo(f"error: no node {name!r}; `canvasflow nodes` lists them", err=True)
        raise typer.Exit(1)
    console.print(f"[bold]{found['label']}[/bold] ({found['name']}, {found['category']})")
    console.print(found["description"])
    console.print("gives: " + ", ".join(found["baseClasses"]))
    table = Table("input", "type", "required", "default", "description")
    for inp in found["inputs"]:
        default = inp.get("default")
        table.add_row(
            inp["name"],
            inp["type"] + (" (list)" if inp.get("list") else ""),
            "" if inp["optional"] else "yes",
            "" if default is None else str(default)[:30],
            inp["description"],
        )
    if found.get("credential"):
        cred = found["credential"]
        table.add_row("credential", "credential", "", "", ", ".join(cred["credentialNames"]))
    console.print(table)


def _credentials(store: Any, data_dir: Path | None) -> Any:
    from canvasflow.credentials import Credentials
    from canvasflow.keyfiles import secret_key

    return Credentials(store, secret_key(_settings(data_dir=data_dir)))


@credential_app.command("create")
def credential_create(
    kind: Annotated[str, typer.Argument(help="Flowise's credential kind, e.g. openAIApi")],
    name: Annotated[str, typer.Option(help="A name to know it by")],
    field: Annotated[
        list[str] | None, typer.Option("--field", help="FIELD=VALUE, e.g. openAIApiKey=sk-...")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Store a credential (its secret fields encrypted); prints its id."""
    from canvasflow.errors import CanvasflowError

    values = {}
    for item in field or []:
        key, sep, value = item.partition("=")
        if not sep:
            typer.echo(f"error: --field takes FIELD=VALUE, not {item!r}", err=True)
            raise typer.Exit(2)
        values[key] = value

    async def go(store: Any) -> None:
        try:
            row = await _credentials(store, data_dir).create(name, kind, values)
        except CanvasflowError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        typer.echo(row.id)

    asyncio.run(_with_store(data_dir, go))


@credential_app.command("list")
def credential_list(data_dir: DataDir = None) -> None:
    """List credentials: id, kind, name (never their secrets)."""

    async def go(store: Any) -> None:
        for row in await store.list_credentials():
            typer.echo(f"{row.id}  {row.credential_name:<24} {row.name}")

    asyncio.run(_with_store(data_dir, go))


@credential_app.command("delete")
def credential_delete(
    ref: Annotated[str, typer.Argument(help="Credential id or name")], data_dir: DataDir = None
) -> None:
    """Delete a credential."""
    from canvasflow.errors import CanvasflowError

    async def go(store: Any) -> None:
        try:
            await _credentials(store, data_dir).delete(ref)
        except CanvasflowError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None

    asyncio.run(_with_store(data_dir, go))


@app.command()
def ingest(
    canvas: Annotated[str, typer.Argument(help="Canvas id or slug")],
    data_dir: DataDir = None,
) -> None:
    """Load a canvas's documents into its document stores, showing progress."""
    import uuid

    from canvasflow.credentials import Credentials
    from canvasflow.engine.graph import allowed_overrides, parse
    from canvasflow.engine.run import upsert
    from canvasflow.keyfiles import secret_key
    from canvasflow.runtime.context import RunContext
    from canvasflow.runtime.node import load_all

    settings = _settings(data_dir=data_dir)
    load_all(settings.extra_node_modules)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"))
    task = bar.add_task("ingest", total=None)
    seen = {"done": 0, "total": 0}

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        seen.update(done=done, total=total)

    async def go(store: Any) -> None:
        found = await _find_canvas(store, canvas)
        if found is None:
            typer.echo(f"error: canvas {canvas} not found", err=True)
            raise typer.Exit(1)
        ctx = RunContext(
            question="",
            canvas_id=found.id,
            chat_message_id=str(uuid.uuid4()),
            store=store,
            settings=settings,
            credentials=Credentials(store, secret_key(settings)),
        )
        try:
            with bar:
                totals = await upsert(
                    parse(found.flow_data), ctx, allowed_overrides(found.settings), progress
                )
        except CanvasflowError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if not bar.console.is_terminal:  # no live bar where no terminal shows it
            typer.echo(f"{seen['done']}/{seen['total']} chunks embedded", err=True)
        typer.echo(f"added {totals['numAdded']}, already stored {totals['numSkipped']}")

    asyncio.run(_with_store(data_dir, go))


@app.command()
def predict(
    canvas: Annotated[str, typer.Argument(help="Canvas id or slug")],
    question: Annotated[str, typer.Argument(help="The question")],
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Stream tokens")] = False,
    url: Annotated[
        str | None,
        typer.Option(
            help="Server URL (CANVASFLOW_URL); else the one `canvasflow serve` starts with "
            "these settings (CANVASFLOW_HOST, CANVASFLOW_PORT)",
            envvar="CANVASFLOW_URL",
        ),
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="CANVASFLOW_API_KEY")] = None,
    chat_id: Annotated[str | None, typer.Option("--chat-id")] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--override", help="KEY=VALUE for overrideConfig (VALUE as JSON if it is)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print raw events / the JSON answer")
    ] = False,
) -> None:
    """Ask a running server; with --stream, print tokens as they arrive."""
    import httpx

    from canvasflow.sdk import Flowise, PredictionData
    from canvasflow.sdk._base import Retry
    from canvasflow.sdk.errors import FlowiseError

    overrides: dict[str, Any] = {}
    for item in override or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            typer.echo(f"error: --override takes KEY=VALUE, not {item!r}", err=True)
            raise typer.Exit(2)
        try:
            overrides[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            overrides[key] = value
    data = PredictionData(
        canvasId=canvas,
        question=question,
        streaming=stream,
        chatId=chat_id,
        overrideConfig=overrides or None,
    )
    url = url or served_url(_settings())
    with Flowise(base_url=url, api_key=api_key, retry=Retry(attempts=2)) as client:
        try:
            result = client.create_prediction(data)
            if not stream:
                if as_json:
                    typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
                else:
                    typer.echo(result.get("text", ""))
                return
            _print_stream(result, as_json)
        except FlowiseError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except httpx.HTTPError:
            typer.echo(
                f"error: no canvasflow server answers at {url} "
                "(start one with `canvasflow serve`, or pass --url)",
                err=True,
            )
            raise typer.Exit(1) from None


def _print_stream(events: Any, as_json: bool) -> None:
    out = sys.stdout
    sources: list[Any] = []
    steps: list[Any] = []
    meta: dict[str, Any] = {}
    failed = False
    for ev in events:
        if as_json:
            out.write(orjson.dumps(ev).decode() + "\n")
            out.flush()
            continue
        kind, data = ev.get("event"), ev.get("data")
        if kind == "token":
            out.write(data)
            out.flush()
        elif kind == "source":
            sources = data or []
        elif kind == "step":
            steps.append(data)
        elif kind == "metadata":
            meta = data or {}
        elif kind == "error":
            failed = True
            msg = data.get("message") if isinstance(data, dict) else data
            typer.echo(f"\nerror: {msg}", err=True)
    if as_json:
        return
    out.write("\n")
    for step in steps:
        typer.echo(f"[step] {step.get('step')}: {step.get('input')!r} -> {step.get('output')!r}")
    for i, doc in enumerate(sources, 1):
        title = (doc.get("metadata") or {}).get("title") or (doc.get("metadata") or {}).get(
            "source"
        )
        typer.echo(f"[source {i}] {title or ''}: {str(doc.get('pageContent', ''))[:80]}")
    if meta:
        usage = meta.get("usage") or {}
        typer.echo(
            f"[model {meta.get('model')}, tokens {usage.get('prompt_tokens', 0)} in / "
            f"{usage.get('completion_tokens', 0)} out, {meta.get('latency_ms')} ms]",
            err=True,
        )
    if failed:
        raise typer.Exit(1)


eval_app = typer.Typer(help="Evaluate a canvas over a dataset.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
FAILED_EVALUATION = 1


def _dataset_file(path: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    from canvasflow.evals import datasets as files

    rows, problems = files.read(path.read_text(encoding="utf-8-sig"), files.kind_of(path.name))
    for p in problems:
        typer.echo(f"{path.name}:{p.line}: {p.reason} (row skipped)", err=True)
    if not rows:
        typer.echo(f"error: {path} has no rows", err=True)
        raise typer.Exit(2)
    return rows, problems


async def _eval_local(
    data_dir: Path | None,
    canvas_ref: str,
    dataset: str,
    versions: list[int],
    evaluators: list[str],
    concurrency: int,
    from_file: tuple[str, list[dict[str, Any]]] | None,
) -> dict[str, Any]:
    from rich.progress import Progress

    from canvasflow.errors import CanvasflowError
    from canvasflow.evals import runner
    from canvasflow.server.app import open_state
    from canvasflow.server.routes.evals import evaluation_out

    async with open_state(_settings(data_dir=data_dir)) as st:
        canvas = await _find_canvas(st.store, canvas_ref)
        if canvas is None:
            typer.echo(f"error: no canvas {canvas_ref!r} (see `canvasflow canvas list`)", err=True)
            raise typer.Exit(2)
        dataset_ref = dataset
        if from_file is not None:  # a file's rows: the dataset named after it, replaced
            name, rows = from_file
            found = await st.store.dataset(name)
            found = found or await st.store.create_dataset(name, f"from {dataset}")
            await st.store.add_dataset_rows(found.id, rows, replace=True)
            dataset_ref = found.id
        try:
            plan = await runner.plan(
                st, canvas, dataset_ref, versions or None, evaluators, concurrency
            )
        except CanvasflowError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        evaluation = await runner.start(st, plan)
        task = st.evaluations[evaluation.id]
        with Progress(console=_stderr(), transient=True) as bar:
            shown = bar.add_task("evaluating", total=evaluation.total)
            while not task.done():
                await asyncio.wait({task}, timeout=0.25)
                now = await st.store.evaluation(evaluation.id)
                bar.update(shown, completed=now.done if now else 0)
        done = await st.store.evaluation(evaluation.id)
        assert done is not None
        out = evaluation_out(done, await st.store.evaluation_rows(done.id))
        return out.model_dump(mode="json")


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _eval_remote(
    url: str,
    api_key: str | None,
    data_dir: Path | None,
    canvas_ref: str,
    dataset: str,
    versions: list[int],
    evaluators: list[str],
    concurrency: int,
) -> dict[str, Any]:
    import time

    from rich.progress import Progress

    with _server(url, api_key, data_dir) as client:
        canvases = _call(client, "GET", "/api/v1/canvases")
        named = [
            c for c in canvases if canvas_ref in (c["id"], c["slug"]) or c["name"] == canvas_ref
        ]
        if len(named) != 1:
            typer.echo(f"error: no canvas {canvas_ref!r} at {url}", err=True)
            raise typer.Exit(2)
        path = Path(dataset)
        dataset_ref = dataset
        if path.is_file():
            _dataset_file(path)  # bad rows named here, before anything is sent
            from canvasflow.evals.datasets import kind_of

            listed = [d for d in _call(client, "GET", "/api/v1/datasets") if d["name"] == path.name]
            found = (
                listed[0]
                if listed
                else _call(client, "POST", "/api/v1/datasets/set", json={"name": path.name})
            )
            _call(
                client,
                "POST",
                f"/api/v1/datasets/set/{found['id']}/import",
                json={
                    "content": path.read_text(encoding="utf-8-sig"),
                    "format": kind_of(path.name),
                    "replace": True,
                },
            )
            dataset_ref = found["id"]
        body = {
            "canvasId": named[0]["id"],
            "datasetId": dataset_ref,
            "versions": versions or None,
            "evaluators": evaluators,
            "concurrency": concurrency,
        }
        r = client.post("/api/v1/evaluations", json=body)
        if r.status_code in (400, 404, 422):
            typer.echo(f"error: {r.status_code}: {r.json().get('message')}", err=True)
            raise typer.Exit(2)
        if r.status_code >= 400:
            typer.echo(f"error: {r.status_code}: {r.text}", err=True)
            raise typer.Exit(1)
        evaluation = r.json()
        with Progress(console=_stderr(), transient=True) as bar:
            shown = bar.add_task("evaluating", total=evaluation["total"])
            while evaluation["status"] in ("pending", "running"):
                time.sleep(0.5)
                evaluation = _call(client, "GET", f"/api/v1/evaluations/{evaluation['id']}")
                bar.update(shown, completed=evaluation["done"])
        return evaluation


@eval_app.command("run")
def eval_run(
    canvas: Annotated[str, typer.Argument(help="Canvas id, slug or name")],
    dataset: Annotated[
        str,
        typer.Argument(
            help="Dataset id or name, or a CSV/JSONL file (question and expected columns)"
        ),
    ],
    version: Annotated[
        list[int] | None, typer.Option("--version", help="A version to run (repeat for more)")
    ] = None,
    evaluator: Annotated[
        list[str] | None,
        typer.Option(
            "--evaluator",
            help="A saved evaluator's id or name, or a builtin: exact, contains, "
            "not-contains, regex:PATTERN, json, json-schema:SCHEMA, similarity[:0.8], "
            "latency<MS, tokens<N, cost<USD, judge[:RUBRIC] (default: contains)",
        ),
    ] = None,
    fail_under: Annotated[
        float, typer.Option("--fail-under", min=0, max=1, help="Exit 1 below this pass rate")
    ] = 0.0,
    concurrency: Annotated[int, typer.Option(min=1, max=32)] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON")] = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (for a CI)")
    ] = None,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Run a canvas over a dataset, judge every answer, print a table and a last line
    `pass rate P (N of M)`; exit 1 below --fail-under, 2 on bad input."""
    from canvasflow.evals import report

    if url:
        result = _eval_remote(
            url, api_key, data_dir, canvas, dataset, version or [], evaluator or [], concurrency
        )
    else:
        path = Path(dataset)
        from_file = (path.name, _dataset_file(path)[0]) if path.is_file() else None
        result = asyncio.run(
            _eval_local(
                data_dir, canvas, dataset, version or [], evaluator or [], concurrency, from_file
            )
        )
    if junit is not None:
        junit.write_text(report.junit(result), encoding="utf-8")
    if as_json:
        typer.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        report.print_table(result)
    if result["status"] != "completed":
        typer.echo(
            f"error: the evaluation ended {result['status']}: {result.get('error')}", err=True
        )
        raise typer.Exit(FAILED_EVALUATION)
    typer.echo(report.pass_line(result), err=as_json)  # stdout stays one JSON document
    if report.pass_rate(result) < fail_under:
        raise typer.Exit(FAILED_EVALUATION)


# -- document stores ----------------------------------------------------------------------

docstore_app = typer.Typer(
    help="Document stores: knowledge kept outside canvases, searched by them.",
    no_args_is_help=True,
)
app.add_typer(docstore_app, name="docstore")
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout")]


async def _docstores(data_dir: Path | None, fn: Any) -> Any:
    from canvasflow.docstore.service import DocStores

    async def go(store: Any) -> Any:
        service = DocStores(store, _settings(data_dir=data_dir), _credentials(store, data_dir))
        try:
            return await fn(service)
        except CanvasflowError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return await _with_store(data_dir, go)


def _echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@docstore_app.command("create")
def docstore_create(
    name: Annotated[str, typer.Argument(help="The store's name")],
    description: Annotated[str, typer.Option(help="What it holds")] = "",
    embeddings: Annotated[
        str | None, typer.Option(help="Embeddings node (default: the embedded WordLlama)")
    ] = None,
    vector_store: Annotated[
        str | None,
        typer.Option(help="canvasflowDocumentStore (default), memoryVectorStore or faiss"),
    ] = None,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Create a document store; prints its id."""
    if url:
        with _server(url, api_key, data_dir) as client:
            made = _call(
                client,
                "POST",
                "/api/v1/document-store/store",
                json={"name": name, "description": description},
            )
            if embeddings or vector_store:
                _call(
                    client,
                    "POST",
                    "/api/v1/document-store/vectorstore/save",
                    json={
                        "storeId": made["id"],
                        "embeddingName": embeddings,
                        "vectorStoreName": vector_store,
                    },
                )
        typer.echo(made["id"])
        return

    async def go(service: Any) -> str:
        row = await service.create(name, description)
        if embeddings or vector_store:
            await service.configure(
                row.id, embedding_name=embeddings, vector_store_name=vector_store
            )
        return str(row.id)

    typer.echo(asyncio.run(_docstores(data_dir, go)))


@docstore_app.command("add")
def docstore_add(
    store: Annotated[str, typer.Argument(help="Store id or name")],
    files: Annotated[list[Path], typer.Argument(help="Files to add (read by their suffix)")],
    chunk_size: Annotated[int, typer.Option(help="Characters a chunk")] = 1000,
    chunk_overlap: Annotated[int, typer.Option(help="Characters chunks share")] = 200,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Add files to a store (its file loader; one is made the first time). Nothing is
    embedded until `canvasflow docstore process`."""
    import base64
    import mimetypes

    for path in files:
        if not path.is_file():
            typer.echo(f"error: {path} is not a file", err=True)
            raise typer.Exit(1)
    given = [(p.name, p.read_bytes()) for p in files]
    splitter = {"chunkSize": chunk_size, "chunkOverlap": chunk_overlap}
    if url:
        with _server(url, api_key, data_dir) as client:
            row = _call(client, "GET", f"/api/v1/document-store/store/{store}")
            loader = next((e for e in row["loaders"] if e["loaderId"] == "fileLoader"), None)
            urls = [
                f"data:{mimetypes.guess_type(n)[0] or 'application/octet-stream'};base64,"
                f"{base64.b64encode(d).decode()},filename:{n}"
                for n, d in given
            ]
            body: dict[str, Any] = {
                "storeId": row["id"],
                "loaderId": "fileLoader",
                "loaderConfig": {**(loader or {}).get("loaderConfig", {}), "file": urls},
                "splitterId": "recursiveCharacterTextSplitter",
                "splitterConfig": splitter,
            }
            if loader is not None:
                body["id"] = loader["id"]
            saved = _call(client, "POST", "/api/v1/document-store/loader/save", json=body)
        typer.echo(f"{len(given)} files added; the loader has {len(saved['files'])}")
        return

    async def go(service: Any) -> dict[str, Any]:
        row = await service.row(store)
        loader = next((e for e in row.loaders or [] if e["loaderId"] == "fileLoader"), None)
        saved: dict[str, Any] = await service.save_loader(
            row.id,
            loader_name="fileLoader",
            loader_config=(loader or {}).get("loaderConfig"),
            splitter_name="recursiveCharacterTextSplitter",
            splitter_config=splitter,
            loader_id=loader["id"] if loader else None,
            files=given,
        )
        return saved

    saved = asyncio.run(_docstores(data_dir, go))
    typer.echo(f"{len(given)} files added; the loader has {len(saved['files'])}")


def _progress_bar() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("processing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sources, {task.fields[line]}"),
        console=Console(stderr=True),
        transient=True,
    )


@docstore_app.command("process")
def docstore_process(
    store: Annotated[str, typer.Argument(help="Store id or name")],
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Process every loader of a store: new and changed chunks embedded, the chunks of
    removed files deleted; ends with what it did."""
    import time

    from canvasflow.docstore.service import Progress

    bar = _progress_bar()
    task = bar.add_task("process", total=None, line="")
    total = Progress()
    if url:
        with _server(url, api_key, data_dir) as client, bar:
            row = _call(client, "GET", f"/api/v1/document-store/store/{store}")
            for entry in row["loaders"]:
                _call(
                    client,
                    "POST",
                    f"/api/v1/document-store/loader/process/{entry['id']}",
                    json={"storeId": row["id"]},
                )
                while True:  # its progress, as the server writes it
                    job = _call(
                        client, "GET", f"/api/v1/document-store/job/{row['id']}/{entry['id']}"
                    )
                    done = Progress(**job)
                    bar.update(task, completed=done.files, total=done.filesTotal, line=done.line())
                    if done.state != "running":
                        break
                    time.sleep(0.3)
                total.add(done)
    else:

        def shown(p: Progress) -> None:
            bar.update(task, completed=p.files, total=p.filesTotal, line=p.line())

        async def go(service: Any) -> None:
            from canvasflow.runtime.node import load_all

            load_all()  # every node, as a server has them: not counted in the job's time
            row = await service.row(store)
            total.startedAt = time.time()
            for entry in row.loaders or []:
                total.add(await service.process(row.id, entry["id"], shown))

        with bar:
            asyncio.run(_docstores(data_dir, go))
    total.state = "done" if not total.failed else "failed"
    total.finishedAt = time.time()
    if as_json:
        from dataclasses import asdict

        _echo_json(asdict(total))
    else:
        for failed in total.failed:
            typer.echo(f"failed: {failed['source']}: {failed['error']}", err=True)
        typer.echo(total.line())


@docstore_app.command("query")
def docstore_query(
    store: Annotated[str, typer.Argument(help="Store id or name")],
    text: Annotated[str, typer.Argument(help="What to look for")],
    top_k: Annotated[int, typer.Option("--top-k", help="Chunks to show")] = 4,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """The chunks of a store nearest a text, with their scores."""
    if url:
        with _server(url, api_key, data_dir) as client:
            found = _call(
                client,
                "POST",
                "/api/v1/document-store/vectorstore/query",
                json={"storeId": store, "query": text, "topK": top_k},
            )["docs"]
    else:

        async def go(service: Any) -> Any:
            return await service.query(store, text, top_k)

        found = asyncio.run(_docstores(data_dir, go))
    if as_json:
        _echo_json(found)
        return
    if not found:
        typer.echo("no chunks (process the store first: canvasflow docstore process)")
    for doc in found:
        source = doc["metadata"].get("source", "")
        snippet = " ".join(doc["pageContent"].split())[:160]
        typer.echo(f"{doc['score']:.4f}  {source}  {snippet}")


@docstore_app.command("list")
def docstore_list(
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Document stores: id, name, loaders, files, chunks, status."""
    if url:
        with _server(url, api_key, data_dir) as client:
            rows = _call(client, "GET", "/api/v1/document-store/store")
    else:

        async def go(service: Any) -> Any:
            return await service.summaries()

        rows = asyncio.run(_docstores(data_dir, go))
    if as_json:
        _echo_json(rows)
        return
    _table(
        ("id", "name", "loaders", "files", "chunks", "status"),
        [
            (
                r["id"],
                r["name"],
                str(len(r["loaders"])),
                str(sum(len(e.get("files") or []) for e in r["loaders"])),
                str(r["totalChunks"]),
                r["status"],
            )
            for r in rows
        ],
    )


if __name__ == "__main__":
    app()
