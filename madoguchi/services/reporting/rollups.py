"""Hourly rollups of the lifecycle log and the messages, kept up to date as events happen
and rebuildable from the raw log.

Each source (``events``: ``conversation_events``; ``messages``) is read in id order from
a cursor (``report_cursors``). One batch is one write transaction: its rows are turned
into counters by ``domain.report_metrics`` (the figures' only definitions), added to the
hourly rows (an upsert that adds), and the cursor moves past them; so every row counts
exactly once, also with several processes (the cursor row is locked on PostgreSQL).

On PostgreSQL ids are handed out before commit, so a row with a smaller id may become
visible after a larger one, however long its transaction takes. Rows there carry their
transaction's id (``txid``, a column default) and are read in (txid, id) order, only
those of transactions older than the oldest one still running
(``horizon``, from ``pg_stat_activity`` of this database): every such transaction has
ended, so all its rows are visible and none can come later. The cursor holds (txid, id). A
transaction left open holds the rollups back until it ends (nothing is skipped).
SQLite has one writer: ids commit in order and the id alone is the cursor.

Each batch adds its counters to three tables: ``report_hourly`` (every dimension),
``report_hourly_queue`` (per queue: most reports) and ``report_daily_agent`` (what names
an agent, per local day of the workspace: the agents report).

``rebuild`` empties the rollups and reads both sources again from the start (``madoguchi
reports rebuild``): after a change of a queue's service-level target, short-abandon
threshold or business hours, which are applied when a row is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.business_hours import BusinessHours, BusinessHoursError
from madoguchi.domain.report_metrics import (
    COUNTERS,
    REMEMBERED_STEPS,
    Contribution,
    History,
    LoggedStep,
    MessageFact,
    QueueRules,
    Thread,
    hour_start,
    message_contributions,
    remember,
    step_contributions,
)
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Conversation,
    ConversationEvent,
    Message,
    Queue,
    ReportCursor,
    ReportDailyAgent,
    ReportHourly,
    ReportHourlyQueue,
    Workspace,
)

log = logging.getLogger(__name__)

SOURCES = ("events", "messages")
BATCH = 5_000
SWEEP_SECONDS = 5.0
KEY = ("workspace_id", "hour", "queue_id", "agent_id", "number_id", "in_hours")
QUEUE_KEY = ("workspace_id", "hour", "queue_id", "in_hours")
DAY_KEY = ("workspace_id", "day", "queue_id", "agent_id", "in_hours")
_UPSERT_ROWS = 5_000  # rows per executemany


def hour_of(at: datetime) -> datetime:
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def as_utc(at: datetime) -> datetime:
    """A stored hour as an aware UTC datetime (SQLite gives naive ones back)."""
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def whole_hours(zone: ZoneInfo) -> bool:
    """Whether ``zone`` is a whole number of hours from UTC in every offset it used in
    the last years and the next (then its hours are UTC hours)."""
    year = datetime.now(UTC).year
    for y in range(year - 3, year + 2):
        for month in (1, 4, 7, 10):
            offset = datetime(y, month, 1, tzinfo=UTC).astimezone(zone).utcoffset()
            if offset and offset.total_seconds() % 3600:
                return False
    return True


@dataclass
class QueueInfo:
    rules: QueueRules
    hours: BusinessHours | None


@dataclass
class Deltas:
    """Counters to add, by rollup key."""

    rows: dict[tuple, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    def add(
        self,
        workspace_id: int,
        number_id: int | None,
        item: Contribution,
        in_hours: bool,
        hour: datetime | None = None,
    ) -> None:
        key = (
            workspace_id,
            hour or hour_of(item.at),
            item.queue_id or 0,
            item.agent_id or 0,
            number_id or 0,
            in_hours,
        )
        row = self.rows[key]
        for name, value in item.counts.items():
            if value:
                row[name] = row.get(name, 0) + value

    def merge(self, other: Deltas) -> None:
        for key, counts in other.rows.items():
            row = self.rows[key]
            for name, value in counts.items():
                row[name] = row.get(name, 0) + value


class Context:
    """Queue rules and business hours, read once per pass."""

    def __init__(self) -> None:
        self.queues: dict[int, QueueInfo] = {}
        self.zones: dict[int, ZoneInfo] = {}  # workspaces not a whole hour from UTC
        self._open: dict[tuple, bool] = {}

    def hour(self, workspace_id: int, at: datetime) -> datetime:
        """The workspace's hour that ``at`` falls in (``report_metrics.hour_start``)."""
        return hour_start(at, self.zones.get(workspace_id))

    async def load(self, session: AsyncSession) -> None:
        for workspace_id, name in await session.execute(select(Workspace.id, Workspace.timezone)):
            zone = zone_of(name)
            if not whole_hours(zone):
                self.zones[workspace_id] = zone
        for q in await session.scalars(select(Queue)):
            try:
                hours = BusinessHours.parse(q.timezone or "UTC", q.hours, q.holidays)
            except BusinessHoursError:
                hours = None
            self.queues[q.id] = QueueInfo(
                QueueRules(q.service_level_seconds, q.short_abandon_seconds),
                hours if q.hours else None,
            )

    def rules(self, queue_id: int | None) -> QueueRules:
        info = self.queues.get(queue_id) if queue_id else None
        return info.rules if info else QueueRules()

    def in_hours(self, queue_id: int | None, at: datetime) -> bool:
        info = self.queues.get(queue_id) if queue_id else None
        if info is None or info.hours is None:
            return True
        # Hours are given to the minute: one answer per queue and minute.
        key = (queue_id, at.replace(second=0, microsecond=0))
        found = self._open.get(key)
        if found is None:
            if len(self._open) > 500_000:
                self._open.clear()
            found = self._open[key] = info.hours.is_open(key[1])
        return found


