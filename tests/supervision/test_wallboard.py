"""``GET /api/v1/wallboard`` through the real API and real webhooks, on SQLite and
PostgreSQL: live counts, today's figures from the lifecycle log, who may see which
queues, and the coalesced ``wallboard.changed`` nudge on the websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from madoguchi.domain.service_metrics import day_bounds
from madoguchi.services.contact_center import assignment
from madoguchi.services.supervision.board import comparable_queue
from madoguchi.store.models import Conversation, ConversationEvent, Queue, Workspace
from tests.contact_center.test_routing import make_cc
from tests.helpers import eventually
from tests.web.test_realtime import open_live


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def board(cc, who: str = "sam", **params) -> dict:
    response = await cc.as_(who, "GET", "/api/v1/wallboard", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def queue(snapshot: dict, name: str) -> dict:
    return next(q for q in snapshot["queues"] if q["name"] == name)


def agent(snapshot: dict, user_id: int) -> dict:
    return next(a for a in snapshot["agents"] if a["user_id"] == user_id)


async def test_counts_follow_a_conversation_from_waiting_to_answered(cc):
    cid = await cc.customer_writes("hello")
    await cc.wait_status(cid, "queued")
    now = await board(cc)
    support = queue(now, "Support")
    assert (support["waiting"], support["offered"], support["active"]) == (1, 0, 0)
    assert support["oldest_waiting_since"] is not None
    assert support["agents"] == {"available": 0, "busy": 0, "away": 0, "offline": 2}
    assert support["today"]["arrived"] == 1 and support["today"]["answered"] == 0
    assert support["service_level_seconds"] == 60 and support["short_abandon_seconds"] == 10
    row = next(c for c in now["conversations"] if c["id"] == cid)
    assert row["status"] == "queued" and row["queue_id"] == support["id"]
    assert row["last_customer_message_at"] is not None

    await cc.presence("aiko", "available")
    await cc.wait_status(cid, "offered", "aiko")
    support = queue(await board(cc), "Support")
    assert (support["waiting"], support["offered"]) == (0, 1)
    # Aiko holds 1 of 2: available with one free slot.
    assert support["agents"]["available"] == 1 and support["free_slots"] == 1

    assert (await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")).status_code == 200
    reply = await cc.as_(
        "aiko",
        "POST",
        f"/api/v1/conversations/{cid}/messages",
        json={"message": {"type": "text", "text": {"body": "Hi!"}}},
    )
    assert reply.status_code == 202 and reply.json()["author_user_id"] == cc.users["aiko"]
    now = await board(cc)
    support = queue(now, "Support")
    assert (support["waiting"], support["offered"], support["active"]) == (0, 0, 1)
    today = support["today"]
    assert (today["arrived"], today["answered"], today["abandoned"]) == (1, 1, 0)
    assert today["average_wait_seconds"] is not None and today["service_level_percent"] == 100.0
    aiko = agent(now, cc.users["aiko"])
    assert aiko["presence"] == "available" and aiko["presence_since"] is not None
    assert (aiko["offered"], aiko["active"], aiko["wrap_up"], aiko["capacity"]) == (0, 1, 0, 2)
    assert aiko["last_reply_at"] is not None
    assert aiko["queue_ids"] == [support["id"]]
    assert agent(now, cc.users["ben"])["presence"] == "offline"
    # Filters narrow the list of conversations only.
    assert [c["id"] for c in (await board(cc, agent_id=cc.users["aiko"]))["conversations"]] == [cid]
    assert (await board(cc, status="queued"))["conversations"] == []
    bad = await cc.as_("sam", "GET", "/api/v1/wallboard", params={"status": "closed"})
    assert bad.status_code == 422 and "status" in bad.text


async def test_an_agent_at_capacity_is_busy(cc):
    await cc.presence("ben", "available")
    first, second = await cc.customer_writes(), await cc.customer_writes()
    await cc.wait_status(first, "offered", "ben")
    await cc.wait_status(second, "offered", "ben")
    support = queue(await board(cc), "Support")
    assert support["agents"]["busy"] == 1 and support["free_slots"] == 0
    await cc.presence("aiko", "away", "lunch")
    snapshot = await board(cc)
    assert queue(snapshot, "Support")["agents"]["away"] == 1
    assert agent(snapshot, cc.users["aiko"])["away_reason"] == "lunch"


async def test_abandons_after_the_threshold_lower_the_service_level(cc):
    """Two customers give up while waiting, one at once (short) and one after two
    minutes: both are abandoned, only the long one counts against the service level."""
    ids = [await cc.customer_writes("anyone?") for _ in range(3)]
    db = cc.stack.runtime.db
    async with db.write() as session:
        await session.execute(update(Queue).values(auto_close_after_seconds=60))
        for cid, waited in zip(ids, (120, 3, None), strict=True):
            conv = await session.get(Conversation, cid)
            conv.last_inbound_at = conv.last_inbound_at - timedelta(minutes=5)
            if waited is not None:
                conv.queued_at = assignment.now_utc() - timedelta(seconds=waited)
    workspace_id = await _acme(cc)
    for cid in ids[:2]:
        outcome = await assignment.auto_close_if_idle(db, workspace_id, cid)
        assert [e.status for e in outcome.events] == ["abandoned"]
        await cc.stack.runtime.bus.publish(outcome.events)  # as the timer dispatcher does
    today = queue(await board(cc), "Support")["today"]
    assert (today["arrived"], today["answered"], today["abandoned"]) == (3, 0, 2)
    assert today["short_abandoned"] == 1
    assert today["service_level_percent"] == 0.0
    assert queue(await board(cc), "Support")["waiting"] == 1


async def test_yesterday_in_the_workspace_zone_is_not_today(cc):
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "queued")
    async with cc.stack.runtime.db.write() as session:
        await session.execute(update(Workspace).values(timezone="Asia/Tokyo"))
        midnight, _ = day_bounds(assignment.now_utc(), "Asia/Tokyo")
        await session.execute(update(ConversationEvent).values(at=midnight - timedelta(minutes=1)))
    # Changed in the database behind the events' back: what reconciliation reads again.
    cc.stack.runtime.wallboard.resync("changed in the database")

    async def read_again():
        # The re-read runs in the feed's next update, not inside resync(): wait for it.
        snapshot = await board(cc)
        return snapshot if snapshot["timezone"] == "Asia/Tokyo" else None

    snapshot = await eventually(read_again)
    assert queue(snapshot, "Support")["today"]["arrived"] == 0
    assert queue(snapshot, "Support")["waiting"] == 1  # the live count is not a day's


async def test_a_resync_during_an_update_still_reads_the_board_again(cc):
    """``resync()`` while an update is reading: that update read the database before the
    change, so the next one must read everything again (it did not: the update in flight
    marked its whole read as the one asked for, and the change stayed unseen)."""
    from madoguchi.services.supervision.live_wallboard import WallboardFeed

    db = cc.stack.runtime.db
    workspace_id = await _acme(cc)
    read_done, go_on = asyncio.Event(), asyncio.Event()

    class Gated:
        """The real database; the feed's first read holds on before it ends."""

        def __init__(self) -> None:
            self.write = db.write

        @contextlib.asynccontextmanager
        async def read(self):
            async with db.read() as session:
                yield session
            if not read_done.is_set():
                read_done.set()
                await go_on.wait()

    feed = WallboardFeed(Gated(), interval=0.01)
    first = asyncio.create_task(feed.snapshot(workspace_id))
    await read_done.wait()
    async with db.write() as session:
        await session.execute(update(Workspace).values(timezone="Asia/Tokyo"))
    feed.resync("changed in the database")
    go_on.set()
    assert (await first)["timezone"] == "UTC"  # read before the change
    assert (await feed.snapshot(workspace_id))["timezone"] == "Asia/Tokyo"
    await feed.stop()


