"""Workspaces: the tenant boundary every row belongs to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.models import Workspace

DEFAULT_SLUG = "default"


async def get_or_create_workspace(
    session: AsyncSession, slug: str = DEFAULT_SLUG, name: str | None = None
) -> tuple[Workspace, bool]:
    workspace = await session.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is not None:
        return workspace, False
    workspace = Workspace(slug=slug, name=name or slug.replace("-", " ").title())
    session.add(workspace)
    await session.flush()
    return workspace, True