def _step(row) -> LoggedStep:
    return LoggedStep(
        conversation_id=row.conversation_id,
        type=row.type,
        from_status=row.from_status,
        to_status=row.to_status,
        queue_id=row.queue_id,
        agent_id=row.agent_id,
        at=row.at,
        data=row.data,
        reason=row.reason,
    )


_EVENT_COLUMNS = (
    ConversationEvent.id,
    ConversationEvent.conversation_id,
    ConversationEvent.type,
    ConversationEvent.from_status,
    ConversationEvent.to_status,
    ConversationEvent.queue_id,
    ConversationEvent.agent_id,
    ConversationEvent.at,
    ConversationEvent.data,
    ConversationEvent.reason,
)
_MESSAGE_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Message.direction,
    Message.author_user_id,
    Message.type,
    Message.template_category,
    Message.created_at,
)


def _chunks(items: list, size: int = 2_000) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _conversations(session: AsyncSession, ids: list[int]) -> dict[int, tuple]:
    found: dict[int, tuple] = {}
    for part in _chunks(ids):
        for row in await session.execute(
            select(
                Conversation.id,
                Conversation.workspace_id,
                Conversation.phone_number_id,
                Conversation.created_at,
                Conversation.last_message_at,
            ).where(Conversation.id.in_(part))
        ):
            found[row.id] = row
    return found


async def event_deltas(
    session: AsyncSession,
    rows: list,
    context: Context,
    *,
    histories: dict[int, History] | None = None,
    keep=None,
) -> Deltas:
    """The counters added by lifecycle rows (in id order). ``histories`` carries each
    conversation's state between calls; missing ones are read back from the log before
    the first row. ``keep(at)`` filters what is counted (a report's period)."""
    deltas = Deltas()
    if not rows:
        return deltas
    histories = histories if histories is not None else {}
    ids = sorted({r.conversation_id for r in rows})
    async for row in _earlier(
        session,
        ConversationEvent,
        _EVENT_COLUMNS,
        rows,
        histories,
        History,
        ConversationEvent.type.in_((*REMEMBERED_STEPS, "overflow")),
    ):
        remember(histories[row.conversation_id], _step(row))
    conversations = await _conversations(session, ids)
    for row in rows:
        conversation = conversations.get(row.conversation_id)
        if conversation is None:
            continue
        step = _step(row)
        history = histories[row.conversation_id]
        items = step_contributions(
            step,
            history,
            context.rules(step.queue_id),
            started_at=conversation.created_at,
            last_message_at=conversation.last_message_at,
        )
        _count(deltas, conversation, items, context, keep)
        remember(history, step)
    return deltas


