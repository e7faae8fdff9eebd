"""The journal's bell (store.pg_bell): on PostgreSQL, rows appended or left behind by one
process wake the idle processors of the others at the commit, not after their idle poll.

Each processor here polls once an hour (``sweep_seconds``): a row it processes within
the test's patience was announced by the bell, whatever the machine's speed."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from madoguchi.services.channel.webhook_journal import DeliveryProcessor, Journal, ProcessorPolicy
from madoguchi.store.db import Database
from madoguchi.store.models import WebhookDelivery
from madoguchi.store.pg_bell import JOURNAL, Bell
from tests.channel.test_journal_claim import append, delivery
from tests.helpers import eventually

pytestmark = pytest.mark.postgres

HOUR = 3600.0


async def _ignore(events) -> None:
    return None


async def states(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.scalars(select(WebhookDelivery.state))).all())


async def test_a_row_appended_by_one_process_wakes_the_idle_processor_of_another(
    pg, postgres_database
):
    other = Database(postgres_database)  # the process that receives the webhook
    processor = DeliveryProcessor(pg, _ignore, ProcessorPolicy(sweep_seconds=HOUR))
    bell = Bell(postgres_database, JOURNAL, processor.wake)
    tasks = [asyncio.create_task(processor.run()), asyncio.create_task(bell.run())]
    try:
        await asyncio.wait_for(bell.listening.wait(), 60)
        await asyncio.wait_for(processor.wait_idle(), 60)
        await append(Journal(other), delivery(1, 1))  # no wake() of this processor

        async def processed() -> bool:
            return await states(pg) == ["done"]

        await eventually(processed)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await other.dispose()


async def test_a_slice_that_leaves_rows_behind_rings_for_the_other_processes(pg):
    journal = Journal(pg)
    for customer in range(5):
        await append(journal, delivery(customer, 1))
    heard = asyncio.Event()
    bell = Bell(pg.url, JOURNAL, heard.set)
    listening = asyncio.create_task(bell.run())
    try:
        await asyncio.wait_for(bell.listening.wait(), 60)
        heard.clear()  # the ring every (re)connection starts with
        # A claim of 2 of the 5 pending rows: the 3 others wait for any process.
        processor = DeliveryProcessor(pg, _ignore, ProcessorPolicy(claim=2, batch=2))
        assert await processor.process_slice() == 2
        await asyncio.wait_for(heard.wait(), 60)
        assert sorted(await states(pg)) == ["done"] * 2 + ["pending"] * 3
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
