"""Drives the routing use cases from events, timers and a periodic sweep.

The use cases in ``assignment`` each do one step; this engine decides *when*: a new
conversation on a number with a default queue is queued; whenever a queue may have work
and an agent may have room (something was queued, an agent became available, a
conversation ended or was declined) the queue is "kicked" and offers are made until
nobody has room. A sweep every few seconds kicks every queue with waiting conversations,
so nothing depends on a single event being seen (a restart, a lost timer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from madoguchi.bus.inprocess import InProcessBus as EventBus
from madoguchi.domain.events import (
    ConversationChanged,
    MessageReceived,
    PresenceChanged,
)
from madoguchi.domain.lifecycle import TERMINAL, Status
from madoguchi.domain.route_back import route_back_target
from madoguchi.services.contact_center import assignment, presence
from madoguchi.services.contact_center.assignment import Outcome
from madoguchi.services.scheduling import timers
from madoguchi.services.scheduling.timers import TimerWorker
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation, PhoneNumber, Queue, Timer

log = logging.getLogger(__name__)

SWEEP_SECONDS = 2.0
PRESENCE_CHECK_SECONDS = 30.0
MAX_OFFERS_PER_KICK = 500


class RoutingEngine:
    def __init__(self, db: Database, bus: EventBus, timers: TimerWorker) -> None:
        self.db = db
        self.bus = bus
        self.timers = timers
        self._locks: dict[int, asyncio.Lock] = {}
        self._again: set[int] = set()  # queues kicked while their kick was running

    def wire(self) -> None:
        bus, worker = self.bus, self.timers
        bus.subscribe_many(MessageReceived, self.on_messages)
        bus.subscribe(PresenceChanged, self.on_presence)
        bus.subscribe_many(ConversationChanged, self.on_conversations_changed)
        worker.register(assignment.OFFER_TIMEOUT, self.on_offer_timeout)
        worker.register(assignment.MAX_WAIT, self.on_max_wait)
        worker.register(assignment.AUTO_CLOSE, self.on_auto_close)

    async def publish(self, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.events:
            await self.bus.publish(outcome.events)

    async def kick(self, queue_id: int) -> int:
        """Offer waiting conversations of a queue until nobody has room; returns offers made.

        A kick of a queue whose kick is already running in this process only tells that
        one to look once more before it stops: what made this kick (a conversation just
        queued, an agent with room) may have come after the running one last looked, and
        must not wait for the sweep."""
        lock = self._locks.setdefault(queue_id, asyncio.Lock())
        if lock.locked():
            self._again.add(queue_id)
            return 0
        made = 0
        async with lock:
            while made < MAX_OFFERS_PER_KICK:
                self._again.discard(queue_id)
                outcome = await assignment.offer_next(self.db, queue_id)
                if outcome is None:
                    if queue_id in self._again:
                        continue  # kicked meanwhile: look again
                    break
                made += 1
                await self.publish(outcome)
        return made

    async def on_messages(self, events: list[MessageReceived]) -> None:
        """``on_message`` for a batch, with one read to find the messages that need it: a
        ``new`` conversation with somewhere to go (the number's default queue, a route
        back), or an open one in a queue that closes idle conversations. New
        conversations bound for their number's default queue (a burst of new customers)
        are queued together, in one transaction, and each queue kicked once."""
        now = datetime.now(UTC)
        async with self.db.read() as session:
            rows = await session.execute(
                select(
                    Conversation.id,
                    Conversation.workspace_id,
                    Conversation.status,
                    Conversation.route_back_agent_id,
                    Conversation.route_back_queue_id,
                    Conversation.route_back_until,
                    PhoneNumber.default_queue_id,
                    Queue.auto_close_after_seconds,
                )
                .join(PhoneNumber, PhoneNumber.id == Conversation.phone_number_id)
                .outerjoin(Queue, Queue.id == Conversation.queue_id)
                .where(Conversation.id.in_({e.conversation_id for e in events}))
            )
            plain: dict[int, tuple[int, int, int]] = {}  # new, to the default queue
            one_by_one: set[int] = set()
            for row in rows:
                if row.status == Status.NEW and route_back_target(row, now):
                    one_by_one.add(row.id)
                elif row.status == Status.NEW and row.default_queue_id is not None:
                    plain[row.id] = (row.workspace_id, row.id, row.default_queue_id)
                elif row.status not in TERMINAL and row.auto_close_after_seconds:
                    one_by_one.add(row.id)
        if plain:
            try:
                outcome, landed = await assignment.enqueue_many(
                    self.db, list(plain.values()), reason="number's default queue"
                )
            except Exception:  # nothing of it stored: one at a time, as before
                log.exception("queueing %d new conversations together failed", len(plain))
                one_by_one.update(plain)
            else:
                await self.publish(outcome)
                for queue_id in sorted(landed):
                    await self.kick(queue_id)
        for event in events:
            if event.conversation_id in one_by_one:
                await self.on_message(event)

    async def on_message(self, event: MessageReceived) -> None:
        """Queue a new conversation (or route a reply back) and keep auto-close current.

        Reads first: most messages belong to conversations already routed, and a write
        transaction per message would cost every inbound message the single writer.
        """
        db = self.db
        async with db.read() as session:
            conversation = await session.get(Conversation, event.conversation_id)
            number = await session.get(PhoneNumber, conversation.phone_number_id)
            queue = (
                await session.get(Queue, conversation.queue_id) if conversation.queue_id else None
            )
        if conversation.status in TERMINAL:
            return  # an answer to the CSAT question: the conversation stays closed
        if queue and queue.auto_close_after_seconds and conversation.last_inbound_at:
            async with db.write() as session:
                await timers.schedule(
                    session,
                    conversation.workspace_id,
                    assignment.AUTO_CLOSE,
                    conversation.id,
                    conversation.last_inbound_at
                    + timedelta(seconds=queue.auto_close_after_seconds),
                )
        if conversation.status != Status.NEW:
            return
        back = route_back_target(conversation, datetime.now(UTC))
        back_agent, route_to = back if back else (None, None)
        reason = "reply to an outbound contact" if back else "number's default queue"
        route_to = route_to or number.default_queue_id
        if route_to is None and back_agent is not None:
            route_to = next(iter(await assignment.queues_of_agent(db, back_agent)), None)
        if route_to is None:
            return
        try:
            outcome, landed = await assignment.enqueue(
                db,
                event.workspace_id,
                event.conversation_id,
                route_to,
                reason=reason,
                prefer_agent_id=back_agent,
            )
        except assignment.RoutingError:
            return  # routed meanwhile (a flow, a supervisor): nothing left to do
        await self.publish(outcome)
        await self.kick(landed.id)

    async def on_presence(self, event: PresenceChanged) -> None:
        if event.status == "available":
            for queue_id in await assignment.queues_of_agent(self.db, event.user_id):
                await self.kick(queue_id)

    async def on_conversation_changed(self, event: ConversationChanged) -> None:
        await self.on_conversations_changed([event])

    async def on_conversations_changed(self, events: list[ConversationChanged]) -> None:
        """Capacity freed (close, wrap-up, decline, requeue…) or work queued: try to offer,
        each queue concerned once (a burst queues hundreds of conversations at a time)."""
        queues: list[int] = []
        agents: list[tuple[int, int]] = []
        for event in events:
            if event.step == "offered" or event.queue_id is None:
                continue
            if event.queue_id not in queues:
                queues.append(event.queue_id)
            if (
                event.step in ("closed", "abandoned", "wrap_up", "accepted")
                and event.previous_agent_id
            ):
                agents.append((event.previous_agent_id, event.queue_id))
        for queue_id in queues:
            await self.kick(queue_id)
        kicked = set(queues)
        for agent_id, queue_id in agents:
            for other in await assignment.queues_of_agent(self.db, agent_id):
                if other != queue_id and other not in kicked:
                    kicked.add(other)
                    await self.kick(other)

    async def on_offer_timeout(self, timer: Timer) -> None:
        agent_id = (timer.payload or {}).get("agent_id")
        outcome = await assignment.decline(
            self.db,
            timer.workspace_id,
            timer.ref_id,
            agent_id,
            timed_out=True,
            reason="offer not answered in time",
        )
        await self.publish(outcome)

    async def on_max_wait(self, timer: Timer) -> None:
        outcome = await assignment.overflow(
            self.db, timer.workspace_id, timer.ref_id, (timer.payload or {}).get("queue_id")
        )
        await self.publish(outcome)

    async def on_auto_close(self, timer: Timer) -> None:
        await self.publish(
            await assignment.auto_close_if_idle(self.db, timer.workspace_id, timer.ref_id)
        )

    async def sweep(self) -> int:
        made = 0
        for queue_id in await assignment.queues_with_waiting(self.db):
            made += await self.kick(queue_id)
        return made

    async def run(self) -> None:
        checked = 0.0
        while True:
            try:
                await self.sweep()
                # Agents whose last browser session ran out go offline (their work is
                # requeued): nobody is offered conversations no one sees.
                if time.monotonic() - checked >= PRESENCE_CHECK_SECONDS:
                    checked = time.monotonic()
                    await self.publish(await presence.expire_lapsed(self.db))
            except Exception:
                log.exception("routing sweep failed")
            await asyncio.sleep(SWEEP_SECONDS)
