"""Canvas files in and out: canvasflow's own shape, a Flowise chatflow export (whose
flowData is a JSON string), or a Flowise marketplace template ({description, nodes,
edges})."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from canvasflow.engine.graph import IGNORED_NODES, load_flow_data
from canvasflow.errors import CanvasInvalid
from canvasflow.triggers.webhook import shown


def normalise(doc: Any, fallback_name: str = "Imported canvas") -> dict[str, Any]:
    """``{name, slug?, flowData (str), settings}`` from any of the accepted shapes."""
    if not isinstance(doc, dict):
        raise CanvasInvalid("a canvas file must hold a JSON object")
    if "flowData" in doc:
        flow = load_flow_data(doc["flowData"])
        name = doc.get("name") or fallback_name
        slug = doc.get("slug")
        given = doc.get("settings")
        settings = {**flowise_settings(doc), **(given if isinstance(given, dict) else {})}
    elif "nodes" in doc:
        flow = {"nodes": doc.get("nodes") or [], "edges": doc.get("edges") or []}
        name = doc.get("name") or doc.get("title") or fallback_name
        slug = None
        settings = {}
        if doc.get("description"):
            settings["description"] = doc["description"]
    else:
        raise CanvasInvalid("not a canvas: expected flowData, or nodes and edges")
    flow = strip_ignored(flow)
    return {
        "name": str(name),
        "slug": slug,
        "flowData": orjson.dumps(flow).decode(),
        "settings": settings,
    }


# a Flowise chatflow's own columns that canvasflow keeps in a canvas's settings, under
# the same names (Flowise stores them as JSON strings; the settings hold objects)
FLOWISE_SETTINGS = ("chatbotConfig", "followUpPrompts", "apiConfig", "analytic", "speechToText")


def flowise_settings(doc: dict[str, Any]) -> dict[str, Any]:
    """The settings a Flowise chatflow export carries in its own columns."""
    out: dict[str, Any] = {}
    for name in FLOWISE_SETTINGS:
        value = doc.get(name)
        if isinstance(value, str) and value.strip():
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        if isinstance(value, dict) and value:
            out[name] = value
    if isinstance(doc.get("isPublic"), bool):  # the public chatbot page (/chatbot/{id})
        out["isPublic"] = doc["isPublic"]
    return out


def strip_ignored(flow: dict[str, Any]) -> dict[str, Any]:
    """Drop sticky notes (and edges to them); move ``data.credential`` into inputs."""
    nodes = []
    dropped = set()
    for node in flow.get("nodes") or []:
        data = node.get("data") if isinstance(node, dict) else None
        if isinstance(data, dict) and data.get("name") in IGNORED_NODES:
            dropped.add(node.get("id"))
            continue
        if isinstance(data, dict) and data.get("credential"):
            inputs = data.setdefault("inputs", {})
            if isinstance(inputs, dict):
                inputs.setdefault("credential", data["credential"])
        nodes.append(node)
    edges = [
        e
        for e in flow.get("edges") or []
        if not (isinstance(e, dict) and (e.get("source") in dropped or e.get("target") in dropped))
    ]
    return {**flow, "nodes": nodes, "edges": edges}


def read_file(path: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise CanvasInvalid(f"{path} is not valid JSON: {exc}") from None
    return normalise(doc, fallback_name=path.stem)


def export(canvas: Any) -> dict[str, Any]:
    """A Flowise-shaped chatflow object (flowData as a JSON string; the settings Flowise
    keeps in columns of its own there too, as JSON strings)."""
    settings = shown(canvas.settings)
    columns = {
        name: orjson.dumps(settings[name]).decode()
        for name in FLOWISE_SETTINGS
        if isinstance(settings.get(name), dict)
    }
    return {
        **columns,
        "id": canvas.id,
        "name": canvas.name,
        "slug": canvas.slug,
        "flowData": canvas.flow_data,
        # never a sealed secret (a webhook's): the export may leave this server
        "settings": settings,
        "deployed": False,
        "isPublic": settings.get("isPublic") is True,
        "type": "CHATFLOW",
    }
