"""Canvas CRUD (``/canvases``, alias ``/chatflows``) and the streaming check."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from canvasflow import importer
from canvasflow.engine.checks import reachability
from canvasflow.engine.finishing import check_settings as check_finishing
from canvasflow.engine.graph import Problem, check, load_flow_data, refuse
from canvasflow.engine.run import can_stream
from canvasflow.errors import (
    AlreadyExists,
    CanvasInvalid,
    NotFound,
    PayloadTooLarge,
    SettingsInvalid,
)
from canvasflow.mcp.config import keep_mcp_token
from canvasflow.observability.analytic import check_settings as check_analytic
from canvasflow.runtime.context import RunContext
from canvasflow.runtime.graphs import CanvasGraph
from canvasflow.server.deps import canvas_or_404, json_body, state
from canvasflow.server.guards import identify, require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    CanvasIn,
    CanvasOut,
    CanvasUpdate,
    DraftIn,
    StreamingCheck,
    Validation,
)
from canvasflow.server.state import ServerState
from canvasflow.server.uploads import remove_uploads
from canvasflow.store.models import Canvas
from canvasflow.store.repo import Conflict
from canvasflow.triggers import schedule, webhook

router = APIRouter(prefix="/api/v1", tags=["canvases"])
admin = [Depends(require_admin)]


def out(canvas: Canvas, problems: list[Problem] | None = None) -> CanvasOut:
    graph, found = check(canvas.flow_data)
    runs = graph is not None and not any(p.level == "error" for p in found)
    streaming = can_stream(graph) if runs and graph is not None else None
    return CanvasOut(
        problems=[p.as_dict() for p in (found if problems is None else problems)],
        id=canvas.id,
        slug=canvas.slug,
        name=canvas.name,
        flowData=canvas.flow_data,
        settings=webhook.shown(canvas.settings),
        isStreaming=streaming,
        createdDate=canvas.created_at,
        updatedDate=canvas.updated_at,
        version=canvas.version or 1,
        published=canvas.published,
    )


def validated_flow(flow_data: str | dict, max_nodes: int = 1000) -> str:
    """flowData as stored (a JSON string). A draft with missing inputs or bad values is
    stored (its problems come back with it); only what is not a canvas at all (not
    JSON, a node canvasflow does not have) is refused."""
    data = load_flow_data(flow_data)
    nodes = data.get("nodes")
    if isinstance(nodes, list) and len(nodes) > max_nodes:
        raise PayloadTooLarge(
            f"the canvas has {len(nodes)} nodes; at most {max_nodes} (CANVASFLOW_MAX_CANVAS_NODES)"
        )
    _, problems = check(data)
    structure = [p for p in problems if p.kind == "structure"]
    if structure:
        raise refuse(structure)
    return flow_data if isinstance(flow_data, str) else orjson.dumps(data).decode()


async def author_of(request: Request) -> str | None:
    """Who saves: the name of the caller's key (none with --no-auth)."""
    caller = await identify(request)
    return caller.name if caller is not None else None


def check_triggers(flow: str, settings: dict[str, Any] | None, min_seconds: float) -> None:
    """A schedule that cannot be kept, or post-processing, follow-up prompts or analytic
    providers set up wrongly, is refused at save (422 naming it)."""
    why = check_finishing(settings) or check_analytic(settings or {})
    if why:
        raise SettingsInvalid(why)
    graph, problems = check(flow)
    if graph is None or any(p.level == "error" for p in problems):
        graph = None  # a draft: its Start node's schedule is checked once it can run
    try:
        found = schedule.config_of(graph, settings)
    except CanvasInvalid:
        return
    if found is None:
        return
    schedule.check(found, min_seconds)
    if getattr(graph, "kind", "chatflow") != "agentflow" and not found.input.strip():
        raise SettingsInvalid("a chatflow's schedule needs an input (settings.schedule.input)")


