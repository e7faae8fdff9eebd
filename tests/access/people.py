"""Small factories for people in web tests: users with passwords, sign-in, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from madoguchi.services.access.tokens import issue_token
from madoguchi.services.access.users import create_user
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.store.db import Database

PASSWORD = "correct horse battery"
CSRF = {"X-Requested-With": "madoguchi"}


async def add_user(
    db: Database, email: str, role: str, *, workspace: str = "acme", password: str = PASSWORD
) -> int:
    async with db.write() as session:
        ws, _ = await get_or_create_workspace(session, workspace)
        user = await create_user(
            session,
            ws.id,
            email=email,
            name=email.split("@")[0].title(),
            role=role,
            password=password,
        )
        return user.id


async def add_token(
    db: Database, role: str, *, workspace: str = "acme", user_id: int | None = None
) -> tuple[int, str]:
    async with db.write() as session:
        ws, _ = await get_or_create_workspace(session, workspace)
        row, token = await issue_token(session, ws.id, role, f"{role} token", user_id=user_id)
        return row.id, token


@asynccontextmanager
async def signed_in(
    base_url: str, email: str, password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own (its own cookie jar) signed in as ``email``."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}, headers=CSRF
        )
        assert response.status_code == 200, response.text
        yield client