async def test_with_nobody_connected_events_move_no_board_and_a_read_catches_up(cc):
    """No staff socket here: events only mark what they touched (no update is even
    scheduled); a read brings the board up to them in one update; once a supervisor is
    connected, the next events move the board live again (the nudge comes unasked)."""
    feed = cc.stack.runtime.wallboard
    workspace_id = await _acme(cc)
    await board(cc)
    computed = feed.computed
    cids = [await cc.customer_writes("hello", phone=f"82900000020{i}") for i in range(3)]
    for cid in cids:
        await cc.wait_status(cid, "queued")
    space = feed._space(workspace_id)
    assert space.pending is None and space.running is None
    assert feed.computed == computed and space.wanted > space.done
    assert queue(await board(cc), "Support")["waiting"] == 3
    assert feed.computed == computed + 1
    staff = await open_live(cc.stack.url, cc.tokens["sam"])
    await cc.customer_writes("and me", phone="829000000210")
    nudge = await staff.until("wallboard.changed")
    assert nudge["version"] > 0 and feed.computed > computed + 1
    await staff.ws.close()


async def test_who_may_see_the_wallboard_and_which_queues(cc):
    assert (await cc.as_("aiko", "GET", "/api/v1/wallboard")).status_code == 403
    assert (await cc.stack.client.get("/api/v1/wallboard")).status_code == 401
    support_conv = await cc.customer_writes()
    await cc.wait_status(support_conv, "queued")
    # Sam is made supervisor of Sales only: the wallboard, the conversation list and a
    # Support conversation by id all stop showing Support.
    sales = await _queue_doc(cc, "Sales")
    sales["supervisors"] = [{"email": "sam@acme.test"}]
    sales_id = sales.pop("id")
    updated = await cc.as_("admin", "PUT", f"/api/v1/queues/{sales_id}", json=sales)
    assert updated.status_code == 200, updated.text
    assert [s["email"] for s in updated.json()["supervisors"]] == ["sam@acme.test"]
    limited = await board(cc)
    assert [q["name"] for q in limited["queues"]] == ["Sales"]
    assert limited["conversations"] == [] and limited["scope"] == [sales_id]
    assert {a["name"] for a in limited["agents"]} == {"Chie"}
    listed = await cc.as_("sam", "GET", "/api/v1/conversations")
    assert listed.status_code == 200 and listed.json() == []
    hidden = await cc.as_("sam", "GET", f"/api/v1/conversations/{support_conv}")
    assert hidden.status_code == 404
    # The admin still sees everything.
    everything = await board(cc, "admin")
    assert {q["name"] for q in everything["queues"]} == {"Sales", "Support"}
    assert [c["id"] for c in everything["conversations"]] == [support_conv]
    # Only supervisors can be listed as a queue's supervisors.
    sales = await _queue_doc(cc, "Sales")
    sales.pop("id")
    sales["supervisors"] = [{"email": "chie@acme.test"}]
    refused = await cc.as_("admin", "PUT", f"/api/v1/queues/{sales_id}", json=sales)
    assert refused.status_code == 422 and "not a supervisor" in refused.text


