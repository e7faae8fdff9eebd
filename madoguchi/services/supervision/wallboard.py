"""The wallboard's numbers: one snapshot of a workspace's operation, read in one go.

Per queue (waiting, offered, active, wrap-up, agents by state, free slots, today's
figures), per agent (presence, work against capacity, last reply, queues) and every open
conversation, the most urgent first (waiting customers by longest wait, then the rest by
age), so a reader that wants only the first few gets the ones that matter. The live
figures are counted from the open conversations and the agents' presence; today's come
from the lifecycle log through ``domain.service_metrics`` (the definitions reports
share, docs/metrics.md), and each agent's occupancy today from the reports' own
occupancy rollups and logs (``read_occupancy``). "Today" is the workspace's day.

A snapshot is the whole workspace; ``for_viewer`` cuts it down to the queues a
supervisor may see. Times are returned as instants, so a browser keeps its clocks
("waiting 2:13") ticking between snapshots without asking again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.lifecycle import ANSWERING_STEPS, OPEN_STATUSES, Status, Step
from madoguchi.domain.report_metrics import occupancy_figures
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


@dataclass
class Facts:
    """What a snapshot is computed from, as read from the database.

    ``build`` reads it all at once; the live feed (``live_wallboard``) keeps one per
    workspace and refreshes parts of it from events (the conversations an event names,
    the lifecycle log since its last read), re-reading it whole now and then to correct
    any drift. Either way ``assemble`` turns it into the snapshot: the figures are
    defined once, there and in ``domain.service_metrics``.
    """

    timezone: str
    midnight: datetime
    day: date
    queues: list = field(default_factory=list)
    members: dict[int, set[int]] = field(default_factory=dict)
    queues_of: dict[int, list[int]] = field(default_factory=dict)
    presence: dict[int, Any] = field(default_factory=dict)
    users: list = field(default_factory=list)
    monitors: dict[int, list[int]] = field(default_factory=dict)
    conversations: dict[int, Any] = field(default_factory=dict)  # open ones, by id
    views: dict[int, dict[str, Any]] = field(default_factory=dict)  # their rows, rendered
    last_reply: dict[int, datetime] = field(default_factory=dict)
    outcomes: dict[int, list[Outcome]] = field(default_factory=dict)
    arrived: dict[int, int] = field(default_factory=dict)
    counted: set[int] = field(default_factory=set)  # today's log rows already counted
    log_read_at: datetime | None = None
    # Each person's occupancy today: (seconds available, seconds busy, as of when).
    occupancy: dict[int, tuple[float, float, datetime]] = field(default_factory=dict)

    def frozen(self) -> Facts:
        """A copy whose containers the caller may read while this one keeps changing
        (the rows themselves are immutable)."""
        return replace(
            self,
            conversations=dict(self.conversations),
            views=dict(self.views),
            last_reply=dict(self.last_reply),
            outcomes={q: list(v) for q, v in self.outcomes.items()},
            arrived=dict(self.arrived),
            counted=set(),
            occupancy=dict(self.occupancy),
        )


_CONVERSATION_COLUMNS = (
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
ConversationRow = namedtuple(  # noqa: PYI024 - a plain tuple: fast to read, cheap to keep
    "ConversationRow", [c.key for c in _CONVERSATION_COLUMNS]
)
READ_SLICE = 1000  # rows per query of a full read: no single query holds SQLite's loop long
LOG_LOOKBACK = timedelta(seconds=30)  # a log row committed late (PostgreSQL) is still found


async def load_structure(
    session: AsyncSession, workspace_id: int, now: datetime, facts: Facts | None = None
) -> Facts:
    """The small parts, read whole every time: the workspace's zone and day, queues,
    members, presence, people, monitoring sessions. Into ``facts`` when given (whose
    day must then still be today: the caller checks)."""
    timezone = (
        await session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
        or "UTC"
    )
    midnight, day = day_bounds(now, timezone)
    if facts is None or (facts.timezone, facts.day) != (timezone, day):
        facts = Facts(timezone=timezone, midnight=midnight, day=day)
    facts.queues = list(
        (
            await session.scalars(
                select(Queue).where(Queue.workspace_id == workspace_id).order_by(Queue.name)
            )
        ).all()
    )
    members: dict[int, set[int]] = defaultdict(set)  # queue -> users
    queues_of: dict[int, list[int]] = defaultdict(list)  # user -> queues
    for queue_id, user_id in await session.execute(
        select(QueueMember.queue_id, QueueMember.user_id).where(
            QueueMember.workspace_id == workspace_id
        )
    ):
        members[queue_id].add(user_id)
        queues_of[user_id].append(queue_id)
    facts.members, facts.queues_of = dict(members), dict(queues_of)
    facts.presence = {
        p.user_id: p
        for p in await session.scalars(
            select(AgentPresence).where(AgentPresence.workspace_id == workspace_id)
        )
    }
    facts.users = list(
        (
            await session.execute(
                select(User.id, User.name, User.role)
                .where(User.workspace_id == workspace_id, User.disabled.is_(False))
                .order_by(User.name, User.id)
            )
        ).all()
    )
    monitors: dict[int, list[int]] = defaultdict(list)
    for conversation_id, supervisor_id in await session.execute(
        select(MonitorSession.conversation_id, MonitorSession.supervisor_id).where(
            MonitorSession.workspace_id == workspace_id, MonitorSession.ended_at.is_(None)
        )
    ):
        monitors[conversation_id].append(supervisor_id)
    facts.monitors = dict(monitors)
    return facts


async def read_conversations(
    session: AsyncSession, workspace_id: int, ids: Iterable[int] | None = None
) -> dict[int, Any]:
    """Every open conversation's row (``ids`` None: read a slice at a time), or the rows
    of ``ids`` now (None for one closed or gone)."""
    base = select(*_CONVERSATION_COLUMNS).join(Contact, Contact.id == Conversation.contact_id)
    rows: dict[int, Any] = {}
    if ids is None:
        after = 0
        while True:
            part = (
                await session.execute(
                    base.where(
                        Conversation.workspace_id == workspace_id,
                        Conversation.status.in_(OPEN_STATUSES),
                        Conversation.id > after,
                    )
                    .order_by(Conversation.id)
                    .limit(READ_SLICE)
                )
            ).all()
            rows.update((r.id, ConversationRow(*r)) for r in part)
            if len(part) < READ_SLICE:
                return rows
            after = part[-1].id
            await asyncio.sleep(0)  # let the loop serve others between slices
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), READ_SLICE):
        part = wanted[start : start + READ_SLICE]
        found = {
            r.id: ConversationRow(*r)
            for r in await session.execute(
                base.where(Conversation.workspace_id == workspace_id, Conversation.id.in_(part))
            )
        }
        for conversation_id in part:
            row = found.get(conversation_id)
            rows[conversation_id] = row if row is not None and row.status in OPEN_STATUSES else None
    return rows


async def load_conversations(
    session: AsyncSession, workspace_id: int, facts: Facts, ids: Iterable[int] | None = None
) -> set[int]:
    """Every open conversation into ``facts`` (``ids`` None: the dict is replaced), or
    just ``ids`` (each is updated, or dropped once closed). Returns the agents the read
    rows name, before and after (whose last reply may have moved)."""
    rows = await read_conversations(session, workspace_id, ids)
    agents: set[int] = set()
    if ids is None:
        facts.conversations = rows
        facts.views = {i: _view(r) for i, r in rows.items()}
        return agents
    for conversation_id, row in rows.items():
        before = facts.conversations.get(conversation_id)
        for r in (before, row):
            if r is not None:
                agents.update(a for a in (r.assigned_agent_id, r.offered_agent_id) if a)
        if row is not None:
            facts.conversations[conversation_id] = row
            facts.views[conversation_id] = _view(row)
        else:
            facts.conversations.pop(conversation_id, None)
            facts.views.pop(conversation_id, None)
    return agents


def _view(c: ConversationRow) -> dict[str, Any]:
    """A conversation as the wallboard lists it (without who monitors it), made once per
    change of its row, not once per snapshot."""
    return {
        "id": c.id,
        "contact": c.profile_name or c.wa_id or c.username or f"#{c.id}",
        "status": c.status,
        "queue_id": c.queue_id,
        "agent_id": c.assigned_agent_id or c.offered_agent_id,
        "since": _iso(_since(c)),
        "last_customer_message_at": _iso(c.last_inbound_at),
    }


def people_of(facts: Facts) -> list:
    """The people the wallboard lists: agents, queue members, and whoever holds work."""
    holders = {c.offered_agent_id or c.assigned_agent_id for c in facts.conversations.values()} - {
        None
    }
    return [
        u for u in facts.users if u.role == "agent" or u.id in facts.queues_of or u.id in holders
    ]


async def read_last_replies(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, datetime]:
    """When each of ``user_ids`` last wrote to a customer (those who never did: absent)."""
    ids = list(set(user_ids))
    found: dict[int, datetime] = {}
    for start in range(0, len(ids), READ_SLICE):
        part = ids[start : start + READ_SLICE]
        found.update(
            (
                await session.execute(
                    select(Message.author_user_id, func.max(Message.created_at))
                    .where(Message.author_user_id.in_(part))
                    .group_by(Message.author_user_id)
                )
            ).all()
        )
    return found


async def load_last_replies(
    session: AsyncSession, facts: Facts, user_ids: Iterable[int] | None = None
) -> None:
    """When each listed person last wrote to a customer (``user_ids``: only those)."""
    if user_ids is None:
        facts.last_reply = {}
        user_ids = [u.id for u in people_of(facts)]
    facts.last_reply.update(await read_last_replies(session, user_ids))


async def read_occupancy(
    session: AsyncSession, workspace_id: int, structure: Facts, now: datetime
) -> dict[int, tuple[float, float, datetime]]:
    """Every person's occupancy today up to ``now``, as the agents report counts it (the
    same rollups and logs: ``services/reporting/occupancy.py``); none yet: zero."""
    from madoguchi.services.reporting.occupancy import summed

    by_agent, _ = await summed(session, workspace_id, structure.midnight, now, now=now)
    out = {}
    for u in structure.users:
        counts = by_agent.get(u.id) or {}
        out[u.id] = (
            counts.get("available_seconds") or 0.0,
            counts.get("busy_seconds") or 0.0,
            now,
        )
    return out


def occupancy_view(anchor: tuple[float, float, datetime] | None) -> dict[str, Any] | None:
    """An agent's occupancy today as the wallboard lists it: seconds available and busy
    up to ``as_of`` and their ratio (docs/metrics.md, occupancy). Browsers add the time
    since ``as_of`` as the agent's presence and conversations count it now."""
    if anchor is None:
        return None
    available, busy, at = anchor
    figures = occupancy_figures({"available_seconds": available, "busy_seconds": busy})
    return {
        "available_seconds": figures["available_seconds"],
        "busy_seconds": figures["busy_seconds"],
        "percent": figures["occupancy_percent"],
        "as_of": _iso(at),
    }


