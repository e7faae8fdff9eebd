"""What a campaign costs: estimated before it is scheduled, actual as Meta bills it.

Meta charges each delivered template by its category and the recipient's market (per
message since July 2025). The estimate counts who would be charged — the recipients still
to send, by country — for the template's category; the actual cost counts what the
status webhooks' ``pricing`` said (billable, by category and country). Until a rate
card exists in Madoguchi these are counts, not money (``amount`` stays null).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.models import Campaign, CampaignRecipient, Message, MessageTemplate


async def estimate(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """Who would be charged if the campaign went out now, by country."""
    category = None
    if campaign.template_id:
        category = await session.scalar(
            select(MessageTemplate.category).where(MessageTemplate.id == campaign.template_id)
        )
    rows = await session.execute(
        select(CampaignRecipient.country, func.count())
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state.in_(("pending", "queued")),
        )
        .group_by(CampaignRecipient.country)
        .order_by(func.count().desc())
    )
    by_country = [{"country": c or "unknown", "messages": n} for c, n in rows]
    return {
        "category": category,
        "messages": sum(r["messages"] for r in by_country),
        "by_country": by_country,
        "currency": None,
        "amount": None,
        "note": "counts by category and country: no rate card is configured yet",
    }


async def actual(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """What Meta's status webhooks said about billing for the campaign's messages."""
    billable = Message.pricing["billable"].as_boolean()
    category = Message.pricing["category"].as_string()
    rows = await session.execute(
        select(category, CampaignRecipient.country, billable, func.count())
        .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
        .where(CampaignRecipient.campaign_id == campaign_id, Message.pricing.is_not(None))
        .group_by(category, CampaignRecipient.country, billable)
    )
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for cat, country, is_billable, n in rows:
        line = lines.setdefault(
            (cat or "unknown", country or "unknown"),
            {"category": cat, "country": country or "unknown", "billable": 0, "free": 0},
        )
        line["billable" if is_billable else "free"] += n
    return {
        "billable": sum(line["billable"] for line in lines.values()),
        "free": sum(line["free"] for line in lines.values()),
        "lines": sorted(lines.values(), key=lambda line: -line["billable"]),
        "currency": None,
        "amount": None,
    }
