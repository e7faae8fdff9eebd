"""Customer satisfaction: ask when a conversation an agent handled is closed.

The question is asked inside the transaction that closes the conversation (a row, not a
later job: a crash after the close cannot lose it, nor send it twice). It is asked when

- the conversation's queue has CSAT on,
- an agent handled it (it was ``active`` or in ``wrap_up``: closed by the agent or a
  supervisor, or by the queue's auto-close after the customer went silent); conversations
  nobody answered (abandoned, bot-resolved, closed while queued) are never asked,
- the customer service window is open (the question is a free-form interactive message;
  outside the window it is not sent at all),
- and it was never asked for this conversation (unique key on ``conversation_id``).

The answer comes back through ingest (``services.channel.csat_answers``): a tapped row or
button, or a typed digit 1–5, joins the closed conversation without reopening it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain import csat
from madoguchi.domain.events import CsatRequested, Event
from madoguchi.domain.lifecycle import Status
from madoguchi.services.channel.outbox import OutboundRefused, queue_message
from madoguchi.services.channel.service_window import window_facts
from madoguchi.store.models import Contact, Conversation, CsatResponse, Queue
from madoguchi.whatsapp.outbound import OutboundValidationError, validate_outbound

log = logging.getLogger(__name__)

ANSWERED_STATUSES = frozenset({Status.ACTIVE.value, Status.WRAP_UP.value})


async def ask_on_close(
    session: AsyncSession,
    conversation: Conversation,
    was_status: str,
    agent_id: int | None,
    now: datetime,
    events: list[Event],
) -> CsatResponse | None:
    """Queue the CSAT question for a conversation being closed, if its queue asks one."""
    if was_status not in ANSWERED_STATUSES or conversation.queue_id is None:
        return None
    queue = await session.get(Queue, conversation.queue_id)
    settings = csat.CsatSettings.of(queue.csat if queue else None)
    if not settings.enabled:
        return None
    asked = await session.scalar(
        select(CsatResponse.id).where(CsatResponse.conversation_id == conversation.id)
    )
    if asked is not None:
        return None
    contact = await session.get(Contact, conversation.contact_id)
    window = (await window_facts(session, contact.id, conversation.phone_number_id)).window
    if not window.is_open(now):
        return None
    language = csat.language_for(settings, contact.wa_id)
    try:
        message = validate_outbound(
            {"type": "interactive", "interactive": csat.question(settings, language)}
        )
    except OutboundValidationError:
        log.warning("CSAT question of queue %s is not a valid message", conversation.queue_id)
        return None
    try:
        async with session.begin_nested():
            row = CsatResponse(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                queue_id=conversation.queue_id,
                agent_id=agent_id,
                kind=settings.kind,
                language=language,
                asked_at=now,
            )
            session.add(row)
            await session.flush()  # the unique key: a second close loses here
            stored, queued = await queue_message(
                None,  # type: ignore[arg-type]  (joins ``session``)
                conversation.workspace_id,
                conversation.id,
                message,
                now=now,
                session=session,
            )
            row.message_id = stored.id
    except (IntegrityError, OutboundRefused) as exc:
        log.info("CSAT not asked in conversation %s: %s", conversation.id, exc)
        return None
    events.append(queued)
    events.append(
        CsatRequested(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            message_id=stored.id,
            queue_id=conversation.queue_id,
            agent_id=agent_id,
        )
    )
    return row


async def of_conversation(session: AsyncSession, conversation_id: int) -> CsatResponse | None:
    return await session.scalar(
        select(CsatResponse).where(CsatResponse.conversation_id == conversation_id)
    )
