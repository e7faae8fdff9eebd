"""Which conversation a customer's message with a business number belongs to.

A customer has at most one open conversation per number; an inbound message or a send
joins it, and a new conversation is linked to the one before it. Ingest, the outbox and
outreach all ask the same two questions, answered here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.lifecycle import TERMINAL
from madoguchi.store.models import Conversation

CLOSED_STATUSES = tuple(sorted(s.value for s in TERMINAL))


async def find_open_conversation(
    session: AsyncSession, contact_id: int, phone_number_id: int
) -> Conversation | None:
    """The contact's conversation with a number that is not closed (the newest one)."""
    return await session.scalar(
        select(Conversation)
        .where(
            Conversation.contact_id == contact_id,
            Conversation.phone_number_id == phone_number_id,
            Conversation.status.not_in(CLOSED_STATUSES),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def latest_conversation_id(
    session: AsyncSession, contact_id: int, phone_number_id: int
) -> int | None:
    """The contact's most recent conversation with a number (to link a new one to it)."""
    return await session.scalar(
        select(Conversation.id)
        .where(
            Conversation.contact_id == contact_id,
            Conversation.phone_number_id == phone_number_id,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )
