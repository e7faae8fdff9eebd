"""The sender: turns committed outbox rows into Graph API calls, within Meta's limits.

- Priority: within a number, rows go by ``priority`` (0 for agents and flows, more for
  campaigns) and then in id order; campaign rows never fill the last ``RESERVE`` of a
  number's sends in flight (and less while the event loop is late or the webhook
  journal behind: ``lag_pacer``), and an agent's row goes to the head of the number's
  send window, and its outcome is
  committed on its own ahead of campaign rows accepted at the same time, so an agent's
  reply never waits behind a broadcast's backlog (nor behind a campaign's outcomes being
  committed: agents' outcomes have a recorder of their own). On SQLite the claim that follows a
  newly queued message and the commits of agents' outcomes are urgent writes: served
  before the campaign feeder's slices and the status batches waiting for the one writer.
- Claiming: due rows are moved to ``sending`` in a short transaction (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL, so several processes never claim the same row; SQLite has a
  single claimer by construction). Each number has its own share of sends in flight and
  is claimed for separately, so a long backlog on a slow number never holds up another
  number's sends. Only about a second's worth of sends is claimed at a time, so a crash
  leaves few rows in doubt.
- In flight means waiting for the number's send window or for Meta's answer: a row that
  has its answer leaves the number's share at once, before its outcome is committed, so
  the pace of SQLite's single writer (shared with the campaign feeder and the status
  webhooks) never sets the pace of sending. Outcomes waiting for their commit are bounded
  too: while a number has a share's worth of them, no more of its campaign rows are
  claimed (the database catches up first; agents' rows still are).
- Limits: each number has a moving-window limiter (never more than its rate in any one
  second, the way Meta counts); each recipient is paced against the pair rate limit;
  messages to one recipient leave in order.
- Outcomes: a wamid is stored and the message moves to ``accepted``; a retryable Meta
  error (130429, 131056, 5xx, network before a response) goes back to ``pending`` with
  exponential backoff and jitter; a final error fails the message with a sentence for the
  agent. An ambiguous outcome (the request may have reached Meta) is never retried: a
  duplicate to a customer is worse than a visible "may not have been sent".
- A row left in ``sending`` by a dead process is failed as ambiguous after its lease.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import exists, select, update

from madoguchi.domain.events import Event, MessageStatusChanged
from madoguchi.domain.message_status import MessageStatus as Status
from madoguchi.keyed_locks import KeyedLocks
from madoguchi.services.channel.ingest import attach_early_statuses
from madoguchi.services.channel.lag_pacer import LagPacer
from madoguchi.services.channel.pair_windows import PairWindows
from madoguchi.services.channel.send_window import SendWindow
from madoguchi.store.bulk import bulk_update
from madoguchi.store.models import Message, OutboxEntry, PhoneNumber, WebhookDelivery
from madoguchi.store.models.core import as_utc
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError

if TYPE_CHECKING:
    from madoguchi.metrics import Metrics
    from madoguchi.security.secrets import SecretBox
    from madoguchi.store.db import Database
    from madoguchi.whatsapp.graph import GraphClient

Publish = Callable[[list[Event]], Awaitable[None]]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
LEASE = timedelta(minutes=2)
POLL_SECONDS = 1.0
DEFAULT_RATE = 80  # messages/s, Meta's default throughput for a number
MIN_SHARE = 32
# The part of a number's share that rows of lower priority (campaigns) never take.
RESERVE = 0.25
AMBIGUOUS_MESSAGE = (
    "The connection to WhatsApp broke while sending; the message may or may not have been "
    "delivered, so it was not sent again. Check with the customer before resending."
)


def backoff_seconds(attempt: int, suggested: float | None = None) -> float:
    """Exponential backoff with full jitter, starting from Meta's suggested delay."""
    base = suggested or BASE_BACKOFF_SECONDS
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1))
    return random.uniform(base, max(base, ceiling))


@dataclass(slots=True)
class _Claimed:
    outbox_id: int
    message_id: int
    workspace_id: int
    conversation_id: int
    number_id: int
    phone_number_id: str
    token: str
    recipient_key: str
    body: dict
    attempts: int
    priority: int = 0
    released: bool = False  # out of the number's share (Meta answered, or never sent)


class _Windows:
    """The send windows of every number, and the pace of every (number, recipient) pair."""

    def __init__(self) -> None:
        self._numbers: dict[int, SendWindow] = {}
        self.pairs = PairWindows()

    def number(self, number_id: int, per_second: int) -> SendWindow:
        window = self._numbers.get(number_id)
        if window is None or window.limit != per_second:
            window = self._numbers[number_id] = SendWindow(per_second)
        return window


