"""What a supervisor does to a conversation: monitor it, whisper to its agent, barge in
to the customer, take it over.

Each action is one transaction that also writes a lifecycle row (``conversation_events``:
who, when, on whose conversation) and an audit entry, and returns the events to publish
after the commit. Whoever calls these has already checked that the supervisor may see
the conversation (the one visibility rule); the rules here are about its state.

- Monitor: one monitoring session at a time per supervisor (starting another ends the
  first; the database refuses a second open one even from two processes at once).
- Whisper: its own table and event, never a message: it cannot reach the outbox.
- Barge: an ordinary outbound message (window rules, templates when closed) with the
  supervisor as its author.
- Take over: the conversation is assigned to the supervisor (no membership or capacity
  needed); whoever had it loses it and is told; the customer sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import (
    BargedIn,
    Event,
    MonitorChanged,
    QueueChanged,
    WhisperSent,
)
from madoguchi.domain.lifecycle import OPEN_STATUSES, InvalidTransition, Status, Step
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target
from madoguchi.services.audit.record import record as audit
from madoguchi.services.channel.outbox import OutboundRefused, queue_message
from madoguchi.services.contact_center import assignment
from madoguchi.services.contact_center.assignment import OFFER_TIMEOUT, now_utc, wait_data
from madoguchi.services.scheduling import timers
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation, ConversationEvent, MonitorSession, Whisper
from madoguchi.whatsapp.outbound import OutboundMessage

# Lifecycle rows that change no status (the log says who watched, coached, stepped in).
MONITOR_STARTED = "monitor_started"
MONITOR_ENDED = "monitor_ended"
WHISPERED = "whispered"
BARGED = "barged"


class SupervisionError(Exception):
    """A request the conversation's state does not allow; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409, code: str = "conflict") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass
class Done:
    """What an action produced: events to publish after the commit, and its result."""

    events: list[Event] = field(default_factory=list)
    result: dict = field(default_factory=dict)


def _supervisor_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise SupervisionError(
            "this needs a signed-in supervisor (or a token created for one), not a workspace token",
            403,
            "user_required",
        )
    return principal.user_id


async def _open_conversation(
    session: AsyncSession, principal: Principal, conversation_id: int, *, lock: bool = False
) -> Conversation:
    query = select(Conversation).where(
        Conversation.id == conversation_id, Conversation.workspace_id == principal.workspace_id
    )
    conversation = await session.scalar(query.with_for_update() if lock else query)
    if conversation is None:
        raise SupervisionError(f"conversation {conversation_id} not found", 404, "not_found")
    if conversation.status not in OPEN_STATUSES:
        raise SupervisionError(
            f"the conversation is {conversation.status}: only open conversations can be supervised",
            409,
            "conversation_closed",
        )
    return conversation


def _agent_of(conversation: Conversation) -> int | None:
    return conversation.assigned_agent_id or conversation.offered_agent_id


def _log(
    session: AsyncSession,
    conversation: Conversation,
    kind: str,
    actor_id: int,
    *,
    data: dict | None = None,
    at: datetime | None = None,
) -> None:
    """A lifecycle row that moves no status."""
    session.add(
        ConversationEvent(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            type=kind,
            from_status=conversation.status,
            to_status=conversation.status,
            actor_user_id=actor_id,
            queue_id=conversation.queue_id,
            agent_id=_agent_of(conversation),
            data=data,
            at=at or now_utc(),
        )
    )


def _target(conversation: Conversation) -> Target:
    return Target("conversation", conversation.id, f"conversation {conversation.id}")


# ---------------------------------------------------------------------- monitor


