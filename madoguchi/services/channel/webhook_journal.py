"""The webhook journal: commit a delivery's bytes, answer Meta, then process it.

Meta wants a fast 200 and redelivers anything slow or failed; Madoguchi must never lose
what it acknowledged. Both hold when the acknowledgement waits only for the delivery's
raw bytes to be committed (``Journal``, group-committed: a burst of N deliveries costs
one short transaction), and turning those bytes into contacts, conversations and
messages (``services.channel.ingest``) happens right after, from the committed rows
(``DeliveryProcessor``). A crash in between loses nothing: pending rows are processed
when the process comes back. A delivery whose processing keeps failing is retried with
backoff and then marked ``failed`` with its error, kept for an operator to see.

The processor never holds the database's write side for long (SQLite has one writer,
and the journal's appends wait behind it): it works in slices of a few milliseconds and,
between them, waits until every webhook that arrived meanwhile has been committed and
answered, and under a heavy stream it rests in proportion to its work: acknowledgements
come first, the backlog is worked off in the lulls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from madoguchi.domain.events import Event
from madoguchi.services.channel.ingest import (
    IngestResult,
    NotForBatch,
    attach_early_statuses,
    ingest_delivery_row,
    ingest_message_deliveries,
    ingest_status_deliveries,
    message_only,
    status_only,
)
from madoguchi.services.channel.journal_claim import claim_pending, keys_of_row
from madoguchi.services.channel.journal_inbox import Inbox
from madoguchi.store.db import Database
from madoguchi.store.models import RejectedUpdateRecord, WebhookDelivery
from madoguchi.store.models.core import utcnow
from madoguchi.store.pg_bell import RING_JOURNAL
from madoguchi.whatsapp.updates import parse_delivery

log = logging.getLogger(__name__)

PENDING, DONE, FAILED = "pending", "done", "failed"
STATUSES, MESSAGES = "statuses", "messages"  # the kinds of deliveries ingested together
EARLY_STATUS_MINUTES = 10  # how far back the sweep looks for statuses that came too early
# A unit of deliveries ingested together holds at most about this many updates: Meta
# groups up to 100 statuses in a delivery, and 32 such deliveries in one unit were one
# write transaction of ~3,000 statuses, holding SQLite's writer (an agent's reply being
# queued, claimed, recorded) and the event loop for a third of a second and more. The
# slice's deadline is checked between units only.
UNIT_UPDATES = 200


_APPEND = insert(WebhookDelivery.__table__).returning(
    WebhookDelivery.__table__.c.id, sort_by_parameter_order=True
)

# SQLite: the append as plain SQL on a plain connection (``Database.sqlite_write``), every
# column given the value its model default gives (SQLAlchemy's defaults are Python-side),
# the timestamp in the exact form the column type stores.
_SQLITE_APPEND = (
    "INSERT INTO webhook_deliveries (body, update_count, unrouted_count, received_at,"
    " customer_key, state, attempts, messages_stored, duplicates)"
    " VALUES (?, ?, 0, ?, ?, 'pending', 0, 0, 0)"
)
_SQLITE_TIME = WebhookDelivery.__table__.c.received_at.type.bind_processor(sqlite_dialect())


# body, update count, the caller's future, customer key
_Queued = tuple[bytes, int, "asyncio.Future[int]", "str | None"]


class Journal:
    """Appends deliveries; each caller waits for the commit that holds its row."""

    def __init__(
        self,
        db: Database,
        metrics=None,
        max_batch: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self._clock = clock  # seconds, for the arrival rate
        self.metrics = metrics
        self.max_batch = max_batch
        self.on_commit: Callable[[], None] | None = None
        # Told when deliveries start waiting for their commit (True) and when none does
        # any more (False): the split layout's processor, in another process, gives way.
        self.on_busy: Callable[[bool], None] | None = None
        # The split layout on SQLite: appends go to the inbox, a file of their own that no
        # processing transaction locks (``journal_inbox``); the processor moves them here.
        self.inbox: Inbox | None = None
        self._second = 0  # the whole monotonic second being counted
        self._this_second = 0
        self._last_second = 0
        self._queue: list[_Queued] = []
        self._writer: asyncio.Task | None = None
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def append(self, body: bytes, update_count: int, customer_key: str | None = None) -> int:
        """Commit one delivery's bytes (and whose it is: ``journal_claim.customer_key``);
        its journal id once committed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._count_arrival()
        self._queue.append((body, update_count, future, customer_key))
        if self._quiet.is_set():
            self._quiet.clear()
            if self.on_busy is not None:
                self.on_busy(True)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        return await future

    def _count_arrival(self) -> None:
        second = int(self._clock())
        if second != self._second:
            self._last_second = self._this_second if second == self._second + 1 else 0
            self._this_second = 0
            self._second = second
        self._this_second += 1

    def arrival_rate(self) -> float:
        """Deliveries per second recently (the last whole second, or this one if higher)."""
        second = int(self._clock())
        if second == self._second:
            return float(max(self._last_second, self._this_second))
        if second == self._second + 1:
            return float(self._this_second)
        return 0.0

    @property
    def busy(self) -> bool:
        """Some delivery is waiting for its commit (and so Meta for its 200)."""
        return not self._quiet.is_set()

    async def quiet(self) -> None:
        """Until no delivery is waiting for its commit."""
        await self._quiet.wait()

    async def _write_batches(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._commit(batch)
        finally:
            if not self._queue:
                self._quiet.set()
                if self.on_busy is not None:
                    self.on_busy(False)

    async def _commit(self, batch: list[_Queued]) -> None:
        # The columns' own defaults fill the rest (state pending, counters 0, received_at).
        try:
            if self.inbox is not None:
                ids = await self.inbox.append(
                    [(body, count, key) for body, count, _, key in batch], _SQLITE_TIME(utcnow())
                )
            elif self.db.sqlite_write_available:
                ids = await self._commit_sqlite(batch)
            else:
                rows = [
                    {"body": body, "update_count": count, "customer_key": key}
                    for body, count, _, key in batch
                ]
                async with self.db.write() as session:
                    connection = await session.connection()  # Core: no ORM bulk machinery
                    result = await connection.execute(_APPEND, rows)
                    ids = list(result.scalars())
                    # Other processes' processors hear of the rows at the commit.
                    await connection.execute(RING_JOURNAL)
        except Exception as exc:  # nothing in the batch is stored: every caller hears so
            log.exception("committing %d webhook deliveries failed", len(batch))
            for _, _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if self.metrics is not None:
            self.metrics.ingest_batch_size.observe(len(batch))
        for (_, _, future, _), delivery_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(delivery_id)
        if self.on_commit is not None:
            self.on_commit()
        if self.inbox is not None:
            try:
                await self.inbox.trim_if_due()
            except Exception:  # the moved rows stay a little longer; nothing is lost
                log.exception("trimming the journal's inbox failed")

    async def _commit_sqlite(self, batch: list[_Queued]) -> list:
        """One transaction of plain inserts: a fraction of the CPU of a SQLAlchemy session
        (the per-commit cost set the acknowledgement rate when batches are small)."""
        received_at = _SQLITE_TIME(utcnow())
        ids = []
        async with self.db.sqlite_write() as conn:
            cursor = conn.cursor()
            for body, count, _, key in batch:
                cursor.execute(_SQLITE_APPEND, (body, count, received_at, key))
                ids.append(cursor.lastrowid)
        return ids

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self.inbox is not None:
            self.inbox.close()


@dataclass
class ProcessorPolicy:
    """How the processor shares the process and how it treats failures."""

    # A slice's work and the rest after it are counted in CPU time of the event loop's
    # thread: on SQLite (calls inline on that thread) that is the slice's time, while on
    # PostgreSQL a slice mostly waits for the server, letting the loop serve others, and
    # resting in proportion to that wait held flows to a third of their pace.
    slice_seconds: float = 0.015
    # A slice that follows one which left rows behind (a backlog) may run this many
    # times as long. Between two slices every other task of the process has a turn, so
    # with a fixed slice the processor's share of the loop does not grow with its
    # backlog: beside a campaign's sending (a child process, 1,000 sends/s) it kept the
    # statuses about a second behind, and the campaign was held back for it.
    behind_factor: float = 1.0
    # Between slices the processor lets requests that arrived meanwhile reach the journal
    # (a few turns of the event loop) and waits while any is waiting for its commit — for
    # at most ack_wait_seconds: under a burst the journal is never quiet for long, and
    # waiting for quiet stopped processing until the burst was over.
    settle_turns: int = 3
    ack_wait_seconds: float = 0.05
    # Under a heavy inbound stream (busy_rate deliveries/s or more) it also rests
    # yield_factor times as long as the slice took, so acknowledgements keep at least
    # half of the loop; below that rate a stream is processed as it comes. (It was 12:
    # processing then had a thirteenth of the loop, and a burst's backlog waited for
    # the lulls.)
    busy_rate: float = 100.0
    yield_factor: float = 1.0
    claim: int = 64  # rows claimed per slice (processed until the slice is used up)
    # Status-only deliveries, and message-only deliveries, ingested together (up to this
    # many in one unit); a slice that found only such rows claims this many next time.
    batch: int = 64
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    # Idle, look again this often: for due retries, and (PostgreSQL) for rows whose ring
    # (store.pg_bell) was missed.
    sweep_seconds: float = 1.0
    # After a slice that took every row there was (fewer than its claim), wait this long
    # before the next: a slice costs ~10 ms of CPU whatever it holds (the claim, the
    # commit, each event handler's reads once per batch), so a stream taken as it comes,
    # a few rows a slice, cost 2-4 ms per message against ~0.7 in full slices. 0: take
    # each row at once (one process, where the acknowledgements' waits batch it).
    gather_seconds: float = 0.0


class DeliveryProcessor:
    """Processes pending journal rows in id order and publishes what they caused."""

    def __init__(
        self,
        db: Database,
        publish: Callable[[Sequence[Event]], Awaitable[None]],
        policy: ProcessorPolicy | None = None,
        acknowledgements_done: Callable[[], Awaitable[None]] | None = None,
        arrival_rate: Callable[[], float] | None = None,
    ) -> None:
        self.db = db
        self.publish = publish
        self.acknowledgements_done = acknowledgements_done
        self.arrival_rate = arrival_rate or (lambda: 0.0)
        self.policy = policy or ProcessorPolicy()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set by run() once it finds nothing to do
        self._claim = self.policy.claim
        self._caught_up = False  # the last slice claimed fewer rows than it could
        self._behind = False  # the last slice left rows pending (claimed or not)
        self._rejected: dict[int, list] = {}  # delivery id -> its updates that did not parse
        # Before each slice: bring in rows appended elsewhere (the inbox's, journal_inbox).
        self.feed: Callable[[], Awaitable[int]] | None = None

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        swept = time.monotonic()
        while True:
            if time.monotonic() - swept >= self.policy.sweep_seconds:
                swept = time.monotonic()
                try:
                    await self.attach_early_statuses()
                except Exception:
                    log.exception("attaching early statuses failed")
            self._wake.clear()
            started = time.thread_time()
            try:
                processed = await self.process_slice()
            except Exception:  # the database is away: try again after the sweep delay
                log.exception("processing webhook deliveries failed")
                processed = 0
            if processed:
                await asyncio.sleep(self._rest(time.thread_time() - started))
                await self._let_acknowledgements_through()
                if self._caught_up and self.policy.gather_seconds:
                    # Rows arrive as a stream and this slice took all of them: let the
                    # next ones gather (a first row after a lull is taken at once).
                    await asyncio.sleep(self.policy.gather_seconds)
                continue
            if self._wake.is_set():
                # Woken while the slice claimed (a row committed, a ring heard): what
                # woke it may not have been visible to that claim. Not idle: look again.
                continue
            self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.sweep_seconds)

    async def attach_early_statuses(self) -> int:
        """Statuses that arrived before their send's wamid was stored, applied now."""
        since = utcnow() - timedelta(minutes=EARLY_STATUS_MINUTES)
        async with self.db.write() as session:
            events = await attach_early_statuses(session, since=since)
        for event in events:
            await self.publish([event])
        return len(events)

    def _rest(self, worked: float) -> float:
        """0 under a light stream; else a rest in proportion to the work done."""
        if self.arrival_rate() < self.policy.busy_rate:
            return 0
        return worked * self.policy.yield_factor

    async def _let_acknowledgements_through(self) -> None:
        """Let webhooks that arrived during the slice be read and committed first."""
        for _ in range(self.policy.settle_turns):
            await asyncio.sleep(0)
        if self.acknowledgements_done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.acknowledgements_done(), self.policy.ack_wait_seconds)

    async def wait_idle(self) -> None:
        """Until nothing pending is left that this process knows of (tests, shutdown)."""
        await self._idle.wait()

    async def select_rows(self, session, limit: int) -> Sequence[WebhookDelivery]:
        """The pending rows this slice takes, in id order (``journal_claim``: on
        PostgreSQL one customer's rows by one process at a time)."""
        return await claim_pending(session, sqlite=self.db.sqlite, limit=limit, now=utcnow())

    async def process_slice(self) -> int:
        """Process pending rows for up to one slice; how many were handled."""
        policy = self.policy
        events: list[Event] = []
        handled = 0
        claim = self._claim
        if self.feed is not None:
            await self.feed()
        async with self.db.write() as session:
            rows = await self.select_rows(session, claim)
            budget = policy.slice_seconds * (policy.behind_factor if self._behind else 1.0)
            deadline = time.thread_time() + budget
            batched = 0
            held: set[str] = set()  # customers whose row failed: their later rows wait
            for kind, unit in _units(rows, policy.batch, self._rejected):
                if handled and time.thread_time() > deadline:
                    break
                handled += len(unit)
                unheld = not any(held.intersection(keys_of_row(row)) for row, _ in unit)
                if (
                    kind is not None
                    and unheld
                    and await self._process_batch(session, kind, unit, events)
                ):
                    batched += len(unit)
                    continue
                for row, updates in unit:
                    if held.intersection(keys_of_row(row)):
                        continue  # stays pending, behind its customer's retry
                    try:
                        result = await self._process(session, row, updates)
                    except Exception as exc:
                        await self._failed(session, row, exc)
                        held.update(keys_of_row(row))
                        continue
                    events.extend(result.events)
            if not self.db.sqlite and handled and (len(rows) >= claim or handled < len(rows)):
                # Rows are left (beyond this claim, or claimed but not reached): at the
                # commit, other processes that found their customers held look again.
                await session.execute(RING_JOURNAL)
        self._caught_up = len(rows) < claim and handled == len(rows)
        self._behind = bool(rows) and not self._caught_up
        self._claim = policy.batch if rows and batched == len(rows) else policy.claim
        if events:  # together: handlers subscribed for many read once for all of them
            await self.publish(events)
        return handled

    async def _process(self, session, row: WebhookDelivery, updates: list | None) -> IngestResult:
        if updates is None:  # unparsable: raise the parser's error to be recorded
            updates = parse_delivery(json.loads(row.body))
        result = await ingest_delivery_row(session, row, updates)
        _done(row)
        rejected = self._rejected.pop(row.id, [])
        for item in rejected:
            session.add(
                RejectedUpdateRecord(
                    delivery_id=row.id,
                    workspace_id=row.workspace_id,
                    path=item.path[:200],
                    reason=item.reason,
                    raw=json.dumps(item.raw, ensure_ascii=False).encode(),
                )
            )
        if rejected:
            row.last_error = f"{len(rejected)} update(s) rejected: {rejected[0].reason}"[:2000]
            log.warning("webhook delivery %s: %s", row.id, row.last_error)
        return result

    async def _process_batch(self, session, kind: str, unit: list, events: list[Event]) -> bool:
        """Deliveries of one kind (status-only, message-only) together; False (nothing
        changed) if that failed, and the caller goes through them one at a time, so one
        bad row fails alone."""
        ingest_many = ingest_status_deliveries if kind == STATUSES else ingest_message_deliveries
        try:
            async with session.begin_nested():
                results = await ingest_many(session, unit)
        except Exception as exc:
            level = logging.DEBUG if isinstance(exc, NotForBatch) else logging.INFO
            log.log(level, "%d %s deliveries go one at a time: %s", len(unit), kind, exc)
            for row, _ in unit:  # the savepoint's rollback expired what the batch had set
                await session.refresh(row)
            return False
        for (row, _), result in zip(unit, results, strict=True):
            _done(row)
            events.extend(result.events)
        return True

    async def _failed(self, session, row: WebhookDelivery, exc: Exception) -> None:
        policy = self.policy
        await session.refresh(row)  # the savepoint's rollback expired what it had set
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= policy.max_attempts:
            row.state = FAILED
            row.processed_at = utcnow()
            log.error(
                "webhook delivery %s failed %d times and is kept as failed: %s",
                row.id,
                row.attempts,
                row.last_error,
            )
        else:
            delay = policy.retry_base_seconds * 2 ** (row.attempts - 1)
            row.next_attempt_at = utcnow() + timedelta(seconds=delay)
            log.warning(
                "webhook delivery %s failed (attempt %d), retrying in %.0f s: %s",
                row.id,
                row.attempts,
                delay,
                row.last_error,
            )