class Sender:
    """Sends due outbox rows, each number with its own share of rows in flight.

    A number's share is a quarter of a second of its rate (at least ``MIN_SHARE``): a
    claimed row waits for the number's send window, then for Meta's answer, then for its
    outcome to be committed, and the share must cover all three or it, not the rate
    limit, sets the pace (a fixed 64 held a 1,000/s number to 640/s at 100 ms per row).
    Rows waiting for the window have not been sent: on a clean stop they go back to
    ``pending``.
    """

    def __init__(
        self,
        db: Database,
        graph: GraphClient,
        secrets: SecretBox,
        metrics: Metrics,
        publish: Publish,
        *,
        backoff_scale: float = 1.0,
    ) -> None:
        self.db = db
        self.graph = graph
        self.secrets = secrets
        self.metrics = metrics
        self.publish = publish
        self.backoff_scale = backoff_scale  # tests shorten Meta's suggested delays
        self._wake = asyncio.Event()
        self._windows = _Windows()
        # A recipient's lock and how many sends hold or wait for it (dropped at none: a
        # campaign's 100,000 recipients left 100,000 locks behind).
        self._recipient_locks = KeyedLocks()
        self._rates: dict[int, int] = {}
        self._in_flight: dict[int, int] = defaultdict(int)
        self._background: dict[int, int] = defaultdict(int)  # of which priority > 0
        # Answered by Meta, outcome not committed yet (out of the share, see the module doc).
        self._recording: dict[int, int] = defaultdict(int)
        self._held_back: set[int] = set()  # numbers not claimed for while they catch up
        self.pacer = LagPacer()
        self._tokens: dict[tuple[int, str], str] = {}
        # Accepted sends waiting for their commit, and the task committing them: agents'
        # and flows' (True) apart from campaigns' (False), see ``_record_success``.
        self._accepted: dict[bool, list[tuple[_Claimed, str, asyncio.Future]]] = {
            True: [],
            False: [],
        }
        self._recorders: dict[bool, asyncio.Task | None] = {True: None, False: None}
        self._tasks: set[asyncio.Task] = set()
        self._dispatched: set[int] = set()  # outbox ids whose Graph call has started
        self._handed_back: list[int] = []  # claimed, stopped before their Graph call
        self._urgent = False  # a message was queued by a person or a flow: claim first

    def wake(self, *, urgent: bool = True) -> None:
        """Claim now; ``urgent`` (someone queued a message, the default) makes the claim
        an urgent write. The sender's own wakes and the campaign feeder's are not."""
        if urgent:
            self._urgent = True
        self._wake.set()

    async def run(self) -> None:
        await self.recover(startup=True)
        watcher = asyncio.create_task(self.pacer.watch(self.journal_lag))
        try:
            await self._claim_loop()
        finally:
            watcher.cancel()

    async def journal_lag(self) -> float:
        """How long the webhook journal's oldest delivery waiting for its first processing
        has waited (seconds; 0 when none does): the campaigns' pace follows it
        (``lag_pacer``). One seek in the journal's pending index."""
        async with self.db.read() as session:
            oldest = await session.scalar(
                select(WebhookDelivery.received_at)
                .where(WebhookDelivery.state == "pending", WebhookDelivery.attempts == 0)
                .order_by(WebhookDelivery.id)
                .limit(1)
            )
        if oldest is None:
            return 0.0
        return max(0.0, (datetime.now(UTC) - as_utc(oldest)).total_seconds())

    async def _claim_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                claimed = await self.claim()
            except Exception:
                log.exception("claiming outbox rows failed")
                claimed = []
            for row in claimed:
                task = asyncio.create_task(self._send_and_release(row))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if claimed:
                await asyncio.sleep(0)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                await self.recover(startup=False)

    async def drain(self) -> None:
        """Send everything due now and wait for the outcomes (used by the CLI and tests)."""
        while True:
            claimed = await self.claim()
            if not claimed:
                if not self._tasks:
                    break
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                continue
            await asyncio.gather(*(self._send_and_release(row) for row in claimed))

    async def _send_and_release(self, row: _Claimed) -> None:
        try:
            await self.send(row)
        except asyncio.CancelledError:
            if row.outbox_id not in self._dispatched:
                self._handed_back.append(row.outbox_id)
            raise
        finally:
            self._dispatched.discard(row.outbox_id)
            self._release(row)

    def _release(self, row: _Claimed) -> None:
        """The row leaves its number's share (once): Meta has answered, or it never
        went. Wakes the claimer when a batch fits again (not on every completion: at
        1,000 sends/s a claim per completion was a write transaction per send)."""
        if row.released:
            return
        row.released = True
        self._in_flight[row.number_id] -= 1
        if row.priority > 0:
            self._background[row.number_id] -= 1
        room = self._room(row.number_id)
        batch = self._batch(row.number_id)
        if room == batch or not self._in_flight[row.number_id]:
            self.wake(urgent=False)
        elif row.priority > 0:
            cap = self._cap(row.number_id)
            if cap - self._background[row.number_id] == min(batch, cap):
                self.wake(urgent=False)  # room for a batch of a campaign's rows again

    async def stop(self) -> int:
        """Stop the sends in flight (the claim loop is the runtime's task) and hand the
        rows that never reached Meta back to ``pending``; a row whose call had started
        stays ``sending`` and is failed as "outcome unknown" by the next start.
        Returns how many rows went back."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        recorders = [task for task in self._recorders.values() if task is not None]
        await asyncio.gather(*recorders, return_exceptions=True)
        ids, self._handed_back = self._handed_back, []
        if ids:
            async with self.db.write() as session:
                await session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.id.in_(ids), OutboxEntry.state == "sending")
                    .values(state="pending", claimed_at=None, attempts=OutboxEntry.attempts - 1)
                )
        return len(ids)

    async def recover(self, *, startup: bool) -> int:
        """Fail rows stuck in ``sending`` whose claimer is gone (their outcome is unknown)."""
        cutoff = datetime.now(UTC) - (timedelta(0) if startup and self.db.sqlite else LEASE)
        async with self.db.write() as session:
            stuck = (
                await session.scalars(
                    select(OutboxEntry).where(
                        OutboxEntry.state == "sending", OutboxEntry.claimed_at <= cutoff
                    )
                )
            ).all()
            events: list[Event] = []
            for row in stuck:
                row.state, row.last_error = "failed", "interrupted mid-send (outcome unknown)"
                row.finished_at = datetime.now(UTC)
                events.append(
                    await self._fail_message(session, row.message_id, None, AMBIGUOUS_MESSAGE)
                )
        if events:
            await self.publish(events)
        return len(stuck)

    def share(self, number_id: int) -> int:
        """How many of a number's rows may be claimed at once (see the class docstring)."""
        return max(MIN_SHARE, self._rates.get(number_id, DEFAULT_RATE) // 4)

    def _batch(self, number_id: int) -> int:
        """The smallest useful claim for a number: a quarter of its share."""
        return max(1, self.share(number_id) // 4)

    def _room(self, number_id: int) -> int:
        return self.share(number_id) - self._in_flight[number_id]

    async def claim(self) -> list[_Claimed]:
        """Claim due rows, for each number as many as it has room for in flight.

        A number is claimed for only when a useful batch fits (a quarter of its share),
        so a stream of single completions does not cost a claim each.
        """
        now = datetime.now(UTC)
        due = (OutboxEntry.state == "pending", OutboxEntry.next_attempt_at <= now)
        urgent, self._urgent = self._urgent, False
        async with self.db.write(urgent=urgent) as session:
            # The numbers with a due row: a seek per number in ix_outbox_number_pending
            # (a DISTINCT over the outbox read the whole backlog on every claim).
            numbers = (
                await session.scalars(
                    select(PhoneNumber.id).where(
                        exists().where(OutboxEntry.phone_number_id == PhoneNumber.id, *due)
                    )
                )
            ).all()
            claimed: list[_Claimed] = []
            for number_id in numbers:
                room = self._room(number_id)
                if room < self._batch(number_id) and self._in_flight[number_id]:
                    continue
                if room <= 0:
                    continue
                claimed += await self._claim_for(session, number_id, room, now, due)
        return claimed

    async def _claim_for(self, session, number_id: int, room: int, now: datetime, due) -> list:
        rows = (
            await session.execute(
                select(
                    OutboxEntry.id,
                    OutboxEntry.message_id,
                    OutboxEntry.workspace_id,
                    OutboxEntry.recipient_key,
                    OutboxEntry.body,
                    OutboxEntry.attempts,
                    OutboxEntry.priority,
                    Message.conversation_id,
                )
                .join(Message, Message.id == OutboxEntry.message_id)
                .where(OutboxEntry.phone_number_id == number_id, *due)
                .order_by(OutboxEntry.priority, OutboxEntry.id)
                .limit(room)
                .with_for_update(skip_locked=True, of=OutboxEntry)
            )
        ).all()
        rows = self._within_reserve(number_id, rows)
        if not rows:
            return []
        await session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_([r.id for r in rows]))
            .values(state="sending", claimed_at=now, attempts=OutboxEntry.attempts + 1)
        )
        number = await session.get(PhoneNumber, number_id)
        self._rates[number_id] = number.rate_limit_per_second
        token = self._token(number)
        self._in_flight[number_id] += len(rows)
        return [
            _Claimed(
                outbox_id=r.id,
                message_id=r.message_id,
                workspace_id=r.workspace_id,
                conversation_id=r.conversation_id,
                number_id=number_id,
                phone_number_id=number.phone_number_id,
                token=token,
                recipient_key=r.recipient_key,
                body=r.body,
                attempts=r.attempts + 1,
                priority=r.priority,
            )
            for r in rows
        ]

    def _cap(self, number_id: int) -> int:
        """How many rows of lower priority a number may have in flight: never the last
        ``RESERVE`` of its share, and less while the event loop is late (``LagPacer``);
        none while a share's worth of its outcomes wait for their commit."""
        share = self.share(number_id)
        if self._recording[number_id] >= share:
            self._held_back.add(number_id)
            return 0
        return self.pacer.part(share - int(share * RESERVE))

    def _within_reserve(self, number_id: int, rows: list) -> list:
        """Rows of lower priority (campaigns) fill at most ``1 - RESERVE`` of the number's
        share: the rest stays free for an agent's reply, claimed the moment it is queued."""
        cap = self._cap(number_id)
        background = self._background[number_id]
        kept = []
        for row in rows:
            if row.priority > 0:
                if background >= cap:
                    continue
                background += 1
            kept.append(row)
        self._background[number_id] = background
        return kept

    def _token(self, number: PhoneNumber) -> str:
        """The number's access token, decrypted once per stored ciphertext."""
        key = (number.id, number.access_token_encrypted)
        token = self._tokens.get(key)
        if token is None:
            self._tokens = {k: v for k, v in self._tokens.items() if k[0] != number.id}
            token = self._tokens[key] = self.secrets.decrypt(number.access_token_encrypted)
        return token

    async def send(self, row: _Claimed) -> str:
        """Send one claimed row and record the outcome; returns the row's new state.

        The send windows and the recipient's lock are held for the Graph call only: the
        outcome is written after they are released, so the database write never eats
        into a number's rate.
        """
        pair = (row.number_id, row.recipient_key)
        number = self._windows.number(row.number_id, self._rates.get(row.number_id, DEFAULT_RATE))
        failure: MetaApiError | GraphTransportError | None = None
        async with self._recipient_turn(pair):
            wait = self._windows.pairs.wait_seconds(pair, time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with number.slot(first=not row.priority):
                    self._dispatched.add(row.outbox_id)
                    try:
                        sent = await self.graph.send_message(
                            row.phone_number_id, row.token, row.body
                        )
                    except (MetaApiError, GraphTransportError) as exc:
                        failure = exc
            finally:
                if row.outbox_id in self._dispatched:  # it may have reached Meta: it counts
                    self._windows.pairs.ended(pair, time.monotonic())
        self._release(row)
        self._recording[row.number_id] += 1
        try:
            return await self._record(row, failure, sent if failure is None else None)
        finally:
            self._recording[row.number_id] -= 1
            if (
                row.number_id in self._held_back
                and self._recording[row.number_id] <= self.share(row.number_id) // 2
            ):
                self._held_back.discard(row.number_id)
                self.wake(urgent=False)  # the database caught up: campaign rows again

    def _recipient_turn(self, pair: tuple[int, str]):
        """The recipient's lock: messages to one recipient leave one at a time, in order."""
        return self._recipient_locks.hold(pair)

    async def _record(self, row: _Claimed, failure, sent) -> str:
        """Commit the outcome of one answered (or failed) send; returns the row's state."""
        if isinstance(failure, MetaApiError):
            return await self._record_error(
                row, failure.retryable, failure.code, failure.agent_message, failure
            )
        if isinstance(failure, GraphTransportError):
            if failure.ambiguous:
                return await self._record_error(row, False, None, AMBIGUOUS_MESSAGE, failure)
            return await self._record_error(row, True, None, failure.agent_message, failure)
        return await self._record_success(row, sent.wamid)

    async def _record_success(self, row: _Claimed, wamid: str) -> str:
        """Record an accepted send; accepted sends arriving together share one commit.

        Agents' and flows' sends have a recorder of their own: an agent's reply is not done
        until it is recorded, and must not wait for a campaign's batch that is itself
        waiting for SQLite's writer; its commit is an urgent write, served before the
        campaign's batch (PostgreSQL commits both at once)."""
        urgent = not row.priority
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._accepted[urgent].append((row, wamid, future))
        recorder = self._recorders[urgent]
        if recorder is None or recorder.done():
            self._recorders[urgent] = asyncio.create_task(self._record_accepted(urgent))
        return await future

    async def _record_accepted(self, urgent: bool) -> None:
        while self._accepted[urgent]:
            batch, self._accepted[urgent] = self._accepted[urgent], []
            try:
                events = await self._commit_accepted(batch)
            except Exception as exc:
                log.exception("recording %d accepted sends failed", len(batch))
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.metrics.sends.labels("accepted").inc(len(batch))
            await self.publish(events)
            for _, _, future in batch:
                if not future.done():
                    future.set_result("done")

    async def _commit_accepted(self, batch: list[tuple[_Claimed, str, asyncio.Future]]) -> list:
        now = datetime.now(UTC)
        events: list[Event] = []
        urgent = any(not row.priority for row, _, _ in batch)
        async with self.db.write(urgent=urgent) as session:
            # Updates by primary key, one executemany per table for the whole batch, with
            # plain statements (the ORM's bulk update was a few percent of a campaign).
            await bulk_update(
                session,
                OutboxEntry.__table__,
                [
                    {"id": row.outbox_id, "state": "done", "finished_at": now, "last_error": None}
                    for row, _, _ in batch
                ],
            )
            await bulk_update(
                session,
                Message.__table__,
                [
                    {
                        "id": row.message_id,
                        "wamid": wamid,
                        "status": Status.ACCEPTED,
                        "status_updated_at": now,
                    }
                    for row, wamid, _ in batch
                ],
            )
            events += [
                MessageStatusChanged(
                    workspace_id=row.workspace_id,
                    conversation_id=row.conversation_id,
                    message_id=row.message_id,
                    status=Status.ACCEPTED,
                    error_code=None,
                    error_message=None,
                )
                for row, _, _ in batch
            ]
            # Status webhooks can overtake the send's own response: apply any already here.
            events += await attach_early_statuses(session, wamids=[w for _, w, _ in batch])
        return events

    async def _record_error(
        self, row: _Claimed, retryable: bool, code: int | None, agent_message: str, exc: Exception
    ) -> str:
        now = datetime.now(UTC)
        retry = retryable and row.attempts < MAX_ATTEMPTS
        events: list[Event] = []
        async with self.db.write(urgent=not row.priority) as session:
            entry = await session.get(OutboxEntry, row.outbox_id)
            entry.last_error = f"{type(exc).__name__}: {exc}"
            if retry:
                delay = self.backoff_scale * backoff_seconds(
                    row.attempts, getattr(exc, "suggested_delay", None)
                )
                entry.state = "pending"
                entry.next_attempt_at = now + timedelta(seconds=delay)
            else:
                entry.state, entry.finished_at = "failed", now
                events.append(
                    await self._fail_message(session, row.message_id, code, agent_message)
                )
        self.metrics.sends.labels("retry" if retry else "failed").inc()
        if events:
            await self.publish(events)
        elif retry:
            asyncio.get_running_loop().call_later(
                (entry.next_attempt_at - now).total_seconds(), partial(self.wake, urgent=False)
            )
        return entry.state

    async def _fail_message(
        self, session, message_id: int, code: int | None, agent_message: str
    ) -> MessageStatusChanged:
        message = await session.get(Message, message_id)
        message.status = Status.FAILED
        message.status_updated_at = datetime.now(UTC)
        message.error_code = code
        message.error_message = agent_message
        return _status_event(message)


def _status_event(message: Message) -> MessageStatusChanged:
    return MessageStatusChanged(
        workspace_id=message.workspace_id,
        conversation_id=message.conversation_id,
        message_id=message.id,
        status=message.status,
        error_code=message.error_code,
        error_message=message.error_message,
    )
