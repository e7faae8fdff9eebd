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

    totals = await eventually(counted, within=60)
    assert totals["arrived"] == 1 and totals["messages_in"] == 1 and totals["messages_out"] == 1
    assert totals["service_level_percent"] == 100.0
    await rollups.rebuild(cc.stack.runtime.db)
    assert await overview(cc) == totals
