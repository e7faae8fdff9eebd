"""What a campaign costs: estimated before it is scheduled, recorded per message as it is
queued, actual as Meta bills it.

The estimate prices each recipient still to send by billing's rules (``domain.pricing``:
the rate card in force, the recipient's market and service window, the month's volume
tiers), a slice of recipients per query, by their contact ids (billing's
``estimate_recipients`` matches recipients by phone or BSUID, which read the contacts
table once per slice: 51 s for 100,000). It is kept on the campaign. Each message the
worker queues gets its ``message_costs`` row in the same transaction, priced the same
way, so billing's reports and settlement from Meta's webhooks see campaign sends like
any other. The
actual cost sums those rows (Meta's verdict where it has come, else the estimate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.markets import market_of, market_of_phone
from madoguchi.domain.pricing import (
    Price,
    from_micros,
    normalise_category,
    price_message,
    pricing_model_at,
)
from madoguchi.domain.service_window import ServiceWindow
from madoguchi.services.billing.budgets import enforce_hard_limit
from madoguchi.services.billing.estimates import (
    count_volume,
    month_volumes,
    price_columns,
    send_facts,
    windows_of,
)
from madoguchi.services.billing.rate_cards import table_in_force
from madoguchi.store.bulk import bulk_insert
from madoguchi.store.models import (
    Campaign,
    CampaignRecipient,
    MessageCost,
    MessageTemplate,
    PhoneNumber,
)

SLICE = 5_000
FRESH = timedelta(hours=1)
VOLUME_TTL = 30.0


class _Pricer:
    """Prices a campaign's sends by ``domain.pricing`` with the card in force, the number's
    country, each customer's market and service window, and the month's volume (counted
    forward as it prices): the estimate and the per-send records share it."""

    def __init__(self, campaign: Campaign, category: str | None, at: datetime) -> None:
        self.campaign = campaign
        self.category = category
        self.at = at
        self.table = None
        self.volumes: dict = {}
        self.business_market: str | None = None

    async def load(self, session: AsyncSession, volumes: dict | None = None) -> _Pricer:
        self.table = await table_in_force(session, self.campaign.workspace_id, self.at)
        if volumes is None:
            volumes = dict(await month_volumes(session, self.campaign.workspace_id, self.at))
        self.volumes = volumes
        display = await session.scalar(
            select(PhoneNumber.display_phone_number).where(
                PhoneNumber.id == self.campaign.phone_number_id
            )
        )
        self.business_market = market_of_phone(display)
        return self

    @property
    def currency(self) -> str | None:
        return self.table.currency if self.table else None

    def price(self, market: str | None, window: ServiceWindow) -> Price:
        facts = send_facts(
            self.at, self.category, market, window, self.business_market, self.volumes
        )
        price = price_message(facts, self.table)
        count_volume(self.volumes, market, price)
        return price


CLOSED = ServiceWindow(None)


async def estimate(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """The estimated cost of sending to everyone still to send (money when a rate card
    is in force, counts by market otherwise), read a slice of recipients at a time."""
    category = None
    if campaign.template_id:
        category = await session.scalar(
            select(MessageTemplate.category).where(MessageTemplate.id == campaign.template_id)
        )
    pricer = await _Pricer(campaign, category, datetime.now(UTC)).load(session)
    markets: dict[str | None, dict[str, Any]] = {}
    totals = {"recipients": 0, "billable": 0, "free": 0, "unpriced": 0, "micros": 0}
    billed_as = normalise_category(category)
    after = 0
    while True:
        rows = (
            await session.execute(
                select(
                    CampaignRecipient.id,
                    CampaignRecipient.contact_id,
                    CampaignRecipient.wa_id,
                    CampaignRecipient.user_id,
                )
                .where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.state == "pending",
                    CampaignRecipient.id > after,
                )
                .order_by(CampaignRecipient.id)
                .limit(SLICE)
            )
        ).all()
        if not rows:
            break
        windows = await windows_of(session, campaign.phone_number_id, [r.contact_id for r in rows])
        for row in rows:
            market = market_of(row.wa_id, row.user_id)
            price = pricer.price(market, windows.get(row.contact_id, CLOSED))
            billed_as = price.category
            line = markets.setdefault(
                market,
                {"market": market, "recipients": 0, "billable": 0, "unpriced": 0, "micros": 0},
            )
            line["recipients"] += 1
            totals["recipients"] += 1
            if not price.billable:
                totals["free"] += 1
                continue
            for into in (line, totals):
                into["billable"] += 1
                if price.micros is None:
                    into["unpriced"] += 1
                else:
                    into["micros"] += price.micros
        after = rows[-1].id
    by_market = sorted(markets.values(), key=lambda m: (-m["recipients"], m["market"] or ""))
    for line in by_market:
        line["total"] = _amount(line.pop("micros"))
    return {
        "category": billed_as,
        "pricing_model": pricing_model_at(pricer.at),
        "currency": pricer.currency,
        "rate_card_id": pricer.table.card_id if pricer.table else None,
        "recipients": totals["recipients"],
        "billable": totals["billable"],
        "free": totals["free"],
        "unpriced": totals["unpriced"],
        "total": _amount(totals["micros"]),
        "by_market": by_market,
        "messages": totals["recipients"],
        "taken_at": pricer.at.isoformat(),
    }


def is_fresh(estimate: dict[str, Any] | None, now: datetime) -> bool:
    """An estimate taken within ``FRESH`` (the audience only changes by an import, which
    takes a new one)."""
    if not estimate or not estimate.get("taken_at"):
        return False
    return now - datetime.fromisoformat(estimate["taken_at"]) < FRESH


def _amount(micros: int) -> str:
    return format(from_micros(micros), "f")


# ----------------------------------------------------------------------------- per send


@dataclass(slots=True)
class Priced:
    message_id: int
    conversation_id: int
    wa_id: str | None
    user_id: str | None
    window: ServiceWindow


class _Volumes:
    """The month's billable volume per workspace, re-read every ``VOLUME_TTL`` seconds and
    counted forward in between (a slice per query, not a query per send)."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[float, str, dict]] = {}

    async def get(self, session: AsyncSession, workspace_id: int, at: datetime) -> dict:
        month = at.strftime("%Y-%m")
        entry = self.entries.get(workspace_id)
        if entry is None or entry[1] != month or time.monotonic() - entry[0] > VOLUME_TTL:
            entry = (time.monotonic(), month, dict(await month_volumes(session, workspace_id, at)))
            self.entries[workspace_id] = entry
        return entry[2]