async def read_log(session: AsyncSession, workspace_id: int, since: datetime) -> list:
    """The lifecycle log's rows from ``since`` that today's figures count (arrivals,
    answers, abandons of a queue), oldest first."""
    found: list = []
    after = 0
    while True:
        rows = (
            await session.execute(
                select(
                    ConversationEvent.id,
                    ConversationEvent.type,
                    ConversationEvent.queue_id,
                    ConversationEvent.agent_id,
                    ConversationEvent.from_status,
                    ConversationEvent.data,
                    ConversationEvent.at,
                )
                .where(
                    ConversationEvent.workspace_id == workspace_id,
                    ConversationEvent.at >= since,
                    ConversationEvent.id > after,
                    ConversationEvent.type.in_(_TODAY_STEPS),
                    ConversationEvent.queue_id.is_not(None),
                )
                .order_by(ConversationEvent.id)
                .limit(READ_SLICE * 5)
            )
        ).all()
        found.extend(rows)
        if len(rows) < READ_SLICE * 5:
            return found
        after = rows[-1].id
        await asyncio.sleep(0)


def log_since(facts: Facts) -> datetime:
    """Where the next read of today's log starts: a little before the last read (a row
    whose transaction committed late, as PostgreSQL allows, is still found)."""
    if facts.log_read_at is None:
        return facts.midnight
    return max(facts.midnight, facts.log_read_at - LOG_LOOKBACK)


