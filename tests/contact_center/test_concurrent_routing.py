"""Several assigners at once (separate connection pools, as separate processes would have)
never offer a conversation twice and never push an agent over capacity."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from madoguchi.domain.events import OfferMade
from madoguchi.domain.lifecycle import Status
from madoguchi.security.secrets import SecretBox
from madoguchi.services.configuration.apply import apply_config
from madoguchi.services.contact_center import assignment
from madoguchi.services.contact_center.presence import set_presence
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    ConversationEvent,
    PhoneNumber,
    Queue,
    User,
)

AGENTS = 10
CAPACITY = 2
CONVERSATIONS = 40
ASSIGNERS = 8


def workspace_file() -> str:
    users = "\n".join(f"  - {{email: a{i}@acme.test, name: A{i}}}" for i in range(AGENTS))
    members = "\n".join(f"      - {{email: a{i}@acme.test}}" for i in range(AGENTS))
    return f"""
workspace: {{slug: acme, name: ACME}}
users:
{users}
queues:
  - name: Support
    max_per_agent: {CAPACITY}
    members:
{members}
whatsapp:
  accounts:
    - waba_id: "201234567890123"
      name: ACME
      phone_numbers:
        - phone_number_id: "301234567890123"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}
"""


async def test_concurrent_assigners_respect_capacity_and_uniqueness(db_url):
    db = Database(db_url)
    await apply_config(db, SecretBox("k"), workspace_file(), env={"WA_TOKEN": "t"})
    async with db.write() as session:
        number = await session.scalar(select(PhoneNumber))
        queue = await session.scalar(select(Queue))
        for i in range(CONVERSATIONS):
            contact = Contact(workspace_id=number.workspace_id, wa_id=f"8190{i:08d}")
            session.add(contact)
            await session.flush()
            session.add(
                Conversation(
                    workspace_id=number.workspace_id,
                    contact_id=contact.id,
                    phone_number_id=number.id,
                )
            )
        users = (await session.scalars(select(User))).all()
    for user in users:
        await set_presence(db, user.workspace_id, user.id, "available")
    async with db.read() as session:
        ids = (await session.scalars(select(Conversation.id))).all()
    for cid in ids:
        await assignment.enqueue(db, number.workspace_id, cid, queue.id)

    # On PostgreSQL each assigner has its own engine and pool, like a separate app process;
    # the embedded SQLite mode is one process, whose assigners share its single writer.
    assigners = [db if db.sqlite else Database(db_url) for _ in range(ASSIGNERS)]

    async def assign(worker: Database) -> int:
        made = 0
        while (outcome := await assignment.offer_next(worker, queue.id, batch=3)) is not None:
            made += sum(isinstance(e, OfferMade) for e in outcome.events)
        return made

    made = await asyncio.gather(*(assign(w) for w in assigners))
    for w in assigners:
        if w is not db:
            await w.dispose()

    async with db.read() as session:
        per_agent = dict(
            (
                await session.execute(
                    select(Conversation.offered_agent_id, func.count())
                    .where(Conversation.status == Status.OFFERED)
                    .group_by(Conversation.offered_agent_id)
                )
            ).all()
        )
        offers_per_conversation = (
            await session.execute(
                select(ConversationEvent.conversation_id, func.count())
                .where(ConversationEvent.type == "offered")
                .group_by(ConversationEvent.conversation_id)
            )
        ).all()
        still_queued = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.status == Status.QUEUED)
        )
    await db.dispose()

    assert sum(made) == AGENTS * CAPACITY
    assert max(per_agent.values()) <= CAPACITY
    assert len(per_agent) == AGENTS
    assert all(n == 1 for _, n in offers_per_conversation)
    assert still_queued == CONVERSATIONS - AGENTS * CAPACITY
