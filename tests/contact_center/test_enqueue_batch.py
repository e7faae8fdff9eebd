"""Queueing new conversations together (``enqueue_many``, what a burst of new customers
takes) stores and publishes what queueing them one at a time (``enqueue``) does, on
SQLite and PostgreSQL: the written-together path (an open queue) and the path through
``place_in_queue`` (a closed queue sending its conversations to another) alike."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from madoguchi.domain.events import ConversationChanged, QueueChanged
from madoguchi.services.contact_center import assignment
from madoguchi.store.models import Conversation, ConversationEvent, PhoneNumber, Queue
from tests.contact_center.test_routing import make_cc


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def stored(db, cid: int) -> tuple:
    async with db.read() as session:
        c = await session.get(Conversation, cid)
        steps = (
            await session.execute(
                select(
                    ConversationEvent.type,
                    ConversationEvent.from_status,
                    ConversationEvent.to_status,
                    ConversationEvent.queue_id,
                    ConversationEvent.agent_id,
                    ConversationEvent.actor_user_id,
                    ConversationEvent.reason,
                    ConversationEvent.data,
                ).where(ConversationEvent.conversation_id == cid)
            )
        ).all()
    conversation = (
        c.status,
        c.queue_id,
        c.assigned_agent_id,
        c.offered_agent_id,
        c.queued_at is not None,
    )
    return conversation, [tuple(s) for s in steps]


def changes(events, cid: int) -> list:
    return [
        (e.status, e.step, e.queue_id, e.agent_id, e.previous_agent_id)
        for e in events
        if isinstance(e, ConversationChanged) and e.conversation_id == cid
    ]


async def test_queued_together_as_one_at_a_time(cc):
    db = cc.stack.runtime.db
    async with db.write() as session:
        queues = {q.name: q for q in await session.scalars(select(Queue))}
        support, sales = queues["Support"], queues["Sales"]
        # Sales is closed (no opening hours at all) and sends its conversations to Support.
        sales.hours, sales.closed_target_queue_id = {}, support.id
        await session.execute(update(PhoneNumber).values(default_queue_id=None))
        workspace_id = support.workspace_id
    # Four new conversations nobody routed (the number has no default queue now).
    cids = [await cc.customer_writes(f"hello {i}") for i in range(4)]
    assert all([(await stored(db, cid))[0][0] == "new" for cid in cids])
    targets = [support.id, sales.id, support.id, sales.id]
    reason = "number's default queue"

    together, landed = await assignment.enqueue_many(
        db,
        [(workspace_id, cid, q) for cid, q in zip(cids[:2], targets[:2], strict=True)],
        reason=reason,
    )
    alone = []
    for cid, q in zip(cids[2:], targets[2:], strict=True):
        outcome, _ = await assignment.enqueue(db, workspace_id, cid, q, reason=reason)
        alone.extend(outcome.events)

    assert landed == {support.id}  # the closed queue sent its conversation on
    for batched, single in ((cids[0], cids[2]), (cids[1], cids[3])):
        assert await stored(db, batched) == await stored(db, single)
        assert changes(together.events, batched) == changes(alone, single)
        assert changes(together.events, batched)  # something was published
    assert (await stored(db, cids[1]))[1][0][6] == f"{sales.name} is closed"
    waiting = [e for e in together.events if isinstance(e, QueueChanged)]
    assert [(e.queue_id, e.waiting) for e in waiting] == [(support.id, 2)]
