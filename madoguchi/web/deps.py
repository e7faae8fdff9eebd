"""FastAPI dependencies: the runtime, and who is calling.

A caller proves who they are in one of two ways:

- ``Authorization: Bearer <api token>`` — integrations and scripts (``/api/v1/tokens``);
- the ``madoguchi_session`` cookie — the browser, after ``POST /api/v1/auth/login``.

CSRF defence: a cookie travels with every request the browser makes, including ones a
hostile page triggers. So a cookie-authenticated request with an unsafe method (POST, PUT,
PATCH, DELETE) must also carry ``X-Requested-With: madoguchi``. A page on another origin
cannot add that header without a CORS preflight, which this app never grants; a bearer
token is never sent by the browser on its own, so token requests need no such header.
The cookie is also ``SameSite=Strict``: two independent locks on the same door.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from madoguchi.domain.events import CredentialsChanged
from madoguchi.runtime import Runtime
from madoguchi.services.access.sessions import authenticate_session
from madoguchi.services.access.tokens import ROLES, Principal, authenticate

SESSION_COOKIE = "madoguchi_session"
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "madoguchi"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="An API token (`/api/v1/tokens`)")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The browser session from `POST /api/v1/auth/login`; unsafe methods also "
    f"need the header `{CSRF_HEADER}: {CSRF_VALUE}`",
)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def client_ip(request: Request) -> str | None:
    """The caller's address (uvicorn resolves X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def check_csrf_header(request: Request) -> None:
    """Refuse an unsafe cookie request that lacks ``X-Requested-With: madoguchi``."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get(CSRF_HEADER, "").strip().lower() != CSRF_VALUE:
        raise HTTPException(
            403,
            {
                "code": "csrf_header_missing",
                "message": f"requests signed in by cookie must send {CSRF_HEADER}: {CSRF_VALUE}",
            },
        )


async def principal_from_credentials(
    runtime: Runtime, authorization: str | None, session_cookie: str | None
) -> Principal | None:
    """Who the credentials name, or None. A bearer token wins over a cookie.

    No CSRF check here: HTTP callers get it from ``current_principal``; a websocket caller
    must check the Origin of a cookie-authenticated handshake itself.
    """
    token = bearer_token(authorization)
    if token is not None:
        async with runtime.db.read() as session:
            return await authenticate(session, token)
    if session_cookie:
        return await authenticate_session(runtime.db, session_cookie)
    return None


async def current_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    session_cookie: str | None = Depends(_cookie),
) -> Principal:
    runtime = get_runtime(request)
    if credentials is not None:
        async with runtime.db.read() as session:
            principal = await authenticate(session, credentials.credentials)
        if principal is None:
            raise HTTPException(
                401,
                "this API token is not valid or was revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return principal
    if session_cookie:
        check_csrf_header(request)
        principal = await authenticate_session(runtime.db, session_cookie)
        if principal is None:
            raise HTTPException(
                401,
                "your session has ended: sign in again",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return principal
    raise HTTPException(
        401,
        "sign in, or send an API token (Authorization: Bearer …)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_role(*allowed: str) -> Callable[..., Principal]:
    """A dependency admitting only ``allowed`` roles (admin is always admitted).

    The admitted roles are kept on the dependency as ``allowed_roles`` so tests can check
    every route's policy against what the route really does.
    """
    unknown = set(allowed) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role != "admin" and principal.role not in allowed:
            raise HTTPException(403, f"the {principal.role} role may not do this")
        return principal

    dependency.allowed_roles = frozenset({"admin", *allowed})  # type: ignore[attr-defined]
    return dependency


any_role = require_role("agent", "supervisor")
supervisor_or_admin = require_role("supervisor")
admin_only = require_role()


async def credentials_changed(
    runtime: Runtime, workspace_id: int, *, user_id: int | None = None, token_id: int | None = None
) -> None:
    """Tell every process (over the bus) to re-check the open websockets of this user or
    token, after the change is committed."""
    await runtime.bus.publish(
        [CredentialsChanged(workspace_id=workspace_id, user_id=user_id, token_id=token_id)]
    )
