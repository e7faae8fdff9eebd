"""Every report figure against a hand-built lifecycle log with known answers (transfers,
a re-queue of the wait, a day boundary in the workspace's zone, business hours on and
off, a close by silence), on SQLite and PostgreSQL: counted incrementally in small
batches, then rebuilt from the raw log, then from the raw log with a filter the rollups
do not keep; all three must agree."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from madoguchi.services.reporting import occupancy, reports, rollups
from madoguchi.services.reporting.seed import agents_for, seed
from madoguchi.store.db import Database
from madoguchi.store.models import ReportCursor, ReportOccupancy
from tests.reporting.world import EXPECTED, build, t


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


async def report(db, world, name="overview", first=date(2026, 11, 10), last=None, **kw) -> dict:
    async with db.read() as session:
        q = await reports.make_query(
            session,
            world.workspace_id,
            name,
            period="custom",
            start=first,
            end=last or first,
            group=kw.pop("group", "day"),
            now=t(12),
            **kw,
        )
        return await reports.build(session, q)


def pick(totals: dict) -> dict:
    return {k: totals[k] for k in EXPECTED}


async def test_each_figure_from_rollups_and_from_a_rebuild(db):
    world = await build(db)
    # Small batches: histories and threads carried across batches through the log.
    assert await rollups.catch_up(db, batch=3) > 0
    counted = await report(db, world)
    assert pick(counted["totals"]) == EXPECTED
    assert counted["period"]["tz"] == "Asia/Tokyo"
    assert counted["period"]["start"] == "2026-11-09T15:00:00+00:00"
    assert [b["bucket"] for b in counted["series"]] == ["2026-11-10"]
    wait = {d["bucket"]: d["count"] for d in counted["distributions"]["wait"]}
    assert (wait["15-30s"], wait["30-60s"], wait["1-2m"], sum(wait.values())) == (2, 2, 1, 5)
    first = {d["bucket"]: d["count"] for d in counted["distributions"]["first_response"]}
    assert (first["30-60s"], first["2-5m"], sum(first.values())) == (2, 1, 3)
    heat = {(c["weekday"], c["hour"]): c["count"] for c in counted["heatmap"]}
    assert heat[("tue", 10)] == 1 and heat[("tue", 23)] == 1 and sum(heat.values()) == 7

    # The next day holds C4's abandon (it arrived the day before).
    next_day = await report(db, world, first=date(2026, 11, 11))
    assert (next_day["totals"]["arrived"], next_day["totals"]["abandoned"]) == (0, 1)
    assert next_day["totals"]["short_abandoned"] == 0

    everything = await report(db, world, "queues", last=date(2026, 11, 11), group="hour")
    assert await rollups.rebuild(db, batch=4) > 0
    again = await report(db, world, "queues", last=date(2026, 11, 11), group="hour")
    assert again == everything
    assert pick((await report(db, world))["totals"]) == EXPECTED


async def test_the_raw_log_gives_the_figures_the_rollups_give(db):
    """The third path: a filter the rollups do not keep (a tag every conversation has)
    computes the same counters from the raw log: every figure, the series by hour, the
    distributions, the heatmap and the per-queue rows equal the rollups'."""
    from madoguchi.store.models import ConversationTag

    world = await build(db)
    async with db.write() as s:
        for cid in world.conversations.values():
            s.add(ConversationTag(workspace_id=world.workspace_id, conversation_id=cid, tag="all"))
    await rollups.catch_up(db, batch=5)
    raw = await report(db, world, tag="all")
    assert pick(raw["totals"]) == EXPECTED
    for name in ("overview", "queues"):
        for group in ("hour", "day"):
            kw = {"last": date(2026, 11, 11), "group": group}
            rolled = await report(db, world, name, **kw)
            from_log = await report(db, world, name, tag="all", **kw)
            assert from_log["filters"]["tag"] == "all"
            del rolled["filters"], from_log["filters"]
            assert from_log == rolled, (name, group)


