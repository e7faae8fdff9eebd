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
    """Settle up to ``limit`` costs whose message was delivered or failed; how many."""
    now = now or datetime.now(UTC)
    query = (
        select(MessageCost, Message)
        .join(Message, Message.id == MessageCost.message_id)
        .where(
            MessageCost.settled_at.is_(None),
            or_(Message.status.in_(SETTLED_STATUSES), Message.status == Status.FAILED),
        )
        .order_by(MessageCost.id)
        .limit(limit)
    )
    if workspace_id is not None:
        query = query.where(MessageCost.workspace_id == workspace_id)
    rows = (await session.execute(query)).all()
    cards = _Cards(session)
    for cost, message in rows:
        await _settle(session, cost, message, now, cards)
    return len(rows)


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


async def _settle(
    session: AsyncSession, cost: MessageCost, message: Message, now, cards: _Cards
) -> None:
    cost.settled_at = now
    if not message.pricing:
        if message.status == Status.FAILED:
            cost.settlement = "failed"
            cost.actual_billable = False
            cost.actual_category = cost.estimated_category
            cost.actual_micros = 0
        else:  # delivered, but Meta sent no pricing: the estimate stands
            cost.settlement = "no_pricing"
            cost.actual_billable = cost.estimated_billable
            cost.actual_category = cost.estimated_category
            cost.actual_micros = cost.estimated_micros
        cost.actual_type = cost.estimated_type
        cost.actual_model = cost.estimated_model
        return
    sent_at = message.timestamp or cost.priced_at
    table = await cards.table_at(cost.workspace_id, sent_at)
    volume = 0
    category = str(message.pricing.get("category") or "").lower()
    if table is not None and category in TIERED_CATEGORIES:
        tiers = table.rates.get((cost.market or "*", category)) or []
        if len(tiers) > 1:  # only a tiered rate needs the month's volume
            volumes = await month_volumes(session, cost.workspace_id, cost.priced_at)
            volume = volumes.get((cost.market, category), 0)
    price = price_from_meta(message.pricing, cost.market, table, volume)
    cost.settlement = "delivered" if message.status != Status.FAILED else "failed"
    cost.actual_billable = price.billable and message.status != Status.FAILED
    cost.actual_category = price.category
    cost.actual_type = price.type
    cost.actual_model = price.pricing_model
    cost.actual_micros = price.micros if cost.actual_billable else 0
    if cost.currency is None and table is not None:
        cost.currency = table.currency
        cost.rate_card_id = table.card_id


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