async def load_today(session: AsyncSession, workspace_id: int, facts: Facts, now: datetime) -> None:
    """Count the lifecycle log's rows of today not counted yet into the queues' arrivals
    and ended waits, each row once."""
    since = log_since(facts)
    facts.log_read_at = now
    outcomes = defaultdict(list, facts.outcomes)
    arrived = defaultdict(int, facts.arrived)
    for row in await read_log(session, workspace_id, since):
        if row.id in facts.counted:
            continue
        facts.counted.add(row.id)
        count_step(outcomes, arrived, row)
    facts.outcomes, facts.arrived = dict(outcomes), dict(arrived)


def outcome_of(row) -> Outcome | bool | None:
    """What one lifecycle row counts for (docs/metrics.md): True for an arrival in its
    queue, the ``Outcome`` of a wait that ended, or None."""
    step, queue_id, agent_id, from_status = row.type, row.queue_id, row.agent_id, row.from_status
    if is_arrival(step, queue_id, agent_id):
        return True
    wait = (row.data or {}).get("wait_seconds")
    if is_answer(step, from_status, queue_id):
        return Outcome(True, wait)
    if is_abandon(step, from_status, queue_id):
        return Outcome(False, wait)
    return None


def count_step(outcomes, arrived, row) -> None:
    """One lifecycle row into a queue's arrivals or ended waits."""
    counted = outcome_of(row)
    if counted is True:
        arrived[row.queue_id] += 1
    elif counted is not None:
        outcomes[row.queue_id].append(counted)


