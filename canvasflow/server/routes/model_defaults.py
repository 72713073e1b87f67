"""The studio's Models page: the chat model and the embeddings new canvases and
templates use, each a node's configuration (provider node, credential, model, address),
checked when saved by asking the provider for its model list with that key (no
tokens). And whether Ollama runs at its usual address, with the models it has."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request

from canvasflow.engine.checks import provider_models
from canvasflow.errors import InputInvalid, UpstreamError
from canvasflow.nodes.services import OLLAMA
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.node import REGISTRY, Node, load_all
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import ModelChoice, ModelDefaults, OllamaStatus
from canvasflow.server.state import ServerState

router = APIRouter(
    prefix="/api/v1", tags=["models"], dependencies=[Depends(require_admin)], responses=ERRORS
)

KEYS = {"chat": "models.chat", "embeddings": "models.embeddings"}
CATEGORIES = {"chat": ("Chat Models",), "embeddings": ("Embeddings",)}


def url_input(cls: type[Node]) -> str | None:
    """The input a node takes its server's address in, if it takes one."""
    own = getattr(cls, "url_input", None)
    if own and cls.input(own) is not None:
        return str(own)
    return next((n for n in ("baseUrl", "basepath", "basePath") if cls.input(n)), None)


def inputs_of(choice: ModelChoice, cls: type[Node]) -> dict[str, Any]:
    """The node inputs a choice stands for."""
    values: dict[str, Any] = {"modelName": choice.modelName}
    if choice.credential:
        values["credential"] = choice.credential
    where = url_input(cls)
    if choice.baseUrl and where:
        values[where] = choice.baseUrl
    return values


async def _check(st: ServerState, kind: str, choice: ModelChoice) -> None:
    """Build the node as a run would and ask its provider for its models: a refusal is
    a 400 in the words on screen."""
    load_all()
    cls = REGISTRY.get(choice.node)
    if cls is None or cls.category not in CATEGORIES[kind]:
        raise InputInvalid(f"{choice.node!r} is not a {kind} node")
    if cls.missing_extras():
        extra = cls.missing_extras()[0]
        raise InputInvalid(
            f"{cls.label} needs canvasflow[{extra}]: pip install 'canvasflow[{extra}]'"
        )
    ctx = RunContext(question="", settings=st.settings, credentials=st.credentials, store=st.store)
    try:
        names = await provider_models(cls(f"{choice.node}_default", inputs_of(choice, cls)), ctx)
    except UpstreamError as exc:  # refused, unreachable, or too slow: a 400 saying which
        raise InputInvalid(exc.message) from None
    if names is None:
        return  # in this process (the embedded model): nothing to ask
    if choice.modelName and names and choice.modelName not in names:
        raise InputInvalid(
            f"{cls.label}: the provider has no model {choice.modelName!r} "
            f"(it has {', '.join(names[:8])}{'...' if len(names) > 8 else ''})"
        )


async def read_defaults(st: ServerState) -> ModelDefaults:
    found: dict[str, Any] = {}
    for kind, key in KEYS.items():
        raw = await st.store.meta(key)
        found[kind] = ModelChoice.model_validate_json(raw) if raw else None
    return ModelDefaults(**found)


@router.get("/model-defaults", response_model=ModelDefaults)
async def get_defaults(request: Request) -> ModelDefaults:
    """The chat model and embeddings new canvases and templates use (none: the embedded
    ones)."""
    return await read_defaults(state(request))


@router.put("/model-defaults", response_model=ModelDefaults)
async def put_defaults(body: ModelDefaults, request: Request) -> ModelDefaults:
    """Set both (a missing one is forgotten). Each is checked first: its provider must
    answer with its key and list its model."""
    st = state(request)
    for kind in KEYS:
        choice = getattr(body, kind)
        if choice is not None:
            await _check(st, kind, choice)
    for kind, key in KEYS.items():
        choice = getattr(body, kind)
        await st.store.set_meta(key, orjson.dumps(choice.model_dump()).decode() if choice else None)
    return await read_defaults(st)


@router.get("/ollama", response_model=OllamaStatus)
async def ollama(request: Request) -> OllamaStatus:
    """Whether Ollama answers at its address (OLLAMA_BASE_URL, else its default port),
    and the models it has pulled."""
    from canvasflow.models.native import ollama_models

    url = str(OLLAMA.base_url(state(request).settings))
    try:
        models = await asyncio.wait_for(ollama_models(url), 2.0)
    except (UpstreamError, TimeoutError):
        return OllamaStatus(found=False, url=url, models=[])
    return OllamaStatus(found=True, url=url, models=models)
