"""Settle what messages actually cost, from what Meta's status webhooks said.

The ingest already keeps each message's ``pricing`` object (billable, category, pricing
model, type) as statuses arrive; settling turns it into an amount at the rate of the card
in force when the message was sent, beside the estimate made when it was queued. It runs
in batches off the webhook path (woken by status events, and on a slow timer), so a burst
of statuses costs the ingest nothing. A message is settled once delivered (Meta charges
delivered messages) or failed (nothing charged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.message_status import MessageStatus as Status
from madoguchi.domain.pricing import TIERED_CATEGORIES, RateTable, price_from_meta
from madoguchi.services.billing.estimates import month_volumes
from madoguchi.services.billing.rate_cards import table_of
from madoguchi.store.bulk import bulk_update
from madoguchi.store.db import Database
from madoguchi.store.models import Message, MessageCost, RateCard
from madoguchi.store.models.core import as_utc

log = logging.getLogger(__name__)

SETTLED_STATUSES = (Status.DELIVERED, Status.READ)
BATCH = 500


async def settle_costs(
    session: AsyncSession,
    workspace_id: int | None = None,
    *,
    limit: int = BATCH,
    now: datetime | None = None,
) -> int:
    """Settle up to ``limit`` costs whose message was delivered or failed; how many.

    Read and written with plain statements (no ORM objects): a campaign settles a
    thousand messages a second, and loading each message whole (its content and other
    JSON columns decoded) and flushing each cost one UPDATE at a time were part of the
    ORM loading, JSON decoding and unit-of-work flushes that stood out in the processing
    process's profile at that pace."""
    now = now or datetime.now(UTC)
    c = MessageCost
    query = (
        select(
            c.id, c.workspace_id, c.market, c.priced_at, c.currency,
            c.estimated_category, c.estimated_billable, c.estimated_type,
            c.estimated_model, c.estimated_micros,
            Message.pricing, Message.status, Message.timestamp,
        )
        .join(Message, Message.id == c.message_id)
        .where(
            c.settled_at.is_(None),
            or_(Message.status.in_(SETTLED_STATUSES), Message.status == Status.FAILED),
        )
        .order_by(c.id)
        .limit(limit)
    )  # fmt: skip
    if workspace_id is not None:
        query = query.where(c.workspace_id == workspace_id)
    rows = (await session.execute(query)).all()
    cards = _Cards(session)
    written = _Settled(session)
    for row in rows:
        written.add(row.id, await _settle(session, row, now, cards, written))
    await written.flush()
    return len(rows)


class _Settled:
    """Settled costs waiting to be written: one executemany per set of columns."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._rows: dict[tuple[str, ...], list[dict]] = {}

    def add(self, cost_id: int, values: dict) -> None:
        self._rows.setdefault(tuple(values), []).append({"id": cost_id, **values})

    async def flush(self) -> None:
        """Write what is waiting (before a query that counts settled costs, too)."""
        rows, self._rows = self._rows, {}
        for part in rows.values():
            await bulk_update(self.session, MessageCost.__table__, part)


class _Cards:
    """The rate card in force at a time, from each workspace's cards read once per batch
    (``table_in_force`` is a query each: one per settled message, every campaign send,
    was most of settling's time)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._by_workspace: dict[int, list[RateCard]] = {}

    async def table_at(self, workspace_id: int, at: datetime) -> RateTable | None:
        cards = self._by_workspace.get(workspace_id)
        if cards is None:
            cards = self._by_workspace[workspace_id] = list(
                await self.session.scalars(
                    select(RateCard)
                    .where(RateCard.workspace_id == workspace_id)
                    .order_by(RateCard.effective_from.desc(), RateCard.id.desc())
                )
            )
        at = as_utc(at)
        for card in cards:  # the latest effective by then, as table_in_force picks it
            if as_utc(card.effective_from) <= at:
                return await table_of(self.session, card)
        return None


async def _settle(session: AsyncSession, row, now, cards: _Cards, written: _Settled) -> dict:
    """What one cost's row becomes once settled (``row``: the cost's columns and its
    message's pricing, status and send time)."""
    if not row.pricing:
        if row.status == Status.FAILED:
            settled = {
                "settlement": "failed",
                "actual_billable": False,
                "actual_category": row.estimated_category,
                "actual_micros": 0,
            }
        else:  # delivered, but Meta sent no pricing: the estimate stands
            settled = {
                "settlement": "no_pricing",
                "actual_billable": row.estimated_billable,
                "actual_category": row.estimated_category,
                "actual_micros": row.estimated_micros,
            }
        return {
            "settled_at": now,
            **settled,
            "actual_type": row.estimated_type,
            "actual_model": row.estimated_model,
        }
    sent_at = row.timestamp or row.priced_at
    table = await cards.table_at(row.workspace_id, sent_at)
    volume = 0
    category = str(row.pricing.get("category") or "").lower()
    if table is not None and category in TIERED_CATEGORIES:
        tiers = table.rates.get((row.market or "*", category)) or []
        if len(tiers) > 1:  # only a tiered rate needs the month's volume
            await written.flush()  # the costs settled before this one count
            volumes = await month_volumes(session, row.workspace_id, row.priced_at)
            volume = volumes.get((row.market, category), 0)
    price = price_from_meta(row.pricing, row.market, table, volume)
    billable = price.billable and row.status != Status.FAILED
    settled = {
        "settled_at": now,
        "settlement": "delivered" if row.status != Status.FAILED else "failed",
        "actual_billable": billable,
        "actual_category": price.category,
        "actual_type": price.type,
        "actual_model": price.pricing_model,
        "actual_micros": price.micros if billable else 0,
    }
    if row.currency is None and table is not None:
        settled |= {"currency": table.currency, "rate_card_id": table.card_id}
    return settled


AfterSettle = Callable[[], Awaitable[None]]


class CostSettler:
    """Settles costs in the background: woken by status events (several statuses make
    one batch), and every ``interval`` seconds in case a wake-up was missed."""

    def __init__(
        self, db: Database, *, interval: float = 30.0, after: AfterSettle | None = None
    ) -> None:
        self.db = db
        self.interval = interval
        self.after = after
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def settle_all(self) -> int:
        total = 0
        while True:
            async with self.db.write() as session:
                done = await settle_costs(session)
            total += done
            if done < BATCH:
                return total

    async def run(self) -> None:
        while True:
            try:
                await self.settle_all()
                if self.after is not None:
                    await self.after()
            except Exception:
                log.exception("settling message costs failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            await asyncio.sleep(0.5)  # let a burst of statuses gather into one batch
