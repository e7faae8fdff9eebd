"""API tokens for integrations and the CLI.

Tokens are random and long, so a fast SHA-256 digest is enough to store them safely (a slow
password hash would cost every API request); the plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.models import ApiToken, User, utcnow

TOKEN_PREFIX = "mdg_"
ROLES = ("admin", "supervisor", "agent")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the workspace every query is scoped to, and the role it may act as."""

    workspace_id: int
    role: str
    token_id: int | None = None
    user_id: int | None = None  # the signed-in user (None for a workspace-level API token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, workspace_id: int, role: str, name: str, user_id: int | None = None
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            workspace_id=workspace_id,
            name=name,
            role=role,
            user_id=user_id,
            token_hash=hash_token(token),
        )
    )
    await session.flush()
    return token


def role_rank(role: str) -> int:
    """agent 0 < supervisor 1 < admin 2."""
    return len(ROLES) - 1 - ROLES.index(role)


async def issue_token(
    session: AsyncSession, workspace_id: int, role: str, name: str, *, user_id: int | None = None
) -> tuple[ApiToken, str]:
    """A new token row and its plaintext (shown once). With ``user_id`` the token acts as
    that user: never above the user's current role, and dead once the user is disabled."""
    token = await create_token(session, workspace_id, role, name, user_id)
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return row, token


async def list_tokens(session: AsyncSession, workspace_id: int) -> Sequence[ApiToken]:
    return (
        await session.scalars(
            select(ApiToken).where(ApiToken.workspace_id == workspace_id).order_by(ApiToken.id)
        )
    ).all()


async def revoke_token(session: AsyncSession, workspace_id: int, token_id: int) -> bool:
    """Revoke one of the workspace's tokens; False when it has no such token."""
    row = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.workspace_id == workspace_id)
    )
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return True


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    found = (
        await session.execute(
            select(ApiToken, User)
            .outerjoin(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        )
    ).first()
    if found is None:
        return None
    row, user = found
    role = row.role
    if row.user_id is not None:
        # A user's token is never worth more than the user: disabled ends it, a demotion caps it.
        if user is None or user.disabled or user.workspace_id != row.workspace_id:
            return None
        role = min(role, user.role, key=role_rank)
    return Principal(workspace_id=row.workspace_id, role=role, token_id=row.id, user_id=row.user_id)
