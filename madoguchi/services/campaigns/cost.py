"""What a campaign costs: estimated before it is scheduled, recorded per message as it is
queued, actual as Meta bills it.

The estimate is billing's (``billing.estimates.estimate_recipients``: the rate card in
force, each recipient's market and service window, the month's volume tiers), taken in
slices so a 100,000-customer audience never sends 100,000 parameters in one query, and
kept on the campaign. Each message the worker queues gets its ``message_costs`` row in
the same transaction, priced by the same rules (``domain.pricing``), so billing's
reports and settlement from Meta's webhooks see campaign sends like any other. The
actual cost sums those rows (Meta's verdict where it has come, else the estimate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.markets import market_of, market_of_phone
from madoguchi.domain.pricing import (
    TIERED_CATEGORIES,
    SendFacts,
    from_micros,
    normalise_category,
    price_message,
)
from madoguchi.domain.service_window import ServiceWindow
from madoguchi.services.billing.estimates import (
    CostEstimate,
    MarketLine,
    Recipient,
    estimate_recipients,
    month_volumes,
)
from madoguchi.services.billing.rate_cards import table_in_force
from madoguchi.store.models import (
    Campaign,
    CampaignRecipient,
    MessageCost,
    MessageTemplate,
    PhoneNumber,
)

SLICE = 5_000
VOLUME_TTL = 30.0


async def estimate(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """The estimated cost of sending to everyone still to send (money when a rate card
    is in force, counts by market otherwise)."""
    category = None
    if campaign.template_id:
        category = await session.scalar(
            select(MessageTemplate.category).where(MessageTemplate.id == campaign.template_id)
        )
    total: CostEstimate | None = None
    markets: dict[str | None, MarketLine] = {}
    after = 0
    while True:
        rows = (
            await session.execute(
                select(CampaignRecipient.id, CampaignRecipient.wa_id, CampaignRecipient.user_id)
                .where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.state == "pending",
                    CampaignRecipient.id > after,
                )
                .order_by(CampaignRecipient.id)
                .limit(SLICE)
            )
        ).all()
        if not rows and total is not None:
            break
        part = await estimate_recipients(
            session,
            campaign.workspace_id,
            campaign.phone_number_id,
            category,
            [Recipient(wa_id=r.wa_id, user_id=r.user_id) for r in rows],
        )
        total = part if total is None else _add(total, part)
        for line in part.by_market:
            into = markets.setdefault(line.market, MarketLine(line.market))
            into.recipients += line.recipients
            into.billable += line.billable
            into.unpriced += line.unpriced
            into.micros += line.micros
        if not rows:
            break
        after = rows[-1].id
    assert total is not None
    total.by_market = sorted(markets.values(), key=lambda m: (-m.recipients, m.market or ""))
    out = total.to_dict()
    # Plain decimals (billing's str() of a normalised Decimal can read "4E+1").
    out["total"] = _amount(total.total_micros)
    for line, market in zip(out["by_market"], total.by_market, strict=True):
        line["total"] = _amount(market.micros)
    out["messages"] = total.recipients
    out["taken_at"] = datetime.now(UTC).isoformat()
    return out


def _amount(micros: int) -> str:
    return format(from_micros(micros), "f")


def _add(total: CostEstimate, part: CostEstimate) -> CostEstimate:
    total.recipients += part.recipients
    total.billable += part.billable
    total.free += part.free
    total.unpriced += part.unpriced
    total.total_micros += part.total_micros
    return total


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
    """A ``message_costs`` row for each send of a slice (in the caller's transaction)."""
    if not sends:
        return
    table = await table_in_force(session, campaign.workspace_id, at)
    volumes = await _volumes.get(session, campaign.workspace_id, at)
    display = await session.scalar(
        select(PhoneNumber.display_phone_number).where(PhoneNumber.id == campaign.phone_number_id)
    )
    business_market = market_of_phone(display)
    rows = []
    for send in sends:
        market = market_of(send.wa_id, send.user_id)
        facts = SendFacts(
            at=at,
            template_category=category,
            market=market,
            window_open=send.window.is_open(at),
            free_entry_point_open=send.window.basis == "free_entry_point"
            and send.window.is_open(at),
            business_market=business_market,
            monthly_volume=volumes.get((market, normalise_category(category)), 0),
        )
        price = price_message(facts, table)
        if price.billable and price.category in TIERED_CATEGORIES:
            volumes[(market, price.category)] = volumes.get((market, price.category), 0) + 1
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
                "rate_card_id": price.card_id,
                "currency": price.currency,
                "priced_at": at,
                "estimated_category": price.category,
                "estimated_billable": price.billable,
                "estimated_type": price.type,
                "estimated_model": price.pricing_model,
                "estimated_micros": price.micros,
            }
        )
    await session.execute(insert(MessageCost), rows)


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