async def test_a_filter_naming_no_queue_or_agent_of_the_workspace_is_refused(cc):
    """A mistyped or stale id answered 200 with an empty list (a quiet floor); it is a
    bad parameter, like an unknown status."""
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "queued")
    support = (await _queue_doc(cc, "Support"))["id"]
    assert [c["id"] for c in (await board(cc, "admin", queue_id=support))["conversations"]] == [cid]
    assert (await board(cc, "admin", agent_id=cc.users["aiko"]))["conversations"] == []
    for params, field in (({"queue_id": 999_999}, "queue_id"), ({"agent_id": 999_999}, "agent_id")):
        refused = await cc.as_("admin", "GET", "/api/v1/wallboard", params=params)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"]["field"] == field
        assert "999999" in refused.json()["detail"]["message"]


async def test_staff_sockets_are_nudged_once_for_a_burst_and_agents_never(cc):
    staff = await open_live(cc.stack.url, cc.tokens["sam"])
    agent_socket = await open_live(cc.stack.url, cc.tokens["aiko"])
    await cc.presence("aiko", "available")
    for _ in range(3):
        await cc.customer_writes()
    nudge = await staff.until("wallboard.changed")
    assert nudge["version"] >= 1
    snapshot = await board(cc)
    assert sum(q["waiting"] + q["offered"] for q in snapshot["queues"]) == 3

    async def agent_frames():
        frames = []
        try:
            while True:
                frames.append((await agent_socket.next(within=1.5))["event"])
        except TimeoutError:
            return frames

    assert "wallboard.changed" not in await agent_frames()
    await staff.ws.close()
    await agent_socket.ws.close()


