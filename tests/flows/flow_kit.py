"""Shared pieces of the flow tests: a workspace with queues, users and the guide's flow,
a customer who writes through the real webhook, and readers of what the flow did."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from sqlalchemy import select

from madoguchi.domain.flows.examples import guide_flow
from madoguchi.simulator import payloads
from madoguchi.store.models import Conversation, ConversationEvent, FlowRun, Message
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, Stack, start_stack
from tests.helpers import eventually

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}
WELCOME = (
    "Hi! 👋 We're here 24/7 to help as best we can, and we'll connect you to a human agent "
    "if needed."
)
QUESTION = "For sales 🧾 press 1️⃣ — for support 🙋🏼‍♂️ press 2️⃣"


def workspace_file(flows: list[dict] | None = None, default_queue: str | None = None) -> str:
    """ACME with Sales and Support, Aiko (agent) and Sam (supervisor), and ``flows``
    (default: the guide's flow bound to the test number)."""
    if flows is None:
        flows = [{"name": "Guide", "definition": guide_flow([PHONE_NUMBER_ID])}]
    default = f"\n          default_queue: {default_queue}" if default_queue else ""
    return f"""
workspace: {{slug: acme, name: ACME}}
users:
  - {{email: aiko@acme.test, name: Aiko, role: agent}}
  - {{email: sam@acme.test, name: Sam, role: supervisor}}
queues:
  - name: Sales
    members: [{{email: aiko@acme.test}}]
  - name: Support
    members: [{{email: aiko@acme.test}}]
  - name: Night
    hours: {{}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{PHONE_NUMBER_ID}"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}{default}
flows: {json.dumps(flows, ensure_ascii=False)}
"""


_phones = itertools.count(819011110001)


def new_customer(name: str = "Customer") -> dict:
    return {"wa_id": str(next(_phones)), "name": name}


async def flow_stack(db_url: str, tmp_path: Path, **kwargs) -> Stack:
    flows = kwargs.pop("flows", None)
    default_queue = kwargs.pop("default_queue", None)
    return await start_stack(
        db_url, tmp_path, workspace_file=workspace_file(flows, default_queue), **kwargs
    )


async def close_stack(stack: Stack) -> None:
    await stack.client.aclose()
    await stack.served.stop()


async def says(stack: Stack, customer: dict, text: str | None = None, **kind) -> None:
    """The customer writes ``text`` (or taps: ``interactive=payloads.button_reply(…)``)."""
    if kind:
        [(type_, obj)] = kind.items()
        message = payloads.inbound_message(customer, type_, obj)
    else:
        message = payloads.inbound_message(customer, "text", payloads.text(text))
    response = await stack.post_webhook(payloads.message_webhook(NUMBER, customer, message))
    assert response.status_code == 200, response.text


async def conversation_of(stack: Stack, customer: dict) -> Conversation | None:
    async with stack.runtime.db.read() as session:
        return await session.scalar(
            select(Conversation)
            .where(Conversation.contact.has(wa_id=customer["wa_id"]))
            .order_by(Conversation.id.desc())
            .limit(1)
        )


async def replies(stack: Stack, conversation_id: int) -> list[dict]:
    """What the business queued for the customer, oldest first (Meta-shaped content)."""
    async with stack.runtime.db.read() as session:
        rows = await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == "outbound")
            .order_by(Message.id)
        )
        return [m.content for m in rows]


def texts(contents: list[dict]) -> list[str]:
    out = []
    for c in contents:
        if c["type"] == "text":
            out.append(c["text"]["body"])
        elif c["type"] == "interactive":
            out.append(c["interactive"]["body"]["text"])
        else:
            out.append(f"[{c['type']}]")
    return out


async def wait_replies(stack: Stack, customer: dict, count: int) -> tuple[Conversation, list]:
    async def check():
        conversation = await conversation_of(stack, customer)
        if conversation is None:
            return None
        got = await replies(stack, conversation.id)
        if len(got) < count:
            return None
        return await conversation_of(stack, customer), got  # as of after the replies

    return await eventually(check)


async def wait_status(stack: Stack, customer: dict, status: str) -> Conversation:
    async def check():
        conversation = await conversation_of(stack, customer)
        return conversation if conversation and conversation.status == status else None

    return await eventually(check)


async def runs(stack: Stack, conversation_id: int) -> list[FlowRun]:
    async with stack.runtime.db.read() as session:
        return list(
            (
                await session.scalars(
                    select(FlowRun)
                    .where(FlowRun.conversation_id == conversation_id)
                    .order_by(FlowRun.id)
                )
            ).all()
        )


async def wait_run(stack: Stack, conversation_id: int, status: str) -> FlowRun:
    async def check():
        found = await runs(stack, conversation_id)
        return found[-1] if found and found[-1].status == status else None

    return await eventually(check)


async def lifecycle(stack: Stack, conversation_id: int) -> list[str]:
    async with stack.runtime.db.read() as session:
        return list(
            (
                await session.scalars(
                    select(ConversationEvent.type)
                    .where(ConversationEvent.conversation_id == conversation_id)
                    .order_by(ConversationEvent.id)
                )
            ).all()
        )


async def queue_name(stack: Stack, conversation: Conversation) -> str | None:
    from madoguchi.store.models import Queue

    async with stack.runtime.db.read() as session:
        queue = await session.get(Queue, conversation.queue_id) if conversation.queue_id else None
        return queue.name if queue else None
