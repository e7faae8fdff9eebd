"""Steering agents from the wallboard: set an agent's presence, release the offers they
sit on, sign them out of a queue.

A supervisor limited to some queues (queue supervisors) may steer only the agents of
those queues; another agent is "not found", as everything outside one's view. Each
action is audited; released offers are lifecycle steps (declined, by the supervisor).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import QueueChanged, QueueSettingsChanged
from madoguchi.domain.lifecycle import Status, Step
from madoguchi.services.access.tokens import Principal
from madoguchi.services.access.visibility import supervised_queue_ids
from madoguchi.services.audit.record import Target
from madoguchi.services.audit.record import record as audit
from madoguchi.services.contact_center import assignment, presence
from madoguchi.services.contact_center.assignment import OFFER_TIMEOUT
from madoguchi.services.scheduling import timers
from madoguchi.services.supervision.actions import Done, SupervisionError
from madoguchi.store.db import Database
from madoguchi.store.models import AgentPresence, Conversation, QueueMember, User


async def agent_in_scope(session: AsyncSession, principal: Principal, agent_id: int) -> User:
    """The agent, if this caller may steer them (404 otherwise)."""
    user = await session.scalar(
        select(User).where(User.id == agent_id, User.workspace_id == principal.workspace_id)
    )
    allowed = await supervised_queue_ids(session, principal)
    if user is not None and allowed is not None:
        member = await session.scalar(
            select(QueueMember.id).where(
                QueueMember.user_id == agent_id, QueueMember.queue_id.in_(allowed)
            )
        )
        if member is None:
            user = None
    if user is None:
        raise SupervisionError(f"agent {agent_id} not found", 404, "not_found")
    return user


def _target(user: User) -> Target:
    return Target("user", user.id, user.email)


async def set_agent_presence(
    db: Database, principal: Principal, agent_id: int, status: str, away_reason: str | None
) -> Done:
    async with db.read() as session:
        user = await agent_in_scope(session, principal, agent_id)
        before = await session.scalar(
            select(AgentPresence.status).where(AgentPresence.user_id == agent_id)
        )
    try:
        outcome = await presence.set_presence(
            db, principal.workspace_id, agent_id, status, away_reason
        )
    except assignment.RoutingError as exc:
        raise SupervisionError(exc.message, exc.status) from exc
    async with db.write() as session:
        await audit(
            session,
            principal,
            "supervision.set_presence",
            _target(user),
            {"presence": before or "offline"},
            {"presence": status, "away_reason": away_reason},
        )
    return Done(events=outcome.events, result={"user_id": agent_id, "status": status})


async def release_offers(db: Database, principal: Principal, agent_id: int) -> Done:
    """Offers the agent has not answered go back to their queues now."""
    done = Done()
    async with db.write() as session:
        user = await agent_in_scope(session, principal, agent_id)
        offered = (
            await session.scalars(
                select(Conversation)
                .where(
                    Conversation.workspace_id == principal.workspace_id,
                    Conversation.offered_agent_id == agent_id,
                    Conversation.status == Status.OFFERED,
                )
                .with_for_update()
            )
        ).all()
        outcome = assignment.Outcome()
        for conversation in offered:
            await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
            conversation.offered_agent_id = None
            await assignment.record(
                session,
                conversation,
                Step.DECLINE,
                actor_id=principal.user_id,
                agent_id=agent_id,
                reason="released by a supervisor",
                outcome=outcome,
                previous_agent_id=agent_id,
            )
        if offered:
            await audit(
                session,
                principal,
                "supervision.release_offers",
                _target(user),
                None,
                {"conversations": [c.id for c in offered]},
            )
        done.events = outcome.events
        done.result = {"released": [c.id for c in offered]}
        done.result["queue_ids"] = sorted({c.queue_id for c in offered if c.queue_id})
    return done


async def sign_out_of_queue(
    db: Database, principal: Principal, agent_id: int, queue_id: int
) -> Done:
    """Take the agent out of a queue's members (they get no more of its offers)."""
    done = Done()
    async with db.write() as session:
        user = await agent_in_scope(session, principal, agent_id)
        allowed = await supervised_queue_ids(session, principal)
        member = await session.scalar(
            select(QueueMember).where(
                QueueMember.user_id == agent_id,
                QueueMember.queue_id == queue_id,
                QueueMember.workspace_id == principal.workspace_id,
            )
        )
        if member is None or (allowed is not None and queue_id not in allowed):
            raise SupervisionError(
                f"{user.name} is not a member of queue {queue_id}", 404, "not_found"
            )
        await session.delete(member)
        await audit(
            session,
            principal,
            "supervision.sign_out_of_queue",
            _target(user),
            {"queue_id": queue_id},
            None,
        )
        done.events.append(
            QueueChanged(
                workspace_id=principal.workspace_id,
                queue_id=queue_id,
                waiting=await assignment.waiting_count(session, queue_id),
            )
        )
        # The members changed: watched wallboards re-read them (the small tables) now.
        done.events.append(
            QueueSettingsChanged(workspace_id=principal.workspace_id, queue_id=queue_id)
        )
        done.result = {"user_id": agent_id, "queue_id": queue_id}
    return done