async def _earlier(session, model, columns, rows, states, new, *where):
    """For each conversation of ``rows`` (in id order) with no state in ``states`` yet
    (given a fresh ``new()`` one), its rows of ``model`` before its first one in
    ``rows``, in id order: what a batch starting mid-log must replay first."""
    first: dict[int, int] = {}
    for row in rows:
        first.setdefault(row.conversation_id, row.id)
    missing = [i for i in first if i not in states]
    for i in missing:
        states[i] = new()
    for part in _chunks(missing):
        before = max(first[i] for i in part)
        for row in await session.execute(
            select(*columns)
            .where(model.conversation_id.in_(part), model.id < before, *where)
            .order_by(model.id)
        ):
            if row.id < first[row.conversation_id]:
                yield row


def _count(deltas: Deltas, conversation, items, context: Context, keep) -> None:
    """Add ``items`` (of one conversation) to ``deltas``, those ``keep`` accepts."""
    for item in items:
        if keep is None or keep(item.at):
            deltas.add(
                conversation.workspace_id,
                conversation.phone_number_id,
                item,
                context.in_hours(item.queue_id, item.at),
                context.hour(conversation.workspace_id, item.at),
            )


async def message_deltas(
    session: AsyncSession,
    rows: list,
    context: Context,
    *,
    threads: dict[int, Thread] | None = None,
    keep=None,
) -> Deltas:
    """The counters added by messages (in id order); each is counted in the queue the
    conversation was in at the time, per the lifecycle log."""
    deltas = Deltas()
    if not rows:
        return deltas
    threads = threads if threads is not None else {}
    ids = sorted({r.conversation_id for r in rows})
    async for row in _earlier(session, Message, _MESSAGE_COLUMNS, rows, threads, Thread):
        message_contributions(_message(row), threads[row.conversation_id], None)
    # Where each conversation was queued over time (lifecycle rows carry the queue).
    placed: dict[int, tuple[list[datetime], list[int | None]]] = {}
    for part in _chunks(ids):
        for row in await session.execute(
            select(
                ConversationEvent.conversation_id, ConversationEvent.at, ConversationEvent.queue_id
            )
            .where(ConversationEvent.conversation_id.in_(part))
            .order_by(ConversationEvent.id)
        ):
            times, queues = placed.setdefault(row.conversation_id, ([], []))
            times.append(row.at)
            queues.append(row.queue_id)
    conversations = await _conversations(session, ids)
    for row in rows:
        conversation = conversations.get(row.conversation_id)
        if conversation is None:
            continue
        fact = _message(row)
        queue_id = None
        if row.conversation_id in placed:
            times, queues = placed[row.conversation_id]
            index = bisect_right(times, fact.at)
            queue_id = queues[index - 1] if index else None
        items = message_contributions(fact, threads[row.conversation_id], queue_id)
        _count(deltas, conversation, items, context, keep)
    return deltas


def _message(row) -> MessageFact:
    return MessageFact(
        id=row.id,
        conversation_id=row.conversation_id,
        direction=row.direction,
        author_user_id=row.author_user_id,
        type=row.type,
        template_category=row.template_category,
        at=row.created_at,
    )


