"""Credentials over HTTP (Flowise's kinds and field names; secrets never come back)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from canvasflow.credentials import kinds
from canvasflow.errors import NotFound
from canvasflow.server.deps import state
from canvasflow.server.guards import require_admin
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import (
    CredentialIn,
    CredentialKind,
    CredentialOut,
    CredentialUpdate,
)
from canvasflow.store.models import Credential

router = APIRouter(
    prefix="/api/v1", tags=["credentials"], dependencies=[Depends(require_admin)], responses=ERRORS
)


def out(row: Credential, data: dict[str, Any] | None = None) -> CredentialOut:
    return CredentialOut(
        id=row.id,
        name=row.name,
        credentialName=row.credential_name,
        createdDate=row.created_at,
        plainDataObj=data,
    )


@router.get("/credentials", response_model=list[CredentialOut])
async def list_credentials(request: Request, credentialName: str | None = None) -> Any:
    rows = await state(request).store.list_credentials()
    wanted = set(credentialName.split(",")) if credentialName else None
    return [out(r) for r in rows if wanted is None or r.credential_name in wanted]


@router.get("/credentials/{cred_id}", response_model=CredentialOut)
async def get_credential(cred_id: str, request: Request) -> CredentialOut:
    st = state(request)
    row = await st.store.get_credential(cred_id)
    if row is None:
        raise NotFound(f"credential {cred_id} not found")
    return out(row, st.credentials.masked(row))


@router.post("/credentials", response_model=CredentialOut, status_code=201)
async def create_credential(body: CredentialIn, request: Request) -> CredentialOut:
    st = state(request)
    row = await st.credentials.create(body.name, body.credentialName, body.plainDataObj)
    return out(row, st.credentials.masked(row))


@router.put("/credentials/{cred_id}", response_model=CredentialOut)
async def update_credential(
    cred_id: str, body: CredentialUpdate, request: Request
) -> CredentialOut:
    st = state(request)
    row = await st.credentials.update(cred_id, body.name, body.plainDataObj)
    return out(row, st.credentials.masked(row))


@router.delete("/credentials/{cred_id}", status_code=204)
async def delete_credential(cred_id: str, request: Request) -> Response:
    await state(request).credentials.delete(cred_id)
    return Response(status_code=204)


@router.get("/components-credentials", response_model=list[CredentialKind])
async def credential_kinds() -> list[CredentialKind]:
    """Flowise's credential kinds and their fields."""
    return [CredentialKind(**k) for k in kinds().values()]