async def test_one_snapshot_serves_many_readers(cc):
    """Readers share the board: reading it computes nothing; an event moves it once."""
    feed = cc.stack.runtime.wallboard
    await cc.customer_writes()
    first = await board(cc)
    before = feed.computed
    results = [await board(cc) for _ in range(5)]
    assert feed.computed == before
    assert all(r["version"] == first["version"] for r in results)
    await cc.customer_writes()  # a new event: a new version

    async def moved():
        return (await board(cc))["version"] > first["version"]

    await eventually(moved)
    assert feed.computed > before


async def _acme(cc) -> int:
    async with cc.stack.runtime.db.read() as session:
        return await session.scalar(select(Workspace.id).where(Workspace.slug == "acme"))


async def _queue_doc(cc, name: str) -> dict:
    """A queue as ``PUT /api/v1/queues/{id}`` takes it (plus its id)."""
    listed = (await cc.as_("admin", "GET", "/api/v1/queues")).json()
    doc = dict(next(q for q in listed if q["name"] == name))
    doc.pop("waiting")
    doc["members"] = [{"email": m["email"], "priority": m["priority"]} for m in doc["members"]]
    doc["supervisors"] = [{"email": s["email"]} for s in doc["supervisors"]]
    return doc


async def test_a_supervisor_limited_to_queues_hears_only_their_queues_live(cc):
    sales = await _queue_doc(cc, "Sales")
    sales_id = sales.pop("id")
    sales["supervisors"] = [{"email": "sam@acme.test"}]
    assert (
        await cc.as_("admin", "PUT", f"/api/v1/queues/{sales_id}", json=sales)
    ).status_code == 200
    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    admin = await open_live(cc.stack.url, cc.tokens["admin"])
    cid = await cc.customer_writes("for Support")  # the number's queue: Support
    await admin.until("conversation.changed")
    # Sam's socket gets the nudge (no figures in it), nothing of the Support conversation.
    frames = []
    with pytest.raises(TimeoutError):
        while True:
            frames.append(await sam.next(within=1.5))
    assert {f["event"] for f in frames} <= {"wallboard.changed"}
    moved = await cc.as_(
        "admin", "POST", f"/api/v1/conversations/{cid}/transfer", json={"queue_id": sales_id}
    )
    assert moved.status_code == 200
    frame = await sam.until("conversation.changed")
    assert frame["conversation_id"] == cid and frame["step"] == "transferred"
    await sam.ws.close()
    await admin.ws.close()


def _comparable(snapshot: dict) -> dict:
    """A snapshot without what depends on the instant it was taken."""
    return {
        **{
            k: v
            for k, v in snapshot.items()
            if k not in ("generated_at", "compute_ms", "version", "feed")
        },
        "queues": [
            {k: v for k, v in q.items() if k != "longest_wait_seconds"} for q in snapshot["queues"]
        ],
        # Occupancy is read as of an instant (test_agents_occupancy_… compares it).
        "agents": [{k: v for k, v in a.items() if k != "occupancy"} for a in snapshot["agents"]],
    }