async def test_rows_per_queue_and_agent_and_business_hours(db):
    world = await build(db)
    await rollups.catch_up(db)
    queues = {r["queue"]: r for r in (await report(db, world, "queues"))["rows"]}
    assert (queues["Support"]["arrived"], queues["Billing"]["arrived"]) == (5, 2)
    assert queues["Support"]["transfers"] == 1 and queues["Billing"]["answered"] == 2
    agents = {r["agent"]: r for r in (await report(db, world, "agents"))["rows"]}
    assert (agents["Aoi"]["answered"], agents["Ben"]["answered"]) == (3, 2)
    assert agents["Aoi"]["handled"] == 2 and agents["Aoi"]["average_handle_seconds"] == 455.0
    assert agents["Aoi"]["first_responses"] == 2 and agents["Ben"]["closed_by_silence"] == 1
    # Billing is open 09:00–18:00 in Tokyo: C7 came at 19:00.
    outside = await report(db, world, business_hours=False)
    assert (outside["totals"]["arrived"], outside["totals"]["answered"]) == (1, 1)
    inside = await report(db, world, business_hours=True)
    assert inside["totals"]["arrived"] == EXPECTED["arrived"] - 1
    only = await report(db, world, queue_id=world.billing)
    assert only["totals"]["arrived"] == 2
    # A reader limited to Support sees Support only, whatever the filter asks.
    limited = await report(db, world, "queues", visible_queues={world.support})
    assert [r["queue"] for r in limited["rows"]] == ["Support"]
    hidden = await report(db, world, visible_queues={world.support}, queue_id=world.billing)
    assert hidden["totals"]["arrived"] == 0
    by_hour = await report(db, world, group="hour")
    assert len(by_hour["series"]) == 24 and by_hour["series"][10]["arrived"] == 1
    by_month = await report(db, world, group="month", last=date(2026, 11, 11))
    assert [b["bucket"] for b in by_month["series"]] == ["2026-11"]


async def test_filters_the_rollups_do_not_keep_read_the_raw_log(db):
    world = await build(db)
    await rollups.catch_up(db)
    vip = (await report(db, world, tag="vip"))["totals"]
    # C1 and C2 only.
    assert (vip["arrived"], vip["answered"], vip["transfers"], vip["resolved"]) == (3, 3, 1, 2)
    assert vip["average_first_response_seconds"] == 60.0 and vip["messages_in"] == 3
    none = (await report(db, world, disposition="solved"))["totals"]
    assert none["arrived"] == 0


async def test_a_period_is_checked():
    tz = reports.zone_of("Asia/Tokyo")
    assert reports.resolve_period("7d", t(16), tz) == (date(2026, 11, 5), date(2026, 11, 11))
    assert reports.resolve_period("yesterday", t(1), tz) == (date(2026, 11, 9), date(2026, 11, 9))
    with pytest.raises(reports.ReportError) as bad:
        reports.resolve_period("custom", t(1), tz, date(2026, 11, 2), date(2026, 11, 1))
    assert bad.value.field == "to"
    week = reports.buckets(date(2026, 11, 1), date(2026, 11, 10), "week", tz)
    assert [b.isoformat() for b in week] == ["2026-10-26", "2026-11-02", "2026-11-09"]


async def test_customer_satisfaction(db):
    world = await build(db)
    body = await report(db, world, "csat")
    assert body["totals"] == {
        "asked": 3,
        "answered": 2,
        "response_rate_percent": 66.7,
        "score": 4.0,
        "satisfied_percent": 50.0,
    }
    assert [d["count"] for d in body["distributions"]["score"]] == [0, 0, 1, 0, 1]
    queues = {r["queue"]: r for r in body["rows"]}
    assert queues["Support"]["asked"] == 2 and queues["Support"]["score"] == 5.0
    agents = {r["agent"]: r for r in body["agents"]}
    assert agents["Ben"]["answered"] == 1 and agents["Ben"]["response_rate_percent"] == 50.0
    hourly = await report(db, world, "csat", group="hour")
    assert [b["asked"] for b in hourly["series"][10:12]] == [1, 1]  # 10:00 and 11:00 in Tokyo
    limited = await report(db, world, "csat", visible_queues={world.billing})
    assert limited["totals"]["asked"] == 1


async def test_seeded_conversations_count_as_the_worker_counts_them(db):
    """The seeder counts its rows into the rollups itself, occupancy hours included
    (written, not computed by the report from the logs); a rebuild from the raw log it
    wrote gives the same reports."""
    result = await seed(db, conversations=400, days=3, now=t(12), slug="seeded")
    assert result.conversations == 400 and result.events > 1000 and result.messages > 600
    assert result.occupancy_hours == 60  # from the first working day (23:00 UTC) to 11:00
    async with db.read() as session:
        written = await session.scalar(
            select(func.count())
            .select_from(ReportOccupancy)
            .where(ReportOccupancy.workspace_id == result.workspace_id)
        )
        cursor = await session.scalar(
            select(ReportCursor.last_id).where(ReportCursor.source == occupancy.SOURCE)
        )
        queries = [
            await reports.make_query(
                session, result.workspace_id, name, period="7d", group="hour", now=t(12)
            )
            for name in ("queues", "agents")
        ]
        seeded = [await reports.build(session, q) for q in queries]
    # A working day per agent for 3 days, in the rollup up to the seeder's last hour.
    assert written > agents_for(400, 3) * 3 * 8
    assert cursor == int(t(11).timestamp())
    queues, agents = seeded
    assert queues["totals"]["arrived"] > 300 and queues["totals"]["handled"] > 200
    assert queues["totals"]["first_responses"] > 200 and queues["totals"]["bot_resolved"] > 10
    assert len(agents["rows"]) == agents_for(400, 3)
    assert agents["totals"]["busy_seconds"] > 0
    assert 0 < agents["totals"]["occupancy_percent"] <= 100
    # The worker after the seeder finds nothing more to count (the cursors are past it).
    await rollups.catch_up(db)
    async with db.read() as session:
        assert [await reports.build(session, q) for q in queries] == seeded
    await rollups.rebuild(db, batch=700)
    async with db.read() as session:
        assert [await reports.build(session, q) for q in queries] == seeded


