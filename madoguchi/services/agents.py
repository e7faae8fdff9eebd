"""Agent presence: who is available for offers, away (with a reason) or offline."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.domain.events import PresenceChanged
from madoguchi.services.routing import Outcome, RoutingError, now_utc, requeue_agent_work
from madoguchi.store.db import Database
from madoguchi.store.models import AgentPresence, User

PRESENCE = ("offline", "available", "away")


async def set_presence(
    db: Database, workspace_id: int, user_id: int, status: str, away_reason: str | None = None
) -> Outcome:
    """Change an agent's presence; going offline hands their live work back to its queues."""
    if status not in PRESENCE:
        raise RoutingError(f"presence must be one of {', '.join(PRESENCE)}, not {status!r}", 422)
    if status == "away" and not away_reason:
        away_reason = "away"
    outcome = Outcome()
    async with db.write() as session:
        user = await session.scalar(
            select(User).where(User.id == user_id, User.workspace_id == workspace_id)
        )
        if user is None:
            raise RoutingError(f"user {user_id} not found", 404)
        if user.disabled and status != "offline":
            raise RoutingError("a disabled user cannot become available", 409)
        presence = await session.get(AgentPresence, user_id, with_for_update=True)
        if presence is None:
            presence = AgentPresence(user_id=user_id, workspace_id=workspace_id)
            session.add(presence)
        presence.status = status
        presence.away_reason = away_reason if status == "away" else None
        presence.changed_at = now_utc()
    outcome.events.append(
        PresenceChanged(
            workspace_id=workspace_id,
            user_id=user_id,
            status=status,
            away_reason=away_reason if status == "away" else None,
        )
    )
    if status == "offline":
        requeued = await requeue_agent_work(db, workspace_id, user_id, "agent went offline")
        outcome.events.extend(requeued.events)
    return outcome


async def get_presence(db: Database, workspace_id: int, user_id: int) -> AgentPresence | None:
    async with db.read() as session:
        return await session.scalar(
            select(AgentPresence).where(
                AgentPresence.user_id == user_id, AgentPresence.workspace_id == workspace_id
            )
        )