async def start_monitoring(db: Database, principal: Principal, conversation_id: int) -> Done:
    """Follow a conversation live, read-only; ends the supervisor's other session."""
    supervisor_id = _supervisor_id(principal)
    done = Done()
    try:
        async with db.write() as session:
            conversation = await _open_conversation(session, principal, conversation_id)
            current = await session.scalar(
                select(MonitorSession)
                .where(
                    MonitorSession.supervisor_id == supervisor_id,
                    MonitorSession.ended_at.is_(None),
                )
                .with_for_update()
            )
            if current is not None and current.conversation_id == conversation.id:
                done.result = _session_out(current)
                return done  # already following this one
            now = now_utc()
            if current is not None:
                await _end(session, principal, current, now, done)
            row = MonitorSession(
                workspace_id=principal.workspace_id,
                supervisor_id=supervisor_id,
                conversation_id=conversation.id,
                started_at=now,
            )
            session.add(row)
            await session.flush()
            _log(session, conversation, MONITOR_STARTED, supervisor_id, at=now)
            await audit(session, principal, "supervision.monitor", _target(conversation))
            done.events.append(
                MonitorChanged(
                    workspace_id=principal.workspace_id,
                    conversation_id=conversation.id,
                    supervisor_id=supervisor_id,
                    active=True,
                    agent_id=_agent_of(conversation),
                )
            )
            done.result = _session_out(row)
    except IntegrityError as exc:  # another request of the same supervisor won the race
        raise SupervisionError(
            "you are already monitoring another conversation: one at a time",
            409,
            "already_monitoring",
        ) from exc
    return done


async def stop_monitoring(
    db: Database, principal: Principal, conversation_id: int | None = None
) -> Done:
    """End the supervisor's monitoring session (of ``conversation_id`` when given)."""
    supervisor_id = _supervisor_id(principal)
    done = Done()
    async with db.write() as session:
        query = select(MonitorSession).where(
            MonitorSession.supervisor_id == supervisor_id, MonitorSession.ended_at.is_(None)
        )
        if conversation_id is not None:
            query = query.where(MonitorSession.conversation_id == conversation_id)
        current = await session.scalar(query.with_for_update())
        if current is None:
            raise SupervisionError("you are not monitoring this conversation", 404, "not_found")
        await _end(session, principal, current, now_utc(), done)
        done.result = _session_out(current)
    return done


async def _end(
    session: AsyncSession, principal: Principal, row: MonitorSession, now: datetime, done: Done
) -> None:
    row.ended_at = now
    conversation = await session.get(Conversation, row.conversation_id)
    _log(session, conversation, MONITOR_ENDED, row.supervisor_id, at=now)
    done.events.append(
        MonitorChanged(
            workspace_id=principal.workspace_id,
            conversation_id=row.conversation_id,
            supervisor_id=row.supervisor_id,
            active=False,
            agent_id=_agent_of(conversation),
        )
    )


async def monitors_of(session: AsyncSession, workspace_id: int, conversation_id: int) -> list:
    """The open monitoring sessions on a conversation (the agent's indicator)."""
    rows = await session.scalars(
        select(MonitorSession).where(
            MonitorSession.workspace_id == workspace_id,
            MonitorSession.conversation_id == conversation_id,
            MonitorSession.ended_at.is_(None),
        )
    )
    return [_session_out(r) for r in rows]


def _session_out(row: MonitorSession) -> dict:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "supervisor_id": row.supervisor_id,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
    }


# ---------------------------------------------------------------------- whisper


async def whisper(db: Database, principal: Principal, conversation_id: int, body: str) -> Done:
    """A private word to the agent handling (or offered) the conversation."""
    supervisor_id = _supervisor_id(principal)
    done = Done()
    async with db.write() as session:
        conversation = await _open_conversation(session, principal, conversation_id)
        agent_id = _agent_of(conversation)
        if agent_id is None:
            raise SupervisionError(
                "no agent has this conversation: there is nobody to whisper to",
                409,
                "no_agent",
            )
        row = Whisper(
            workspace_id=principal.workspace_id,
            conversation_id=conversation.id,
            author_id=supervisor_id,
            agent_id=agent_id,
            body=body,
        )
        session.add(row)
        await session.flush()
        _log(session, conversation, WHISPERED, supervisor_id, data={"whisper_id": row.id})
        await audit(session, principal, "supervision.whisper", _target(conversation))
        done.events.append(
            WhisperSent(
                workspace_id=principal.workspace_id,
                conversation_id=conversation.id,
                whisper_id=row.id,
                author_id=supervisor_id,
                agent_id=agent_id,
                body=body,
            )
        )
        done.result = whisper_out(row)
    return done


def whisper_out(row: Whisper) -> dict:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "author_id": row.author_id,
        "agent_id": row.agent_id,
        "body": row.body,
        "created_at": row.created_at,
    }


