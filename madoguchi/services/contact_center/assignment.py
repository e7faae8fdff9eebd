"""The routing engine: queued conversations are offered to agents with room for them.

Each use case is one short transaction that moves a conversation one lifecycle step and
writes the step to ``conversation_events`` (who, when, why). Offers are made under row
locks: the conversation row is claimed with ``FOR UPDATE SKIP LOCKED`` (two assigners
never take the same one) and so are the presence rows of the candidate agents (an agent's
load is counted while no other assigner can give them work), so capacity holds with any
number of workers on PostgreSQL; SQLite has a single writer anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.business_hours import BusinessHours
from madoguchi.domain.events import ConversationChanged, Event, OfferMade, QueueChanged
from madoguchi.domain.lifecycle import (
    OPEN_STATUSES,
    InvalidTransition,
    Status,
    Step,
    end_step,
    next_status,
)
from madoguchi.domain.routing import Candidate, Method, choose, eligible
from madoguchi.services.channel.outbox import OutboundRefused, queue_message
from madoguchi.services.contact_center import csat
from madoguchi.services.scheduling import timers
from madoguchi.store.db import Database
from madoguchi.store.models import (
    AgentPresence,
    Conversation,
    ConversationEvent,
    DispositionCode,
    Note,
    Queue,
    QueueMember,
    User,
)
from madoguchi.whatsapp.outbound import OutboundValidationError, validate_outbound

log = logging.getLogger(__name__)

OFFER_TIMEOUT = "offer_timeout"
MAX_WAIT = "max_wait"
AUTO_CLOSE = "auto_close"


class RoutingError(Exception):
    """A request the lifecycle does not allow; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Outcome:
    """Events to publish after the transaction committed."""

    events: list[Event] = field(default_factory=list)


def now_utc() -> datetime:
    return datetime.now(UTC)


async def record(
    session: AsyncSession,
    conversation: Conversation,
    step: Step,
    *,
    to_status: Status | None = None,
    actor_id: int | None = None,
    agent_id: int | None = None,
    reason: str | None = None,
    data: dict | None = None,
    at: datetime | None = None,
    outcome: Outcome | None = None,
    previous_agent_id: int | None = None,
) -> None:
    """Move ``conversation`` one step (validated) and log it."""
    target = to_status or next_status(conversation.status, step)
    session.add(
        ConversationEvent(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            type=step.value,
            from_status=conversation.status,
            to_status=target.value,
            actor_user_id=actor_id,
            queue_id=conversation.queue_id,
            agent_id=agent_id,
            reason=reason,
            data=data,
            at=at or now_utc(),
        )
    )
    conversation.status = target.value
    if outcome is not None:
        outcome.events.append(
            ConversationChanged(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                status=target.value,
                step=step.value,
                queue_id=conversation.queue_id,
                agent_id=agent_id,
                previous_agent_id=previous_agent_id,
            )
        )


async def _queue(session: AsyncSession, workspace_id: int, queue_id: int) -> Queue:
    queue = await session.scalar(
        select(Queue).where(Queue.id == queue_id, Queue.workspace_id == workspace_id)
    )
    if queue is None:
        raise RoutingError(f"queue {queue_id} not found", 404)
    return queue


async def _conversation(
    session: AsyncSession, workspace_id: int, conversation_id: int, *, lock: bool = True
) -> Conversation:
    query = select(Conversation).where(
        Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
    )
    if lock:
        query = query.with_for_update()
    conversation = await session.scalar(query)
    if conversation is None:
        raise RoutingError(f"conversation {conversation_id} not found", 404)
    return conversation


async def waiting_count(session: AsyncSession, queue_id: int) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.queue_id == queue_id, Conversation.status == Status.QUEUED)
    )


async def queue_changed(session: AsyncSession, workspace_id: int, queue_id: int) -> QueueChanged:
    """The event that tells boards and desktops a queue's new waiting count."""
    return QueueChanged(
        workspace_id=workspace_id, queue_id=queue_id, waiting=await waiting_count(session, queue_id)
    )


