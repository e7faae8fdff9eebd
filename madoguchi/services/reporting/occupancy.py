"""Occupancy rollups: per agent and hour, the seconds available, busy (at least one
conversation being handled) and busy while away or offline (docs/metrics.md,
occupancy), from the presence log (``agent_presence_log``) and the lifecycle log.

Unlike the other counters, busy time is not a sum of what single rows add (two
conversations at once are busy once), so an hour is written once, after it ended:
the ``occupancy`` cursor (``report_cursors``, as epoch seconds) holds the first hour not
written, and ``report_open_parts`` which conversations agents were handling there. A
pass reads the presence changes and the steps that start or end an agent's part
(``PART_STEPS``) of up to a day of hours, runs ``domain.report_metrics.occupancy_seconds``
over them, adds the hours, stores the open parts and moves the cursor, in one write
transaction. Hours are written ``MARGIN_SECONDS`` after they end, so that a transaction
that took its timestamp a little earlier has committed by then (a step committed later
than that into an hour already written is counted only by a rebuild).

Reports add the hours since the cursor (the current one, or more when the worker is
behind) computed the same way on the fly, without storing them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.lifecycle import ANSWERING_STEPS
from madoguchi.domain.report_metrics import (
    OCCUPANCY_COUNTERS,
    PART_STEPS,
    LoggedStep,
    PresenceFact,
    Staffing,
    occupancy_seconds,
)
from madoguchi.services.reporting import rollups
from madoguchi.store.db import Database
from madoguchi.store.models import (
    AgentPresenceLog,
    ConversationEvent,
    ReportCursor,
    ReportOccupancy,
    ReportOpenPart,
    User,
    Workspace,
)

SOURCE = "occupancy"
MARGIN_SECONDS = 60.0
WINDOW = timedelta(hours=24)

Hours = dict[tuple[int, datetime], dict[str, float]]


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _in(workspace_id: int | None, column):
    return [column == workspace_id] if workspace_id is not None else []


async def _presence_at(
    session: AsyncSession, at: datetime, workspace_id: int | None = None
) -> dict[int, str]:
    """Each agent's presence at ``at`` (their last logged change before it)."""
    log = AgentPresenceLog
    last = (
        select(func.max(log.id))
        .where(log.at < at, *_in(workspace_id, log.workspace_id))
        .group_by(log.user_id)
    )
    return dict(
        (await session.execute(select(log.user_id, log.status).where(log.id.in_(last)))).all()
    )


async def _parts_from_log(
    session: AsyncSession, at: datetime, workspace_id: int | None = None
) -> dict[int, int]:
    """The conversations agents were handling at ``at``, from the whole lifecycle log (a
    first pass or a rebuild; later passes read ``report_open_parts``)."""
    ev = ConversationEvent
    last = (
        select(func.max(ev.id))
        .where(ev.at < at, ev.type.in_(PART_STEPS), *_in(workspace_id, ev.workspace_id))
        .group_by(ev.conversation_id)
    )
    rows = await session.execute(
        select(ev.conversation_id, ev.type, ev.agent_id).where(ev.id.in_(last))
    )
    return {c: a for c, kind, a in rows if kind in ANSWERING_STEPS and a is not None}


async def _open_parts(session: AsyncSession, workspace_id: int | None = None) -> dict[int, int]:
    rows = await session.execute(
        select(ReportOpenPart.conversation_id, ReportOpenPart.agent_id).where(
            *_in(workspace_id, ReportOpenPart.workspace_id)
        )
    )
    return dict(rows.all())


async def _window(
    session: AsyncSession,
    staffing: Staffing,
    start: datetime,
    end: datetime,
    workspace_id: int | None = None,
) -> Hours:
    log, ev = AgentPresenceLog, ConversationEvent
    presence = [
        PresenceFact(r.user_id, r.status, r.at)
        for r in await session.execute(
            select(log.user_id, log.status, log.at)
            .where(log.at >= start, log.at < end, *_in(workspace_id, log.workspace_id))
            .order_by(log.at, log.id)
        )
    ]
    steps = [
        LoggedStep(r.conversation_id, r.type, None, None, None, r.agent_id, r.at)
        for r in await session.execute(
            select(ev.conversation_id, ev.type, ev.agent_id, ev.at)
            .where(
                ev.at >= start,
                ev.at < end,
                ev.type.in_(PART_STEPS),
                *_in(workspace_id, ev.workspace_id),
            )
            .order_by(ev.at, ev.id)
        )
    ]
    return occupancy_seconds(staffing, start, end, presence, steps, await _zones(session))