@functools.lru_cache(maxsize=20_000)
def day_of(hour: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the local midnight that starts ``hour``'s day in ``zone``
    (as ``reports.local_midnight`` starts a report's period)."""
    return datetime.combine(hour.astimezone(zone).date(), time(0), tzinfo=zone).astimezone(UTC)


async def apply(session: AsyncSession, deltas: Deltas, *, sqlite: bool) -> None:
    """Add ``deltas`` to the hourly rows, their sums per queue to the per-queue rows and
    those naming an agent per local day to the per-agent rows (insert, or add to the row
    already there): one single-row upsert compiled once per table and executed for every
    key (executemany)."""
    by_queue: dict[tuple, dict[str, float]] = defaultdict(dict)
    by_agent_day: dict[tuple, dict[str, float]] = defaultdict(dict)
    zones = {
        workspace_id: zone_of(name)
        for workspace_id, name in await session.execute(select(Workspace.id, Workspace.timezone))
    }
    values = []
    for key, counts in deltas.rows.items():
        if not counts:
            continue
        row = dict(zip(KEY, key, strict=True))
        coarse = by_queue[(key[0], key[1], key[2], key[5])]
        daily = None
        if key[3]:
            day = day_of(key[1], zones.get(key[0]) or zone_of(None))
            daily = by_agent_day[(key[0], day, key[2], key[3], key[5])]
        for name in COUNTERS:
            value = counts.get(name, 0)
            row[name] = value
            if value:
                coarse[name] = coarse.get(name, 0) + value
                if daily is not None:
                    daily[name] = daily.get(name, 0) + value
        values.append(row)
    await _upsert(session, ReportHourly.__table__, KEY, values, sqlite)
    await _upsert(
        session, ReportHourlyQueue.__table__, QUEUE_KEY, _rows(QUEUE_KEY, by_queue), sqlite
    )
    await _upsert(
        session, ReportDailyAgent.__table__, DAY_KEY, _rows(DAY_KEY, by_agent_day), sqlite
    )


def _rows(key: tuple, sums: dict[tuple, dict[str, float]]) -> list[dict]:
    out = []
    for values, counts in sums.items():
        row = dict(zip(key, values, strict=True))
        for name in COUNTERS:
            row[name] = counts.get(name, 0)
        out.append(row)
    return out


@functools.cache
def _upsert_statement(table, key: tuple, sqlite: bool, counters: tuple):
    """Built once per table (building it, and its cache key, cost more than the
    statement's execution for the batches a busy stream brings)."""
    insert = sqlite_insert if sqlite else postgresql_insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[k] for k in key],
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )


async def _upsert(
    session: AsyncSession, table, key: tuple, values: list, sqlite: bool, counters=COUNTERS
) -> None:
    if not values:
        return
    statement = _upsert_statement(table, key, sqlite, counters)
    for part in _chunks(values, _UPSERT_ROWS):
        await session.execute(statement, part)


async def _cursor(session: AsyncSession, source: str, *, lock: bool) -> ReportCursor:
    query = select(ReportCursor).where(ReportCursor.source == source)
    if lock:
        query = query.with_for_update()
    cursor = await session.scalar(query)
    if cursor is None:
        cursor = ReportCursor(source=source, last_id=0)
        session.add(cursor)
        await session.flush()
    return cursor


_NEXT_XID = text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
_OPEN_XIDS = text(
    "SELECT min(backend_xid::text::bigint) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL"
)


async def horizon(session: AsyncSession) -> int:
    """A transaction id below which every transaction of this database has ended: the
    oldest one still open here, or the next to be handed out. (Read in this order, in
    two statements: a transaction starting between them gets an id above the first.
    Only this database's transactions count: another database's cannot write here, and
    ``pg_current_snapshot()``'s own xmin would wait for them too.)"""
    next_xid = await session.scalar(_NEXT_XID)
    oldest = await session.scalar(_OPEN_XIDS)
    return min(next_xid, oldest) if oldest is not None else next_xid


async def _after(session: AsyncSession, query, model, last_txid: int, last_id: int, sqlite: bool):
    """``query`` limited to the rows after the cursor that may be counted now, in order."""
    if sqlite:
        return query.where(model.id > last_id).order_by(model.id)
    below = await horizon(session)
    return query.where(
        tuple_(model.txid, model.id) > tuple_(literal(last_txid), literal(last_id)),
        model.txid < below,
    ).order_by(model.txid, model.id)


def _source(source: str):
    if source == "events":
        return ConversationEvent, _EVENT_COLUMNS, event_deltas
    return Message, _MESSAGE_COLUMNS, message_deltas


