"""A send leaves its number's share when Meta answers, not when its outcome is committed.

Campaign rows are capped in flight (never the last ``RESERVE`` of the share); before,
a row held its place until its "accepted" was committed, so the pace of SQLite's single
writer (behind the campaign feeder's slices and the status webhooks) set the pace of a
campaign. Here the commits of campaign outcomes are held back (the writer slow, taken to
the extreme): the sender still sends more than its cap, stops claiming campaign rows
once a share's worth of outcomes wait (the database catches up first), still sends an
agent's reply meanwhile and records it (agents' outcomes have a recorder of their own:
they never wait behind a campaign's batch being committed), and once the commits go
through every row is recorded, each sent exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select, update

from madoguchi.store.models import OutboxEntry
from tests.conftest import start_sim_stack
from tests.e2e.test_simulator_roundtrip import queue_for_new_customer, send, sent_requests
from tests.helpers import eventually

CUSTOMERS = 20
PER_CUSTOMER = 3


async def test_answered_sends_leave_the_share_before_their_commit(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path, workers=False)
    runner = None
    try:
        conversations = []
        for i in range(CUSTOMERS):
            conversation_id, _ = await queue_for_new_customer(s, f"8190123405{i:02d}")
            conversations.append(conversation_id)
            for n in range(PER_CUSTOMER - 1):
                reply = await send(s, conversation_id, {"type": "text", "text": {"body": f"{n}"}})
                assert reply.status_code == 202
        total = CUSTOMERS * PER_CUSTOMER
        async with s.runtime.db.write() as session:  # a campaign's rows, as the feeder's
            await session.execute(update(OutboxEntry).values(priority=10))

        sender = s.runtime.sender
        number_id = 1
        share = sender.share(number_id)  # the default 80/s: 32 in flight, 24 of a campaign
        cap = sender._cap(number_id)
        assert cap < share < total
        gate = asyncio.Event()
        commit = sender._commit_accepted

        async def held_back(batch):
            if any(row.priority for row, _, _ in batch):
                await gate.wait()
            return await commit(batch)

        sender._commit_accepted = held_back
        runner = asyncio.create_task(sender.run())

        async def caught_up_first() -> bool:
            # A share's worth of outcomes wait: no campaign row claimed, none in flight.
            return (
                number_id in sender._held_back
                and sender._in_flight[number_id] == 0
                and len(await sent_requests(s)) >= share
            )

        await eventually(caught_up_first)
        sent = await sent_requests(s)
        assert cap < len(sent) < total  # past the cap, and then it stopped claiming them
        async with s.runtime.db.read() as session:
            states = list(await session.scalars(select(OutboxEntry.state)))
        assert "done" not in states and states.count("pending") == total - len(sent)

        # An agent's reply is still claimed, sent and recorded while the campaign's
        # outcomes wait for their commit (its outcome has a recorder of its own).
        reply = await send(s, conversations[0], {"type": "text", "text": {"body": "agent"}})
        assert reply.status_code == 202

        async def agent_done() -> bool:
            async with s.runtime.db.read() as session:
                row = await session.scalar(
                    select(OutboxEntry).where(OutboxEntry.message_id == reply.json()["id"])
                )
            return row.state == "done"

        await eventually(agent_done)
        assert not gate.is_set()
        async with s.runtime.db.read() as session:
            states = list(await session.scalars(select(OutboxEntry.state)))
        assert states.count("done") == 1  # the agent's; the campaign's still wait

        gate.set()

        async def all_done() -> bool:
            async with s.runtime.db.read() as session:
                states = list(await session.scalars(select(OutboxEntry.state)))
            return states.count("done") == total + 1

        await eventually(all_done)
        requests = await sent_requests(s)
        assert len(requests) == total + 1  # each row once
        assert all(r["status_code"] == 200 for r in requests)

        async def settled() -> bool:  # the sends' tasks see their commits after the commit
            return sender._recording[number_id] == 0 and sender._in_flight[number_id] == 0

        await eventually(settled)
        assert number_id not in sender._held_back
    finally:
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await s.runtime.sender.stop()
        await s.client.aclose()
        await s.sim_client.aclose()
        await s.served.stop()
        await s.sim.stop()
