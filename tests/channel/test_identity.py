"""Contact identity through the real endpoint: BSUID first, phone when given, one
contact whichever is seen first, username and name kept current."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.simulator import payloads
from madoguchi.store.models import Contact, Conversation
from tests.conftest import PHONE_NUMBER_ID, WABA_ID

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}


async def say(stack, customer: dict, text: str):
    message = payloads.inbound_message(customer, "text", payloads.text(text))
    response = await stack.post_webhook(payloads.message_webhook(NUMBER, customer, message))
    assert response.status_code == 200, response.text


async def contacts(stack) -> list[Contact]:
    async with stack.runtime.db.read() as session:
        return list((await session.scalars(select(Contact).order_by(Contact.id))).all())


async def test_phone_first_then_bsuid_stays_one_contact(stack):
    await say(stack, {"wa_id": "819011112222", "name": "Taro"}, "hi")
    await say(stack, {"wa_id": "819011112222", "user_id": "JP.111", "name": "Taro Y"}, "again")
    [contact] = await contacts(stack)
    assert (contact.wa_id, contact.user_id, contact.profile_name) == (
        "819011112222",
        "JP.111",
        "Taro Y",
    )


async def test_bsuid_first_then_phone_stays_one_contact(stack):
    await say(stack, {"user_id": "JP.222", "username": "hanako", "name": "Hanako"}, "hi")
    await say(
        stack, {"user_id": "JP.222", "wa_id": "819033334444", "name": "Hanako"}, "now with phone"
    )
    [contact] = await contacts(stack)
    assert (contact.wa_id, contact.user_id, contact.username) == (
        "819033334444",
        "JP.222",
        "hanako",
    )


async def test_separate_rows_are_merged_with_their_conversations(stack):
    await say(stack, {"wa_id": "819055556666", "name": "Kenji"}, "by phone")
    await say(stack, {"user_id": "JP.333", "username": "kenji"}, "by username")
    assert len(await contacts(stack)) == 2
    await say(stack, {"user_id": "JP.333", "wa_id": "819055556666"}, "both")
    [contact] = await contacts(stack)
    assert (contact.wa_id, contact.user_id, contact.username) == ("819055556666", "JP.333", "kenji")
    async with stack.runtime.db.read() as session:
        owners = set((await session.scalars(select(Conversation.contact_id))).all())
    assert owners == {contact.id}


async def test_recycled_phone_goes_to_the_new_bsuid(stack):
    await say(stack, {"wa_id": "819077778888", "user_id": "JP.OLD"}, "old owner")
    await say(stack, {"wa_id": "819077778888", "user_id": "JP.NEW"}, "new owner")
    old, new = await contacts(stack)
    assert (old.user_id, old.wa_id) == ("JP.OLD", None)
    assert (new.user_id, new.wa_id) == ("JP.NEW", "819077778888")


async def test_absent_name_never_erases_a_known_one(stack):
    await say(stack, {"user_id": "JP.444", "name": "Aiko"}, "hi")
    await say(stack, {"user_id": "JP.444"}, "no profile this time")
    [contact] = await contacts(stack)
    assert contact.profile_name == "Aiko"


async def test_user_changed_number_moves_the_phone(stack):
    customer = {"wa_id": "819000001111", "user_id": "JP.555"}
    await say(stack, customer, "hi")
    system = payloads.inbound_message(
        customer,
        "system",
        {"body": "User changed number", "type": "user_changed_number", "wa_id": "819000002222"},
    )
    response = await stack.post_webhook(payloads.message_webhook(NUMBER, customer, system))
    assert response.status_code == 200, response.text
    [contact] = await contacts(stack)
    assert contact.wa_id == "819000002222"
