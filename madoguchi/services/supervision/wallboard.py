"""The wallboard's numbers: one snapshot of a workspace's operation, read in one go.

Per queue (waiting, offered, active, wrap-up, agents by state, free slots, today's
figures), per agent (presence, work against capacity, last reply, queues) and every open
conversation, the most urgent first (waiting customers by longest wait, then the rest by
age), so a reader that wants only the first few gets the ones that matter. The live
figures are counted from the open conversations and the agents' presence; today's come
from the lifecycle log through ``domain.service_metrics`` (the definitions reports
share, docs/metrics.md). "Today" is the workspace's day.

A snapshot is the whole workspace; ``for_viewer`` cuts it down to the queues a
supervisor may see. Times are returned as instants, so a browser keeps its clocks
("waiting 2:13") ticking between snapshots without asking again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.lifecycle import ANSWERING_STEPS, OPEN_STATUSES, Status, Step
from madoguchi.domain.service_metrics import (
    Outcome,
    day_bounds,
    is_abandon,
    is_answer,
    is_arrival,
    queue_period,
)
from madoguchi.store.models import (
    AgentPresence,
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    MonitorSession,
    Queue,
    QueueMember,
    User,
    Workspace,
)

DEFAULT_CAPACITY = Queue.__table__.c.max_per_agent.default.arg
WAITING = (Status.QUEUED.value, Status.OFFERED.value)
# Steps by which a conversation enters a queue (a transfer to a named agent stays put).
ARRIVALS = (Step.QUEUE.value, Step.OVERFLOW.value, Step.TRANSFER.value)
_TODAY_STEPS = (*ARRIVALS, *ANSWERING_STEPS, Step.ABANDON.value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _since(c) -> datetime | None:
    """Where a conversation's "time in status" counts from."""
    if c.status in WAITING:
        return c.queued_at or c.created_at
    if c.status == Status.ACTIVE:
        return c.assigned_at or c.created_at
    if c.status == Status.WRAP_UP:
        return c.wrap_up_at or c.assigned_at
    return c.created_at


