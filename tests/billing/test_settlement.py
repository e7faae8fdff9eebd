"""Actual costs settled from Meta's status webhooks, beside the estimates; a card added
later does not reprice messages sent before it; failures cost nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from madoguchi.simulator import payloads
from madoguchi.store.models import Message, MessageCost
from tests.billing.costing import (
    JAPAN,
    NUMBER,
    SHEET,
    approve_templates,
    customer_writes,
    import_card,
    template,
)
from tests.e2e.test_simulator_roundtrip import customer, customer_says, send
from tests.e2e.test_templates_e2e import SPRING_SALE, approved, s  # noqa: F401
from tests.helpers import eventually

PAID = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}


async def queued(stack, conversation: int, name: str, wamid: str) -> int:
    response = await stack.api(
        "POST", f"/api/v1/conversations/{conversation}/messages", json=template(name)
    )
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]
    async with stack.runtime.db.write() as session:  # as if the sender had sent it
        await session.execute(
            update(Message).where(Message.id == message_id).values(wamid=wamid, status="accepted")
        )
    return message_id


async def status(stack, wamid: str, status_: str, **kwargs) -> None:
    payload = payloads.status_webhook(
        NUMBER, wamid, status_, JAPAN, timestamp=time.time(), **kwargs
    )
    assert (await stack.post_webhook(payload)).status_code == 200


async def costs(stack) -> dict[int, MessageCost]:
    async with stack.runtime.db.read() as session:
        return {c.message_id: c for c in await session.scalars(select(MessageCost))}


async def test_costs_settle_from_meta_pricing(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    sale = await queued(stack, conversation, "spring_sale", "wamid.SALE")
    utility = await queued(stack, conversation, "order_shipped", "wamid.UTIL")
    failed = await queued(stack, conversation, "spring_sale", "wamid.FAIL")
    pending = await queued(stack, conversation, "spring_sale", "wamid.PEND")
    await status(stack, "wamid.SALE", "sent", pricing=PAID)
    await status(stack, "wamid.SALE", "delivered", pricing=PAID)
    # Meta disagrees with our estimate (free in the window): the difference shows
    await status(stack, "wamid.UTIL", "delivered", pricing={**PAID, "category": "utility"})
    await status(stack, "wamid.FAIL", "sent", pricing=PAID)
    await status(stack, "wamid.FAIL", "failed", errors=[payloads.error(131026, "Undeliverable")])
    await status(stack, "wamid.PEND", "sent", pricing=PAID)  # not delivered yet
    assert await stack.runtime.costs.settle_all() == 3
    rows = await costs(stack)
    assert (rows[sale].estimated_micros, rows[sale].actual_micros) == (109700, 109700)
    assert (rows[sale].settlement, rows[sale].actual_category, rows[sale].actual_model) == (
        "delivered",
        "marketing",
        "PMP",
    )
    assert (rows[utility].estimated_billable, rows[utility].estimated_micros) == (False, 0)
    assert (rows[utility].actual_billable, rows[utility].actual_micros) == (True, 10600)
    assert (rows[failed].settlement, rows[failed].actual_billable, rows[failed].actual_micros) == (
        "failed",
        False,
        0,
    )
    assert rows[pending].settled_at is None
    assert await stack.runtime.costs.settle_all() == 0  # settled once


async def test_a_card_added_later_does_not_reprice_earlier_messages(stack):
    old = await import_card(
        stack, effective_from=(datetime.now(UTC) - timedelta(days=40)).isoformat()
    )
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    sent_before = await queued(stack, conversation, "spring_sale", "wamid.OLD")
    new = await import_card(stack, SHEET.replace("0.1097", "0.5000"), name="new")
    sent_after = await queued(stack, conversation, "spring_sale", "wamid.NEW")
    for wamid in ("wamid.OLD", "wamid.NEW"):
        await status(stack, wamid, "delivered", pricing=PAID)
    await stack.runtime.costs.settle_all()
    rows = await costs(stack)
    assert (rows[sent_before].rate_card_id, rows[sent_before].actual_micros) == (old["id"], 109700)
    assert (rows[sent_after].rate_card_id, rows[sent_after].actual_micros) == (new["id"], 500000)


async def test_conversation_based_history_is_priced_by_its_own_rules(stack):
    await import_card(stack, effective_from="2025-01-01T00:00:00Z")
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    message_id = await queued(stack, conversation, "spring_sale", "wamid.CBP")
    then = datetime(2025, 3, 10, tzinfo=UTC)
    async with stack.runtime.db.write() as session:
        await session.execute(
            update(Message).where(Message.id == message_id).values(timestamp=then)
        )
        await session.execute(
            update(MessageCost).where(MessageCost.message_id == message_id).values(priced_at=then)
        )
    cbp = {"billable": True, "pricing_model": "CBP", "category": "marketing"}
    await status(stack, "wamid.CBP", "delivered", pricing=cbp)
    await stack.runtime.costs.settle_all()
    row = (await costs(stack))[message_id]
    assert (row.actual_model, row.actual_micros, row.actual_type) == ("CBP", 109700, "regular")


async def test_delivered_without_pricing_keeps_the_estimate(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    sale = await queued(stack, conversation, "spring_sale", "wamid.NOPRICE")
    await status(stack, "wamid.NOPRICE", "delivered")
    assert await stack.runtime.costs.settle_all() == 1
    row = (await costs(stack))[sale]
    assert (row.settlement, row.actual_billable, row.actual_micros) == (
        "no_pricing",
        row.estimated_billable,
        row.estimated_micros,
    )
    assert (row.actual_category, row.actual_type, row.actual_model) == (
        row.estimated_category,
        row.estimated_type,
        row.estimated_model,
    )
    assert row.estimated_micros == 109700 and row.settled_at is not None


async def test_a_tier_counts_the_costs_settled_before_it_in_the_same_batch(stack):
    # In the service window our estimate says a utility template is free; Meta says
    # billable. The second message's tier must count the first as Meta billed it, which
    # is only known once the first is settled (earlier in the same batch).
    await import_card(stack, "market,tier_from,utility\nJP,0,0.0106\nJP,1,0.009\n")
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    first = await queued(stack, conversation, "order_shipped", "wamid.TIER1")
    second = await queued(stack, conversation, "order_shipped", "wamid.TIER2")
    billed = {**PAID, "category": "utility"}
    for wamid in ("wamid.TIER1", "wamid.TIER2"):
        await status(stack, wamid, "delivered", pricing=billed)
    assert await stack.runtime.costs.settle_all() == 2
    rows = await costs(stack)
    assert (rows[first].estimated_billable, rows[second].estimated_billable) == (False, False)
    assert (rows[first].actual_micros, rows[second].actual_micros) == (10600, 9000)


async def test_settled_by_the_running_product_against_the_simulator(s):  # noqa: F811
    await import_card(s)
    await approved(s, SPRING_SALE)
    saki = await customer(s, wa_id="819012345606", name="Saki")
    said = await customer_says(s, saki, {"type": "text", "text": "hello"})
    conversation = await eventually(lambda: _conversation(s, said["wamid"]))
    sent = await send(
        s,
        conversation,
        {
            "type": "template",
            "template": {
                "name": "spring_sale",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "parameter_name": "first_name", "text": "Saki"}
                        ],
                    }
                ],
            },
        },
    )
    assert sent.status_code == 202, sent.text

    async def settled():
        row = (await costs(s)).get(sent.json()["id"])
        return row if row is not None and row.settled_at is not None else None

    row = await eventually(settled)
    assert (row.estimated_micros, row.actual_micros, row.actual_category) == (
        109700,
        109700,
        "marketing",
    )


async def _conversation(stack, wamid: str) -> int | None:
    async with stack.runtime.db.read() as session:
        return await session.scalar(select(Message.conversation_id).where(Message.wamid == wamid))