async def whispers_of(
    session: AsyncSession, principal: Principal, conversation_id: int
) -> list[dict]:
    """Whispers of a conversation: staff see all, an agent those written to them."""
    query = (
        select(Whisper)
        .where(
            Whisper.workspace_id == principal.workspace_id,
            Whisper.conversation_id == conversation_id,
        )
        .order_by(Whisper.id)
    )
    if principal.role == "agent":
        query = query.where(Whisper.agent_id == (principal.user_id or -1))
    return [whisper_out(r) for r in await session.scalars(query)]


# ---------------------------------------------------------------------- barge


async def barge(
    db: Database, principal: Principal, conversation_id: int, message: OutboundMessage
) -> Done:
    """Write to the customer beside the agent: sent like the agent's, signed by the
    supervisor."""
    supervisor_id = _supervisor_id(principal)
    done = Done()
    try:
        async with db.write() as session:
            conversation = await _open_conversation(session, principal, conversation_id)
            if conversation.status != Status.ACTIVE or conversation.assigned_agent_id is None:
                raise SupervisionError(
                    f"the conversation is {conversation.status}: barge in once an agent is "
                    "handling it (or take it over)",
                    409,
                    "no_agent",
                )
            stored, queued = await queue_message(
                db,
                principal.workspace_id,
                conversation.id,
                message,
                session=session,
                author_id=supervisor_id,
            )
            _log(session, conversation, BARGED, supervisor_id, data={"message_id": stored.id})
            await audit(session, principal, "supervision.barge", _target(conversation))
            done.events += [
                queued,
                BargedIn(
                    workspace_id=principal.workspace_id,
                    conversation_id=conversation.id,
                    message_id=stored.id,
                    supervisor_id=supervisor_id,
                    agent_id=conversation.assigned_agent_id,
                ),
            ]
            done.result = {"message": stored}
    except OutboundRefused as exc:
        raise SupervisionError(exc.message, exc.status, exc.code) from exc
    return done


# ---------------------------------------------------------------------- take over


async def take_over(db: Database, principal: Principal, conversation_id: int) -> Done:
    """Assign the conversation to the supervisor; whoever had it loses it."""
    supervisor_id = _supervisor_id(principal)
    done = Done()
    outcome = assignment.Outcome()
    async with db.write() as session:
        conversation = await _open_conversation(session, principal, conversation_id, lock=True)
        previous = _agent_of(conversation)
        if previous == supervisor_id and conversation.status == Status.ACTIVE:
            raise SupervisionError("this conversation is already yours", 409, "already_yours")
        was_queued = conversation.status == Status.QUEUED
        now = now_utc()
        waited = (
            await wait_data(session, conversation, now)
            if conversation.status in (Status.QUEUED, Status.OFFERED)
            else None
        )
        if conversation.offered_agent_id:
            await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
        try:
            await assignment.record(
                session,
                conversation,
                Step.TAKE_OVER,
                actor_id=supervisor_id,
                agent_id=supervisor_id,
                data=waited,
                at=now,
                outcome=outcome,
                previous_agent_id=previous,
            )
        except InvalidTransition as exc:
            raise SupervisionError(str(exc), 409, "invalid_transition") from exc
        conversation.assigned_agent_id = supervisor_id
        conversation.offered_agent_id = None
        conversation.assigned_at = now
        await audit(
            session,
            principal,
            "supervision.take_over",
            _target(conversation),
            {"agent_id": previous},
            {"agent_id": supervisor_id},
        )
        if was_queued and conversation.queue_id is not None:
            outcome.events.append(
                QueueChanged(
                    workspace_id=principal.workspace_id,
                    queue_id=conversation.queue_id,
                    waiting=await assignment.waiting_count(session, conversation.queue_id),
                )
            )
    done.events = outcome.events
    done.result = {"previous_agent_id": previous}
    return done


async def end_monitoring_of_closed(db: Database, conversation_id: int) -> None:
    """A conversation ended: its monitoring sessions end with it (no indicator lingers)."""
    async with db.write() as session:
        await session.execute(
            update(MonitorSession)
            .where(
                MonitorSession.conversation_id == conversation_id,
                MonitorSession.ended_at.is_(None),
            )
            .values(ended_at=now_utc())
        )
