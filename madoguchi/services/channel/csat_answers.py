"""A customer's answer to the CSAT question joins the closed conversation it rates.

Ingest asks here before it opens a new conversation for an inbound message:

- a tapped row or button of the question (reply id ``csat:N``, its context the question's
  wamid) belongs to the question's conversation, whatever is open meanwhile; the first
  one is the answer, later taps change nothing;
- a typed digit 1–5 is the answer when the customer has no open conversation with the
  number and their latest conversation's question is unanswered and at most
  ``domain.csat.ANSWER_HOURS`` old.

Such a message is stored in the closed conversation and does not reopen it: routing and
flows act on ``new`` conversations only. Any other text after the question starts a new
conversation as usual (the question stays open for a tap until it expires).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain import csat
from madoguchi.domain.events import CsatAnswered
from madoguchi.store.models import Conversation, CsatResponse, Message
from madoguchi.store.models.core import as_utc


async def conversation_answered(
    session: AsyncSession,
    contact_id: int,
    phone_number_pk: int,
    message_type: str,
    content: dict | None,
    text: str | None,
    context_wamid: str | None,
    open_conversation: Conversation | None,
    at: datetime,
) -> tuple[Conversation, CsatResponse, int] | None:
    """The closed conversation an inbound message answers, its question and the score."""
    score = csat.reply_score(message_type, content)
    row = None
    if score is not None and context_wamid:
        row = await session.scalar(
            select(CsatResponse)
            .join(Message, Message.id == CsatResponse.message_id)
            .join(Conversation, Conversation.id == CsatResponse.conversation_id)
            .where(
                Message.wamid == context_wamid,
                Conversation.contact_id == contact_id,
                Conversation.phone_number_id == phone_number_pk,
            )
        )
    if row is None and open_conversation is None:
        score = csat.reply_score(message_type, content) or csat.typed_score(message_type, text)
        if score is not None:
            row = await session.scalar(
                select(CsatResponse)
                .join(Conversation, Conversation.id == CsatResponse.conversation_id)
                .where(
                    Conversation.contact_id == contact_id,
                    Conversation.phone_number_id == phone_number_pk,
                    CsatResponse.answered_at.is_(None),
                    CsatResponse.asked_at >= at - timedelta(hours=csat.ANSWER_HOURS),
                )
                .order_by(CsatResponse.id.desc())
                .limit(1)
            )
            if row is not None:
                latest = await session.scalar(
                    select(Conversation.id)
                    .where(
                        Conversation.contact_id == contact_id,
                        Conversation.phone_number_id == phone_number_pk,
                    )
                    .order_by(Conversation.id.desc())
                    .limit(1)
                )
                if latest != row.conversation_id:
                    row = None
    if row is None or score is None:
        return None
    conversation = await session.get(Conversation, row.conversation_id)
    return conversation, row, score


def record_answer(row: CsatResponse, score: int, at: datetime) -> CsatAnswered | None:
    """Store the first answer; a later one changes nothing (None)."""
    if row.answered_at is not None:
        return None
    row.score = score
    # WhatsApp stamps messages to the second: never before the question itself.
    row.answered_at = max(at, as_utc(row.asked_at))
    return CsatAnswered(
        workspace_id=row.workspace_id,
        conversation_id=row.conversation_id,
        score=score,
        queue_id=row.queue_id,
        agent_id=row.agent_id,
    )
