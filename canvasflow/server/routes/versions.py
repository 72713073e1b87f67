"""A canvas's versions: every save of its flow is one, numbered from 1. List them, read
one, compare two (nodes, inputs, edges), restore one (a new version equal to it), and
pin the one predictions are answered with (``published``) while newer drafts are
edited and tested."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from canvasflow.engine.graph import load_flow_data
from canvasflow.errors import NotFound
from canvasflow.server.deps import canvas_admin_routes, canvas_or_404, state
from canvasflow.server.routes.canvases import author_of, check_triggers, out
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    CanvasOut,
    InputChange,
    NodeRef,
    PublishIn,
    VersionDiff,
    VersionOut,
)
from canvasflow.store.models import Canvas, CanvasVersion

router = APIRouter(prefix="/api/v1", tags=["versions"])


def _nodes(flow_data: str) -> dict[str, dict[str, Any]]:
    try:
        nodes = load_flow_data(flow_data).get("nodes") or []
    except Exception:
        return {}
    return {str(n["id"]): n for n in nodes if isinstance(n, dict) and "id" in n}


def _edges(flow_data: str) -> set[str]:
    try:
        edges = load_flow_data(flow_data).get("edges") or []
    except Exception:
        return set()
    return {_edge(e) for e in edges if isinstance(e, dict)}


def _edge(e: dict[str, Any]) -> str:
    """An edge as its two ends: ``source:handle->target:handle``."""
    source = f"{e.get('source')}:{e.get('sourceHandle') or ''}"
    return f"{source}->{e.get('target')}:{e.get('targetHandle') or ''}"


def version_out(row: CanvasVersion, canvas: Canvas, with_flow: bool = False) -> VersionOut:
    return VersionOut(
        number=row.number,
        name=row.name,
        createdDate=row.created_at,
        author=row.author,
        message=row.message,
        nodes=len(_nodes(row.flow_data)),
        published=canvas.published == row.number,
        latest=canvas.version == row.number,
        flowData=row.flow_data if with_flow else None,
    )


def _ref(node_id: str, node: dict[str, Any]) -> NodeRef:
    data = node.get("data") or {}
    return NodeRef(nodeId=node_id, name=str(data.get("name") or ""), label=data.get("label"))


def diff(old: CanvasVersion, new: CanvasVersion) -> VersionDiff:
    """Nodes added and removed (by id), inputs whose values changed on the nodes both
    have, edges added and removed: what the studio marks on the canvas."""
    before, after = _nodes(old.flow_data), _nodes(new.flow_data)
    changed: list[InputChange] = []
    for node_id in sorted(before.keys() & after.keys()):
        was = (before[node_id].get("data") or {}).get("inputs") or {}
        now = (after[node_id].get("data") or {}).get("inputs") or {}
        for name in sorted(was.keys() | now.keys()):
            if was.get(name) != now.get(name):
                changed.append(
                    InputChange(nodeId=node_id, input=name, old=was.get(name), new=now.get(name))
                )
    edges_before, edges_after = _edges(old.flow_data), _edges(new.flow_data)
    return VersionDiff(
        old=old.number,
        new=new.number,
        nodesAdded=[_ref(i, after[i]) for i in sorted(after.keys() - before.keys())],
        nodesRemoved=[_ref(i, before[i]) for i in sorted(before.keys() - after.keys())],
        inputsChanged=changed,
        edgesAdded=sorted(edges_after - edges_before),
        edgesRemoved=sorted(edges_before - edges_after),
        nameChanged=old.name != new.name,
    )


async def _version(request: Request, canvas: Canvas, number: int) -> CanvasVersion:
    row = await state(request).store.version(canvas.id, number)
    if row is None:
        raise NotFound(f"canvas {canvas.slug} has no version {number}")
    return row


async def list_versions(canvas_id: str, request: Request) -> list[VersionOut]:
    """Newest first."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    return [version_out(r, canvas) for r in await st.store.versions(canvas.id)]


async def get_version(canvas_id: str, number: int, request: Request) -> VersionOut:
    canvas = await canvas_or_404(state(request), canvas_id)
    return version_out(await _version(request, canvas, number), canvas, with_flow=True)


async def compare(canvas_id: str, old: int, new: int, request: Request) -> VersionDiff:
    canvas = await canvas_or_404(state(request), canvas_id)
    return diff(await _version(request, canvas, old), await _version(request, canvas, new))


async def restore(canvas_id: str, number: int, request: Request) -> CanvasOut:
    """A new version equal to an old one (the versions between stay)."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    row = await _version(request, canvas, number)
    check_triggers(row.flow_data, canvas.settings, st.settings.min_schedule_s)
    updated = await st.store.update_canvas(
        canvas.id,
        name=row.name,
        flow_data=row.flow_data,
        author=await author_of(request),
        message=f"restored version {number}",
    )
    st.forget_canvases()
    assert updated is not None
    return out(updated)


async def publish(canvas_id: str, body: PublishIn, request: Request) -> CanvasOut:
    """Pin the version predictions are answered with (``version: null``: the latest)."""
    st = state(request)
    canvas = await canvas_or_404(st, canvas_id)
    if body.version is not None:
        await _version(request, canvas, body.version)
    updated = await st.store.publish(canvas.id, body.version)
    st.forget_canvases()
    assert updated is not None
    return out(updated)


canvas_admin_routes(
    router,
    "versions",
    [
        ("/versions", list_versions, "GET", list[VersionOut]),
        ("/versions/{number}", get_version, "GET", VersionOut),
        ("/versions/{old}/diff/{new}", compare, "GET", VersionDiff),
        ("/versions/{number}/restore", restore, "POST", CanvasOut),
        ("/published", publish, "PUT", CanvasOut),
    ],
    ERRORS,
)
