"""Shared set-up of the billing tests: a rate card, approved templates, a customer who
wrote (or did not) to the workspace's number."""

from __future__ import annotations

import time

from sqlalchemy import select

from madoguchi.simulator import payloads
from madoguchi.store.models import Conversation, MessageTemplate, WhatsAppAccount
from tests.conftest import PHONE_NUMBER_ID, WABA_ID

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}
JAPAN = {"wa_id": "819012345678", "user_id": "JP.70211330012345", "name": "Taro"}
SHEET = """market,marketing,utility,authentication,authentication_international,service
JP,0.1097,0.0106,0.0106,,0
IN,0.0107,0.0014,0.0014,0.0280,0
*,0.0604,0.0077,0.0077,,0
"""


async def import_card(stack, text: str = SHEET, **params) -> dict:
    response = await stack.client.post(
        "/api/v1/rate-cards/import",
        params={"name": "Meta", "currency": "USD", **params},
        content=text.encode(),
        headers={**stack.auth, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def approve_templates(stack) -> None:
    async with stack.runtime.db.write() as session:
        account = await session.scalar(
            select(WhatsAppAccount).where(WhatsAppAccount.waba_id == WABA_ID)
        )
        for name, category in [
            ("order_shipped", "UTILITY"),
            ("spring_sale", "MARKETING"),
            ("login_code", "AUTHENTICATION"),
        ]:
            session.add(
                MessageTemplate(
                    workspace_id=account.workspace_id,
                    account_id=account.id,
                    name=name,
                    language="en",
                    category=category,
                    status="APPROVED",
                    components=[{"type": "BODY", "text": "Hello"}],
                )
            )


async def customer_writes(stack, customer: dict = JAPAN, at: float | None = None) -> int:
    """The customer writes now (or at ``at``); the id of their conversation."""
    message = payloads.inbound_message(
        customer, "text", {"body": "hello"}, timestamp=at or time.time()
    )
    response = await stack.post_webhook(payloads.message_webhook(NUMBER, customer, message))
    assert response.status_code == 200, response.text
    async with stack.runtime.db.read() as session:
        return await session.scalar(select(Conversation.id).order_by(Conversation.id.desc()))


def template(name: str) -> dict:
    return {"message": {"type": "template", "template": {"name": name, "language": {"code": "en"}}}}
