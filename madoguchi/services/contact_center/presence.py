"""Agent presence (available for offers, away with a reason, or offline) and the
directory of colleagues anyone may read to pick a transfer target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.calling import ACTIVE, CONNECTING
from madoguchi.domain.events import PresenceChanged
from madoguchi.services.contact_center.assignment import (
    Outcome,
    RoutingError,
    agent_loads,
    now_utc,
    requeue_agent_work,
)
from madoguchi.store.db import Database
from madoguchi.store.models import (
    AgentPresence,
    AgentPresenceLog,
    Call,
    Queue,
    QueueMember,
    User,
    UserSession,
)

PRESENCE = ("offline", "available", "away")
# A queue's conversations per agent when nothing else says (``queues.max_per_agent``).
DEFAULT_CAPACITY = Queue.__table__.c.max_per_agent.default.arg


async def set_presence(
    db: Database,
    workspace_id: int,
    user_id: int,
    status: str,
    away_reason: str | None = None,
    *,
    reason: str | None = None,
) -> Outcome:
    """Change an agent's presence; going offline hands their live work back to its queues.
    Every change is also a row of the presence log (``reason``: why, when not the agent's
    own choice), which reporting's occupancy reads."""
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
        changed = presence.status != status or (
            status == "away" and presence.away_reason != away_reason
        )
        presence.status = status
        presence.away_reason = away_reason if status == "away" else None
        presence.changed_at = now_utc()
        if changed:
            session.add(
                AgentPresenceLog(
                    workspace_id=workspace_id,
                    user_id=user_id,
                    status=status,
                    away_reason=presence.away_reason,
                    reason=reason,
                    at=presence.changed_at,
                )
            )
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


SIGNED_OUT = "signed out"


async def sign_out(db: Database, workspace_id: int, user_id: int) -> Outcome:
    """The user signed out of their last live browser session: they are offline (logged
    with the reason ``signed out``; their live work goes back to its queues like any
    going offline). Still signed in elsewhere: nothing changes."""
    async with db.read() as session:
        status = await session.scalar(
            select(AgentPresence.status).where(AgentPresence.user_id == user_id)
        )
        other_session = await session.scalar(
            select(UserSession.id)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now_utc(),
            )
            .limit(1)
        )
    if status in (None, "offline") or other_session is not None:
        return Outcome()
    return await set_presence(db, workspace_id, user_id, "offline", reason=SIGNED_OUT)


SESSION_EXPIRED = "session expired"


async def expire_lapsed(db: Database, *, now: datetime | None = None) -> Outcome:
    """Presence follows the last live session: an agent whose last browser session ran
    out (``SESSION_TTL`` unused: a laptop closed, a browser left without signing out) is
    offline like one who signed out (logged with the reason ``session expired``; their
    live work goes back to its queues), instead of staying available for offers nobody
    sees. Only a session still live when the presence was last set counts: presence set
    through the API alone (no browser session since) stays as it is."""
    now = now or now_utc()
    sessions = UserSession
    live = select(sessions.id).where(
        sessions.user_id == AgentPresence.user_id,
        sessions.revoked_at.is_(None),
        sessions.expires_at > now,
    )
    lapsed = select(sessions.id).where(
        sessions.user_id == AgentPresence.user_id,
        sessions.revoked_at.is_(None),
        sessions.expires_at <= now,
        sessions.expires_at > AgentPresence.changed_at,
    )
    async with db.read() as session:
        found = (
            await session.execute(
                select(AgentPresence.workspace_id, AgentPresence.user_id).where(
                    AgentPresence.status != "offline", ~exists(live), exists(lapsed)
                )
            )
        ).all()
    outcome = Outcome()
    for workspace_id, user_id in found:
        done = await set_presence(db, workspace_id, user_id, "offline", reason=SESSION_EXPIRED)
        outcome.events.extend(done.events)
    return outcome


async def get_presence(db: Database, workspace_id: int, user_id: int) -> AgentPresence | None:
    async with db.read() as session:
        return await session.scalar(
            select(AgentPresence).where(
                AgentPresence.user_id == user_id, AgentPresence.workspace_id == workspace_id
            )
        )


@dataclass(frozen=True)
class DirectoryEntry:
    """A colleague as anyone of the workspace may see them: enough to pick a transfer
    target, nothing private (no e-mail)."""

    user_id: int
    name: str
    role: str
    presence: str
    open_conversations: int
    capacity: int
    has_capacity: bool
    on_call: bool = False  # on a WhatsApp call now: busy, whatever the chat load


async def directory(
    session: AsyncSession, workspace_id: int, *, queue_id: int | None = None
) -> list[DirectoryEntry]:
    """Every active user of the workspace with presence and room for more work.

    Load counts what routing counts (offered, active, wrap-up). Capacity is the
    ``queue_id`` queue's conversations-per-agent when given (a transfer lands in the
    conversation's queue), otherwise the largest of the user's own queues, otherwise the
    queue default.
    """
    fixed: int | None = None
    if queue_id is not None:
        fixed = await session.scalar(
            select(Queue.max_per_agent).where(
                Queue.id == queue_id, Queue.workspace_id == workspace_id
            )
        )
        if fixed is None:
            raise RoutingError(f"queue {queue_id} not found", 404)
    users = (
        await session.scalars(
            select(User)
            .where(User.workspace_id == workspace_id, User.disabled.is_(False))
            .order_by(User.name, User.id)
        )
    ).all()
    if not users:
        return []
    ids = {u.id for u in users}
    presence = dict(
        (
            await session.execute(
                select(AgentPresence.user_id, AgentPresence.status).where(
                    AgentPresence.workspace_id == workspace_id, AgentPresence.user_id.in_(ids)
                )
            )
        ).all()
    )
    loads = await agent_loads(session, ids)
    on_call = set(
        await session.scalars(
            select(Call.agent_id).where(
                Call.workspace_id == workspace_id,
                Call.agent_id.in_(ids),
                Call.status.in_((CONNECTING, ACTIVE)),
            )
        )
    )
    own = dict(
        (
            await session.execute(
                select(QueueMember.user_id, func.max(Queue.max_per_agent))
                .join(Queue, Queue.id == QueueMember.queue_id)
                .where(Queue.workspace_id == workspace_id, QueueMember.user_id.in_(ids))
                .group_by(QueueMember.user_id)
            )
        ).all()
    )
    out = []
    for user in users:
        capacity = fixed or own.get(user.id) or DEFAULT_CAPACITY
        load = loads.get(user.id, 0)
        out.append(
            DirectoryEntry(
                user_id=user.id,
                name=user.name,
                role=user.role,
                presence=presence.get(user.id, "offline"),
                open_conversations=load,
                capacity=capacity,
                has_capacity=load < capacity and user.id not in on_call,
                on_call=user.id in on_call,
            )
        )
    return out
