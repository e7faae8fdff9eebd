"""A workspace in Asia/Kolkata (UTC+5:30): its days start at local midnight (18:30 UTC),
not at the UTC hour holding it — the rollups' hours are the workspace's own (starting
at :30 UTC), occupancy and the agents' days included; from the rollups and from a
rebuild, both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from madoguchi.domain.report_metrics import hour_start
from madoguchi.services.reporting import occupancy, reports, rollups
from madoguchi.store.db import Database
from madoguchi.store.migrate import downgrade, upgrade
from madoguchi.store.models import (
    AgentPresenceLog,
    ConversationEvent,
    Queue,
    ReportDailyAgent,
    User,
)
from tests.reporting.world import new_conversation, numbered_workspace


def t(hh: int, mm: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC)


def test_hours_of_a_half_hour_zone():
    kolkata = rollups.zone_of("Asia/Kolkata")
    assert hour_start(t(18, 40), kolkata) == t(18, 30)  # 00:10 local: the 00:00 hour
    assert hour_start(t(18, 20), kolkata) == t(17, 30)  # 23:50 local
    assert hour_start(t(18, 20), rollups.zone_of("Asia/Kathmandu")) == t(18, 15)
    assert hour_start(t(18, 20), rollups.zone_of("Asia/Tokyo")) == t(18)
    assert not rollups.whole_hours(kolkata) and rollups.whole_hours(rollups.zone_of("Asia/Tokyo"))


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


async def build(db) -> tuple[int, int]:
    async with db.write() as s:
        ws, number = await numbered_workspace(s, "kol", "Asia/Kolkata")
        queue = Queue(workspace_id=ws.id, name="Support")
        agent = User(workspace_id=ws.id, email="a@kol.test", name="Asha", role="agent")
        s.add_all([queue, agent])
        await s.flush()
        # 23:50 local on the 10th, and 00:10 local on the 11th.
        for i, at in enumerate((t(18, 20), t(18, 40))):
            c = await new_conversation(s, number, f"91{i}kol", at)
            s.add(
                ConversationEvent(
                    workspace_id=ws.id,
                    conversation_id=c.id,
                    type="queued",
                    from_status="new",
                    to_status="queued",
                    queue_id=queue.id,
                    at=at,
                )
            )
        # Available 23:30–00:30 local.
        s.add(AgentPresenceLog(workspace_id=ws.id, user_id=agent.id, status="available", at=t(18)))
        s.add(AgentPresenceLog(workspace_id=ws.id, user_id=agent.id, status="offline", at=t(19)))
    return ws.id, agent.id


async def day(db, workspace_id: int, name: str, which: int, group: str = "day") -> dict:
    async with db.read() as session:
        q = await reports.make_query(
            session,
            workspace_id,
            name,
            period="custom",
            start=date(2026, 11, which),
            end=date(2026, 11, which),
            group=group,
            now=t(12, day=12),
        )
        assert q.start == datetime(2026, 11, which - 1, 18, 30, tzinfo=UTC)
        return await reports.build(session, q)


async def test_days_start_at_local_midnight(db):
    workspace_id, _ = await build(db)
    await rollups.catch_up(db)
    for _ in range(2):  # from the rollups, then from a rebuild
        tenth = await day(db, workspace_id, "overview", 10)
        eleventh = await day(db, workspace_id, "overview", 11, group="hour")
        assert (tenth["totals"]["arrived"], eleventh["totals"]["arrived"]) == (1, 1)
        assert eleventh["series"][0] == {**eleventh["series"][0], "bucket": "2026-11-11T00:00"}
        assert eleventh["series"][0]["arrived"] == 1
        agents = [await day(db, workspace_id, "agents", d) for d in (10, 11)]
        assert [a["totals"]["available_seconds"] for a in agents] == [1800, 1800]
        await rollups.rebuild(db)
    assert await occupancy.catch_up(db) == 0


async def test_an_agents_days_start_at_local_midnight(db, db_url):
    """The agents report sums an agent's days (``report_daily_agent``), cut at the
    workspace's midnight (18:30 UTC): Asha answers at 23:51 on the 10th and at 00:11 on
    the 11th, local. From the rollups, from a rebuild, and from the migration that
    brought the days (filled from the hourly rows)."""
    workspace_id, agent = await build(db)
    async with db.write() as s:
        for cid, queue_id, at in (
            await s.execute(
                select(
                    ConversationEvent.conversation_id,
                    ConversationEvent.queue_id,
                    ConversationEvent.at,
                ).where(ConversationEvent.workspace_id == workspace_id)
            )
        ).all():
            s.add(
                ConversationEvent(
                    workspace_id=workspace_id,
                    conversation_id=cid,
                    type="accepted",
                    from_status="queued",
                    to_status="active",
                    queue_id=queue_id,
                    agent_id=agent,
                    at=at + timedelta(minutes=1),
                    data={"wait_seconds": 60},
                )
            )
    await rollups.catch_up(db)

    async def answered() -> list[dict]:
        return [
            {r["agent"]: r["answered"] for r in (await day(db, workspace_id, "agents", d))["rows"]}
            for d in (10, 11)
        ]

    assert await answered() == [{"Asha": 1}, {"Asha": 1}]
    async with db.read() as session:
        days = (await session.scalars(select(ReportDailyAgent.day))).all()
    assert sorted(rollups.as_utc(d) for d in days) == [t(18, 30, day=9), t(18, 30)]
    await rollups.rebuild(db)
    assert await answered() == [{"Asha": 1}, {"Asha": 1}]
    await downgrade(db_url, "0024")
    await upgrade(db_url)
    assert await answered() == [{"Asha": 1}, {"Asha": 1}]
