"""The edge cases of docs/metrics.md the main hand-built log (world.py) does not have, as
a second hand-built lifecycle log with known answers, on SQLite and PostgreSQL: a
re-queue after an answer (the agent went offline) and one before it (offered, never
answered), an overflow into a second queue, a transfer to a named agent, a supervisor
taking over from an agent, a close by hand while waiting, an abandon while offered,
and a conversation handled across the workspace's midnight. Counted by the rollups in
small batches, rebuilt from the raw log, and computed from the raw log through a tag
filter: all three agree; the wallboard's figures of the day (the same definitions) agree
with the queues report's."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from madoguchi.services.reporting import reports, rollups
from madoguchi.services.supervision import wallboard
from madoguchi.store.db import Database
from madoguchi.store.models import ConversationTag, PhoneNumber, Queue, User
from tests.reporting.world import message_row, new_conversation, numbered_workspace, step_row


def t(hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 11, 10, hh, mm, ss, tzinfo=UTC)


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


# Each conversation: its first message's time, then its log. A row is
# (time, step or message, from status, queue, agent, wait seconds): "in" is the customer's
# message, "out" a message written by the agent of the row. Queues S (Support, no hours)
# and B (Billing, weekdays 09:00–18:00 Tokyo); people A1, A2 (agents), SV (supervisor).
# Times are UTC; Tokyo is UTC+9, so its midnight is 15:00.
LOGS = {
    # Requeued after an answer: A1 went offline at 01:05:20; the customer waits again
    # from then, A2 answers 60 s later.
    "requeued_active": [
        (t(1), "in", None, None, None, None),
        (t(1), "queued", "new", "S", None, None),
        (t(1, 0, 5), "offered", "queued", "S", "A1", None),
        (t(1, 0, 20), "accepted", "offered", "S", "A1", 20),
        (t(1, 1), "out", None, None, "A1", None),
        (t(1, 5, 20), "requeued", "active", "S", "A1", None),
        (t(1, 5, 30), "offered", "queued", "S", "A2", None),
        (t(1, 6, 20), "accepted", "offered", "S", "A2", 60),
        (t(1, 7), "out", None, None, "A2", None),
        (t(1, 10, 20), "closed", "active", "S", "A2", None),
    ],
    # Requeued while offered: nobody had answered, the wait goes on from 02:00.
    "requeued_offered": [
        (t(2), "in", None, None, None, None),
        (t(2), "queued", "new", "S", None, None),
        (t(2, 0, 5), "offered", "queued", "S", "A1", None),
        (t(2, 0, 30), "requeued", "offered", "S", "A1", None),
        (t(2, 0, 40), "offered", "queued", "S", "A2", None),
        (t(2, 1, 30), "accepted", "offered", "S", "A2", 90),
        (t(2, 2), "out", None, None, "A2", None),
        (t(2, 5, 30), "wrap_up", "active", "S", "A2", None),
        (t(2, 6, 30), "closed", "wrap_up", "S", "A2", None),
    ],
    # Overflow from S into B after 2 minutes: an arrival in B; the wait keeps 03:00.
    "overflow": [
        (t(3), "in", None, None, None, None),
        (t(3), "queued", "new", "S", None, None),
        (t(3, 2), "overflow", "queued", "B", None, None),
        (t(3, 2, 30), "offered", "queued", "B", "A2", None),
        (t(3, 3), "accepted", "offered", "B", "A2", 180),
        (t(3, 10), "closed", "active", "B", "A2", None),
    ],
    # A1 transfers to A2 by name: no arrival (same queue), A2's answer is a second one.
    "named_transfer": [
        (t(4), "in", None, None, None, None),
        (t(4), "queued", "new", "S", None, None),
        (t(4, 0, 5), "offered", "queued", "S", "A1", None),
        (t(4, 0, 10), "accepted", "offered", "S", "A1", 10),
        (t(4, 1), "out", None, None, "A1", None),
        (t(4, 20, 10), "transferred", "active", "S", "A2", None),
        (t(4, 20, 10), "offered", "queued", "S", "A2", None),
        (t(4, 20, 40), "accepted", "offered", "S", "A2", 30),
        (t(4, 30, 40), "closed", "active", "S", "A2", None),
    ],
    # The supervisor takes an active conversation over: not an answer; ends A1's part.
    "taken_from_agent": [
        (t(5), "in", None, None, None, None),
        (t(5), "queued", "new", "S", None, None),
        (t(5, 0, 10), "offered", "queued", "S", "A1", None),
        (t(5, 0, 30), "accepted", "offered", "S", "A1", 30),
        (t(5, 10, 30), "taken_over", "active", "S", "SV", None),
        (t(5, 11), "out", None, None, "SV", None),
        (t(5, 20, 30), "closed", "active", "S", "SV", None),
    ],
    # Closed by hand while waiting: neither answered nor abandoned, not resolved.
    "closed_waiting": [
        (t(6), "in", None, None, None, None),
        (t(6), "queued", "new", "S", None, None),
        (t(6, 5), "closed", "queued", "S", None, 300),
    ],
    # The customer left while offered, after 70 s: abandoned, not short.
    "abandoned_offered": [
        (t(7), "in", None, None, None, None),
        (t(7), "queued", "new", "S", None, None),
        (t(7, 0, 5), "offered", "queued", "S", "A1", None),
        (t(7, 1, 10), "abandoned", "offered", "S", None, 70),
    ],
    # Arrives and is answered before Tokyo's midnight; its handling ends after it.
    "across_midnight": [
        (t(14, 50), "in", None, None, None, None),
        (t(14, 50), "queued", "new", "S", None, None),
        (t(14, 50, 30), "offered", "queued", "S", "A1", None),
        (t(14, 51), "accepted", "offered", "S", "A1", 60),
        (t(14, 52), "out", None, None, "A1", None),
        (t(15, 10), "closed", "active", "S", "A1", None),
    ],
}

# 2026-11-10 in Tokyo, worked out by hand from LOGS (docs/metrics.md).
DAY = {
    "arrived": 9,  # one each, two for the overflow (S, then B)
    "answered": 8,  # 2 requeued_active, 1 requeued_offered, 1 overflow, 2 named, 1 taken, 1
    "answered_in_target": 6,  # waits 20, 60, 10, 30, 30, 60; not 90, 180
    "abandoned": 1,
    "short_abandoned": 0,
    "service_level_percent": 66.7,  # 6 / (8 + 1 − 0)
    "average_wait_seconds": 60.0,  # 480 / 8
    "p90_wait_seconds": 300.0,  # the 8th of 8 waits (180 s) is in the 2–5 min bucket
    "transfers": 1,
    "requeues": 1,  # requeued_active only: an offer is not an agent's part
    "handled": 8,  # 300 + 240, 300, 420, 1200 + 600, 600 + 600 (across_midnight: next day)
    "average_handle_seconds": 532.5,
    "wrapped": 1,
    "average_wrap_up_seconds": 60.0,
    "resolved": 5,  # 620, 390, 600, 1840, 1230
    "average_resolution_seconds": 936.0,
    "closed_by_silence": 0,
    "first_responses": 5,  # 60, 120, 60, 660 (the supervisor), 120
    "average_first_response_seconds": 204.0,
    "p90_first_response_seconds": 1800.0,  # the 5th (660 s) is in the 10–30 min bucket
    "agent_responses": 5,
    "average_agent_response_seconds": 204.0,
    "messages_in": 8,
    "messages_out": 6,
}
NEXT_DAY = {"arrived": 0, "answered": 0, "handled": 1, "average_handle_seconds": 1140.0}
NEXT_DAY |= {"resolved": 1, "average_resolution_seconds": 1200.0}


async def build(db: Database) -> dict:
    async with db.write() as s:
        ws, number = await numbered_workspace(s, "edge", "Asia/Tokyo")
        # A second connected number: the overflow's customer wrote to it.
        second = PhoneNumber(
            workspace_id=ws.id,
            account_id=number.account_id,
            phone_number_id="pedge2",
            display_phone_number="1556",
            access_token_encrypted="x",
            access_token_fingerprint="x",
        )
        s.add(second)
        await s.flush()
        hours = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
        queues = {
            "S": Queue(workspace_id=ws.id, name="Support"),
            "B": Queue(workspace_id=ws.id, name="Billing", timezone="Asia/Tokyo", hours=hours),
        }
        people = {
            who: User(workspace_id=ws.id, email=f"{who}@edge.test", name=who, role=role)
            for who, role in (("A1", "agent"), ("A2", "agent"), ("SV", "supervisor"))
        }
        s.add_all([*queues.values(), *people.values()])
        await s.flush()
        ids = {k: v.id for k, v in {**queues, **people}.items()}
        ids |= {"number": number.id, "second": second.id}
        ids["workspace"] = ws.id
        for n, (name, log) in enumerate(LOGS.items()):
            last = max(row[0] for row in log if row[1] in ("in", "out"))
            on = second if name == "overflow" else number
            c = await new_conversation(s, on, f"8190{n}edge", log[0][0], last_message_at=last)
            ids[name] = c.id
            s.add(ConversationTag(workspace_id=ws.id, conversation_id=c.id, tag="all"))
            for at, kind, frm, queue, who, wait in log:
                if kind in ("in", "out"):
                    direction = "inbound" if kind == "in" else "outbound"
                    s.add(message_row(c, direction, at, ids.get(who)))
                    continue
                to = {"offered": "offered", "accepted": "active", "taken_over": "active"}
                to |= {"wrap_up": "wrap_up", "closed": "closed", "abandoned": "abandoned"}
                to_status = to.get(kind, "queued")
                s.add(step_row(c, kind, frm, to_status, at, ids.get(queue), ids.get(who), wait))
    return ids


async def report(db, ids, name="overview", day=date(2026, 11, 10), **kw) -> dict:
    async with db.read() as session:
        q = await reports.make_query(
            session,
            ids["workspace"],
            name,
            period="custom",
            start=day,
            end=kw.pop("last", day),
            group=kw.pop("group", "day"),
            now=t(15, 30),
            **kw,
        )
        return await reports.build(session, q)


def pick(totals: dict, expected: dict) -> dict:
    return {k: totals[k] for k in expected}


async def test_edge_cases_from_rollups_rebuild_and_the_raw_log(db):
    ids = await build(db)
    assert await rollups.catch_up(db, batch=2) > 0
    day = await report(db, ids)
    assert pick(day["totals"], DAY) == DAY
    assert pick((await report(db, ids, day=date(2026, 11, 11)))["totals"], NEXT_DAY) == NEXT_DAY
    wait = {d["bucket"]: d["count"] for d in day["distributions"]["wait"]}
    assert [wait[b] for b in ("0-15s", "15-30s", "30-60s", "1-2m", "2-5m")] == [1, 3, 2, 1, 1]

    queues = {r["queue"]: r for r in (await report(db, ids, "queues"))["rows"]}
    assert (queues["Support"]["arrived"], queues["Support"]["answered"]) == (8, 7)
    assert (queues["Billing"]["arrived"], queues["Billing"]["answered"]) == (1, 1)
    assert queues["Billing"]["average_wait_seconds"] == 180.0  # the overflow kept 03:00
    agents = {r["agent"]: r for r in (await report(db, ids, "agents"))["rows"]}
    a1, a2, sv = agents["A1"], agents["A2"], agents["SV"]
    assert (a1["answered"], a1["handled"], a1["requeues"], a1["transfers"]) == (4, 3, 1, 1)
    assert a1["average_handle_seconds"] == 700.0  # 300, 1200, 600
    assert (a2["answered"], a2["handled"], a2["average_handle_seconds"]) == (4, 4, 390.0)
    assert (sv["answered"], sv["handled"], sv["first_responses"]) == (0, 1, 1)
    assert sv["average_first_response_seconds"] == 660.0
    # Billing's hours (09:00–18:00 Tokyo) hold the overflow at 12:02 local.
    inside = (await report(db, ids, business_hours=True))["totals"]
    assert pick(inside, DAY) == DAY

    # Filters by agent (the day table; by hour, the hourly one) and by number.
    for group in ("day", "hour"):
        mine = (await report(db, ids, agent_id=ids["A1"], group=group))["totals"]
        same = ("answered", "handled", "average_handle_seconds", "requeues", "transfers")
        same += ("first_responses", "average_first_response_seconds", "messages_out")
        assert {k: mine[k] for k in same} == {k: a1[k] for k in same}, group
        assert mine["arrived"] == 0  # an arrival names no agent
    overflowed = (await report(db, ids, number_id=ids["second"]))["totals"]
    assert (overflowed["arrived"], overflowed["answered"], overflowed["resolved"]) == (2, 1, 1)
    assert overflowed["average_wait_seconds"] == 180.0 and overflowed["messages_in"] == 1
    rest = (await report(db, ids, number_id=ids["number"]))["totals"]
    assert (rest["arrived"], rest["answered"], rest["abandoned"]) == (7, 7, 1)

    both_days = {"last": date(2026, 11, 11), "group": "hour"}
    counted = [await report(db, ids, name, **both_days) for name in ("overview", "queues")]
    assert await rollups.rebuild(db, batch=3) > 0
    assert [await report(db, ids, name, **both_days) for name in ("overview", "queues")] == counted
    for rolled in counted:
        from_log = await report(db, ids, rolled["report"], tag="all", **both_days)
        del rolled["filters"], from_log["filters"]
        assert from_log == rolled, rolled["report"]


async def test_the_wallboard_counts_the_day_as_the_reports_do(db):
    """The wallboard's figures of today (docs/metrics.md "Per queue, today") come from the
    same definitions as the reports': per queue, the same numbers (its p90 is exact where
    the reports' is a bucket's edge)."""
    ids = await build(db)
    await rollups.catch_up(db)
    async with db.read() as session:
        board = await wallboard.build(session, ids["workspace"], now=t(14, 59))
    rows = {r["queue_id"]: r for r in (await report(db, ids, "queues"))["rows"]}
    shared = ("arrived", "answered", "abandoned", "short_abandoned", "average_wait_seconds")
    shared += ("answered_in_target", "service_level_percent")
    for queue in board["queues"]:
        today = queue["today"]
        assert {k: today[k] for k in shared} == {k: rows[queue["id"]][k] for k in shared}
    support = next(q["today"] for q in board["queues"] if q["id"] == ids["S"])
    assert (support["arrived"], support["answered"], support["abandoned"]) == (8, 7, 1)
    assert support["p90_wait_seconds"] == 90.0  # exact: the 7th of 7 waits