async def place_in_queue(
    session: AsyncSession,
    conversation: Conversation,
    queue: Queue,
    step: Step,
    outcome: Outcome,
    *,
    actor_id: int | None = None,
    reason: str | None = None,
    priority: int | None = None,
    now: datetime | None = None,
    _seen: frozenset[int] = frozenset(),
    count_waiting: bool = True,
) -> Queue:
    """Put a conversation in ``queue`` (or where the queue's closed hours send it).

    Outside business hours a queue may name another target queue; the hop is recorded, and
    a loop of closed queues ends in the last one rather than spinning.
    """
    now = now or now_utc()
    hours = BusinessHours.parse(queue.timezone, queue.hours, queue.holidays)
    is_open = hours.is_open(now)
    if not is_open and queue.closed_message and not _seen:
        await _tell_closed(session, conversation, queue.closed_message, now, outcome)
    if not is_open and queue.closed_target_queue_id and queue.id not in _seen:
        target = await _queue(session, queue.workspace_id, queue.closed_target_queue_id)
        if target.id not in _seen | {queue.id}:
            return await place_in_queue(
                session,
                conversation,
                target,
                step,
                outcome,
                actor_id=actor_id,
                reason=f"{queue.name} is closed",
                priority=priority,
                now=now,
                _seen=_seen | {queue.id},
                count_waiting=count_waiting,
            )
    previous_agent = conversation.assigned_agent_id or conversation.offered_agent_id
    if conversation.offered_agent_id:
        await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
    conversation.queue_id = queue.id
    conversation.assigned_agent_id = None
    conversation.offered_agent_id = None
    if priority is not None:
        conversation.priority = priority
    if step != Step.OVERFLOW:
        conversation.queued_at = now
    await record(
        session,
        conversation,
        step,
        to_status=Status.QUEUED if step == Step.OVERFLOW else None,
        actor_id=actor_id,
        reason=reason,
        at=now,
        outcome=outcome,
        previous_agent_id=previous_agent,
    )
    if queue.max_wait_seconds and queue.overflow_queue_id and step != Step.OVERFLOW:
        await timers.schedule(
            session,
            queue.workspace_id,
            MAX_WAIT,
            conversation.id,
            now + timedelta(seconds=queue.max_wait_seconds),
            {"queue_id": queue.id},
        )
    if count_waiting:  # (enqueue_many counts each queue once, at the end)
        outcome.events.append(await queue_changed(session, queue.workspace_id, queue.id))
    return queue


async def _tell_closed(
    session: AsyncSession, conversation: Conversation, text: str, now: datetime, outcome: Outcome
) -> None:
    """Send the queue's closed-hours message in the same transaction as the queueing."""
    try:
        message = validate_outbound({"type": "text", "text": {"body": text}})
        _, queued = await queue_message(
            None, conversation.workspace_id, conversation.id, message, now=now, session=session
        )
    except (OutboundRefused, OutboundValidationError) as exc:
        log.warning("closed-hours message not sent for conversation %s: %s", conversation.id, exc)
        return
    outcome.events.append(queued)


async def enqueue(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    queue_id: int,
    *,
    actor_id: int | None = None,
    priority: int | None = None,
    reason: str | None = None,
    prefer_agent_id: int | None = None,
) -> tuple[Outcome, Queue]:
    """Queue a new (or in-flow) conversation; returns the queue it landed in.

    ``prefer_agent_id`` (a reply to that agent's outbound contact) is offered the
    conversation in the same transaction when they can take it, so no other assigner
    can give it to someone else in between.
    """
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        queue = await _queue(session, workspace_id, queue_id)
        try:
            landed = await place_in_queue(
                session,
                conversation,
                queue,
                Step.QUEUE,
                outcome,
                actor_id=actor_id,
                priority=priority,
                reason=reason,
            )
        except InvalidTransition as exc:
            raise RoutingError(str(exc)) from exc
        if prefer_agent_id is not None:
            await _try_offer_to(
                session, conversation, landed, prefer_agent_id, outcome, reason or "preferred agent"
            )
    return outcome, landed


