"""Reading the audit log: newest first, filtered by person, object, action and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.models import AuditEntry


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_user_id: int | None = None
    target_type: str | None = None
    target_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # paging: entries older than this one
    limit: int = 100


async def list_entries(
    session: AsyncSession, workspace_id: int, f: AuditFilter = AuditFilter()
) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if f.actor_user_id is not None:
        query = query.where(AuditEntry.actor_user_id == f.actor_user_id)
    if f.target_type:
        query = query.where(AuditEntry.target_type == f.target_type)
    if f.target_id:
        query = query.where(AuditEntry.target_id == f.target_id)
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    if f.before_id is not None:
        query = query.where(AuditEntry.id < f.before_id)
    query = query.order_by(AuditEntry.id.desc()).limit(f.limit)
    return list((await session.scalars(query)).all())