async def test_incremental_snapshots_equal_a_full_read_after_random_events(cc):
    """The live feed refreshes only what events name; after a random mix of customers
    writing, presence changes, offers accepted, replies, transfers, take-overs and
    closes, its snapshot equals one read whole from the database, with no full read
    in between."""
    import random

    from madoguchi.services.supervision import wallboard

    feed = cc.stack.runtime.wallboard
    feed.full_every = 1e9  # only the first computation may read everything
    workspace_id = await _acme(cc)
    db = cc.stack.runtime.db
    rng = random.Random(15)
    await feed.snapshot(workspace_id)
    full_reads = feed.full_reads

    async def open_ones(*statuses) -> list:
        async with db.read() as session:
            return (
                await session.execute(
                    select(
                        Conversation.id,
                        Conversation.offered_agent_id,
                        Conversation.assigned_agent_id,
                    ).where(Conversation.status.in_(statuses))
                )
            ).all()

    who_is = {v: k for k, v in cc.users.items()}
    phones = []
    for _ in range(30):
        action = rng.choice(
            ["write", "write", "again", "presence", "accept", "reply", "transfer", "take",
             "close"]
        )  # fmt: skip
        if action == "write" or (action == "again" and not phones):
            phone = str(829000000000 + len(phones))
            phones.append(phone)
            await cc.customer_writes("hello", phone=phone)
        elif action == "again":
            await cc.customer_writes("again", phone=rng.choice(phones))
        elif action == "presence":
            await cc.presence(
                rng.choice(["aiko", "ben", "chie"]), rng.choice(["available", "away", "offline"])
            )
        elif action == "accept" and (rows := await open_ones("offered")):
            row = rng.choice(rows)
            await cc.as_(
                who_is[row.offered_agent_id], "POST", f"/api/v1/conversations/{row.id}/accept"
            )
        elif action == "reply" and (rows := await open_ones("active")):
            row = rng.choice(rows)
            await cc.as_(
                who_is[row.assigned_agent_id],
                "POST",
                f"/api/v1/conversations/{row.id}/messages",
                json={"message": {"type": "text", "text": {"body": "on it"}}},
            )
        elif action == "transfer" and (rows := await open_ones("queued", "offered", "active")):
            sales = await _queue_doc(cc, "Sales")
            await cc.as_(
                "admin",
                "POST",
                f"/api/v1/conversations/{rng.choice(rows).id}/transfer",
                json={"queue_id": sales["id"]},
            )
        elif action == "take" and (rows := await open_ones("queued", "offered", "active")):
            await cc.as_("sam", "POST", f"/api/v1/conversations/{rng.choice(rows).id}/take-over")
        elif action == "close" and (rows := await open_ones("active", "wrap_up", "queued")):
            # (It had no body and was refused, 422: the run closed nothing.) Support asks
            # for a disposition once answered; Sales has none.
            path = f"/api/v1/conversations/{rng.choice(rows).id}/close"
            closed = await cc.as_("admin", "POST", path, json={})
            if closed.status_code == 422:
                closed = await cc.as_("admin", "POST", path, json={"disposition": "solved"})
            assert closed.status_code == 200, closed.text

    async def caught_up():
        live = await feed.snapshot(workspace_id)
        async with db.read() as session:
            whole = await wallboard.build(session, workspace_id)
        return _comparable(live) == _comparable(whole)

    await eventually(caught_up)
    assert feed.full_reads == full_reads
    snapshot = await feed.snapshot(workspace_id)
    assert snapshot["conversations"], "the random run left no open conversation"


async def test_a_watching_socket_gets_the_board_then_deltas_that_rebuild_it(cc):
    """``wallboard.watch``: the whole board, then deltas numbered base → version; the
    board kept by applying them equals the board read afresh, and an agent's socket
    asking to watch gets nothing."""
    from madoguchi.services.supervision import board as boards

    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    aiko = await open_live(cc.stack.url, cc.tokens["aiko"])
    await sam.ws.send(json.dumps({"event": "wallboard.watch"}))
    await aiko.ws.send(json.dumps({"event": "wallboard.watch"}))
    first = await sam.until("wallboard.snapshot")
    held, version = first["board"], first["version"]
    await cc.presence("aiko", "available")
    cids = [await cc.customer_writes("hello", phone=f"82900000010{i}") for i in range(3)]
    await cc.wait_status(cids[0], "offered", "aiko")
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cids[0]}/accept")
    await cc.as_("admin", "POST", f"/api/v1/conversations/{cids[1]}/close")

    async def caught_up():
        nonlocal held, version
        with contextlib.suppress(TimeoutError):
            while True:
                frame = await sam.next(within=0.3)
                if frame["event"] == "wallboard.delta":
                    assert frame["base"] == version, "a delta that does not follow"
                    held, version = boards.apply_delta(held, frame), frame["version"]
        whole = await board(cc)
        return whole["version"] == version and _same_rows(held, whole)

    await eventually(caught_up)
    assert version > first["version"]
    frames = []
    with contextlib.suppress(TimeoutError):
        while True:
            frames.append((await aiko.next(within=1.0))["event"])
    assert not {"wallboard.snapshot", "wallboard.delta", "wallboard.changed"} & set(frames)
    await sam.ws.close()
    await aiko.ws.close()


