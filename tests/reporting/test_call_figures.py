"""The calls report against hand-placed calls with known answers (docs/metrics.md, calls):
inbound offered / answered / missed (a declined ring counts as missed), outbound and
outbound answered, talk time and its average over connected calls, by hour bucket, queue
and agent, a supervisor's scope, and a call outside the period left out; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from madoguchi.services.reporting import reports
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation
from madoguchi.store.models.calling import Call
from tests.reporting.world import build, t


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


async def calls_report(db, world, **kw) -> dict:
    async with db.read() as session:
        q = await reports.make_query(
            session,
            world.workspace_id,
            "calls",
            period="custom",
            start=date(2026, 11, 10),
            end=date(2026, 11, 10),
            group=kw.pop("group", "day"),
            now=t(12),
            **kw,
        )
        return await reports.build(session, q)


async def place_calls(db, world) -> None:
    """c1 is Support's, c7 Billing's (Tokyo is UTC+9: t(1) is 10:00 there)."""
    async with db.write() as s:
        convs = {
            c.id: c
            for c in (
                await s.execute(
                    select(Conversation).where(
                        Conversation.id.in_([world.conversations["c1"], world.conversations["c7"]])
                    )
                )
            ).scalars()
        }
        c1 = convs[world.conversations["c1"]]
        c7 = convs[world.conversations["c7"]]
        c1.queue_id, c7.queue_id = world.support, world.billing

        def call(conv, direction, status, at, agent=None, answered=None, seconds=None):
            s.add(
                Call(
                    workspace_id=world.workspace_id,
                    phone_number_id=world.number,
                    conversation_id=conv.id,
                    contact_id=conv.contact_id,
                    direction=direction,
                    status=status,
                    agent_id=agent,
                    created_at=at,
                    answered_at=answered,
                    duration_seconds=seconds,
                )
            )

        # Support, 10:00 Tokyo: answered by Aoi (2 min), then missed (nobody answered).
        call(c1, "inbound", "ended", t(1, 3), world.a1, t(1, 3, 10), 120)
        call(c1, "inbound", "missed", t(1, 30))
        # Billing, 19:00 Tokyo: declined by Ben; Ben calls back (1 min); a call unanswered.
        call(c7, "inbound", "rejected", t(10, 1))
        call(c7, "outbound", "ended", t(10, 20), world.a2, t(10, 20, 15), 60)
        call(c7, "outbound", "ended", t(10, 40), world.a2)
        # The next day in Tokyo: outside the period.
        call(c1, "inbound", "ended", t(16), world.a1, t(16) + timedelta(seconds=5), 30)


async def test_call_figures(db):
    world = await build(db)
    await place_calls(db, world)
    body = await calls_report(db, world)
    assert body["totals"] == {
        "offered": 3,
        "answered": 1,
        "missed": 2,
        "outbound": 2,
        "outbound_answered": 1,
        "talk_seconds": 180,
        "answer_rate_percent": 33.3,
        "average_talk_seconds": 90.0,
    }
    queues = {r["queue"]: r for r in body["rows"]}
    assert (queues["Support"]["offered"], queues["Support"]["answered"]) == (2, 1)
    assert (queues["Billing"]["missed"], queues["Billing"]["outbound_answered"]) == (1, 1)
    agents = {r["agent"]: r for r in body["agents"]}
    assert agents["Aoi"]["talk_seconds"] == 120 and agents["Ben"]["outbound"] == 2
    assert "Aoi" in agents and len(agents) == 2  # unanswered rings belong to no agent

    hourly = await calls_report(db, world, group="hour")
    by_hour = {b["bucket"][-5:]: b for b in hourly["series"] if b["offered"] or b["outbound"]}
    assert sorted(by_hour) == ["10:00", "19:00"], by_hour.keys()
    assert by_hour["10:00"]["offered"] == 2 and by_hour["19:00"]["outbound"] == 2

    limited = await calls_report(db, world, visible_queues={world.billing})
    assert limited["totals"]["offered"] == 1 and limited["totals"]["outbound"] == 2
    assert [r["queue"] for r in limited["rows"]] == ["Billing"]
    by_agent = await calls_report(db, world, agent_id=world.a1)
    assert by_agent["totals"]["answered"] == 1 and by_agent["totals"]["offered"] == 1


async def test_call_filters(db):
    world = await build(db)
    await place_calls(db, world)
    vip = await calls_report(db, world, tag="vip")  # c1 only
    assert (vip["totals"]["offered"], vip["totals"]["outbound"]) == (2, 0)
    assert (await calls_report(db, world, disposition="solved"))["totals"]["offered"] == 0
    # Billing is open 09:00–18:00 Tokyo: c7's calls at 19:00 are outside; Support has no
    # hours (always inside).
    outside = await calls_report(db, world, business_hours=False)
    assert (outside["totals"]["offered"], outside["totals"]["outbound"]) == (1, 2)
    inside = await calls_report(db, world, business_hours=True)
    assert (inside["totals"]["offered"], inside["totals"]["outbound"]) == (2, 0)
