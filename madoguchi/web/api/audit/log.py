"""``GET /api/v1/audit-log``: who changed what, newest first (admins only, read-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.query import AuditFilter, list_entries
from madoguchi.store.models import AuditEntry
from madoguchi.web.deps import admin_only, get_runtime

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_user_id: int | None
    actor_token_id: int | None
    actor_role: str
    actor_label: str
    client_address: str | None
    action: str
    target_type: str
    target_id: str | None
    target_label: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls.model_validate(e, from_attributes=True)


@router.get("/audit-log", response_model=list[AuditEntryOut])
async def read_audit_log(
    actor_user_id: int | None = Query(None, description="Changes made by this user"),
    target_type: str | None = Query(None, max_length=40, description="user, flow, queue, …"),
    target_id: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64, description="e.g. flow.publish"),
    since: datetime | None = Query(None, description="From this time (inclusive)"),
    until: datetime | None = Query(None, description="Until this time (exclusive)"),
    before_id: int | None = Query(None, description="Paging: entries older than this id"),
    limit: int = Query(100, ge=1, le=500),
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """The workspace's audit log, newest first. It has no write route: entries are added
    by the changes themselves and can be neither edited nor deleted through the product."""
    f = AuditFilter(
        actor_user_id=actor_user_id,
        target_type=target_type,
        target_id=target_id,
        action=action,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    async with runtime.db.read() as session:
        return [AuditEntryOut.of(e) for e in await list_entries(session, principal.workspace_id, f)]
