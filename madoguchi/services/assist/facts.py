"""What a summary is built from, read from the store for one conversation.

Customer turns are inbound messages; outbound ones before an agent took the conversation
are the flow's (``bot``), later ones the agent's. The flow's collected answers are the
plain variables of its runs (internal ones such as ``http.status`` left out).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.assist.summary import Facts, Turn
from madoguchi.store.models import (
    Contact,
    Conversation,
    ConversationEvent,
    FlowRun,
    Message,
    Note,
)

MAX_MESSAGES = 200
_INTERNAL_PREFIXES = ("http.", "_")


def _text_of(message: Message) -> str | None:
    if message.text:
        return message.text
    content = message.content or {}
    for key in ("caption", "title", "body"):
        value = content.get(key)
        if isinstance(value, str) and value:
            return value
    return None


async def collect(session: AsyncSession, conversation: Conversation) -> Facts:
    contact = await session.get(Contact, conversation.contact_id)
    messages = (
        await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.id.desc())
            .limit(MAX_MESSAGES)
        )
    ).all()
    facts = Facts(
        contact_name=(contact.profile_name or contact.username or contact.wa_id)
        if contact
        else None,
        status=conversation.status,
        disposition=conversation.disposition_code,
    )
    for message in reversed(messages):
        text = _text_of(message)
        if not text:
            continue
        if message.direction == "inbound":
            role = "customer"
        elif conversation.assigned_at and message.created_at >= conversation.assigned_at:
            role = "agent"
        else:
            role = "bot"
        facts.turns.append(Turn(role, text, message.created_at))
    runs = (
        await session.scalars(
            select(FlowRun).where(FlowRun.conversation_id == conversation.id).order_by(FlowRun.id)
        )
    ).all()
    for run in runs:
        for name, value in (run.variables or {}).items():
            if name.startswith(_INTERNAL_PREFIXES) or isinstance(value, dict | list):
                continue
            if value is not None and str(value).strip():
                facts.collected[name] = str(value)
    facts.transfers = (
        await session.scalar(
            select(func.count())
            .select_from(ConversationEvent)
            .where(
                ConversationEvent.conversation_id == conversation.id,
                ConversationEvent.type == "transferred",
            )
        )
        or 0
    )
    facts.notes = list(
        (
            await session.scalars(
                select(Note.body).where(Note.conversation_id == conversation.id).order_by(Note.id)
            )
        ).all()
    )
    return facts