async def build(
    session: AsyncSession, workspace_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The whole workspace's wallboard at ``now``."""
    now = now or datetime.now(UTC)
    timezone = await session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    midnight, day = day_bounds(now, timezone or "UTC")
    queues = (
        await session.scalars(
            select(Queue).where(Queue.workspace_id == workspace_id).order_by(Queue.name)
        )
    ).all()
    members: dict[int, set[int]] = defaultdict(set)  # queue -> users
    queues_of: dict[int, list[int]] = defaultdict(list)  # user -> queues
    for queue_id, user_id in await session.execute(
        select(QueueMember.queue_id, QueueMember.user_id).where(
            QueueMember.workspace_id == workspace_id
        )
    ):
        members[queue_id].add(user_id)
        queues_of[user_id].append(queue_id)
    presence = {
        p.user_id: p
        for p in await session.scalars(
            select(AgentPresence).where(AgentPresence.workspace_id == workspace_id)
        )
    }
    conversations = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.status,
                Conversation.queue_id,
                Conversation.assigned_agent_id,
                Conversation.offered_agent_id,
                Conversation.queued_at,
                Conversation.offered_at,
                Conversation.assigned_at,
                Conversation.wrap_up_at,
                Conversation.created_at,
                Conversation.last_inbound_at,
                Contact.profile_name,
                Contact.wa_id,
                Contact.username,
            )
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.status.in_(OPEN_STATUSES),
            )
            .order_by(Conversation.id)
        )
    ).all()
    monitors: dict[int, list[int]] = defaultdict(list)
    for conversation_id, supervisor_id in await session.execute(
        select(MonitorSession.conversation_id, MonitorSession.supervisor_id).where(
            MonitorSession.workspace_id == workspace_id, MonitorSession.ended_at.is_(None)
        )
    ):
        monitors[conversation_id].append(supervisor_id)

    # Work each person holds, as routing counts it.
    held: dict[int, dict[str, int]] = defaultdict(lambda: {"offered": 0, "active": 0, "wrap_up": 0})
    for c in conversations:
        if c.status == Status.OFFERED and c.offered_agent_id:
            held[c.offered_agent_id]["offered"] += 1
        elif c.status in (Status.ACTIVE, Status.WRAP_UP) and c.assigned_agent_id:
            held[c.assigned_agent_id][c.status] += 1

    users = (
        await session.execute(
            select(User.id, User.name, User.role)
            .where(User.workspace_id == workspace_id, User.disabled.is_(False))
            .order_by(User.name, User.id)
        )
    ).all()
    people = [u for u in users if u.role == "agent" or u.id in queues_of or u.id in held]
    last_reply = (
        dict(
            (
                await session.execute(
                    select(Message.author_user_id, func.max(Message.created_at))
                    .where(Message.author_user_id.in_([u.id for u in people]))
                    .group_by(Message.author_user_id)
                )
            ).all()
        )
        if people
        else {}
    )
    capacity_of = {q.id: q.max_per_agent for q in queues}

    def load(user_id: int) -> int:
        return sum(held[user_id].values()) if user_id in held else 0

    def status_of(user_id: int) -> str:
        p = presence.get(user_id)
        return p.status if p is not None else "offline"

    outcomes, arrived = await _today(session, workspace_id, midnight)
    by_queue: dict[int | None, list] = defaultdict(list)
    for c in conversations:
        by_queue[c.queue_id].append(c)
    queue_rows = []
    for q in queues:
        in_queue = by_queue.get(q.id, [])
        waiting = [c for c in in_queue if c.status in WAITING]
        oldest = min((_since(c) for c in waiting), default=None)
        agents = {"available": 0, "busy": 0, "away": 0, "offline": 0}
        free = 0
        for user_id in members.get(q.id, ()):
            state = status_of(user_id)
            if state == "available":
                room = q.max_per_agent - load(user_id)
                agents["busy" if room <= 0 else "available"] += 1
                free += max(0, room)
            else:
                agents["away" if state == "away" else "offline"] += 1
        today = queue_period(
            arrived.get(q.id, 0),
            outcomes.get(q.id, ()),
            service_level_seconds=q.service_level_seconds,
            short_abandon_seconds=q.short_abandon_seconds,
        )
        queue_rows.append(
            {
                "id": q.id,
                "name": q.name,
                "service_level_seconds": q.service_level_seconds,
                "short_abandon_seconds": q.short_abandon_seconds,
                "waiting": sum(1 for c in waiting if c.status == Status.QUEUED),
                "offered": sum(1 for c in waiting if c.status == Status.OFFERED),
                "active": sum(1 for c in in_queue if c.status == Status.ACTIVE),
                "wrap_up": sum(1 for c in in_queue if c.status == Status.WRAP_UP),
                "oldest_waiting_since": _iso(oldest),
                "longest_wait_seconds": (
                    round((now - oldest).total_seconds(), 1) if oldest is not None else 0
                ),
                "agents": agents,
                "free_slots": free,
                "today": today.as_dict(),
            }
        )

    agent_rows = []
    for u in people:
        p = presence.get(u.id)
        mine = queues_of.get(u.id, [])
        work = held.get(u.id, {"offered": 0, "active": 0, "wrap_up": 0})
        agent_rows.append(
            {
                "user_id": u.id,
                "name": u.name,
                "role": u.role,
                "presence": status_of(u.id),
                "away_reason": p.away_reason if p is not None else None,
                "presence_since": _iso(p.changed_at) if p is not None else None,
                **work,
                "capacity": max((capacity_of[q] for q in mine), default=DEFAULT_CAPACITY),
                "last_reply_at": _iso(last_reply.get(u.id)),
                "queue_ids": sorted(mine),
            }
        )

    conversation_rows = [
        {
            "id": c.id,
            "contact": c.profile_name or c.wa_id or c.username or f"#{c.id}",
            "status": c.status,
            "queue_id": c.queue_id,
            "agent_id": c.assigned_agent_id or c.offered_agent_id,
            "since": _iso(_since(c)),
            "last_customer_message_at": _iso(c.last_inbound_at),
            "monitored_by": monitors.get(c.id, []),
        }
        for c in conversations
    ]
    # Most urgent first: the waiting customers, longest wait first, then the rest by age.
    conversation_rows.sort(key=lambda r: (r["status"] not in WAITING, r["since"] or ""))
    return {
        "generated_at": now.isoformat(),
        "timezone": timezone or "UTC",
        "day": day.isoformat(),
        "queues": queue_rows,
        "agents": agent_rows,
        "conversations": conversation_rows,
    }


async def _today(
    session: AsyncSession, workspace_id: int, midnight: datetime
) -> tuple[dict[int, list[Outcome]], dict[int, int]]:
    """Per queue, the waits that ended today and the arrivals, from the lifecycle log."""
    outcomes: dict[int, list[Outcome]] = defaultdict(list)
    arrived: dict[int, int] = defaultdict(int)
    rows = await session.execute(
        select(
            ConversationEvent.type,
            ConversationEvent.queue_id,
            ConversationEvent.agent_id,
            ConversationEvent.from_status,
            ConversationEvent.data,
        ).where(
            ConversationEvent.workspace_id == workspace_id,
            ConversationEvent.at >= midnight,
            ConversationEvent.type.in_(_TODAY_STEPS),
            ConversationEvent.queue_id.is_not(None),
        )
    )
    for step, queue_id, agent_id, from_status, data in rows:
        wait = (data or {}).get("wait_seconds")
        if is_arrival(step, queue_id, agent_id):
            arrived[queue_id] += 1
        elif is_answer(step, from_status, queue_id):
            outcomes[queue_id].append(Outcome(True, wait))
        elif is_abandon(step, from_status, queue_id):
            outcomes[queue_id].append(Outcome(False, wait))
    return outcomes, arrived


def for_viewer(snapshot: dict[str, Any], queue_ids: set[int] | None) -> dict[str, Any]:
    """The snapshot as a viewer limited to ``queue_ids`` may see it (None: all of it)."""
    if queue_ids is None:
        return snapshot
    return {
        **snapshot,
        "queues": [q for q in snapshot["queues"] if q["id"] in queue_ids],
        "agents": [a for a in snapshot["agents"] if queue_ids & set(a["queue_ids"])],
        "conversations": [c for c in snapshot["conversations"] if c["queue_id"] in queue_ids],
    }
