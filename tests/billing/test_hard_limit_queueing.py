"""A hard-limit budget refuses a billable send before anything of it is written.

The API's one-message send rolls its own transaction back on a refusal, but flow steps,
the closed-hours message and CSAT queue into the caller's transaction and go on (a
refused reply is logged as the step's error and the step commits): a refusal raised after
the message row was flushed left a ``queued`` message that no outbox row would ever send.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from madoguchi.domain.events import MessageQueued
from madoguchi.services.channel.outbox import (
    OutboundRefused,
    queue_message,
    queue_messages,
)
from madoguchi.store.models import Contact, Conversation, Message, MessageCost, OutboxEntry
from madoguchi.whatsapp.outbound import validate_outbound
from tests.billing.costing import approve_templates, customer_writes, import_card, template

SPRING_SALE = validate_outbound(template("spring_sale")["message"])  # 0.1097 USD to Japan
HELLO = validate_outbound({"type": "text", "text": {"body": "hello"}})


async def budget(stack, monthly: str) -> None:
    response = await stack.api(
        "PUT",
        "/api/v1/costs/budget",
        json={"monthly": monthly, "currency": "USD", "hard_limit": True},
    )
    assert response.status_code == 200, response.text


async def stored(stack) -> tuple[int, int, int]:
    """(outbound messages, outbox rows, cost rows)."""
    async with stack.runtime.db.read() as session:
        return (
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "outbound")
            ),
            await session.scalar(select(func.count()).select_from(OutboxEntry)),
            await session.scalar(select(func.count()).select_from(MessageCost)),
        )


async def test_a_refused_send_in_the_callers_transaction_leaves_nothing(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation_id = await customer_writes(stack)
    await budget(stack, "0.15")  # one marketing template to Japan, not two
    async with stack.runtime.db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        ws = conversation.workspace_id
        _, first = await queue_message(None, ws, conversation_id, SPRING_SALE, session=session)
        try:
            await queue_message(None, ws, conversation_id, SPRING_SALE, session=session)
        except OutboundRefused as exc:
            refusal = exc
        # the caller goes on and commits (as a flow step does)
    assert refusal.code == "budget_exhausted" and refusal.status == 409
    assert isinstance(first, MessageQueued)
    assert await stored(stack) == (1, 1, 1)


async def test_the_batch_refuses_a_template_over_budget_alone(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation_id = await customer_writes(stack)
    await budget(stack, "0.15")
    async with stack.runtime.db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        contact = await session.get(Contact, conversation.contact_id)
        results = await queue_messages(
            session,
            [(conversation, contact, m) for m in (SPRING_SALE, SPRING_SALE, HELLO)],
        )
    assert isinstance(results[0], MessageQueued)
    assert isinstance(results[1], OutboundRefused) and results[1].code == "budget_exhausted"
    assert isinstance(results[2], MessageQueued)  # free in the window: still sent
    assert await stored(stack) == (2, 2, 2)


SERVICE_PRICED = """market,marketing,utility,authentication,authentication_international,service
JP,0.1097,0.0106,0.0106,,0.01
"""
CBP = datetime(2025, 3, 3, 9, tzinfo=UTC)  # conversation-based pricing: service is paid


async def test_the_batch_refuses_a_free_form_reply_over_budget_alone(stack):
    await import_card(stack, SERVICE_PRICED, effective_from="2025-01-01T00:00:00Z")
    conversation_id = await customer_writes(stack, at=CBP.timestamp() - 60)
    await budget(stack, "0.015")  # one service message, not two
    async with stack.runtime.db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        contact = await session.get(Contact, conversation.contact_id)
        results = await queue_messages(session, [(conversation, contact, HELLO)] * 2, now=CBP)
    assert isinstance(results[0], MessageQueued)
    assert isinstance(results[1], OutboundRefused) and results[1].code == "budget_exhausted"
    assert await stored(stack) == (1, 1, 1)
