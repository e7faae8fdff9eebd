"""PostgreSQL hands out ids before commit: a transaction that took its id early and
commits late (long after a younger one committed) must still be counted once by the
rollups — not skipped because the cursor moved past its id (the time-lag cursor this
replaced skipped it once the younger row was older than its 5 s lag)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from madoguchi.services.reporting import reports, rollups
from madoguchi.store.db import Database
from madoguchi.store.models import ConversationEvent, ReportCursor
from tests.reporting.world import EXPECTED, build, t


@pytest.fixture
async def db(db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: ids commit in order")
    database = Database(db_url)
    yield database
    await database.dispose()


async def arrived(db, world) -> int:
    async with db.read() as session:
        q = await reports.make_query(
            session,
            world.workspace_id,
            "overview",
            period="custom",
            start=date(2026, 11, 10),
            end=date(2026, 11, 10),
            now=t(12),
        )
        return (await reports.build(session, q))["totals"]["arrived"]


def queued(world, name: str) -> ConversationEvent:
    # Timestamped long ago: no lag on the clock could wait for it.
    return ConversationEvent(
        workspace_id=world.workspace_id,
        conversation_id=world.conversations[name],
        type="queued",
        from_status="new",
        to_status="queued",
        queue_id=world.support,
        at=t(11),
    )


async def test_a_transaction_committing_late_is_counted_once(db, db_url):
    world = await build(db)
    await rollups.catch_up(db)
    assert await arrived(db, world) == EXPECTED["arrived"]
    late = Database(db_url)
    try:
        async with late.write() as slow:
            early = queued(world, "c5")
            slow.add(early)
            await slow.flush()  # id and transaction id taken, not committed
            async with db.write() as quick:
                younger = queued(world, "c9")
                quick.add(younger)
            assert younger.id > early.id
            # The younger row is committed, the older one is not: neither is counted
            # yet (the younger belongs to a transaction after the oldest one open).
            await rollups.catch_up(db)
            assert await arrived(db, world) == EXPECTED["arrived"]
            assert not await rollups.pending(db)
        # The slow transaction commits: both are counted, once.
        assert await rollups.pending(db)
        await rollups.catch_up(db)
        assert await arrived(db, world) == EXPECTED["arrived"] + 2
        await rollups.catch_up(db)
        assert await arrived(db, world) == EXPECTED["arrived"] + 2
        async with db.read() as session:
            cursor = await session.scalar(
                select(ReportCursor).where(ReportCursor.source == "events")
            )
            assert cursor.last_txid > 0
        await rollups.rebuild(db)
        assert await arrived(db, world) == EXPECTED["arrived"] + 2
    finally:
        await late.dispose()
