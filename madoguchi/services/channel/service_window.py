"""The customer service window of a contact with one business number, from storage.

WhatsApp keeps one window per user and business number, not per conversation: a customer
who wrote an hour ago in a conversation an agent has since closed may still be answered
free-form. So the window is computed over all of the pair's conversations: their latest
inbound message, their latest free entry point, and the last time Meta refused a send
with 131047 (which closes it until the customer writes again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import MessageReceived, MessageStatusChanged
from madoguchi.domain.service_window import ServiceWindow, service_window
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation, Message
from madoguchi.store.models.core import as_utc

log = logging.getLogger(__name__)

WINDOW_CLOSED = 131047


@dataclass(frozen=True, slots=True)
class WindowFacts:
    last_inbound_at: datetime | None
    free_entry_point_at: datetime | None
    closed_at: datetime | None

    @property
    def window(self) -> ServiceWindow:
        return service_window(self.last_inbound_at, self.free_entry_point_at, self.closed_at)

    def describe(self, now: datetime) -> dict:
        """The window as the API shows it (``seconds_left`` rounded down)."""
        window = self.window
        is_open = window.is_open(now)
        return {
            "open": is_open,
            "closes_at": window.closes_at,
            "seconds_left": int(window.remaining(now).total_seconds()),
            "basis": window.basis,
            "last_inbound_at": self.last_inbound_at,
            "free_entry_point_at": self.free_entry_point_at,
            "closed_by_meta_at": self.closed_at,
            "free_form_allowed": is_open,
        }


async def window_facts(session: AsyncSession, contact_id: int, phone_number_pk: int) -> WindowFacts:
    row = (
        await session.execute(
            select(
                func.max(Conversation.last_inbound_at),
                func.max(Conversation.free_entry_point_at),
                func.max(Conversation.window_closed_at),
            ).where(
                Conversation.contact_id == contact_id,
                Conversation.phone_number_id == phone_number_pk,
            )
        )
    ).one()
    return WindowFacts(*(as_utc(value) for value in row))


async def window_facts_many(
    session: AsyncSession, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], WindowFacts]:
    """``window_facts`` of many (contact, number) pairs in one query."""
    if not pairs:
        return {}
    rows = await session.execute(
        select(
            Conversation.contact_id,
            Conversation.phone_number_id,
            func.max(Conversation.last_inbound_at),
            func.max(Conversation.free_entry_point_at),
            func.max(Conversation.window_closed_at),
        )
        .where(Conversation.contact_id.in_({contact for contact, _ in pairs}))
        .group_by(Conversation.contact_id, Conversation.phone_number_id)
    )
    found = {(row[0], row[1]): WindowFacts(*(as_utc(v) for v in row[2:])) for row in rows}
    empty = WindowFacts(None, None, None)
    return {pair: found.get(pair, empty) for pair in pairs}


async def conversation_window(session: AsyncSession, conversation: Conversation) -> WindowFacts:
    return await window_facts(session, conversation.contact_id, conversation.phone_number_id)


def carry_window(conversation: Conversation, facts: WindowFacts) -> None:
    """A new conversation starts with the pair's window (so its own fields tell the truth)."""
    conversation.last_inbound_at = facts.last_inbound_at
    conversation.free_entry_point_at = facts.free_entry_point_at
    conversation.window_closed_at = facts.closed_at


async def on_status_changed(db: Database, event: MessageStatusChanged) -> None:
    """Meta said 131047: the window closed when it said so, whatever our clock thought."""
    if event.status != "failed" or event.error_code != WINDOW_CLOSED:
        return
    async with db.write() as session:
        conversation = await session.get(Conversation, event.conversation_id)
        message = await session.get(Message, event.message_id)
        if conversation is None or conversation.workspace_id != event.workspace_id:
            return
        at = (message.status_updated_at if message else None) or datetime.now(UTC)
        if conversation.window_closed_at is None or at > conversation.window_closed_at:
            conversation.window_closed_at = at
    log.info("conversation %s: Meta reports the service window closed", event.conversation_id)


async def on_message(db: Database, event: MessageReceived) -> None:
    """The customer wrote: whatever Meta said before, the window is open again.

    Meta's timestamps are whole seconds, too coarse to order a message against a 131047
    of the same second; arrival order is not. An old message delivered late (its
    timestamp a second or more before the refusal) does not reopen it.
    """
    async with db.read() as session:
        conversation = await session.get(Conversation, event.conversation_id)
        if conversation is None:
            return
        facts = await conversation_window(session, conversation)
        message = await session.get(Message, event.message_id)
        if facts.closed_at is None or message is None:
            return
        before = message.timestamp.replace(microsecond=0) + timedelta(seconds=1)
        contact_id, number_id = conversation.contact_id, conversation.phone_number_id
    async with db.write() as session:
        await session.execute(
            update(Conversation)
            .where(
                Conversation.contact_id == contact_id,
                Conversation.phone_number_id == number_id,
                Conversation.window_closed_at.is_not(None),
                Conversation.window_closed_at < before,
            )
            .values(window_closed_at=None)
        )


async def on_messages(db: Database, events: list[MessageReceived]) -> None:
    """``on_message`` for a batch: one read finds the few whose window Meta had closed."""
    conversation_ids = {e.conversation_id for e in events}
    async with db.read() as session:
        pairs = dict(
            (row.id, (row.contact_id, row.phone_number_id))
            for row in await session.execute(
                select(
                    Conversation.id, Conversation.contact_id, Conversation.phone_number_id
                ).where(Conversation.id.in_(conversation_ids))
            )
        )
        closed = set(
            (
                await session.execute(
                    select(Conversation.contact_id, Conversation.phone_number_id).where(
                        Conversation.contact_id.in_({c for c, _ in pairs.values()}),
                        Conversation.window_closed_at.is_not(None),
                    )
                )
            ).all()
        )
    for event in events:
        if pairs.get(event.conversation_id) in closed:
            await on_message(db, event)