async def catch_up_once(db: Database, source: str, *, batch: int = BATCH) -> int:
    """Count the next batch of ``source`` into the rollups; the number of rows read."""
    model, columns, deltas_of = _source(source)
    async with db.write() as session:
        cursor = await _cursor(session, source, lock=not db.sqlite)
        query = select(*columns) if db.sqlite else select(*columns, model.txid)
        query = await _after(
            session, query, model, cursor.last_txid or 0, cursor.last_id, db.sqlite
        )
        rows = (await session.execute(query.limit(batch))).all()
        if not rows:
            return 0
        # Each conversation's rows in id order (PostgreSQL reads in transaction order).
        ordered = rows if db.sqlite else sorted(rows, key=lambda r: r.id)
        context = Context()
        await context.load(session)
        deltas = await deltas_of(session, ordered, context)
        await apply(session, deltas, sqlite=db.sqlite)
        cursor.last_id = rows[-1].id
        if not db.sqlite:
            cursor.last_txid = rows[-1].txid
        return len(rows)


async def pending(db: Database) -> bool:
    """Whether a source has rows after its cursor (a read: no write transaction when
    there is nothing to count)."""
    async with db.read() as session:
        cursors = {
            row.source: row
            for row in await session.execute(
                select(ReportCursor.source, ReportCursor.last_txid, ReportCursor.last_id)
            )
        }
        for source in SOURCES:
            model = _source(source)[0]
            at = cursors.get(source)
            query = await _after(
                session,
                select(model.id),
                model,
                (at.last_txid or 0) if at else 0,
                at.last_id if at else 0,
                db.sqlite,
            )
            if await session.scalar(query.limit(1)) is not None:
                return True
    return False


async def catch_up(db: Database, *, batch: int = BATCH, pause: float = 0.0) -> int:
    """Count everything not yet in the rollups; the number of rows read. ``pause``
    between batches lets other work run (SQLite's calls run on the event loop)."""
    total = 0
    for source in SOURCES:
        while True:
            read = await catch_up_once(db, source, batch=batch)
            total += read
            if read < batch:
                break
            if pause:
                await asyncio.sleep(pause)
    from madoguchi.services.reporting import occupancy

    await occupancy.catch_up(db)
    return total


async def rebuild(db: Database, *, batch: int = 20_000, progress=None) -> int:
    """Empty the rollups and count the whole raw log again (occupancy: from the first
    logged presence change)."""
    from madoguchi.services.reporting import occupancy

    async with db.write() as session:
        await session.execute(delete(ReportHourly))
        await session.execute(delete(ReportHourlyQueue))
        await session.execute(delete(ReportDailyAgent))
        await occupancy.reset(session)
        await session.execute(update(ReportCursor).values(last_id=0, last_txid=0))
    total = 0
    for source in SOURCES:
        while True:
            read = await catch_up_once(db, source, batch=batch)
            total += read
            if progress is not None:
                progress(source, total)
            if read < batch:
                break
    hours = await occupancy.catch_up(db)
    if progress is not None:
        progress("occupancy hours", hours)
    return total


class RollupWorker:
    """Keeps the rollups current: woken by lifecycle steps and messages, and every few
    seconds (rows of transactions still open on PostgreSQL, other processes' rows)."""

    def __init__(
        self, db: Database, *, sweep_seconds: float = SWEEP_SECONDS, spacing: float = 1.0
    ) -> None:
        self.db = db
        self.sweep_seconds = sweep_seconds
        self.spacing = spacing  # a burst of events is counted in one pass
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()

    def wake(self, _event=None) -> None:
        self._idle.clear()
        self._wake.set()

    async def on_event(self, _event) -> None:
        self.wake()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def run(self) -> None:
        from madoguchi.services.reporting import occupancy

        while True:
            self._wake.clear()
            try:
                # Small batches with pauses: a backlog (the first start after an
                # upgrade counts the whole history) never holds the loop for long.
                if await pending(self.db):
                    await catch_up(self.db, batch=1_000, pause=0.05)
                elif await occupancy.pending(self.db):
                    await occupancy.catch_up(self.db)
            except Exception:
                log.exception("report rollups failed")
            self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.sweep_seconds)
            await asyncio.sleep(self.spacing)
