"""FastAPI dependencies: the runtime, and who is calling (bearer token → principal)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from madoguchi.runtime import Runtime
from madoguchi.services.tokens import ROLES, Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API token from `madoguchi token create`")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None:
        raise HTTPException(
            401,
            "an API token is required (Authorization: Bearer …)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    runtime = get_runtime(request)
    async with runtime.db.read() as session:
        principal = await authenticate(session, credentials.credentials)
    if principal is None:
        raise HTTPException(
            401,
            "this API token is not valid or was revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require_role(*allowed: str) -> Callable[..., Principal]:
    """A dependency admitting only ``allowed`` roles (admin is always admitted)."""
    unknown = set(allowed) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role != "admin" and principal.role not in allowed:
            raise HTTPException(403, f"the {principal.role} role may not do this")
        return principal

    return dependency


any_role = require_role("agent", "supervisor")
