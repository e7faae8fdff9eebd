"""Workspaces: the tenant boundary every row belongs to, and its few settings (name, time
zone) that admins change from the web app or the workspace file."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.timezones import timezone_problem
from madoguchi.store.models import Workspace

DEFAULT_SLUG = "default"
NAME_MAX = 200


class WorkspaceError(ValueError):
    """A setting that cannot be stored as given; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class WorkspaceChanges:
    """What to change; None leaves a setting as it is."""

    name: str | None = None
    timezone: str | None = None


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


def check_changes(changes: WorkspaceChanges) -> WorkspaceChanges:
    """The changes, trimmed, or :class:`WorkspaceError` naming the first bad field."""
    name = changes.name
    if name is not None:
        name = name.strip()
        if not name:
            raise WorkspaceError("name", "the workspace needs a name (1 to 200 characters)")
        if len(name) > NAME_MAX:
            raise WorkspaceError(
                "name", f"the name is {len(name)} characters long; at most {NAME_MAX} fit"
            )
    if changes.timezone is not None:
        problem = timezone_problem(changes.timezone)
        if problem:
            raise WorkspaceError("timezone", problem)
    return WorkspaceChanges(name=name, timezone=changes.timezone)


async def update_workspace(
    session: AsyncSession, workspace_id: int, changes: WorkspaceChanges
) -> Workspace:
    """Rename the workspace or change its time zone (validated first, all or nothing)."""
    checked = check_changes(changes)
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:  # the principal was just authenticated: a deleted workspace
        raise WorkspaceError("workspace", f"workspace {workspace_id} no longer exists")
    if checked.name is not None:
        workspace.name = checked.name
    if checked.timezone is not None:
        workspace.timezone = checked.timezone
    await session.flush()
    return workspace
