"""API tokens for integrations and the CLI.

Tokens are random and long, so a fast SHA-256 digest is enough to store them safely (a slow
password hash would cost every API request); the plaintext is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.models import ApiToken

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


async def create_token(session: AsyncSession, workspace_id: int, role: str, name: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(workspace_id=workspace_id, name=name, role=role, token_hash=hash_token(token))
    )
    await session.flush()
    return token


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    return Principal(
        workspace_id=row.workspace_id, role=row.role, token_id=row.id, user_id=row.user_id
    )