def _done(row: WebhookDelivery) -> None:
    row.state = DONE
    row.processed_at = utcnow()
    row.attempts += 1
    row.last_error = None


def _kind(updates: list | None, bad: list) -> str | None:
    if updates is None or bad:
        return None
    if status_only(updates):
        return STATUSES
    if message_only(updates):
        return MESSAGES
    return None


def _units(
    rows: Sequence[WebhookDelivery],
    batch: int,
    rejected: dict | None = None,
    max_updates: int = UNIT_UPDATES,
) -> Iterator[tuple[str | None, list[tuple]]]:
    """Rows in id order as units of work: runs of status-only deliveries and runs of
    message-only deliveries (up to ``batch`` each, holding no more than ``max_updates``
    updates unless one delivery alone has more) together, any other delivery alone,
    each unit with its kind (None: alone). Each row comes with its parsed updates, or
    None when it does not parse (the endpoint parsed the bytes before committing them,
    so that means a parser change since: reported as a failure).

    Lazy: a row is parsed only when the unit it belongs to is asked for (a slice that
    stops early does not parse the other rows it claimed)."""
    run: list[tuple] = []
    run_kind: str | None = None
    run_updates = 0
    for row in rows:
        bad: list = []
        try:
            updates = parse_delivery(json.loads(row.body), bad)
        except Exception:
            updates = None
        if bad and rejected is not None:
            rejected[row.id] = bad  # stored beside the row by _process: it goes alone
        kind = _kind(updates, bad)
        size = len(updates or ())
        if run and (kind != run_kind or len(run) == batch or run_updates + size > max_updates):
            yield (run_kind if len(run) > 1 else None), run
            run, run_updates = [], 0
        if kind is None:
            yield None, [(row, updates)]
            continue
        run_kind = kind
        run.append((row, updates))
        run_updates += size
    if run:
        yield (run_kind if len(run) > 1 else None), run


