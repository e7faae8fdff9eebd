"""The rollups follow the operation as it happens: a customer writes, is queued, an agent
answers and replies, and the reports (through the real API and webhooks) count it
without a rebuild; a rebuild then gives the same report."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from madoguchi.domain.events import ConversationChanged, MessageQueued, MessageReceived
from madoguchi.services.reporting import rollups
from tests.contact_center.test_routing import make_cc
from tests.helpers import eventually


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    worker = rollups.RollupWorker(c.stack.runtime.db, sweep_seconds=0.5, spacing=0.05)
    # The stack runs without background workers: the rollup worker is started here, and
    # woken by the bus as in the server.
    for kind in (ConversationChanged, MessageReceived, MessageQueued):
        c.stack.runtime.bus.subscribe(kind, worker.on_event)
    task = asyncio.create_task(worker.run())
    yield c
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def overview(cc) -> dict:
    response = await cc.as_("admin", "GET", "/api/v1/reports/overview", params={"period": "today"})
    assert response.status_code == 200, response.text
    return response.json()["totals"]


async def test_reports_count_what_happens_without_a_rebuild(cc):
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes("hello")
    await cc.wait_status(cid, "offered", "aiko")
    accepted = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    assert accepted.status_code == 200
    reply = await cc.as_(
        "aiko",
        "POST",
        f"/api/v1/conversations/{cid}/messages",
        json={"message": {"type": "text", "text": {"body": "Hi!"}}},
    )
    assert reply.status_code == 202

    async def counted():
        totals = await overview(cc)
        done = totals["answered"] == 1 and totals["first_responses"] == 1
        return totals if done else None

    totals = await eventually(counted)
    assert totals["arrived"] == 1 and totals["messages_in"] == 1 and totals["messages_out"] == 1
    assert totals["service_level_percent"] == 100.0
    await rollups.rebuild(cc.stack.runtime.db)
    assert await overview(cc) == totals


async def test_a_wait_starts_again_when_a_person_hands_the_conversation_back(cc):
    """docs/metrics.md, wait time: a conversation its agent hands back after answering it
    (re-queued because they went offline, or transferred to a named agent) is a new wait
    from that moment; a re-queued offer is not (nobody had answered: the customer's wait
    goes on from the queue time). The queue place stays the original one either way."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from madoguchi.store.models import Conversation, ConversationEvent

    db = cc.stack.runtime.db
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes("hello")
    await cc.wait_status(cid, "offered", "aiko")
    # The customer has been waiting an hour already when Aiko goes offline.
    async with db.write() as session:
        queued_at = (await session.get(Conversation, cid)).queued_at - timedelta(hours=1)
        await session.execute(
            update(Conversation).where(Conversation.id == cid).values(queued_at=queued_at)
        )
    await cc.presence("aiko", "offline")
    await cc.wait_status(cid, "queued")
    await cc.presence("ben", "available")
    await cc.wait_status(cid, "offered", "ben")
    assert (await cc.as_("ben", "POST", f"/api/v1/conversations/{cid}/accept")).is_success
    # Ben answered, then goes offline: handed back to the queue, a new wait.
    await cc.presence("ben", "offline")
    await cc.wait_status(cid, "queued")
    await cc.presence("aiko", "available")
    await cc.wait_status(cid, "offered", "aiko")
    assert (await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")).is_success
    # Aiko transfers to Ben by name: a new wait from the transfer.
    await cc.presence("ben", "available")
    moved = await cc.as_(
        "aiko", "POST", f"/api/v1/conversations/{cid}/transfer", json={"agent_id": cc.users["ben"]}
    )
    assert moved.status_code == 200, moved.text
    await cc.wait_status(cid, "offered", "ben")
    assert (await cc.as_("ben", "POST", f"/api/v1/conversations/{cid}/accept")).is_success

    async with db.read() as session:
        log = (
            await session.scalars(
                select(ConversationEvent)
                .where(ConversationEvent.conversation_id == cid)
                .order_by(ConversationEvent.id)
            )
        ).all()
        assert (await session.get(Conversation, cid)).queued_at == queued_at  # its place
    steps = [(e.type, e.from_status) for e in log if e.type != "offered"]
    assert steps == [
        ("queued", "new"),
        ("requeued", "offered"),
        ("accepted", "offered"),
        ("requeued", "active"),
        ("accepted", "offered"),
        ("transferred", "active"),
        ("accepted", "offered"),
    ]
    accepted = [e for e in log if e.type == "accepted"]
    waits = [e.data["wait_seconds"] for e in accepted]
    assert waits[0] == round((accepted[0].at - queued_at).total_seconds(), 3)  # over an hour
    for answer in accepted[1:]:
        handed_back = [e for e in log if e.id < answer.id and e.from_status == "active"][-1]
        assert handed_back.type in ("requeued", "transferred") and handed_back.at > queued_at
        wait = answer.data["wait_seconds"]
        assert wait == round((answer.at - handed_back.at).total_seconds(), 3), answer.id

    async def counted():
        totals = await overview(cc)
        return totals if totals["answered"] == 3 else None

    totals = await eventually(counted)
    assert (totals["arrived"], totals["requeues"], totals["transfers"]) == (1, 1, 1)
