"""Status webhooks through the real endpoint: applied by rank, never backwards; duplicates
and stale statuses recorded but not applied; pricing kept; failures explained."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from madoguchi.simulator import payloads
from madoguchi.store.models import Conversation, Message, MessageStatusEvent
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, fixture_payload
from tests.helpers import accepted_outbound

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}
CUSTOMER = {"wa_id": "819012345678", "user_id": "JP.70211330012345"}


async def outbound_message(stack, wamid: str) -> int:
    """A conversation (from a real inbound delivery) and an outbound message Meta accepted."""
    await stack.post_webhook(fixture_payload("message_text.json"))
    async with stack.runtime.db.write() as session:
        conversation = await session.scalar(select(Conversation))
        message = accepted_outbound(conversation, wamid)
        session.add(message)
        await session.flush()
        return message.id


async def post_status(stack, wamid, status, ts, **kwargs):
    payload = payloads.status_webhook(NUMBER, wamid, status, CUSTOMER, timestamp=ts, **kwargs)
    response = await stack.post_webhook(payload)
    assert response.status_code == 200, response.text
    return response


async def get(stack, message_id):
    return (await stack.api("GET", f"/api/v1/messages/{message_id}")).json()


async def test_statuses_move_forward_only(stack):
    mid = await outbound_message(stack, "wamid.OUT1")
    now = time.time()
    await post_status(stack, "wamid.OUT1", "sent", now)
    await post_status(stack, "wamid.OUT1", "read", now + 2)  # read overtakes delivered
    await post_status(stack, "wamid.OUT1", "delivered", now + 1)
    message = await get(stack, mid)
    assert message["status"] == "read"
    async with stack.runtime.db.read() as session:
        events = {e.status: e.applied for e in await session.scalars(select(MessageStatusEvent))}
    assert events == {"sent": True, "read": True, "delivered": False}


async def test_duplicate_status_changes_nothing(stack):
    mid = await outbound_message(stack, "wamid.OUT2")
    now = time.time()
    await post_status(stack, "wamid.OUT2", "delivered", now)
    again = await post_status(stack, "wamid.OUT2", "delivered", now)
    assert (await stack.delivery(again)).duplicates == 1
    async with stack.runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(MessageStatusEvent)) == 1
    assert (await get(stack, mid))["status"] == "delivered"


async def test_failed_status_explains_the_error(stack):
    mid = await outbound_message(stack, "wamid.OUT3")
    await post_status(
        stack,
        "wamid.OUT3",
        "failed",
        time.time(),
        errors=[payloads.error(131047, "Re-engagement message")],
    )
    message = await get(stack, mid)
    assert message["status"] == "failed"
    assert message["error_code"] == 131047
    assert "24 hours" in message["error_message"]


async def test_late_failure_does_not_undo_a_read(stack):
    mid = await outbound_message(stack, "wamid.OUT4")
    now = time.time()
    await post_status(stack, "wamid.OUT4", "read", now)
    await post_status(
        stack, "wamid.OUT4", "failed", now + 1, errors=[payloads.error(131026, "Undeliverable")]
    )
    assert (await get(stack, mid))["status"] == "read"


async def test_pricing_and_conversation_are_kept(stack):
    mid = await outbound_message(stack, "wamid.OUT5")
    await post_status(
        stack,
        "wamid.OUT5",
        "sent",
        time.time(),
        pricing=payloads.pricing("marketing"),
        conversation=payloads.conversation("CONV1", "marketing"),
    )
    message = await get(stack, mid)
    assert message["pricing"]["category"] == "marketing"
    assert message["pricing"]["pricing_model"] == "PMP"


@pytest.mark.parametrize(
    "name",
    [
        "status_sent.json",
        "status_delivered.json",
        "status_read.json",
        "status_failed.json",
        "status_played.json",
    ],
)
async def test_every_status_fixture_is_accepted(stack, name):
    response = await stack.post_webhook(fixture_payload(name))
    assert response.status_code == 200
    async with stack.runtime.db.read() as session:
        statuses = (await session.scalars(select(MessageStatusEvent.status))).all()
    assert len(statuses) == 1 and statuses[0] in name


async def test_status_recorded_before_its_send_had_a_wamid_is_applied_by_the_sweep(stack):
    """The race the sweep closes: a status is processed while its send's wamid is not
    committed yet (kept unattached), and the sender's own early-status check ran before
    the status was committed. The processor's sweep applies it."""
    stack.runtime.processor.policy.sweep_seconds = 3600  # only the explicit sweep below
    mid = await outbound_message(stack, None)
    await post_status(stack, "wamid.RACE", "delivered", time.time())
    async with stack.runtime.db.write() as session:
        record = await session.scalar(
            select(MessageStatusEvent).where(MessageStatusEvent.wamid == "wamid.RACE")
        )
        assert record.message_id is None and not record.applied
        message = await session.get(Message, mid)
        message.wamid = "wamid.RACE"  # the sender's commit, which saw no early status
    assert (await get(stack, mid))["status"] == "accepted"
    assert await stack.runtime.processor.attach_early_statuses() == 1
    message = await get(stack, mid)
    assert message["status"] == "delivered"
    assert await stack.runtime.processor.attach_early_statuses() == 0  # applied once
