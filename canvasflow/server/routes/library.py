"""What canvases share, kept once (admin): global variables (Flowise's
``/api/v1/variables``, read as ``$vars.name`` in prompts, custom tools and agentflow
nodes) and the tools library (Flowise's ``/api/v1/tools``, picked by a Custom Tool
node's ``selectedTool``), with a tool run in the sandbox with given arguments."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from canvasflow.errors import AlreadyExists, BadRequest, NotFound
from canvasflow.nodes.services import SERVICES
from canvasflow.nodes.tools import CustomTool, ToolError, schema_from
from canvasflow.runtime.context import RunContext
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    ToolIn,
    ToolOut,
    ToolRun,
    ToolRunResult,
    ToolUpdate,
    VariableIn,
    VariableOut,
    VariableUpdate,
)
from canvasflow.store.models import Tool, Variable, utcnow
from canvasflow.store.repo import Conflict

router = APIRouter(
    prefix="/api/v1",
    tags=["variables and tools"],
    dependencies=[Depends(require_admin)],
    responses=ERRORS,
)

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def server_secrets() -> set[str]:
    """Environment variables a runtime variable may not read: the server's own keys and
    settings (a canvas's text could send them anywhere)."""
    names = {"DATABASE_URL", "REDIS_URL"}
    for service in SERVICES.values():
        names.update(n for n in (service.key_env, service.url_env) if n)
        names.update(env for _, env in service.more)
    return names


def checked_variable(name: str, value: str, kind: str) -> None:
    if not NAME.match(name):
        raise BadRequest(
            f"variable name {name!r}: letters, digits and _ (not first), as $vars.{name} reads"
        )
    if kind == "runtime":
        source = value.strip() or name
        if source in server_secrets() or source.upper().startswith("CANVASFLOW_"):
            raise BadRequest(
                f"{source} is the server's own setting: a runtime variable may not read it "
                "(give the value as a static variable, or a credential to the node)"
            )


def variable_out(row: Variable) -> VariableOut:
    return VariableOut(
        id=row.id,
        name=row.name,
        value=row.value,
        type=row.type,
        createdDate=row.created_at,
        updatedDate=row.updated_at,
    )


@router.get("/variables", response_model=list[VariableOut])
async def list_variables(request: Request) -> list[VariableOut]:
    """Every global variable (a runtime one's value is the environment variable it
    reads, never what that holds)."""
    return [variable_out(r) for r in await state(request).store.library(Variable)]


@router.post("/variables", response_model=VariableOut, status_code=201)
async def create_variable(body: VariableIn, request: Request) -> VariableOut:
    checked_variable(body.name, body.value, body.type)
    st = state(request)
    now = utcnow()
    row = Variable(
        id=str(uuid.uuid4()),
        name=body.name,
        value=body.value,
        type=body.type,
        created_at=now,
        updated_at=now,
    )
    try:
        await st.store.add_named(row)
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    st.forget_variables()
    return variable_out(row)


@router.put("/variables/{variable_id}", response_model=VariableOut)
async def update_variable(variable_id: str, body: VariableUpdate, request: Request) -> VariableOut:
    st = state(request)
    current = next((v for v in await st.store.library(Variable) if v.id == variable_id), None)
    if current is None:
        raise NotFound(f"no variable {variable_id}")
    changes = body.model_dump(exclude_none=True)
    checked_variable(
        changes.get("name", current.name),
        changes.get("value", current.value),
        changes.get("type", current.type),
    )
    try:
        row = await st.store.update_named(Variable, variable_id, **changes)
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    st.forget_variables()
    return variable_out(row)


@router.delete("/variables/{variable_id}", status_code=204)
async def delete_variable(variable_id: str, request: Request) -> Response:
    st = state(request)
    if not await st.store.delete_named(Variable, variable_id):
        raise NotFound(f"no variable {variable_id}")
    st.forget_variables()
    return Response(status_code=204)


# -- the tools library -----------------------------------------------------------------


def checked_tool(name: str, schema: str | None) -> None:
    if not NAME.match(name):
        raise BadRequest(f"tool name {name!r}: letters, digits and _ (not first)")
    if schema:
        try:
            schema_from(schema)
        except Exception as exc:
            raise BadRequest(f"the tool's schema does not read: {exc}") from None


def tool_out(row: Tool) -> ToolOut:
    return ToolOut(
        id=row.id,
        name=row.name,
        description=row.description,
        color=row.color,
        iconSrc=row.icon_src,
        schema=row.schema,
        func=row.func,
        createdDate=row.created_at,
        updatedDate=row.updated_at,
    )


async def tool_or_404(request: Request, tool_id: str) -> Tool:
    found = await state(request).store.get_row(Tool, tool_id)
    if found is None:
        raise NotFound(f"no tool {tool_id}")
    return found


@router.get("/tools", response_model=list[ToolOut])
async def list_tools(request: Request) -> list[ToolOut]:
    return [tool_out(r) for r in await state(request).store.library(Tool)]


@router.post("/tools", response_model=ToolOut, status_code=201)
async def create_tool(body: ToolIn, request: Request) -> ToolOut:
    checked_tool(body.name, body.schema_)
    now = utcnow()
    row = Tool(
        id=str(uuid.uuid4()),
        name=body.name,
        description=body.description,
        color=body.color,
        icon_src=body.iconSrc,
        schema=body.schema_,
        func=body.func,
        created_at=now,
        updated_at=now,
    )
    try:
        await state(request).store.add_named(row)
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    return tool_out(row)


@router.get("/tools/{tool_id}", response_model=ToolOut)
async def get_tool(tool_id: str, request: Request) -> ToolOut:
    return tool_out(await tool_or_404(request, tool_id))


@router.put("/tools/{tool_id}", response_model=ToolOut)
async def update_tool(tool_id: str, body: ToolUpdate, request: Request) -> ToolOut:
    current = await tool_or_404(request, tool_id)
    changes: dict[str, Any] = body.model_dump(exclude_none=True, by_alias=False)
    if "schema_" in changes:
        changes["schema"] = changes.pop("schema_")
    if "iconSrc" in changes:
        changes["icon_src"] = changes.pop("iconSrc")
    checked_tool(changes.get("name", current.name), changes.get("schema"))
    try:
        row = await state(request).store.update_named(Tool, tool_id, **changes)
    except Conflict as exc:
        raise AlreadyExists(str(exc)) from None
    return tool_out(row)


@router.delete("/tools/{tool_id}", status_code=204)
async def delete_tool(tool_id: str, request: Request) -> Response:
    if not await state(request).store.delete_named(Tool, tool_id):
        raise NotFound(f"no tool {tool_id}")
    return Response(status_code=204)


@router.post("/tools/run", response_model=ToolRunResult)
async def run_tool(body: ToolRun, request: Request) -> ToolRunResult:
    """A tool's code run with the given arguments, in the sandbox with its limits (the
    studio's "run with these arguments"): what it returns, or why it failed."""
    st = state(request)
    ctx = RunContext(
        question="",
        settings=st.settings,
        credentials=st.credentials,
        store=st.store,
        variables=await st.variables(),
    )
    tool = CustomTool(body.name or "tool", "", schema_from(body.schema_ or "[]"), body.func, ctx)
    started = time.perf_counter()
    try:
        output, error = await tool.call(body.arguments), None
    except ToolError as exc:
        output, error = None, str(exc)
    return ToolRunResult(
        output=output, error=error, ms=round((time.perf_counter() - started) * 1000)
    )
