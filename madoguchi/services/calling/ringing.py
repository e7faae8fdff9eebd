"""Whose desktop rings for a customer's call.

The agent who has the conversation, if they are available and not on another call;
otherwise every available agent of the conversation's queue (or the number's default
queue) who is not on a call, all at once: the first to answer takes it. An empty answer
means nobody can take the call now, and it is declined as missed at once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.calling import LIVE_STATUSES
from madoguchi.store.models import (
    AgentPresence,
    Call,
    Conversation,
    PhoneNumber,
    QueueMember,
    User,
)


async def agents_on_calls(session: AsyncSession, workspace_id: int) -> set[int]:
    rows = await session.scalars(
        select(Call.agent_id).where(
            Call.workspace_id == workspace_id,
            Call.status.in_(LIVE_STATUSES),
            Call.agent_id.is_not(None),
        )
    )
    return set(rows)


async def _available(session: AsyncSession, workspace_id: int, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    rows = await session.scalars(
        select(AgentPresence.user_id)
        .join(User, User.id == AgentPresence.user_id)
        .where(
            AgentPresence.workspace_id == workspace_id,
            AgentPresence.user_id.in_(ids),
            AgentPresence.status == "available",
            User.disabled.is_(False),
        )
    )
    return set(rows)


async def agents_to_ring(session: AsyncSession, conversation: Conversation) -> list[int]:
    ws = conversation.workspace_id
    busy = await agents_on_calls(session, ws)
    owner = conversation.assigned_agent_id
    if owner is not None and owner not in busy and await _available(session, ws, {owner}):
        return [owner]
    queue_id = conversation.queue_id
    if queue_id is None:
        queue_id = await session.scalar(
            select(PhoneNumber.default_queue_id).where(
                PhoneNumber.id == conversation.phone_number_id
            )
        )
    if queue_id is None:
        return []
    members = set(
        await session.scalars(
            select(QueueMember.user_id).where(
                QueueMember.queue_id == queue_id, QueueMember.workspace_id == ws
            )
        )
    )
    return sorted(await _available(session, ws, members - busy))
