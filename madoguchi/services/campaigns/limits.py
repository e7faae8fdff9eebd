"""A number's messaging limit: how many customers a campaign may still reach today.

Meta caps the unique customers a number starts business-initiated conversations with in
any rolling 24 hours, by tier (``TIER_250``, ``TIER_1K``, ``TIER_10K``, ``TIER_100K``,
``TIER_UNLIMITED``), raised as quality and volume allow. The tier is read from Meta
(``GET /{phone-number-id}?fields=messaging_limit_tier``) when a campaign is scheduled
and before it sends; when Meta cannot be asked, the last tier read is used, or the
``MADOGUCHI_CAMPAIGN_MESSAGING_LIMIT`` setting.

What counts against it here: the unique customers reached from the number in the last
24 hours by a template: campaign recipients queued, and customers sent another template
(an agent's own, a flow's, one sent through the API) outside their customer service
window who were no campaign's recipient meanwhile (each customer once). Meta's own count
is the final word and refuses beyond it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.pricing import FREE_CUSTOMER_SERVICE
from madoguchi.security.secrets import SecretBox
from madoguchi.store.db import Database
from madoguchi.store.models import (
    CampaignRecipient,
    Conversation,
    MessageCost,
    MessagingLimit,
    PhoneNumber,
)
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.graph import GraphClient

log = logging.getLogger(__name__)

DAY = timedelta(hours=24)
_TIER = re.compile(r"^TIER_(\d+)(K|M)?$")


def tier_per_day(tier: str) -> int | None:
    """Customers per 24 h of a tier name; None for unlimited. ValueError if unknown."""
    name = tier.strip().upper()
    if name in ("TIER_UNLIMITED", "UNLIMITED"):
        return None
    match = _TIER.match(name)
    if match is None:
        raise ValueError(
            f"{tier!r} is not a messaging limit tier (TIER_250, TIER_1K, TIER_10K, "
            "TIER_100K or TIER_UNLIMITED)"
        )
    scale = {"K": 1_000, "M": 1_000_000}.get(match.group(2) or "", 1)
    return int(match.group(1)) * scale


@dataclass(frozen=True, slots=True)
class LimitStatus:
    tier: str
    per_day: int | None
    used: int  # customers reached in the last 24 h
    source: str
    by_agents: int = 0  # of ``used``: reached by an agent's own template, no campaign's

    @property
    def remaining(self) -> int | None:
        return None if self.per_day is None else max(0, self.per_day - self.used)

    def as_dict(self) -> dict:
        return {
            "tier": self.tier,
            "per_day": self.per_day,
            "used_last_24h": self.used,
            "used_by_agents_last_24h": self.by_agents,
            "remaining_today": self.remaining,
            "source": self.source,
        }


async def used_last_day(session: AsyncSession, number_pk: int, now: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                CampaignRecipient.phone_number_id == number_pk,
                CampaignRecipient.queued_at > now - DAY,
            )
        )
        or 0
    )


async def agents_used_last_day(session: AsyncSession, number_pk: int, now: datetime) -> int:
    """Customers reached from the number in the last 24 hours by a template that was no
    campaign's (an agent's own, or one sent through the API) outside their service window,
    and not a campaign's recipient on the number meanwhile (they are counted there).

    Read from the messages' cost rows, which know the template, the number and whether
    the customer's window was open (``free_customer_service``); a failed send is not
    counted."""
    since = now - DAY
    workspace_id = await session.scalar(
        select(PhoneNumber.workspace_id).where(PhoneNumber.id == number_pk)
    )
    campaign_message = exists().where(CampaignRecipient.message_id == MessageCost.message_id)
    contacts = set(
        await session.scalars(
            select(Conversation.contact_id)
            .distinct()
            .select_from(MessageCost)
            .join(Conversation, Conversation.id == MessageCost.conversation_id)
            .where(
                MessageCost.workspace_id == workspace_id,
                MessageCost.priced_at > since,
                MessageCost.phone_number_id == number_pk,
                MessageCost.template_name.is_not(None),
                MessageCost.estimated_type != FREE_CUSTOMER_SERVICE,
                or_(MessageCost.settlement.is_(None), MessageCost.settlement != "failed"),
                ~campaign_message,
            )
        )
    )
    if not contacts:
        return 0
    by_campaigns = set(
        await session.scalars(
            select(CampaignRecipient.contact_id).where(
                CampaignRecipient.phone_number_id == number_pk,
                CampaignRecipient.queued_at > since,
                CampaignRecipient.contact_id.in_(contacts),
            )
        )
    )
    return len(contacts - by_campaigns)


async def next_room_at(session: AsyncSession, number_pk: int, now: datetime) -> datetime | None:
    """When the oldest send of the last 24 h leaves the window (room opens again)."""
    oldest = await session.scalar(
        select(func.min(CampaignRecipient.queued_at)).where(
            CampaignRecipient.phone_number_id == number_pk,
            CampaignRecipient.queued_at > now - DAY,
        )
    )
    if oldest is None:
        return None
    if isinstance(oldest, str):  # SQLite aggregates skip the column type
        oldest = datetime.fromisoformat(oldest)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return oldest + DAY


async def limit_status(
    session: AsyncSession,
    number_pk: int,
    now: datetime,
    default_tier: str,
    *,
    by_agents: int | None = None,
) -> LimitStatus:
    """The number's tier and what is left of it today; ``by_agents`` when the caller
    already knows it (the campaign worker reads it less often than it feeds)."""
    row = await session.scalar(
        select(MessagingLimit).where(MessagingLimit.phone_number_id == number_pk)
    )
    tier, source = (default_tier, "setting") if row is None else (row.tier, row.source)
    per_day = tier_per_day(tier) if row is None else row.per_day
    # Unlimited: nothing to count against (the counts read a day of sends).
    if per_day is None:
        return LimitStatus(tier, per_day, 0, source)
    if by_agents is None:
        by_agents = await agents_used_last_day(session, number_pk, now)
    used = await used_last_day(session, number_pk, now) + by_agents
    return LimitStatus(tier, per_day, used, source, by_agents)


async def refresh_tier(
    db: Database, graph: GraphClient, secrets: SecretBox, number_pk: int
) -> str | None:
    """Ask Meta for the number's tier and keep it; None (and the old tier kept) on failure."""
    async with db.read() as session:
        number = await session.get(PhoneNumber, number_pk)
        if number is None:
            return None
        pnid, token_box = number.phone_number_id, number.access_token_encrypted
        workspace_id = number.workspace_id
    try:
        data = await graph.get_phone_number(
            pnid, secrets.decrypt(token_box), fields="messaging_limit_tier"
        )
        tier = str(data.get("messaging_limit_tier") or "")
        per_day = tier_per_day(tier)
    except (MetaApiError, GraphTransportError, ValueError) as exc:
        log.warning("number %s: messaging limit tier not read from Meta: %s", pnid, exc)
        return None
    async with db.write() as session:
        row = await session.scalar(
            select(MessagingLimit).where(MessagingLimit.phone_number_id == number_pk)
        )
        if row is None:
            row = MessagingLimit(workspace_id=workspace_id, phone_number_id=number_pk)
            session.add(row)
        row.tier, row.per_day, row.source = tier, per_day, "meta"
    return tier