@dataclass(frozen=True)
class DeliverySummary:
    id: int
    state: str
    received_at: str
    attempts: int
    update_count: int
    messages_stored: int
    workspace_id: int | None
    last_error: str | None


async def list_deliveries(db: Database, state: str | None, limit: int) -> list[DeliverySummary]:
    """The newest journal rows, optionally of one state (for ``madoguchi deliveries``)."""
    if state is not None and state not in (PENDING, DONE, FAILED):
        raise ValueError(f"state must be one of {PENDING}, {DONE}, {FAILED}; got {state!r}")
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    async with db.read() as session:
        return [
            DeliverySummary(
                id=row.id,
                state=row.state,
                received_at=row.received_at.isoformat(timespec="seconds"),
                attempts=row.attempts,
                update_count=row.update_count,
                messages_stored=row.messages_stored,
                workspace_id=row.workspace_id,
                last_error=row.last_error,
            )
            for row in await session.scalars(query)
        ]


async def list_rejected(db: Database, limit: int) -> list[RejectedUpdateRecord]:
    """The newest updates that did not parse (for ``madoguchi deliveries rejected``)."""
    async with db.read() as session:
        query = select(RejectedUpdateRecord).order_by(RejectedUpdateRecord.id.desc())
        return list((await session.scalars(query.limit(limit))).all())


async def retry_deliveries(db: Database, ids: Sequence[int]) -> list[int]:
    """Put failed deliveries, and deliveries with rejected updates, back to pending (after
    a fix); the ids that were. Processing is idempotent: what was stored stays once."""
    async with db.write() as session:
        with_rejected = select(RejectedUpdateRecord.delivery_id).where(
            RejectedUpdateRecord.delivery_id.in_(ids)
        )
        rows = (
            await session.scalars(
                select(WebhookDelivery).where(
                    WebhookDelivery.id.in_(ids),
                    or_(WebhookDelivery.state == FAILED, WebhookDelivery.id.in_(with_rejected)),
                )
            )
        ).all()
        await session.execute(
            delete(RejectedUpdateRecord).where(
                RejectedUpdateRecord.delivery_id.in_([row.id for row in rows])
            )
        )
        for row in rows:
            row.state = PENDING
            row.attempts = 0
            row.next_attempt_at = None
            row.processed_at = None
        return sorted(row.id for row in rows)