async def _zones(session: AsyncSession) -> dict:
    """The zone of each agent whose workspace is not a whole number of hours from UTC
    (their hours start at :15, :30 or :45 UTC)."""
    zones = {}
    for workspace_id, name in await session.execute(select(Workspace.id, Workspace.timezone)):
        zone = rollups.zone_of(name)
        if not rollups.whole_hours(zone):
            zones[workspace_id] = zone
    if not zones:
        return {}
    users = await session.execute(
        select(User.id, User.workspace_id).where(User.workspace_id.in_(list(zones)))
    )
    return {user_id: zones[workspace_id] for user_id, workspace_id in users}


async def _workspaces(session: AsyncSession, agents) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in rollups._chunks(sorted(set(agents))):
        out.update(
            dict(
                (
                    await session.execute(
                        select(User.id, User.workspace_id).where(User.id.in_(part))
                    )
                ).all()
            )
        )
    return out


async def _cursor_at(session: AsyncSession) -> datetime | None:
    last = await session.scalar(select(ReportCursor.last_id).where(ReportCursor.source == SOURCE))
    return _at(last) if last else None


def _limit(now: datetime | None) -> datetime:
    """The end of the last hour that may be written now."""
    return rollups.hour_of((now or datetime.now(UTC)) - timedelta(seconds=MARGIN_SECONDS))


async def pending(db: Database, now: datetime | None = None) -> bool:
    """Whether an hour is ready to be written (a read)."""
    async with db.read() as session:
        at = await _cursor_at(session)
        if at is None:
            at = await session.scalar(select(func.min(AgentPresenceLog.at)))
            if at is None:
                return False
            at = rollups.hour_of(at)
    return at < _limit(now)


async def catch_up(db: Database, *, now: datetime | None = None, window: timedelta = WINDOW) -> int:
    """Write every hour that ended (``MARGIN_SECONDS`` ago) since the cursor, a window of
    hours per transaction; the number of hours written."""
    limit = _limit(now)
    written = 0
    while True:
        async with db.write() as session:
            cursor = await rollups._cursor(session, SOURCE, lock=not db.sqlite)
            if cursor.last_id:
                start = _at(cursor.last_id)
                staffing = Staffing(await _presence_at(session, start), await _open_parts(session))
            else:
                first = await session.scalar(select(func.min(AgentPresenceLog.at)))
                if first is None:
                    return written
                start = rollups.hour_of(first)
                staffing = Staffing({}, await _parts_from_log(session, start))
            if start >= limit:
                return written
            end = min(start + window, limit)
            hours = await _window(session, staffing, start, end)
            owners = await _workspaces(session, [agent for agent, _ in hours])
            values = [
                {"workspace_id": owners[agent], "hour": hour, "agent_id": agent, **counts}
                for (agent, hour), counts in hours.items()
                if agent in owners
            ]
            await rollups._upsert(
                session,
                ReportOccupancy.__table__,
                OCCUPANCY_KEY,
                values,
                db.sqlite,
                OCCUPANCY_COUNTERS,
            )
            await session.execute(delete(ReportOpenPart))
            parts_owners = await _workspaces(session, staffing.parts.values())
            parts = [
                {"conversation_id": c, "agent_id": a, "workspace_id": parts_owners[a]}
                for c, a in staffing.parts.items()
                if a in parts_owners
            ]
            for chunk in rollups._chunks(parts):
                await session.execute(insert(ReportOpenPart), chunk)
            cursor.last_id = _epoch(end)
            written += int((end - start) / timedelta(hours=1))


OCCUPANCY_KEY = ("workspace_id", "hour", "agent_id")


async def reset(session: AsyncSession) -> None:
    """Forget every occupancy hour (a rebuild; the cursor is reset with the others)."""
    await session.execute(delete(ReportOccupancy))
    await session.execute(delete(ReportOpenPart))