async def problems_of(st: Any, canvas: Canvas) -> list[Problem]:
    """The canvas's problems, credentials included (they need the store)."""
    graph, problems = check(canvas.flow_data)
    nodes = graph.nodes.values() if graph is not None else []
    for spec in nodes:
        ref = spec.inputs.get("credential")
        if ref and isinstance(ref, str) and await st.store.get_credential(ref) is None:
            problems.append(
                Problem(
                    f"{spec.label} ({spec.id}): the credential {ref!r} is not stored in "
                    "canvasflow; the server's key (the provider's environment variable) is "
                    "used",
                    spec.id,
                    "credential",
                    level="warning",
                )
            )
    return problems


DEEP = Query(
    False,
    description="Also build each model and embeddings node as a run would and ask its "
    "provider for its model list (no tokens spent): a problem on each that cannot be "
    "reached with the key it would use",
)


async def _deep(st: ServerState, graph: CanvasGraph | None) -> list[Problem]:
    ctx = RunContext(question="", settings=st.settings, credentials=st.credentials, store=st.store)
    return await reachability(graph, ctx)


async def validate_draft(body: DraftIn, request: Request, deep: bool = DEEP) -> Validation:
    """The problems of a canvas being edited, without saving it (the studio asks as
    the user edits)."""
    graph, problems = check(body.flowData)
    if deep:
        problems += await _deep(state(request), graph)
    return Validation(
        valid=not any(p.level == "error" for p in problems),
        problems=[p.as_dict() for p in problems],
    )


async def validate_canvas(canvas_id: str, request: Request, deep: bool = DEEP) -> Validation:
    """Every problem of the canvas at once, each with node id, input name and message."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    problems = await problems_of(st, canvas)
    if deep:
        problems += await _deep(st, check(canvas.flow_data)[0])
    return Validation(
        valid=not any(p.level == "error" for p in problems),
        problems=[p.as_dict() for p in problems],
    )


async def list_canvases(request: Request) -> list[CanvasOut]:
    return [out(c) for c in await state(request).store.list_canvases()]


async def create_canvas(body: CanvasIn, request: Request) -> CanvasOut:
    flow = validated_flow(body.flowData, state(request).settings.max_canvas_nodes)
    settings = webhook.keep_secret(body.settings or {}, None)
    check_triggers(flow, settings, state(request).settings.min_schedule_s)
    try:
        canvas = await state(request).store.create_canvas(
            body.name, flow, slug=body.slug, settings=settings, author=await author_of(request)
        )
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    state(request).forget_canvases()
    return out(canvas, await problems_of(state(request), canvas))


async def get_canvas(canvas_id: str, request: Request) -> CanvasOut:
    return out(await canvas_or_404(state(request), canvas_id))


async def update_canvas(canvas_id: str, body: CanvasUpdate, request: Request) -> CanvasOut:
    flow = (
        validated_flow(body.flowData, state(request).settings.max_canvas_nodes)
        if body.flowData is not None
        else None
    )
    settings = body.settings
    current = await canvas_or_404(state(request), canvas_id)
    if settings is not None:  # the MCP token's hash, the webhook's secret: never set
        settings = keep_mcp_token(settings, current.settings)  # from outside, nor lost
        settings = webhook.keep_secret(settings, current.settings)
    if flow is not None or settings is not None:
        check_triggers(
            flow if flow is not None else current.flow_data,
            settings if settings is not None else current.settings,
            state(request).settings.min_schedule_s,
        )
    try:
        canvas = await state(request).store.update_canvas(
            canvas_id,
            name=body.name,
            slug=body.slug,
            flow_data=flow,
            settings=settings,
            author=await author_of(request),
            message=body.versionMessage,
        )
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    if canvas is None:
        raise NotFound(f"Canvas {canvas_id} not found")
    state(request).forget_canvases()
    return out(canvas, await problems_of(state(request), canvas))


async def delete_canvas(canvas_id: str, request: Request) -> Response:
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    await st.store.delete_canvas(canvas.id)
    remove_uploads(st.settings.data_dir, canvas.id)
    st.forget_canvases()
    return Response(status_code=204)


async def import_canvas(
    request: Request, slug: str | None = None, name: str | None = None
) -> CanvasOut:
    """A canvasflow canvas, a Flowise chatflow export, or a Flowise marketplace template.
    Its name: the one the file holds, else ``name`` (the studio sends the file's)."""
    st = state(request)
    doc = await json_body(request)
    try:
        fallback = (name or "").strip()[:400] or "Imported canvas"
        canvas_doc = importer.normalise(doc, fallback_name=fallback)
    except CanvasInvalid as exc:
        raise CanvasInvalid(exc.message) from None
    flow = validated_flow(canvas_doc["flowData"], st.settings.max_canvas_nodes)
    canvas_doc["settings"] = webhook.keep_secret(canvas_doc["settings"] or {}, None)
    check_triggers(flow, canvas_doc["settings"], st.settings.min_schedule_s)
    try:
        canvas = await st.store.create_canvas(
            canvas_doc["name"],
            flow,
            # a slug from the file yields to an existing canvas; one asked for does not
            slug=slug
            or (await st.store.free_slug(canvas_doc["slug"]) if canvas_doc["slug"] else None),
            settings=canvas_doc["settings"],
        )
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    state(request).forget_canvases()
    return out(canvas, await problems_of(st, canvas))


async def export_canvas(canvas_id: str, request: Request) -> dict[str, Any]:
    """The canvas as a Flowise chatflow object (flowData as a JSON string)."""
    return importer.export(await canvas_or_404(state(request), canvas_id))


async def streaming_check(canvas_id: str, request: Request) -> StreamingCheck:
    """Public, with no key even for a locked canvas (Flowise's SDKs ask it before every
    prediction, without a key). An unknown id answers ``false``, as a canvas that does
    not stream, never 404 (the SDK then asks for a JSON answer and gets its clean 404)."""
    st = state(request)
    canvas = await st.canvas(canvas_id) if canvas_id else None
    if canvas is None:
        return StreamingCheck(isStreaming=False)
    try:
        return StreamingCheck(isStreaming=can_stream(st.graph_for(canvas)))
    except CanvasInvalid:
        return StreamingCheck(isStreaming=False)


IMPORT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": "canvasflow canvas, Flowise chatflow export, or marketplace template",
    }
}