async def load_all(session: AsyncSession, workspace_id: int, now: datetime) -> Facts:
    """Everything, read afresh."""
    facts = await load_structure(session, workspace_id, now)
    await load_conversations(session, workspace_id, facts)
    await load_last_replies(session, facts)
    await load_today(session, workspace_id, facts, now)
    facts.occupancy = await read_occupancy(session, workspace_id, facts, now)
    return facts


async def build(
    session: AsyncSession, workspace_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The whole workspace's wallboard at ``now``, read afresh."""
    now = now or datetime.now(UTC)
    return assemble(await load_all(session, workspace_id, now), now)


def assemble(facts: Facts, now: datetime) -> dict[str, Any]:
    """The snapshot from ``facts`` (plain Python: the live feed runs it off the loop)."""
    queues, members, presence = facts.queues, facts.members, facts.presence
    queues_of, monitors = facts.queues_of, facts.monitors
    conversations = sorted(facts.conversations.values(), key=lambda c: c.id)
    # Work each person holds, as routing counts it.
    held: dict[int, dict[str, int]] = defaultdict(lambda: {"offered": 0, "active": 0, "wrap_up": 0})
    for c in conversations:
        if c.status == Status.OFFERED and c.offered_agent_id:
            held[c.offered_agent_id]["offered"] += 1
        elif c.status in (Status.ACTIVE, Status.WRAP_UP) and c.assigned_agent_id:
            held[c.assigned_agent_id][c.status] += 1
    people = [u for u in facts.users if u.role == "agent" or u.id in queues_of or u.id in held]
    last_reply = facts.last_reply
    capacity_of = {q.id: q.max_per_agent for q in queues}

    def load(user_id: int) -> int:
        return sum(held[user_id].values()) if user_id in held else 0

    def status_of(user_id: int) -> str:
        p = presence.get(user_id)
        return p.status if p is not None else "offline"

    outcomes, arrived = facts.outcomes, facts.arrived
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
                "occupancy": occupancy_view(facts.occupancy.get(u.id)),
            }
        )

    # Most urgent first: the waiting customers, longest wait first, then the rest by age.
    views = facts.views
    urgency = {i: (v["status"] not in WAITING, v["since"] or "") for i, v in views.items()}
    ordered = sorted(conversations, key=lambda c: urgency[c.id])
    conversation_rows = [{**views[c.id], "monitored_by": monitors.get(c.id, [])} for c in ordered]
    return {
        "generated_at": now.isoformat(),
        "timezone": facts.timezone,
        "day": facts.day.isoformat(),
        "queues": queue_rows,
        "agents": agent_rows,
        "conversations": conversation_rows,
    }


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
