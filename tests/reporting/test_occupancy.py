"""Occupancy (docs/metrics.md) against a hand-built presence log and lifecycle log with
known answers, on SQLite and PostgreSQL: written hour by hour by the rollups (windows of
one hour, so the open parts carry across), computed on the fly past the cursor, and
rebuilt from the raw logs: all three agree. Edge cases: conversations open across an
hour boundary and across the workspace's midnight, going away with a conversation still
open, handling a conversation while signed out, two conversations at once. Presence
follows the last live session (signing out, a session running out)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from madoguchi.domain.events import PresenceChanged
from madoguchi.services.contact_center import presence
from madoguchi.services.reporting import occupancy, reports, rollups
from madoguchi.store.db import Database
from madoguchi.store.models import (
    AgentPresenceLog,
    ConversationEvent,
    Queue,
    QueueMember,
    ReportCursor,
    User,
    UserSession,
)
from tests.reporting.world import new_conversation, numbered_workspace


def t(hh: int, mm: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC)


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


async def build(db: Database) -> dict:
    """Tokyo (UTC+9): local midnight of the 11th is 15:00 UTC on the 10th.

    Aoi: available 08:30; c1 accepted 08:40, closed 09:10; c2 accepted 09:00,
    transferred 09:20; c3 accepted 09:25; away 09:30 (c3 still hers) until c3 closes
    09:45; available 10:00; signed out 10:30.
      hour 08: available 1800, busy 1200 · hour 09: available 1800 + 900 (away, busy),
      busy 09:00–09:20 ∪ 09:25–09:45 = 2400, away busy 900 · hour 10: available 1800.
    Ben: offline, yet accepts the transferred c2 at 09:22 and closes it 09:50 (1680 s
    busy while offline); available 14:30–15:30 with c4 14:50–15:10 (across midnight).
    """
    async with db.write() as s:
        ws, number = await numbered_workspace(s, "occ", "Asia/Tokyo")
        aoi = User(workspace_id=ws.id, email="aoi@occ.test", name="Aoi", role="agent")
        ben = User(workspace_id=ws.id, email="ben@occ.test", name="Ben", role="agent")
        support = Queue(workspace_id=ws.id, name="Support")
        other = Queue(workspace_id=ws.id, name="Other")
        s.add_all([aoi, ben, support, other])
        await s.flush()
        s.add(QueueMember(workspace_id=ws.id, queue_id=support.id, user_id=aoi.id))
        s.add(QueueMember(workspace_id=ws.id, queue_id=other.id, user_id=ben.id))
        A, B = aoi.id, ben.id
        convs = {}
        for name in ("c1", "c2", "c3", "c4"):
            convs[name] = (await new_conversation(s, number, f"81{name}occ", t(8))).id

        def ev(name, kind, at, agent=None, frm="active"):
            s.add(
                ConversationEvent(
                    workspace_id=ws.id,
                    conversation_id=convs[name],
                    type=kind,
                    from_status=frm,
                    to_status="active" if kind in ("accepted", "taken_over") else "closed",
                    queue_id=support.id,
                    agent_id=agent,
                    at=at,
                )
            )

        def pr(user, status, at):
            s.add(AgentPresenceLog(workspace_id=ws.id, user_id=user, status=status, at=at))

        pr(A, "available", t(8, 30))
        ev("c1", "accepted", t(8, 40), A, "offered")
        ev("c2", "accepted", t(9), A, "offered")
        ev("c1", "closed", t(9, 10))
        ev("c2", "transferred", t(9, 20))
        ev("c2", "accepted", t(9, 22), B, "offered")
        ev("c3", "accepted", t(9, 25), A, "offered")
        pr(A, "away", t(9, 30))
        ev("c3", "closed", t(9, 45))
        ev("c2", "closed", t(9, 50))
        pr(A, "available", t(10))
        pr(A, "offline", t(10, 30))
        pr(B, "available", t(14, 30))
        ev("c4", "accepted", t(14, 50), B, "offered")
        ev("c4", "closed", t(15, 10))
        pr(B, "offline", t(15, 30))
    return {"ws": ws.id, "aoi": A, "ben": B, "support": support.id, "other": other.id}


HOURS = {
    ("aoi", t(8)): (1800, 1200, 0),
    ("aoi", t(9)): (2700, 2400, 900),
    ("aoi", t(10)): (1800, 0, 0),
    ("ben", t(9)): (1680, 1680, 1680),
    ("ben", t(14)): (1800, 600, 0),
    ("ben", t(15)): (1800, 600, 0),
}


async def hour_rows(db, w) -> dict:
    names = {w["aoi"]: "aoi", w["ben"]: "ben"}
    async with db.read() as session:
        found = await occupancy.hours(session, w["ws"], t(0), t(0, day=12), now=t(0, day=12))
    return {
        (names[agent], hour): (
            round(c["available_seconds"]),
            round(c["busy_seconds"]),
            round(c["away_busy_seconds"]),
        )
        for (agent, hour), c in found.items()
    }


async def agents_report(db, w, **kw) -> dict:
    async with db.read() as session:
        q = await reports.make_query(
            session,
            w["ws"],
            "agents",
            period="custom",
            start=date(2026, 11, 10),
            end=date(2026, 11, 11),
            now=t(12, day=11),
            **kw,
        )
        return await reports.build(session, q)


def occupancy_of(body: dict) -> dict:
    return {
        row["agent"]: (row["available_seconds"], row["busy_seconds"], row["occupancy_percent"])
        for row in body["rows"]
    }


async def test_occupancy_hours_from_rollups_live_and_rebuild(db):
    w = await build(db)
    # Written an hour per transaction: the open parts and presence carry across.
    written = await occupancy.catch_up(db, now=t(0, day=12), window=timedelta(hours=1))
    assert written > 0
    assert await hour_rows(db, w) == HOURS
    # Nothing past the cursor now: a second pass writes nothing.
    assert await occupancy.catch_up(db, now=t(0, day=12)) == 0

    body = await agents_report(db, w)
    assert occupancy_of(body) == {
        "Aoi": (6300, 3600, 57.1),
        "Ben": (5280, 2880, 54.5),
    }
    assert body["rows"][0]["away_busy_seconds"] == 900
    assert (body["totals"]["available_seconds"], body["totals"]["busy_seconds"]) == (11580, 6480)
    assert body["totals"]["occupancy_percent"] == 56.0
    # Days in Tokyo: the 10th holds UTC 08–14h, the 11th UTC 15h.
    by_day = {p["bucket"]: (p["available_seconds"], p["busy_seconds"]) for p in body["series"]}
    assert by_day == {"2026-11-10": (9780, 5880), "2026-11-11": (1800, 600)}

    # The cursor back at 09:00: hours from there are computed on the fly, the same.
    async with db.write() as session:
        await occupancy.reset(session)
        await session.execute(
            update(ReportCursor).where(ReportCursor.source == "occupancy").values(last_id=0)
        )
    await occupancy.catch_up(db, now=t(10, 0))  # writes 08:00 only (09:00 not yet over)
    async with db.read() as session:
        assert await occupancy._cursor_at(session) == t(9)
        # c1 (accepted 08:40, closed 09:10) was Aoi's when 09:00 began.
        assert list((await occupancy._open_parts(session)).values()) == [w["aoi"]]
    assert await hour_rows(db, w) == HOURS
    assert occupancy_of(await agents_report(db, w)) == occupancy_of(body)

    # A rebuild from the raw logs: the same again.
    await rollups.rebuild(db)
    assert await hour_rows(db, w) == HOURS
    assert occupancy_of(await agents_report(db, w)) == occupancy_of(body)


async def test_occupancy_scope_and_filters(db):
    w = await build(db)
    await occupancy.catch_up(db, now=t(0, day=12))
    # A queue's view: its members only.
    body = await agents_report(db, w, visible_queues={w["support"]})
    assert set(occupancy_of(body)) == {"Aoi"}
    assert body["totals"]["busy_seconds"] == 3600
    one = await agents_report(db, w, agent_id=w["ben"])
    assert one["totals"]["busy_seconds"] == 2880
    # Filters that mean nothing for an agent's time: no occupancy, and it says why.
    for kw in ({"tag": "vip"}, {"business_hours": True}, {"disposition": "x"}):
        body = await agents_report(db, w, **kw)
        assert body["occupancy"]["shown"] is False
        assert next(iter(kw)) in body["occupancy"]["message"]
        assert body["totals"]["occupancy_percent"] is None


async def test_presence_changes_and_signing_out_are_logged(db):
    w = await build(db)
    await presence.set_presence(db, w["ws"], w["ben"], "available")
    await presence.set_presence(db, w["ws"], w["ben"], "available")  # no change: no row
    await presence.set_presence(db, w["ws"], w["ben"], "away", "lunch")
    async with db.write() as s:
        s.add(
            UserSession(
                workspace_id=w["ws"],
                user_id=w["ben"],
                token_hash="h" * 64,
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    # Still signed in elsewhere: signing out of one session changes nothing.
    await presence.sign_out(db, w["ws"], w["ben"])
    async with db.write() as s:
        await s.execute(update(UserSession).values(revoked_at=datetime.now(UTC)))
    await presence.sign_out(db, w["ws"], w["ben"])
    async with db.read() as s:
        rows = (
            await s.execute(
                select(
                    AgentPresenceLog.status, AgentPresenceLog.away_reason, AgentPresenceLog.reason
                )
                .where(AgentPresenceLog.user_id == w["ben"], AgentPresenceLog.at > t(0, day=20))
                .order_by(AgentPresenceLog.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("available", None, None),
        ("away", "lunch", None),
        ("offline", None, presence.SIGNED_OUT),
    ]


async def test_presence_follows_the_last_live_session(db):
    """An agent whose last browser session runs out (not signed out) goes offline, logged
    as ``session expired``; one still signed in elsewhere keeps their presence, and so
    does one whose presence was set (through the API) after their sessions ended."""
    w = await build(db)
    now = datetime.now(UTC)
    await presence.set_presence(db, w["ws"], w["ben"], "available")
    await presence.set_presence(db, w["ws"], w["aoi"], "available")
    async with db.write() as s:
        for n, (user, hours) in enumerate(((w["ben"], 1), (w["ben"], 3), (w["aoi"], -1))):
            s.add(
                UserSession(
                    workspace_id=w["ws"],
                    user_id=user,
                    token_hash=f"{n}" * 64,
                    expires_at=now + timedelta(hours=hours),
                )
            )
    # Ben's first session ran out, his second is live: nothing changes.
    assert (await presence.expire_lapsed(db, now=now + timedelta(hours=2))).events == []
    expired = await presence.expire_lapsed(db, now=now + timedelta(hours=4))
    assert [(e.user_id, e.status) for e in expired.events if isinstance(e, PresenceChanged)] == [
        (w["ben"], "offline")
    ]
    assert (await presence.get_presence(db, w["ws"], w["ben"])).status == "offline"
    assert (await presence.get_presence(db, w["ws"], w["aoi"])).status == "available"
    async with db.read() as s:
        last = (
            await s.execute(
                select(AgentPresenceLog.status, AgentPresenceLog.reason)
                .where(AgentPresenceLog.user_id == w["ben"])
                .order_by(AgentPresenceLog.id.desc())
                .limit(1)
            )
        ).one()
    assert tuple(last) == ("offline", presence.SESSION_EXPIRED)
    # Offline already: nothing more to do.
    assert (await presence.expire_lapsed(db, now=now + timedelta(hours=5))).events == []
