"""``madoguchi reports seed``: a workspace full of closed conversations with their
lifecycle events and messages, spread over the last days, for demos and the reports
benchmark (``python -m bench --only reports``).

Each conversation follows one of the lifecycle's usual paths (answered and wrapped up,
resolved by the flow, handed off by the flow, abandoned — some at once —, transferred to
another queue, closed by the customer's silence) with waits, replies and handle times
drawn at random (seeded, so a run is repeatable). Rows are written in large batches.

The rollups of the new rows are counted as they are generated, with the same
definitions (``domain.report_metrics``) the incremental worker uses, and written with
them, the cursors moved past them, in one transaction per chunk of 20,000
conversations; the rollups must be current before (``catch_up`` runs first), and no
server should be writing conversations to the database meanwhile. ``madoguchi reports rebuild``
recounts everything from the raw log if in doubt.

Occupancy needs the agents' presence: a new workspace gets agents enough for the
conversations (``agents_for``) and a working day each in the presence log, and the
occupancy hours are written again at the end (``occupancy.rewrite``): its rollup is
agents × hours, as large as a contact center of that size would have.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, text

from madoguchi.domain.report_metrics import (
    History,
    LoggedStep,
    MessageFact,
    Thread,
    message_contributions,
    remember,
    step_contributions,
)
from madoguchi.services.reporting import occupancy, rollups
from madoguchi.store.db import Database
from madoguchi.store.models import (
    AgentPresenceLog,
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    PhoneNumber,
    Queue,
    ReportCursor,
    User,
    WhatsAppAccount,
    Workspace,
)

QUEUES = ("Support", "Billing", "Sales", "Returns", "VIP")
AGENTS = 20  # at least
PER_AGENT_DAY = 80  # conversations an agent handles in a working day (chat: several at once)
CONTACTS = 50_000
CHUNK = 20_000


# Every conversation row names the same columns (one executemany).
_CONVERSATION_DEFAULTS = {
    "queue_id": None,
    "assigned_agent_id": None,
    "queued_at": None,
    "closed_at": None,
    "last_message_at": None,
}


@dataclass
class SeedResult:
    workspace_id: int
    conversations: int
    events: int
    messages: int
    rollup_rows: int
    occupancy_hours: int = 0


def agents_for(conversations: int, days: int) -> int:
    """Agents enough for ``conversations`` over ``days`` at ``PER_AGENT_DAY`` each (at
    least ``AGENTS``): the occupancy rollup grows with agents × hours, so a seeded
    database is as large there as a contact center taking that many would be."""
    return max(AGENTS, -(-conversations // (days * PER_AGENT_DAY)))


async def _setup(
    db: Database, slug: str, timezone: str, contacts_wanted: int, agents_wanted: int
) -> tuple[int, list[int], list[int], list[int], list[int]]:
    async with db.write() as s:
        ws = await s.scalar(select(Workspace).where(Workspace.slug == slug))
        if ws is None:
            ws = Workspace(slug=slug, name="Reports demo", timezone=timezone)
            s.add(ws)
            await s.flush()
            account = WhatsAppAccount(workspace_id=ws.id, waba_id=f"seed-{slug}", name="Seed")
            s.add(account)
            await s.flush()
            for n in range(2):
                s.add(
                    PhoneNumber(
                        workspace_id=ws.id,
                        account_id=account.id,
                        phone_number_id=f"seed-{slug}-{n}",
                        display_phone_number=f"+8150000000{n}",
                        access_token_encrypted="-",
                        access_token_fingerprint="-",
                    )
                )
            weekdays = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
            for name in QUEUES:
                s.add(Queue(workspace_id=ws.id, name=name, timezone=timezone, hours=weekdays))
            for a in range(agents_wanted):
                s.add(
                    User(
                        workspace_id=ws.id,
                        email=f"agent{a}@{slug}.seed",
                        name=f"Agent {a:03d}",
                        role="agent",
                    )
                )
            await s.flush()
            await s.execute(
                insert(Contact),
                [
                    {
                        "workspace_id": ws.id,
                        "wa_id": f"81{9000000000 + i}",
                        "profile_name": f"Customer {i}",
                    }
                    for i in range(contacts_wanted)
                ],
            )
        numbers = list(
            (await s.scalars(select(PhoneNumber.id).where(PhoneNumber.workspace_id == ws.id))).all()
        )
        queues = list(
            (
                await s.scalars(
                    select(Queue.id).where(Queue.workspace_id == ws.id).order_by(Queue.id)
                )
            ).all()
        )
        agents = list(
            (
                await s.scalars(
                    select(User.id).where(User.workspace_id == ws.id, User.role == "agent")
                )
            ).all()
        )
        contacts = list(
            (await s.scalars(select(Contact.id).where(Contact.workspace_id == ws.id))).all()
        )
        return ws.id, numbers, queues, agents, contacts


async def _next_id(db: Database, model) -> int:
    async with db.read() as s:
        return (await s.scalar(select(func.max(model.id)))) or 0


async def _fix_sequences(db: Database) -> None:
    if db.sqlite:
        return
    async with db.write() as s:
        for table in ("conversations", "conversation_events", "messages"):
            await s.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            )


async def seed(
    db: Database,
    *,
    conversations: int,
    days: int = 30,
    slug: str = "reports-demo",
    timezone: str = "Asia/Tokyo",
    now: datetime | None = None,
    random_seed: int = 16,
    agents: int | None = None,
    write_occupancy: bool = True,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """``agents``: created with a new workspace (default ``agents_for``); an existing
    workspace keeps its own. ``write_occupancy=False`` leaves the occupancy hours to the
    caller (the benchmark times writing them)."""
    await rollups.catch_up(db)
    workspace_id, numbers, queue_ids, agent_ids, contacts = await _setup(
        db,
        slug,
        timezone,
        min(CONTACTS, max(1, conversations)),
        agents or agents_for(conversations, days),
    )
    rng = random.Random(random_seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - timedelta(days=days)
    span = (now - start).total_seconds() - 4 * 3600  # every conversation ends before now
    context = rollups.Context()
    async with db.read() as s:
        await context.load(s)
    conversation_id = await _next_id(db, Conversation)
    event_id = await _next_id(db, ConversationEvent)
    message_id = await _next_id(db, Message)
    made = events_made = messages_made = rollup_rows = 0
    while made < conversations:
        deltas = rollups.Deltas()
        batch = min(CHUNK, conversations - made)
        conv_rows, event_rows, message_rows = [], [], []
        for _ in range(batch):
            conversation_id += 1
            # Busier in the local daytime: draw twice, keep the daytime one more often.
            created = start + timedelta(seconds=rng.random() * span)
            if not 0 <= (created.hour + 9) % 24 - 8 < 12 and rng.random() < 0.6:
                created = start + timedelta(seconds=rng.random() * span)
            number = numbers[conversation_id % len(numbers)]
            queue = queue_ids[rng.randrange(len(queue_ids))]
            agent = agent_ids[rng.randrange(len(agent_ids))]
            steps, messages, conv = _story(
                rng, conversation_id, created, queue, agent, queue_ids, agent_ids
            )
            conv_rows.append(
                {
                    "id": conversation_id,
                    "workspace_id": workspace_id,
                    "contact_id": contacts[conversation_id % len(contacts)],
                    "phone_number_id": number,
                    "created_at": created,
                    **_CONVERSATION_DEFAULTS,
                    **conv,
                }
            )
            history, thread = History(), Thread()
            for step in steps:
                event_id += 1
                event_rows.append(
                    {
                        "id": event_id,
                        "workspace_id": workspace_id,
                        "conversation_id": conversation_id,
                        "type": step.type,
                        "from_status": step.from_status,
                        "to_status": step.to_status,
                        "queue_id": step.queue_id,
                        "agent_id": step.agent_id,
                        "reason": step.reason,
                        "data": step.data,
                        "at": step.at,
                    }
                )
                for item in step_contributions(
                    step,
                    history,
                    context.rules(step.queue_id),
                    started_at=created,
                    last_message_at=conv["last_message_at"],
                ):
                    deltas.add(
                        workspace_id,
                        number,
                        item,
                        context.in_hours(item.queue_id, item.at),
                        context.hour(workspace_id, item.at),
                    )
                remember(history, step)
            times = [step.at for step in steps]
            for fact in messages:
                message_id += 1
                index = bisect_right(times, fact.at)  # as the worker reads the log
                queue_at = steps[index - 1].queue_id if index else None
                message_rows.append(
                    {
                        "id": message_id,
                        "workspace_id": workspace_id,
                        "conversation_id": conversation_id,
                        "direction": fact.direction,
                        "type": fact.type,
                        "status": "read" if fact.direction == "outbound" else "received",
                        "text": "…",
                        "content": {},
                        "author_user_id": fact.author_user_id,
                        "timestamp": fact.at,
                        "created_at": fact.at,
                    }
                )
                for item in message_contributions(fact, thread, queue_at):
                    deltas.add(
                        workspace_id,
                        number,
                        item,
                        context.in_hours(item.queue_id, item.at),
                        context.hour(workspace_id, item.at),
                    )
        # One transaction a chunk: its rows, their rollups and the cursors past them.
        async with db.write() as s:
            # Core inserts (executemany, compiled once), not the ORM's bulk path.
            await s.execute(insert(Conversation.__table__), conv_rows)
            await s.execute(insert(ConversationEvent.__table__), event_rows)
            await s.execute(insert(Message.__table__), message_rows)
            await rollups.apply(s, deltas, sqlite=db.sqlite)
            # PostgreSQL reads in (transaction id, id) order: past this transaction's rows.
            txid = 0 if db.sqlite else await s.scalar(text(_XID))
            for source, last in (("events", event_id), ("messages", message_id)):
                cursor = await s.scalar(
                    select(ReportCursor).where(ReportCursor.source == source).with_for_update()
                )
                if cursor is None:
                    s.add(ReportCursor(source=source, last_id=last, last_txid=txid))
                else:
                    cursor.last_id, cursor.last_txid = last, txid
        await _fix_sequences(db)  # PostgreSQL: ids given explicitly; the next ones after
        rollup_rows += len(deltas.rows)
        made += batch
        events_made += len(event_rows)
        messages_made += len(message_rows)
        if progress is not None:
            progress(made)
    await _presence(db, workspace_id, agent_ids, start, now)
    # The new conversations fall into hours whose occupancy may be written already.
    hours = await occupancy.rewrite(db, now=now) if write_occupancy else 0
    return SeedResult(workspace_id, made, events_made, messages_made, rollup_rows, hours)


_XID = "SELECT pg_current_xact_id()::text::bigint"


async def _presence(db: Database, workspace_id: int, agents: list[int], start, now) -> None:
    """A working day for every agent (Tokyo 08:00–20:00, away 12:00–13:00) in the
    presence log, once per workspace: what occupancy is computed from."""
    async with db.write() as s:
        if await s.scalar(
            select(AgentPresenceLog.id)
            .where(AgentPresenceLog.workspace_id == workspace_id)
            .limit(1)
        ):
            return
        rows = []
        day = start.replace(hour=23, minute=0, second=0) - timedelta(days=1)  # 08:00 Tokyo
        while day < now:
            for agent in agents:
                for offset, status in (
                    (0, "available"),
                    (4, "away"),
                    (5, "available"),
                    (12, "offline"),
                ):
                    at = day + timedelta(hours=offset)
                    if start <= at < now:
                        rows.append(
                            {
                                "workspace_id": workspace_id,
                                "user_id": agent,
                                "status": status,
                                "away_reason": "lunch" if status == "away" else None,
                                "at": at,
                            }
                        )
            day += timedelta(days=1)
        if rows:
            await s.execute(insert(AgentPresenceLog.__table__), rows)


def _story(rng: random.Random, cid: int, created: datetime, queue: int, agent: int, queues, agents):
    """One conversation's steps and messages (with the queue each message falls in)."""
    steps: list[LoggedStep] = []
    messages: list[MessageFact] = []
    at = created

    def step(kind, frm, to, queue_id=None, agent_id=None, wait=None, reason=None):
        steps.append(
            LoggedStep(
                cid,
                kind,
                frm,
                to,
                queue_id,
                agent_id,
                at,
                {"wait_seconds": round(wait, 3)} if wait is not None else None,
                reason,
            )
        )

    def message(direction, author=None):
        messages.append(MessageFact(0, cid, direction, author, "text", None, at))

    message("inbound")
    roll = rng.random()
    status = "new"
    if roll < 0.25:  # a flow first
        step("flow_started", "new", "in_flow")
        status = "in_flow"
        at += timedelta(seconds=rng.uniform(2, 90))
        message("outbound")
        if roll < 0.10:  # the bot resolves it
            at += timedelta(seconds=rng.uniform(10, 300))
            step("closed", "in_flow", "closed")
            return steps, messages, {"status": "closed", "closed_at": at, "last_message_at": at}
    queued_at = at
    step("queued", status, "queued", queue)
    wait = rng.expovariate(1 / 70)
    if rng.random() < 0.09:  # abandoned, a third of them at once
        wait = rng.uniform(0, 9) if rng.random() < 0.33 else wait + rng.uniform(10, 400)
        at = queued_at + timedelta(seconds=wait)
        step("abandoned", "queued", "abandoned", queue, wait=wait)
        return steps, messages, {"status": "abandoned", "closed_at": at, "last_message_at": created}
    at = queued_at + timedelta(seconds=max(0.0, wait - 5))
    step("offered", "queued", "offered", queue, agent)
    at = queued_at + timedelta(seconds=wait)
    step("accepted", "offered", "active", queue, agent, wait=wait)
    at += timedelta(seconds=rng.uniform(5, 120))
    message("outbound", agent)
    for _ in range(rng.randrange(0, 3)):
        at += timedelta(seconds=rng.uniform(20, 300))
        message("inbound")
        at += timedelta(seconds=rng.uniform(5, 180))
        message("outbound", agent)
    if rng.random() < 0.05:  # transferred to another queue
        at += timedelta(seconds=rng.uniform(30, 300))
        queue = queues[(queues.index(queue) + 1) % len(queues)]
        step("transferred", "active", "queued", queue)
        queued_at = at
        agent = agents[(agents.index(agent) + 1) % len(agents)]
        wait = rng.expovariate(1 / 50)
        at = queued_at + timedelta(seconds=max(0.0, wait - 5))
        step("offered", "queued", "offered", queue, agent)
        at = queued_at + timedelta(seconds=wait)
        step("accepted", "offered", "active", queue, agent, wait=wait)
        at += timedelta(seconds=rng.uniform(10, 200))
        message("outbound", agent)
    last_message = at
    if rng.random() < 0.15:  # the customer goes quiet: closed by the inactivity timer
        at += timedelta(hours=1)
        step("closed", "active", "closed", queue, agent, reason="customer inactive")
    else:
        at += timedelta(seconds=rng.uniform(30, 600))
        step("wrap_up", "active", "wrap_up", queue, agent)
        at += timedelta(seconds=rng.uniform(10, 180))
        step("closed", "wrap_up", "closed", queue, agent)
    return (
        steps,
        messages,
        {
            "status": "closed",
            "queue_id": queue,
            "assigned_agent_id": agent,
            "closed_at": at,
            "last_message_at": last_message,
            "queued_at": queued_at,
        },
    )
