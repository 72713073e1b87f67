"""Browser sign-in: an API key exchanged once for an HttpOnly session cookie, so pages
never keep a key in storage that scripts can read."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from canvasflow.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    make_session,
    read_session,
    session_parts,
)
from canvasflow.errors import RateLimited, Unauthorized
from canvasflow.server.deps import state
from canvasflow.server.guards import check_origin, client_id, identify
from canvasflow.server.routes.predictions import ERRORS
from canvasflow.server.schemas import SessionInfo, SignIn

router = APIRouter(prefix="/api/v1/auth", tags=["session"], responses=ERRORS)


@router.get("/session", response_model=SessionInfo)
async def who_am_i(request: Request) -> SessionInfo:
    st = state(request)
    caller = await identify(request)
    return SessionInfo(
        signedIn=caller is not None,
        admin=bool(caller and caller.is_admin) or st.settings.no_auth,
        name=caller.name if caller else None,
        authRequired=not st.settings.no_auth,
    )


@router.post("/session", response_model=SessionInfo)
async def sign_in(body: SignIn, request: Request, response: Response) -> SessionInfo:
    check_origin(request)
    st = state(request)
    client = client_id(request, None, st.settings.trusted_proxy_header)
    # the same limit as a wrong bearer key: past it, 429 before any key is checked
    if await st.limiter.auth_blocked(client):
        raise RateLimited(
            "Too many failed API-key checks; try again later", headers={"Retry-After": "60"}
        )
    caller = await st.keys.identify(body.key)
    if caller is None:
        await st.limiter.auth_failed(client)
        raise Unauthorized("that API key is not valid")
    response.set_cookie(
        SESSION_COOKIE,
        make_session(caller.key_id, st.secret),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionInfo(
        signedIn=True, admin=caller.is_admin, name=caller.name, authRequired=not st.settings.no_auth
    )


@router.delete("/session", status_code=204)
async def sign_out(request: Request) -> Response:
    check_origin(request)
    st = state(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    parts = session_parts(cookie) if read_session(cookie, st.secret) else None
    if parts is not None:  # the cookie stops working now, wherever a copy of it is
        sig, expires = parts
        await st.store.revoke_session(sig, datetime.fromtimestamp(expires, UTC))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
