"""``/api/v1/tokens``: API tokens for integrations and the CLI (create, list, revoke)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access import tokens, users
from madoguchi.services.access.tokens import Principal, role_rank
from madoguchi.services.audit.record import Target, record
from madoguchi.store.models import ApiToken
from madoguchi.web.api.access.users import Role
from madoguchi.web.deps import admin_only, credentials_changed, get_runtime

router = APIRouter(prefix="/api/v1", tags=["users"])


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
    user_id: int | None = Field(description="The user the token acts as, or null")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        return cls(
            id=t.id,
            name=t.name,
            role=t.role,
            user_id=t.user_id,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
        )


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    user_id: int | None = Field(
        None, description="Act as this user (never above their role; ends when disabled)"
    )


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown this once, store it now")


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(
    principal: Principal = Depends(admin_only), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.read() as session:
        return [TokenOut.of(t) for t in await tokens.list_tokens(session, principal.workspace_id)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
async def create_token(
    body: TokenCreate,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Create an API token; its plaintext is in this response only."""
    async with runtime.db.write() as session:
        if body.user_id is not None:
            user = await users.get_user(session, principal.workspace_id, body.user_id)
            if user is None:
                raise HTTPException(
                    422,
                    {
                        "code": "unknown_user",
                        "field": "user_id",
                        "message": f"no user {body.user_id} in this workspace",
                    },
                )
            if role_rank(body.role) > role_rank(user.role):
                raise HTTPException(
                    422,
                    {
                        "code": "role_above_user",
                        "field": "role",
                        "message": f"a token of a {user.role} cannot have the {body.role} role",
                    },
                )
        row, plaintext = await tokens.issue_token(
            session, principal.workspace_id, body.role, body.name, user_id=body.user_id
        )
        out = TokenOut.of(row)
        after = out.model_dump(mode="json", include={"name", "role", "user_id"})
        await record(
            session, principal, "token.create", Target("token", row.id, row.name), None, after
        )
        return TokenCreated(**out.model_dump(), token=plaintext)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(
    token_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.write() as session:
        found = await tokens.revoke_token(session, principal.workspace_id, token_id)
        if found:
            row = await session.get(ApiToken, token_id)
            target = Target("token", token_id, row.name if row else None)
            await record(session, principal, "token.revoke", target, None, {"revoked": True})
    if not found:
        raise HTTPException(404, f"token {token_id} not found")
    await credentials_changed(runtime, principal.workspace_id, token_id=token_id)
    return Response(status_code=204)