for prefix in ("/canvases", "/chatflows"):
    tag = "canvases" if prefix == "/canvases" else "canvases (Flowise alias)"
    router.add_api_route(
        prefix,
        list_canvases,
        methods=["GET"],
        response_model=list[CanvasOut],
        tags=[tag],
        dependencies=admin,
    )
    router.add_api_route(
        prefix,
        create_canvas,
        methods=["POST"],
        response_model=CanvasOut,
        status_code=201,
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
    )
    router.add_api_route(
        prefix + "/import",
        import_canvas,
        methods=["POST"],
        response_model=CanvasOut,
        status_code=201,
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
        openapi_extra=IMPORT_DOC,
    )
    router.add_api_route(
        prefix + "/validate",
        validate_draft,
        methods=["POST"],
        response_model=Validation,
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
    )
    router.add_api_route(
        prefix + "/{canvas_id}/validate",
        validate_canvas,
        methods=["GET"],
        response_model=Validation,
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
    )
    router.add_api_route(
        prefix + "/{canvas_id}/export",
        export_canvas,
        methods=["GET"],
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
    )
    router.add_api_route(
        prefix + "/{canvas_id}",
        get_canvas,
        methods=["GET"],
        response_model=CanvasOut,
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
    )
    router.add_api_route(
        prefix + "/{canvas_id}",
        update_canvas,
        methods=["PUT"],
        response_model=CanvasOut,
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
    )
    router.add_api_route(
        prefix + "/{canvas_id}",
        delete_canvas,
        methods=["DELETE"],
        status_code=204,
        responses=ERRORS,
        tags=[tag],
        dependencies=admin,
    )

router.add_api_route(
    "/chatflows-streaming/{canvas_id}",
    streaming_check,
    methods=["GET"],
    response_model=StreamingCheck,
    responses=ERRORS,
)
router.add_api_route(
    "/canvases/{canvas_id}/streaming",
    streaming_check,
    methods=["GET"],
    response_model=StreamingCheck,
    responses=ERRORS,
)