async def test_flow_funnel(db):
    world = await build(db)
    await rollups.catch_up(db)
    body = await report(db, world, "flows")
    funnel = {row["widget"]: (row["type"], row["entered"], row["left"]) for row in body["funnel"]}
    assert funnel == {
        "greet": ("send_message", 3, 0),
        "menu": ("collect_input", 2, 1),  # C9's customer left at the menu
        "bye": ("end", 1, 0),
        "to_support": ("route_to_queue", 1, 0),
    }
    assert [r["flow_id"] for r in body["rows"]] == [world.flow] * 4
    assert (body["totals"]["flow_entered"], body["totals"]["bot_resolved"]) == (3, 2)
    # Flows run before any queue: a reader limited to queues sees no funnel.
    assert (await report(db, world, "flows", visible_queues={world.support}))["funnel"] == []


async def test_tag_disposition_and_business_hours_apply_to_every_part(db):
    """CSAT, template rows and the funnel are read outside the rollups: the filters
    apply there too (calls: tests/reporting/test_call_figures.py)."""
    world = await build(db)
    await rollups.catch_up(db)
    csat = {}
    for key, kw in {
        "all": {},
        "vip": {"tag": "vip"},
        "solved": {"disposition": "solved"},
        "outside": {"business_hours": False},
        "inside": {"business_hours": True},
    }.items():
        csat[key] = (await report(db, world, "csat", **kw))["totals"]
    assert (csat["all"]["asked"], csat["all"]["answered"]) == (3, 2)
    assert (csat["vip"]["asked"], csat["vip"]["answered"]) == (2, 2)  # C1, C2
    assert csat["solved"]["asked"] == 0
    assert (csat["outside"]["asked"], csat["inside"]["asked"]) == (0, 3)
    inside = await report(db, world, "csat", business_hours=True)
    assert sorted(r["queue"] for r in inside["rows"]) == ["Billing", "Support"]
    assert sum(b["asked"] for b in inside["series"]) == 3

    templates = await report(db, world, "templates")
    assert [r["template"] for r in templates["rows"]] == ["promo"]  # C8, no queue: inside
    assert (await report(db, world, "templates", tag="vip"))["rows"] == []
    assert (await report(db, world, "templates", business_hours=False))["rows"] == []
    assert len((await report(db, world, "templates", business_hours=True))["rows"]) == 1

    funnel = (await report(db, world, "flows"))["funnel"]
    assert funnel and funnel[0]["entered"] == 3  # C5, C6, C9 reached "greet"
    assert (await report(db, world, "flows", tag="vip"))["funnel"] == []
    assert (await report(db, world, "flows", disposition="solved"))["funnel"] == []
    assert (await report(db, world, "flows", business_hours=False))["funnel"] == []
    assert (await report(db, world, "flows", business_hours=True))["funnel"] == funnel


def test_report_p90_is_the_bucket_that_holds_it():
    """Reports keep waits in buckets: p90 is stated as its bucket, with the bucket's upper
    edge as the bound (none past the last edge)."""
    from madoguchi.domain.report_metrics import Totals, figures

    totals = Totals()
    totals.values.update(wait_b0=8, wait_b3=1, wait_b8=1)  # 10 waits; the 9th is 1–2 min
    got = figures(totals)
    assert (got["p90_wait_seconds"], got["p90_wait_bucket"]) == (120.0, "1-2m")
    totals.values.update(wait_b8=5)  # 14 waits: the 13th is over an hour
    got = figures(totals)
    assert (got["p90_wait_seconds"], got["p90_wait_bucket"]) == (None, "60m+")
    empty = figures(Totals())
    assert (empty["p90_first_response_seconds"], empty["p90_first_response_bucket"]) == (None, None)
