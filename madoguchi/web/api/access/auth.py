"""``/api/v1/auth``: browser sign-in with e-mail and password, sign-out, and who am I.

Sign-in sets the ``madoguchi_session`` cookie: HttpOnly (no script can read it),
SameSite=Strict (never sent from another site), Secure when the request came over https,
and without Max-Age (it ends with the browser; the server ends the session after 12 hours
without use). Like every cookie request with an unsafe method, sign-in and sign-out need
the header ``X-Requested-With: madoguchi`` (this also stops a hostile page from signing a
visitor into another account).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access import sessions, users
from madoguchi.services.access.sessions import LoginFailed, LoginRateLimited
from madoguchi.services.access.tokens import Principal
from madoguchi.services.contact_center import presence
from madoguchi.store.models import User, Workspace
from madoguchi.web.api.access.users import Role, UserOut, rate_limited
from madoguchi.web.api.access.workspace import WorkspaceOut
from madoguchi.web.deps import (
    SESSION_COOKIE,
    any_role,
    check_csrf_header,
    client_ip,
    credentials_changed,
    get_runtime,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=users.MAX_PASSWORD_LENGTH)


class MeOut(BaseModel):
    user: UserOut | None = Field(description="The signed-in user; null for a workspace token")
    role: Role = Field(description="The role this caller acts with")
    workspace: WorkspaceOut
    via: str = Field(description="session | token")


async def _me(runtime: Runtime, principal: Principal) -> MeOut:
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, principal.workspace_id)
        user = (
            await users.get_user(session, principal.workspace_id, principal.user_id)
            if principal.user_id is not None
            else None
        )
    return MeOut(
        user=UserOut.of(user) if user else None,
        role=principal.role,
        workspace=WorkspaceOut.of(workspace),
        via="session" if principal.token_id is None else "token",
    )


def _set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post(
    "/login",
    response_model=MeOut,
    responses={
        401: {"description": "Wrong e-mail or password"},
        429: {"description": "Too many failures"},
    },
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    runtime: Runtime = Depends(get_runtime),
):
    """Sign in; sets the session cookie and returns who you are now."""
    check_csrf_header(request)
    try:
        result = await sessions.login(runtime.db, body.email, body.password, client_ip(request))
    except LoginRateLimited as exc:
        raise rate_limited(exc) from exc
    except LoginFailed as exc:
        raise HTTPException(401, {"code": "invalid_credentials", "message": exc.message}) from exc
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        async with runtime.db.write() as session:
            await sessions.logout(session, previous)
    _set_cookie(response, request, result.token)
    principal = Principal(
        workspace_id=result.user.workspace_id, role=result.user.role, user_id=result.user.id
    )
    return await _me(runtime, principal)


@router.post("/logout", status_code=204)
async def logout(request: Request, runtime: Runtime = Depends(get_runtime)):
    """End this browser's session (API tokens are revoked at ``DELETE /api/v1/tokens/{id}``)."""
    token = request.cookies.get(SESSION_COOKIE)
    response = Response(status_code=204)
    if token:
        check_csrf_header(request)
        async with runtime.db.write() as session:
            user_id = await sessions.logout(session, token)
            workspace_id = await session.scalar(select(User.workspace_id).where(User.id == user_id))
        if user_id is not None:
            await credentials_changed(runtime, workspace_id, user_id=user_id)
            # Signed out of the last session: offline (logged for occupancy).
            signed_out = await presence.sign_out(runtime.db, workspace_id, user_id)
            await runtime.bus.publish(signed_out.events)
        _clear_cookie(response, request)
    return response


@router.get("/me", response_model=MeOut)
async def me(principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)):
    return await _me(runtime, principal)