async def enqueue_many(
    db: Database, items: list[tuple[int, int, int]], *, reason: str | None = None
) -> tuple[Outcome, set[int]]:
    """``enqueue`` for many ``new`` conversations ((workspace, conversation, queue) each)
    in one transaction: the conversations locked and read together, each still ``new``
    queued (one routed meanwhile by a flow or a supervisor is left alone), the waiting
    count taken once per queue. Returns the events and the queues landed in; if it
    raises, nothing of it is stored (the caller can queue them one at a time).

    The common case (an open queue without a max-wait timer, a conversation nobody was
    offered) is written with one UPDATE and one INSERT for the whole batch, the same
    rows and events ``place_in_queue`` gives; anything else goes through
    ``place_in_queue`` itself."""
    outcome = Outcome()
    landed_in: dict[int, int] = {}  # queue id -> its workspace
    queues: dict[tuple[int, int], Queue] = {}
    now = now_utc()
    async with db.write() as session:
        rows = {
            row.id: row
            for row in await session.execute(
                select(
                    Conversation.id,
                    Conversation.workspace_id,
                    Conversation.status,
                    Conversation.offered_agent_id,
                    Conversation.assigned_agent_id,
                )
                .where(Conversation.id.in_({cid for _, cid, _ in items}))
                .order_by(Conversation.id)
                .with_for_update()
            )
        }
        plain: list[tuple[int, Queue]] = []
        for workspace_id, conversation_id, queue_id in items:
            row = rows.get(conversation_id)
            if row is None or row.workspace_id != workspace_id or row.status != Status.NEW:
                continue
            key = (workspace_id, queue_id)
            if key not in queues:
                queues[key] = await _queue(session, workspace_id, queue_id)
            queue = queues[key]
            if _plain(queue, row, now):
                next_status(row.status, Step.QUEUE)  # (validated as record() does)
                plain.append((conversation_id, queue))
                outcome.events.append(
                    ConversationChanged(
                        workspace_id=workspace_id,
                        conversation_id=conversation_id,
                        status=Status.QUEUED.value,
                        step=Step.QUEUE.value,
                        queue_id=queue.id,
                    )
                )
                landed_in[queue.id] = queue.workspace_id
                continue
            conversation = await _conversation(session, workspace_id, conversation_id)
            landed = await place_in_queue(
                session,
                conversation,
                queue,
                Step.QUEUE,
                outcome,
                reason=reason,
                now=now,
                count_waiting=False,
            )
            landed_in[landed.id] = landed.workspace_id
        if plain:
            await _queue_plain(session, plain, reason, now)
        for queue_id, workspace_id in landed_in.items():
            outcome.events.append(await queue_changed(session, workspace_id, queue_id))
    return outcome, set(landed_in)


def _plain(queue: Queue, conversation, now: datetime) -> bool:
    """Whether ``place_in_queue`` would only set the queue and log the step."""
    if conversation.offered_agent_id or conversation.assigned_agent_id:
        return False
    if queue.max_wait_seconds and queue.overflow_queue_id:
        return False  # a max-wait timer to schedule
    return BusinessHours.parse(queue.timezone, queue.hours, queue.holidays).is_open(now)


_CONVERSATIONS = Conversation.__table__
_QUEUE_PLAIN = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("cid"))
    .values(
        queue_id=bindparam("qid"),
        status=Status.QUEUED.value,
        queued_at=bindparam("now"),
        assigned_agent_id=None,
        offered_agent_id=None,
    )
)


async def _queue_plain(
    session: AsyncSession, plain: list[tuple[int, Queue]], reason: str | None, now: datetime
) -> None:
    """``place_in_queue``'s writes for conversations that need nothing else, together."""
    connection = await session.connection()
    await connection.execute(
        _QUEUE_PLAIN, [{"cid": cid, "qid": queue.id, "now": now} for cid, queue in plain]
    )
    await connection.execute(
        insert(ConversationEvent.__table__),
        [
            {
                "workspace_id": queue.workspace_id,
                "conversation_id": cid,
                "type": Step.QUEUE.value,
                "from_status": Status.NEW.value,
                "to_status": Status.QUEUED.value,
                "actor_user_id": None,
                "queue_id": queue.id,
                "agent_id": None,
                "reason": reason,
                "data": None,
                "at": now,
            }
            for cid, queue in plain
        ],
    )


