"""``/api/v1/workspace``: the caller's workspace and its settings (name, time zone).

Everyone signed in may read it (the web app writes dates in its time zone); only admins
change it. ``madoguchi apply`` may set the same settings from the workspace file.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access import workspaces
from madoguchi.services.access.tokens import Principal
from madoguchi.services.access.workspaces import WorkspaceChanges, WorkspaceError
from madoguchi.services.audit.record import Target, record
from madoguchi.store.models import Workspace
from madoguchi.web.deps import admin_only, any_role, get_runtime

router = APIRouter(prefix="/api/v1", tags=["workspace"])


class WorkspaceOut(BaseModel):
    id: int
    slug: str
    name: str
    timezone: str = Field(description="IANA time zone name the web app writes dates in")

    @classmethod
    def of(cls, w: Workspace) -> WorkspaceOut:
        return cls(id=w.id, slug=w.slug, name=w.name, timezone=w.timezone)


class WorkspacePatch(BaseModel):
    name: str | None = Field(None, max_length=400)
    timezone: str | None = Field(None, max_length=200, description="e.g. Asia/Tokyo, UTC")


@router.get("/workspace", response_model=WorkspaceOut)
async def get_workspace(
    principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.read() as session:
        return WorkspaceOut.of(await session.get(Workspace, principal.workspace_id))


@router.patch("/workspace", response_model=WorkspaceOut)
async def update_workspace(
    body: WorkspacePatch,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Rename the workspace or change its time zone (only the fields sent change)."""
    try:
        async with runtime.db.write() as session:
            before = WorkspaceOut.of(await session.get(Workspace, principal.workspace_id))
            workspace = await workspaces.update_workspace(
                session,
                principal.workspace_id,
                WorkspaceChanges(name=body.name, timezone=body.timezone),
            )
            out = WorkspaceOut.of(workspace)
            target = Target("workspace", workspace.id, workspace.name)
            await record(
                session,
                principal,
                "workspace.update",
                target,
                before.model_dump(mode="json"),
                out.model_dump(mode="json"),
            )
            return out
    except WorkspaceError as exc:
        raise HTTPException(
            422, {"code": "invalid", "field": exc.field, "message": exc.message}
        ) from exc