_volumes = _Volumes()


async def record_slice(
    session: AsyncSession,
    campaign: Campaign,
    category: str,
    template_name: str,
    sends: Sequence[Priced],
    at: datetime,
) -> None:
    """A ``message_costs`` row for each send of a slice (in the caller's transaction);
    ``BillingError`` when the slice would spend past a hard-limit budget."""
    if not sends:
        return
    volumes = await _volumes.get(session, campaign.workspace_id, at)
    pricer = await _Pricer(campaign, category, at).load(session, volumes)
    rows = []
    for send in sends:
        market = market_of(send.wa_id, send.user_id)
        price = pricer.price(market, send.window)
        rows.append(
            {
                "workspace_id": campaign.workspace_id,
                "message_id": send.message_id,
                "conversation_id": send.conversation_id,
                "phone_number_id": campaign.phone_number_id,
                "queue_id": None,
                "agent_id": campaign.created_by_user_id,
                "template_name": template_name,
                "market": market,
                **price_columns(price, at),
            }
        )
    # The slice as a whole against a hard-limit budget (BillingError: nothing is queued).
    await enforce_hard_limit(
        session,
        campaign.workspace_id,
        sum(r["estimated_micros"] or 0 for r in rows),
        pricer.currency,
        at,
    )
    await bulk_insert(session, MessageCost.__table__, rows, skip_conflicts=False)


async def actual(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """The campaign's cost so far: Meta's verdict where it came (settled), the estimate
    for sends not settled yet; by market."""
    billable = func.coalesce(MessageCost.actual_billable, MessageCost.estimated_billable)
    micros = func.coalesce(MessageCost.actual_micros, MessageCost.estimated_micros, 0)
    rows = await session.execute(
        select(
            MessageCost.market,
            MessageCost.currency,
            func.count(),
            func.sum(case((billable.is_(True), 1), else_=0)),
            func.sum(micros),
            func.count(MessageCost.settled_at),
        )
        .join(CampaignRecipient, CampaignRecipient.message_id == MessageCost.message_id)
        .where(CampaignRecipient.campaign_id == campaign_id)
        .group_by(MessageCost.market, MessageCost.currency)
    )
    lines = []
    currency = None
    for market, cur, n, n_billable, total, settled in rows:
        currency = currency or cur
        lines.append(
            {
                "market": market,
                "messages": n,
                "billable": int(n_billable or 0),
                "settled": settled,
                "total": _amount(int(total or 0)),
                "micros": int(total or 0),
            }
        )
    total_micros = sum(line.pop("micros") for line in lines)
    return {
        "messages": sum(line["messages"] for line in lines),
        "billable": sum(line["billable"] for line in lines),
        "settled": sum(line["settled"] for line in lines),
        "currency": currency,
        "total": _amount(total_micros),
        "by_market": sorted(lines, key=lambda line: -line["messages"]),
    }