async def rewrite(db: Database, *, now: datetime | None = None) -> int:
    """Write every occupancy hour again from the first logged presence change (after
    rows were added into hours already written, as the seeder does); the hours written."""
    async with db.write() as session:
        await reset(session)
        await session.execute(
            update(ReportCursor).where(ReportCursor.source == SOURCE).values(last_id=0, last_txid=0)
        )
    return await catch_up(db, now=now)


async def hours(
    session: AsyncSession,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    agents: set[int] | None = None,
) -> Hours:
    """Occupancy seconds per (agent, hour) of ``workspace_id`` from ``start`` to ``end``:
    the written hours, and the hours since the cursor computed now (to ``now``)."""
    table = ReportOccupancy
    query = select(table.agent_id, table.hour, *_columns()).where(
        *_stored(workspace_id, start, end, agents)
    )
    out: Hours = {}
    for row in await session.execute(query):
        out[(row[0], rollups.as_utc(row[1]))] = dict(zip(OCCUPANCY_COUNTERS, row[2:], strict=True))
    for key, counts in (await _tail(session, workspace_id, start, end, now, agents)).items():
        _add(out.setdefault(key, {}), counts)
    return out


async def summed(
    session: AsyncSession,
    workspace_id: int,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    agents: set[int] | None = None,
) -> tuple[dict[int, dict[str, float]], dict[datetime, dict[str, float]]]:
    """The same seconds summed per agent and per hour (two grouped reads of the written
    hours, whatever the number of agents, plus the hours since the cursor)."""
    table = ReportOccupancy
    where = _stored(workspace_id, start, end, agents)
    sums = [func.sum(c) for c in _columns()]
    by_agent: dict[int, dict[str, float]] = {}
    by_hour: dict[datetime, dict[str, float]] = {}
    for row in await session.execute(
        select(table.agent_id, *sums).where(*where).group_by(table.agent_id)
    ):
        by_agent[row[0]] = dict(zip(OCCUPANCY_COUNTERS, row[1:], strict=True))
    for row in await session.execute(select(table.hour, *sums).where(*where).group_by(table.hour)):
        by_hour[rollups.as_utc(row[0])] = dict(zip(OCCUPANCY_COUNTERS, row[1:], strict=True))
    for (agent, hour), counts in (
        await _tail(session, workspace_id, start, end, now, agents)
    ).items():
        _add(by_agent.setdefault(agent, {}), counts)
        _add(by_hour.setdefault(hour, {}), counts)
    return by_agent, by_hour


def _columns():
    return [ReportOccupancy.__table__.c[c] for c in OCCUPANCY_COUNTERS]


def _stored(workspace_id: int, start: datetime, end: datetime, agents: set[int] | None) -> list:
    table = ReportOccupancy
    where = [table.workspace_id == workspace_id, table.hour >= start, table.hour < end]
    if agents is not None:
        where.append(table.agent_id.in_(sorted(agents) or [-1]))
    return where


def _add(target: dict[str, float], counts: dict[str, float]) -> None:
    for name, value in counts.items():
        target[name] = target.get(name, 0.0) + (value or 0.0)


async def _tail(
    session: AsyncSession,
    workspace_id: int,
    start: datetime,
    end: datetime,
    now: datetime | None,
    agents: set[int] | None,
) -> Hours:
    """The hours after the cursor (not written yet), computed from the logs."""
    cursor = await _cursor_at(session)
    stop = min(end, now or datetime.now(UTC))
    if cursor is None:
        # Nothing written yet (the first hour since the presence log began is not over).
        first = await session.scalar(
            select(func.min(AgentPresenceLog.at)).where(
                AgentPresenceLog.workspace_id == workspace_id
            )
        )
        if first is None:
            return {}
        cursor = rollups.hour_of(first)
        staffing = Staffing({}, await _parts_from_log(session, cursor, workspace_id))
    else:
        staffing = Staffing(
            await _presence_at(session, cursor, workspace_id),
            await _open_parts(session, workspace_id),
        )
    if cursor >= stop:
        return {}
    return {
        (agent, hour): counts
        for (agent, hour), counts in (
            await _window(session, staffing, cursor, stop, workspace_id)
        ).items()
        if hour >= start and (agents is None or agent in agents)
    }