async def _candidates(session: AsyncSession, queue: Queue, excluded: set[int]) -> list[Candidate]:
    members = (
        await session.execute(
            select(QueueMember.user_id, QueueMember.priority, AgentPresence.last_assigned_at)
            .join(AgentPresence, AgentPresence.user_id == QueueMember.user_id)
            .join(User, User.id == QueueMember.user_id)
            .where(
                QueueMember.queue_id == queue.id,
                AgentPresence.status == "available",
                User.disabled.is_(False),
            )
            .order_by(QueueMember.user_id)
        )
    ).all()
    ids = [m.user_id for m in members if m.user_id not in excluded]
    if not ids:
        return []
    # Lock the presence rows we may give work to; rows another assigner holds are skipped.
    locked = set(
        (
            await session.scalars(
                select(AgentPresence.user_id)
                .where(AgentPresence.user_id.in_(ids), AgentPresence.status == "available")
                .order_by(AgentPresence.user_id)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    if not locked:
        return []
    loads = await agent_loads(session, locked)
    return [
        Candidate(
            user_id=m.user_id,
            priority=m.priority,
            load=loads.get(m.user_id, 0),
            last_assigned_at=m.last_assigned_at,
        )
        for m in members
        if m.user_id in locked
    ]


async def agent_loads(session: AsyncSession, agent_ids: set[int]) -> dict[int, int]:
    """Each agent's load: conversations offered to them, active or in wrap-up with them."""
    held = dict(
        (
            await session.execute(
                select(Conversation.assigned_agent_id, func.count())
                .where(
                    Conversation.assigned_agent_id.in_(agent_ids),
                    Conversation.status.in_((Status.ACTIVE, Status.WRAP_UP)),
                )
                .group_by(Conversation.assigned_agent_id)
            )
        ).all()
    )
    offered = (
        await session.execute(
            select(Conversation.offered_agent_id, func.count())
            .where(
                Conversation.offered_agent_id.in_(agent_ids),
                Conversation.status == Status.OFFERED,
            )
            .group_by(Conversation.offered_agent_id)
        )
    ).all()
    for agent_id, count in offered:
        held[agent_id] = held.get(agent_id, 0) + count
    return held


async def offer_next(
    db: Database, queue_id: int, *, now: datetime | None = None, batch: int = 50
) -> Outcome | None:
    """Offer the queue's next waiting conversations to the best eligible agents.

    Up to ``batch`` conversations are offered in one transaction, from one locked snapshot
    of the candidates whose load is counted up as offers are made, so a backlog drains
    without a transaction per offer. Returns None when nothing was offered (no waiting
    conversation, or nobody with room). Agents who declined or let the offer time out are
    skipped for that conversation while other agents can take it; when everybody has
    declined, the round starts again.
    """
    now = now or now_utc()
    outcome = Outcome()
    # Nobody available in the queue (a burst before the shift, or at night): nothing to
    # offer, told by one read instead of a write transaction that locks 50 conversations.
    # An agent who becomes available kicks the queue themselves.
    async with db.read() as session:
        anyone = await session.scalar(
            select(QueueMember.user_id)
            .join(AgentPresence, AgentPresence.user_id == QueueMember.user_id)
            .where(QueueMember.queue_id == queue_id, AgentPresence.status == "available")
            .limit(1)
        )
    if anyone is None:
        return None
    async with db.write() as session:
        queue = await session.get(Queue, queue_id)
        if queue is None:
            return None
        waiting = (
            await session.scalars(
                select(Conversation)
                .where(Conversation.queue_id == queue.id, Conversation.status == Status.QUEUED)
                .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not waiting:
            return None
        candidates = await _candidates(session, queue, set())
        if not candidates:
            return None
        declined = await _declined_by_each(session, waiting)
        method = Method(queue.routing_method)
        for conversation in waiting:
            refused = declined.get(conversation.id, set())
            pool = eligible(candidates, queue.max_per_agent, refused)
            if not pool and refused:
                pool = eligible(candidates, queue.max_per_agent, set())
            chosen = choose(pool, method, queue.last_offered_user_id)
            if chosen is None:
                break  # nobody has room: later conversations cannot be offered either
            await _offer(session, conversation, queue, chosen.user_id, now, outcome, announce=False)
            candidates = [
                replace(c, load=c.load + 1, last_assigned_at=now) if c is chosen else c
                for c in candidates
            ]
        if not outcome.events:
            return None
        outcome.events.append(await queue_changed(session, queue.workspace_id, queue.id))
    return outcome


async def _declined_by_each(
    session: AsyncSession, conversations: list[Conversation]
) -> dict[int, set[int]]:
    """Who declined (or let time out) each conversation since it was last queued."""
    since = {c.id: c.queued_at for c in conversations}
    rows = (
        await session.execute(
            select(
                ConversationEvent.conversation_id, ConversationEvent.agent_id, ConversationEvent.at
            ).where(
                ConversationEvent.conversation_id.in_(since),
                ConversationEvent.type.in_((Step.DECLINE.value, Step.OFFER_TIMEOUT.value)),
            )
        )
    ).all()
    out: dict[int, set[int]] = {}
    for conversation_id, agent_id, at in rows:
        queued_at = since[conversation_id]
        if agent_id is not None and (queued_at is None or at >= queued_at):
            out.setdefault(conversation_id, set()).add(agent_id)
    return out


async def _offer(
    session: AsyncSession,
    conversation: Conversation,
    queue: Queue,
    agent_id: int,
    now: datetime,
    outcome: Outcome,
    *,
    actor_id: int | None = None,
    reason: str | None = None,
    announce: bool = True,
) -> None:
    expires = now + timedelta(seconds=queue.offer_timeout_seconds)
    conversation.offered_agent_id = agent_id
    conversation.offered_at = now
    queue.last_offered_user_id = agent_id
    # Giving work resets the agent's idle time, so longest idle spreads offers.
    await session.execute(
        update(AgentPresence).where(AgentPresence.user_id == agent_id).values(last_assigned_at=now)
    )
    await record(
        session,
        conversation,
        Step.OFFER,
        agent_id=agent_id,
        actor_id=actor_id,
        reason=reason,
        at=now,
        outcome=outcome,
    )
    await timers.schedule(
        session,
        conversation.workspace_id,
        OFFER_TIMEOUT,
        conversation.id,
        expires,
        {"agent_id": agent_id},
    )
    outcome.events.append(
        OfferMade(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            agent_id=agent_id,
            queue_id=queue.id,
            expires_at=expires.isoformat(),
        )
    )
    if announce:
        outcome.events.append(await queue_changed(session, queue.workspace_id, queue.id))


async def _try_offer_to(
    session: AsyncSession,
    conversation: Conversation,
    queue: Queue,
    agent_id: int,
    outcome: Outcome,
    reason: str,
) -> bool:
    """Offer a queued conversation to one named agent if they are available with room."""
    presence = await session.scalar(
        select(AgentPresence)
        .where(
            AgentPresence.user_id == agent_id,
            AgentPresence.workspace_id == conversation.workspace_id,
        )
        .with_for_update()
    )
    if presence is None or presence.status != "available":
        return False
    load = (await agent_loads(session, {agent_id})).get(agent_id, 0)
    if load >= queue.max_per_agent:
        return False
    await _offer(session, conversation, queue, agent_id, now_utc(), outcome, reason=reason)
    return True


async def accept(db: Database, workspace_id: int, conversation_id: int, agent_id: int) -> Outcome:
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        if conversation.status != Status.OFFERED or conversation.offered_agent_id != agent_id:
            raise RoutingError(
                "this conversation is not offered to you (the offer may have expired or been "
                "taken by someone else)"
            )
        now = now_utc()
        waited = await wait_data(session, conversation, now)  # (before assigned_at is set)
        conversation.assigned_agent_id = agent_id
        conversation.offered_agent_id = None
        conversation.assigned_at = now
        await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
        presence = await session.get(AgentPresence, agent_id)
        if presence is not None:
            presence.last_assigned_at = now
        await record(
            session,
            conversation,
            Step.ACCEPT,
            actor_id=agent_id,
            agent_id=agent_id,
            data=waited,
            at=now,
            outcome=outcome,
        )
    return outcome


async def wait_data(
    session: AsyncSession, conversation: Conversation, now: datetime
) -> dict | None:
    """How long the customer waited in the queue until now, for the step that ends the
    wait (answered or abandoned): the raw fact of the service-level figures.

    The wait runs from the queue time (``queued_at``), or from the moment a person who
    had answered handed the conversation back (re-queued as they went offline, or
    transferred to a named agent): the customer was being served until then. Such a
    hand-back keeps ``queued_at`` (the conversation's place in the queue), so it is read
    from the lifecycle log — only for a conversation someone had answered
    (``assigned_at``), not on a first answer.
    """
    if conversation.queued_at is None:
        return None
    since = conversation.queued_at
    if conversation.assigned_at is not None:
        handed_back = await session.scalar(
            select(func.max(ConversationEvent.at)).where(
                ConversationEvent.conversation_id == conversation.id,
                ConversationEvent.from_status == Status.ACTIVE,
                ConversationEvent.type.in_((Step.REQUEUE, Step.TRANSFER)),
            )
        )
        if handed_back is not None and handed_back > since:
            since = handed_back
    return {"wait_seconds": round(max(0.0, (now - since).total_seconds()), 3)}


async def decline(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    agent_id: int,
    *,
    timed_out: bool = False,
    reason: str | None = None,
) -> Outcome:
    """The offered agent said no (or did not answer in time): back to the queue's head."""
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        if conversation.status != Status.OFFERED or conversation.offered_agent_id != agent_id:
            if timed_out:
                return outcome  # the offer was answered meanwhile: the timer has no reason left
            raise RoutingError("this conversation is not offered to you")
        conversation.offered_agent_id = None
        await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
        step = Step.OFFER_TIMEOUT if timed_out else Step.DECLINE
        await record(
            session,
            conversation,
            step,
            actor_id=None if timed_out else agent_id,
            agent_id=agent_id,
            reason=reason,
            outcome=outcome,
            previous_agent_id=agent_id,
        )
    return outcome


async def transfer(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    *,
    actor_id: int | None,
    queue_id: int | None = None,
    agent_id: int | None = None,
    note: str | None = None,
) -> Outcome:
    """Move a conversation to another queue (it waits there) or offer it to a named agent."""
    if (queue_id is None) == (agent_id is None):
        raise RoutingError("transfer to exactly one of: a queue, an agent", 422)
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        if conversation.status not in OPEN_STATUSES or conversation.status == Status.WRAP_UP:
            raise RoutingError(
                f"a conversation that is {conversation.status} cannot be transferred"
            )
        if note:
            session.add(
                Note(
                    workspace_id=workspace_id,
                    conversation_id=conversation.id,
                    author_id=actor_id,
                    body=note,
                )
            )
        data = {"note": note} if note else None
        if queue_id is not None:
            queue = await _queue(session, workspace_id, queue_id)
            await place_in_queue(
                session, conversation, queue, Step.TRANSFER, outcome, actor_id=actor_id, reason=note
            )
            return outcome
        target = await session.scalar(
            select(User).where(User.id == agent_id, User.workspace_id == workspace_id)
        )
        if target is None or target.disabled:
            raise RoutingError(f"agent {agent_id} not found", 404)
        presence = await session.scalar(
            select(AgentPresence).where(AgentPresence.user_id == target.id).with_for_update()
        )
        if presence is None or presence.status != "available":
            raise RoutingError(f"{target.name} is not available to take a transfer")
        if conversation.queue_id is None:
            raise RoutingError("the conversation has no queue; transfer it to a queue first")
        queue = await _queue(session, workspace_id, conversation.queue_id)
        previous = conversation.assigned_agent_id or conversation.offered_agent_id
        if conversation.offered_agent_id:
            await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
        conversation.assigned_agent_id = None
        conversation.offered_agent_id = None
        await record(
            session,
            conversation,
            Step.TRANSFER,
            actor_id=actor_id,
            agent_id=target.id,
            reason=note,
            data=data,
            outcome=outcome,
            previous_agent_id=previous,
        )
        await _offer(
            session,
            conversation,
            queue,
            target.id,
            now_utc(),
            outcome,
            actor_id=actor_id,
            reason="transfer",
        )
    return outcome


async def take_with_call(
    session: AsyncSession, conversation: Conversation, agent_id: int, outcome: Outcome
) -> None:
    """The agent who answered the customer's call takes the conversation too (unless an
    agent already has it), so the chat is beside the call on their desktop."""
    if conversation.assigned_agent_id is not None:
        return
    if conversation.status not in OPEN_STATUSES or conversation.status == Status.WRAP_UP:
        return
    if conversation.offered_agent_id:
        await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
    previous = conversation.offered_agent_id
    now = now_utc()
    conversation.assigned_agent_id = agent_id
    conversation.offered_agent_id = None
    conversation.assigned_at = now
    await record(
        session,
        conversation,
        Step.ACCEPT,
        to_status=Status.ACTIVE,
        actor_id=agent_id,
        agent_id=agent_id,
        reason="answered a call",
        at=now,
        outcome=outcome,
        previous_agent_id=previous if previous != agent_id else None,
    )


async def wrap_up(
    db: Database, workspace_id: int, conversation_id: int, actor_id: int | None
) -> Outcome:
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        try:
            await record(
                session,
                conversation,
                Step.WRAP_UP,
                actor_id=actor_id,
                agent_id=conversation.assigned_agent_id,
                outcome=outcome,
            )
        except InvalidTransition as exc:
            raise RoutingError(str(exc)) from exc
        conversation.wrap_up_at = now_utc()
    return outcome


async def close(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    *,
    actor_id: int | None,
    disposition: str | None = None,
    reason: str | None = None,
    require_disposition: bool = False,
) -> Outcome:
    """Close a conversation by hand (agent, supervisor, flow End, API).

    A person closing an answered conversation of a queue with disposition codes must pick
    one (``require_disposition``); automatic closes (flow End, inactivity) need none.
    """
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        if conversation.status in (Status.CLOSED, Status.ABANDONED):
            raise RoutingError(f"the conversation is already {conversation.status}")
        if disposition is not None or conversation.queue_id is not None:
            codes = set()
            if conversation.queue_id is not None:
                codes = set(
                    (
                        await session.scalars(
                            select(DispositionCode.code).where(
                                DispositionCode.queue_id == conversation.queue_id
                            )
                        )
                    ).all()
                )
            if disposition is not None and disposition not in codes:
                known = ", ".join(sorted(codes)) or "none defined for this queue"
                raise RoutingError(f"unknown disposition {disposition!r} (known: {known})", 422)
            answered = conversation.status in (Status.ACTIVE, Status.WRAP_UP)
            if codes and disposition is None and answered and require_disposition:
                raise RoutingError(f"pick a disposition to close: {', '.join(sorted(codes))}", 422)
        await _end(session, conversation, Step.CLOSE, actor_id, reason, outcome, disposition)
    return outcome


async def _end(
    session: AsyncSession,
    conversation: Conversation,
    step: Step,
    actor_id: int | None,
    reason: str | None,
    outcome: Outcome,
    disposition: str | None = None,
) -> None:
    now = now_utc()
    agent = conversation.assigned_agent_id
    for kind in (OFFER_TIMEOUT, MAX_WAIT, AUTO_CLOSE):
        await timers.cancel(session, kind, conversation.id)
    conversation.disposition_code = disposition
    conversation.closed_at = now
    conversation.closed_reason = reason or step.value
    waited = (
        await wait_data(session, conversation, now)
        if conversation.status in (Status.QUEUED, Status.OFFERED)
        else None
    )
    conversation.offered_agent_id = None
    data = {**(waited or {}), **({"disposition": disposition} if disposition else {})}
    was_status = conversation.status
    await record(
        session,
        conversation,
        step,
        actor_id=actor_id,
        agent_id=agent,
        reason=reason,
        data=data or None,
        at=now,
        outcome=outcome,
        previous_agent_id=agent,
    )
    # A queue with CSAT on asks the customer now, in this same transaction.
    await csat.ask_on_close(session, conversation, was_status, agent, now, outcome.events)


async def requeue_agent_work(
    db: Database, workspace_id: int, agent_id: int, reason: str
) -> Outcome:
    """Policy when an agent goes offline: offers and active conversations go back to their
    queue (keeping their place by original queue time), wrap-ups stay with the agent."""
    outcome = Outcome()
    async with db.write() as session:
        rows = (
            await session.scalars(
                select(Conversation)
                .where(
                    Conversation.workspace_id == workspace_id,
                    (
                        (Conversation.assigned_agent_id == agent_id)
                        & (Conversation.status == Status.ACTIVE)
                    )
                    | (
                        (Conversation.offered_agent_id == agent_id)
                        & (Conversation.status == Status.OFFERED)
                    ),
                )
                .with_for_update()
            )
        ).all()
        for conversation in rows:
            await timers.cancel(session, OFFER_TIMEOUT, conversation.id)
            conversation.assigned_agent_id = None
            conversation.offered_agent_id = None
            await record(
                session,
                conversation,
                Step.REQUEUE,
                agent_id=agent_id,
                reason=reason,
                outcome=outcome,
                previous_agent_id=agent_id,
            )
    return outcome


async def overflow(
    db: Database, workspace_id: int, conversation_id: int, from_queue_id: int
) -> Outcome:
    """Max wait passed: move a still-waiting conversation to the queue's overflow target."""
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        if conversation.status != Status.QUEUED or conversation.queue_id != from_queue_id:
            return outcome
        queue = await _queue(session, workspace_id, from_queue_id)
        if not queue.overflow_queue_id:
            return outcome
        target = await _queue(session, workspace_id, queue.overflow_queue_id)
        await place_in_queue(
            session,
            conversation,
            target,
            Step.OVERFLOW,
            outcome,
            reason=f"waited more than {queue.max_wait_seconds} s in {queue.name}",
        )
    return outcome


async def auto_close_if_idle(db: Database, workspace_id: int, conversation_id: int) -> Outcome:
    """The customer has been silent for the queue's auto-close time: end the conversation."""
    outcome = Outcome()
    async with db.write() as session:
        conversation = await _conversation(session, workspace_id, conversation_id)
        if (
            conversation.status in (Status.CLOSED, Status.ABANDONED)
            or conversation.queue_id is None
        ):
            return outcome
        queue = await session.get(Queue, conversation.queue_id)
        if not queue or not queue.auto_close_after_seconds or conversation.last_inbound_at is None:
            return outcome
        idle_since = now_utc() - timedelta(seconds=queue.auto_close_after_seconds)
        if conversation.last_inbound_at > idle_since:
            return outcome  # the customer wrote again; a newer timer is pending
        step = end_step(conversation.status)
        await _end(session, conversation, step, None, "customer inactive", outcome)
    return outcome


async def queues_with_waiting(db: Database) -> list[int]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    select(Conversation.queue_id)
                    .where(Conversation.status == Status.QUEUED, Conversation.queue_id.is_not(None))
                    .distinct()
                )
            ).all()
        )


async def queues_of_agent(db: Database, agent_id: int) -> list[int]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    select(QueueMember.queue_id).where(QueueMember.user_id == agent_id)
                )
            ).all()
        )