def _same_rows(a: dict, b: dict) -> bool:
    def rows(s: dict) -> tuple:
        return (
            sorted((comparable_queue(q) for q in s["queues"]), key=lambda q: q["id"]),
            sorted(s["agents"], key=lambda x: x["user_id"]),
            sorted(s["conversations"], key=lambda c: c["id"]),
        )

    return rows(a) == rows(b)


async def test_a_limited_supervisor_watches_only_their_queues(cc):
    sales = await _queue_doc(cc, "Sales")
    sales_id = sales.pop("id")
    sales["supervisors"] = [{"email": "sam@acme.test"}]
    assert (
        await cc.as_("admin", "PUT", f"/api/v1/queues/{sales_id}", json=sales)
    ).status_code == 200
    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    await sam.ws.send(json.dumps({"event": "wallboard.watch"}))
    first = await sam.until("wallboard.snapshot")
    assert [q["id"] for q in first["board"]["queues"]] == [sales_id]
    admin = await open_live(cc.stack.url, cc.tokens["admin"])
    await admin.ws.send(json.dumps({"event": "wallboard.watch"}))
    await admin.until("wallboard.snapshot")
    cid = await cc.customer_writes("for Support")  # the number's queue: Support
    await admin.until("wallboard.delta")
    frames = []
    with contextlib.suppress(TimeoutError):
        while True:
            frames.append(await sam.next(within=1.5))
    assert not [f for f in frames if f["event"].startswith("wallboard.")], frames
    moved = await cc.as_(
        "admin", "POST", f"/api/v1/conversations/{cid}/transfer", json={"queue_id": sales_id}
    )
    assert moved.status_code == 200
    delta = await sam.until("wallboard.delta")
    assert delta["base"] == first["version"]
    assert [c["id"] for c in delta["conversations"]] == [cid]
    assert {q["id"] for q in delta["queues"]} <= {sales_id}
    await sam.ws.close()
    await admin.ws.close()


async def test_agents_occupancy_is_the_reports_and_moves_live(cc):
    """Each agent's occupancy today on the wallboard is the agents report's (the same
    rollups, logs and definition), and it moves with their state between whole reads:
    Aiko goes available and answers; her row, counted on to the instant the report is
    read, gives the report's seconds."""
    from datetime import UTC, datetime

    sam = await open_live(cc.stack.url, cc.tokens["sam"])  # the board is kept live
    first = await board(cc)
    assert agent(first, cc.users["aiko"])["occupancy"]["available_seconds"] == 0
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "offered", "aiko")
    assert (await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")).status_code == 200

    async def handling():
        row = agent(await board(cc), cc.users["aiko"])
        return row if row["active"] == 1 else None

    row = await eventually(handling)
    assert row["presence"] == "available"
    occupancy = row["occupancy"]
    assert occupancy["as_of"] > first["generated_at"], "moved on by her changes, not re-read"
    as_of = datetime.fromisoformat(occupancy["as_of"])

    async def reported():
        """Her row of the agents report once it counts a busy second (whole seconds)."""
        before = datetime.now(UTC)
        report = await cc.as_("sam", "GET", "/api/v1/reports/agents", params={"period": "today"})
        after = datetime.now(UTC)
        assert report.status_code == 200, report.text
        mine = next(r for r in report.json()["rows"] if r["agent_id"] == cc.users["aiko"])
        return (before, after, mine) if mine["busy_seconds"] >= 1 else None

    before, after, mine = await eventually(reported)
    # As a browser counts on: available and busy (she handles one) since ``as_of``; the
    # report was counted between ``before`` and ``after``. The board moves at its update
    # after each change (not at the change's instant in the log): a second or two apart.
    low, high = (before - as_of).total_seconds(), (after - as_of).total_seconds()
    for name in ("available_seconds", "busy_seconds"):
        assert occupancy[name] + low - 3 <= mine[name] <= occupancy[name] + high + 3, name
    await sam.ws.close()
