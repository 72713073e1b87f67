"""API keys over HTTP (the admin key is needed once one exists)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from canvasflow.auth import new_key
from canvasflow.errors import NotFound
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import ApiKeyIn, ApiKeyOut

router = APIRouter(
    prefix="/api/v1", tags=["api keys"], dependencies=[Depends(require_admin)], responses=ERRORS
)


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(..., description="the key itself: shown once, stored only as a hash")


@router.get("/apikeys", response_model=list[ApiKeyOut])
async def list_keys(request: Request) -> list[ApiKeyOut]:
    return [
        ApiKeyOut(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            admin=k.is_admin,
            canvases=list(k.canvas_ids or []),
            createdDate=k.created_at,
        )
        for k in await state(request).store.api_keys()
    ]


@router.post("/apikeys", response_model=ApiKeyCreated, status_code=201)
async def create_key(body: ApiKeyIn, request: Request) -> ApiKeyCreated:
    st = state(request)
    ids = []
    for ref in body.canvases:
        canvas = await st.store.get_canvas(ref)
        if canvas is None:
            raise NotFound(f"Canvas {ref} not found")
        ids.append(canvas.id)
    row, key = new_key(body.name, body.admin, ids)
    await st.store.add_api_key(row)
    st.keys.invalidate()
    return ApiKeyCreated(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        admin=row.is_admin,
        canvases=ids,
        createdDate=row.created_at,
        key=key,
    )


@router.delete("/apikeys/{key_id}", status_code=204)
async def delete_key(key_id: str, request: Request) -> Response:
    st = state(request)
    if not await st.store.delete_api_key(key_id):
        raise NotFound(f"API key {key_id} not found")
    st.keys.invalidate()
    return Response(status_code=204)
