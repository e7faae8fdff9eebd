"""What a send will cost, before it goes: one customer, many, or the message being queued.

``estimate_recipients`` is the one entry point for "how much will this send cost?" (the
template sender, multi-recipient and campaign sends): it prices each recipient by the
rules of ``domain.pricing`` with the card in force, the recipient's market and their
service window with the number, and the month's volume so far (tiers). ``estimate_values``
prices a message about to be queued (refusing it if a hard-limit budget is spent); the
queue stores it beside the message, and the actual cost is settled later from Meta's
status webhooks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.markets import market_of, market_of_phone
from madoguchi.domain.pricing import (
    REGULAR,
    TIERED_CATEGORIES,
    Price,
    RateTable,
    SendFacts,
    from_micros,
    normalise_category,
    price_message,
    pricing_model_at,
)
from madoguchi.domain.service_window import ServiceWindow, service_window
from madoguchi.services.billing.budgets import enforce_hard_limit
from madoguchi.services.billing.errors import BillingError
from madoguchi.services.billing.rate_cards import table_in_force
from madoguchi.services.templates.catalog import find_template, get_template
from madoguchi.store.models import Contact, Conversation, MessageCost, PhoneNumber
from madoguchi.store.models.core import as_utc
from madoguchi.whatsapp.outbound import Recipient

__all__ = [
    "CostEstimate",
    "EstimateRefused",
    "MarketLine",
    "Recipient",
    "count_volume",
    "estimate_contacts",
    "estimate_recipients",
    "estimate_values",
    "price_columns",
    "recipients_of_contacts",
    "send_facts",
    "template_category",
    "windows_of",
]


@dataclass(slots=True)
class MarketLine:
    market: str | None
    recipients: int = 0
    billable: int = 0
    unpriced: int = 0
    micros: int = 0


@dataclass(slots=True)
class CostEstimate:
    """The estimated cost of sending one message of ``category`` to each recipient."""

    category: str
    pricing_model: str
    currency: str | None
    rate_card_id: int | None
    recipients: int = 0
    billable: int = 0
    free: int = 0
    unpriced: int = 0  # billable, but the card has no rate for their market (or no card)
    total_micros: int = 0
    by_market: list[MarketLine] = field(default_factory=list)

    @property
    def total(self) -> str:
        return str(from_micros(self.total_micros))

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "pricing_model": self.pricing_model,
            "currency": self.currency,
            "rate_card_id": self.rate_card_id,
            "recipients": self.recipients,
            "billable": self.billable,
            "free": self.free,
            "unpriced": self.unpriced,
            "total": self.total,
            "by_market": [
                {
                    "market": line.market,
                    "recipients": line.recipients,
                    "billable": line.billable,
                    "unpriced": line.unpriced,
                    "total": str(from_micros(line.micros)),
                }
                for line in self.by_market
            ],
        }


def _month_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def month_volumes(
    session: AsyncSession, workspace_id: int, at: datetime
) -> dict[tuple[str | None, str], int]:
    """Billable messages this calendar month (UTC) before ``at``, by market and category:
    the volume Meta's tiers count (settled costs by Meta's verdict, others by estimate)."""
    category = func.coalesce(MessageCost.actual_category, MessageCost.estimated_category)
    billable = or_(
        MessageCost.actual_billable.is_(True),
        and_(MessageCost.actual_billable.is_(None), MessageCost.estimated_billable.is_(True)),
    )
    rows = await session.execute(
        select(MessageCost.market, category, func.count())
        .where(
            MessageCost.workspace_id == workspace_id,
            MessageCost.priced_at >= _month_start(at),
            MessageCost.priced_at < at,
            billable,
            category.in_(TIERED_CATEGORIES),
        )
        .group_by(MessageCost.market, category)
    )
    return {(market, cat): count for market, cat, count in rows.all()}


class _VolumeCache:
    """Month volumes per workspace and card, re-read at most every ``ttl`` seconds and
    counted forward locally in between: queueing a campaign must not count the month's
    rows once per message. Only tiered rates need them; settlement recounts exactly."""

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self.entries: dict[int, tuple[float, tuple, dict]] = {}

    async def get(
        self, session: AsyncSession, workspace_id: int, table: RateTable | None, at: datetime
    ) -> dict:
        if table is None or all(len(tiers) < 2 for tiers in table.rates.values()):
            return {}
        # the card's identity is in the key: ids restart in a fresh database
        key = (_month_start(at), table.card_id, table.effective_from)
        entry = self.entries.get(workspace_id)
        if entry is None or entry[1] != key or time.monotonic() - entry[0] > self.ttl:
            entry = (time.monotonic(), key, await month_volumes(session, workspace_id, at))
            self.entries[workspace_id] = entry
        return entry[2]


_volumes = _VolumeCache()
UNKNOWN = "unknown"  # a template whose category the catalog does not know


async def _business_market(session: AsyncSession, phone_number_pk: int) -> str | None:
    display = await session.scalar(
        select(PhoneNumber.display_phone_number).where(PhoneNumber.id == phone_number_pk)
    )
    return market_of_phone(display)


def send_facts(
    at: datetime,
    category: str | None,
    market: str | None,
    window: ServiceWindow,
    business_market: str | None,
    volumes: dict,
) -> SendFacts:
    """What ``domain.pricing`` needs to price one send (the month's ``volumes`` so far
    by market and category, for tiers)."""
    free_entry = window.basis == "free_entry_point" and window.is_open(at)
    return SendFacts(
        at=at,
        template_category=category,
        market=market,
        window_open=window.is_open(at),
        free_entry_point_open=free_entry,
        business_market=business_market,
        monthly_volume=volumes.get((market, normalise_category(category)), 0),
    )


def count_volume(volumes: dict, market: str | None, price: Price) -> None:
    """Count a priced send forward in the month's ``volumes`` (the next one's tier)."""
    if price.billable and price.category in TIERED_CATEGORIES:
        key = (market, price.category)
        volumes[key] = volumes.get(key, 0) + 1


async def windows_of(
    session: AsyncSession, phone_number_pk: int, contact_ids: Sequence[int]
) -> dict[int, ServiceWindow]:
    """Each contact's service window with the number (over all their conversations)."""
    if not contact_ids:
        return {}
    rows = await session.execute(
        select(
            Conversation.contact_id,
            func.max(Conversation.last_inbound_at),
            func.max(Conversation.free_entry_point_at),
            func.max(Conversation.window_closed_at),
        )
        .where(
            Conversation.contact_id.in_(list(contact_ids)),
            Conversation.phone_number_id == phone_number_pk,
        )
        .group_by(Conversation.contact_id)
    )
    return {cid: service_window(*(as_utc(v) for v in values)) for cid, *values in rows.all()}


def price_columns(price: Price, at: datetime) -> dict[str, Any]:
    """A ``message_costs`` row's estimate columns for ``price`` (priced at ``at``)."""
    return {
        "rate_card_id": price.card_id,
        "currency": price.currency,
        "priced_at": at,
        "estimated_category": price.category,
        "estimated_billable": price.billable,
        "estimated_type": price.type,
        "estimated_model": price.pricing_model,
        "estimated_micros": price.micros,
    }


async def _known_contacts(
    session: AsyncSession, workspace_id: int, recipients: Sequence[Recipient]
) -> tuple[dict[str, Contact], dict[str, Contact]]:
    user_ids = [r.user_id for r in recipients if r.user_id]
    wa_ids = [r.wa_id for r in recipients if r.wa_id]
    by_user: dict[str, Contact] = {}
    by_phone: dict[str, Contact] = {}
    clauses = []
    if user_ids:
        clauses.append(Contact.user_id.in_(user_ids))
    if wa_ids:
        clauses.append(Contact.wa_id.in_(wa_ids))
    if clauses:
        for contact in await session.scalars(
            select(Contact).where(Contact.workspace_id == workspace_id, or_(*clauses))
        ):
            if contact.user_id:
                by_user[contact.user_id] = contact
            if contact.wa_id:
                by_phone[contact.wa_id] = contact
    return by_user, by_phone


async def _estimate(
    session: AsyncSession,
    workspace_id: int,
    phone_number_pk: int,
    category: str | None,
    people: list[tuple[str | None, Contact | None]],
    at: datetime,
) -> CostEstimate:
    table: RateTable | None = await table_in_force(session, workspace_id, at)
    volumes = dict(await month_volumes(session, workspace_id, at))
    business_market = await _business_market(session, phone_number_pk)
    windows = await windows_of(session, phone_number_pk, [c.id for _, c in people if c])
    closed = ServiceWindow(None)
    lines: dict[str | None, MarketLine] = {}
    result: CostEstimate | None = None
    for market, contact in people:
        window = windows.get(contact.id, closed) if contact is not None else closed
        facts = send_facts(at, category, market, window, business_market, volumes)
        price = price_message(facts, table)
        count_volume(volumes, market, price)
        if result is None:
            result = CostEstimate(
                price.category,
                price.pricing_model,
                table.currency if table else None,
                table.card_id if table else None,
            )
        line = lines.setdefault(market, MarketLine(market))
        line.recipients += 1
        result.recipients += 1
        if not price.billable:
            result.free += 1
            continue
        result.billable += 1
        line.billable += 1
        if price.micros is None:
            result.unpriced += 1
            line.unpriced += 1
        else:
            result.total_micros += price.micros
            line.micros += price.micros
    if result is None:
        price = price_message(SendFacts(at, category, None), table)
        result = CostEstimate(
            price.category,
            price.pricing_model,
            table.currency if table else None,
            table.card_id if table else None,
        )
    result.by_market = sorted(lines.values(), key=lambda line: (-line.micros, line.market or ""))
    return result


async def estimate_recipients(
    session: AsyncSession,
    workspace_id: int,
    phone_number_id: int,
    category: str | None,
    recipients: Sequence[Recipient],
    *,
    at: datetime | None = None,
) -> CostEstimate:
    """The estimated cost of sending one message of ``category`` (MARKETING, UTILITY,
    AUTHENTICATION; None for a free-form message) from the number ``phone_number_id``
    (our id, ``PhoneNumber.id``) to each recipient (phone and/or BSUID; known contacts
    are matched so their service window counts, unknown ones have none).
    """
    at = at or datetime.now(UTC)
    by_user, by_phone = await _known_contacts(session, workspace_id, recipients)
    people = []
    for recipient in recipients:
        contact = by_user.get(recipient.user_id or "") or by_phone.get(recipient.wa_id or "")
        wa_id = recipient.wa_id or (contact.wa_id if contact else None)
        user_id = recipient.user_id or (contact.user_id if contact else None)
        people.append((market_of(wa_id, user_id), contact))
    return await _estimate(session, workspace_id, phone_number_id, category, people, at)


async def recipients_of_contacts(
    session: AsyncSession, workspace_id: int, contact_ids: Sequence[int]
) -> list[Recipient]:
    """The recipients of known contacts (ids of this workspace; others are ignored)."""
    contacts = {
        c.id: c
        for c in await session.scalars(
            select(Contact).where(
                Contact.workspace_id == workspace_id, Contact.id.in_(list(contact_ids))
            )
        )
    }
    return [
        Recipient(wa_id=c.wa_id, user_id=c.user_id)
        for cid in contact_ids
        if (c := contacts.get(cid))
    ]


async def estimate_contacts(
    session: AsyncSession,
    workspace_id: int,
    phone_number_id: int,
    category: str | None,
    contact_ids: Sequence[int],
    *,
    at: datetime | None = None,
) -> CostEstimate:
    """``estimate_recipients`` for known contacts."""
    recipients = await recipients_of_contacts(session, workspace_id, contact_ids)
    return await estimate_recipients(
        session, workspace_id, phone_number_id, category, recipients, at=at
    )


async def estimate_values(
    session: AsyncSession,
    workspace_id: int,
    conversation: Conversation,
    contact: Contact,
    window: ServiceWindow,
    *,
    template_category: str | None,
    template_name: str | None,
    at: datetime,
) -> dict[str, Any]:
    """The cost row of a message about to be queued, as column values but its
    ``message_id`` (the caller adds it once the message is written, in its transaction).

    Called before anything is written, since it refuses: ``BillingError``
    (``budget_exhausted``) when a hard-limit budget would be exceeded (the price is then
    counted against the budget and the month's volume, for the next send)."""
    market = market_of(contact.wa_id, contact.user_id)
    # Most sends are free-form replies, free under per-message pricing: no card to read.
    free_form = template_name is None and pricing_model_at(at) == "PMP"
    table = None if free_form else await table_in_force(session, workspace_id, at)
    volumes = await _volumes.get(session, workspace_id, table, at)
    business_market = None  # only authentication prices depend on where the number is
    if template_category and template_category.upper() == "AUTHENTICATION":
        business_market = await _business_market(session, conversation.phone_number_id)
    if template_name is not None and template_category is None:
        # A template the catalog does not know: Meta will say what it cost.
        price = Price(
            True,
            UNKNOWN,
            pricing_model_at(at),
            REGULAR,
            None,
            table.currency if table else None,
            table.card_id if table else None,
        )
    else:
        price = price_message(
            send_facts(at, template_category, market, window, business_market, volumes), table
        )
    await enforce_hard_limit(session, workspace_id, price.micros, price.currency, at)
    count_volume(volumes, market, price)  # a refused message is not in the month's volume
    return {
        "workspace_id": workspace_id,
        "conversation_id": conversation.id,
        "phone_number_id": conversation.phone_number_id,
        "queue_id": conversation.queue_id,
        "agent_id": conversation.assigned_agent_id or conversation.started_by_user_id,
        "template_name": template_name,
        "market": market,
        **price_columns(price, at),
    }


class EstimateRefused(BillingError):
    """An estimate cannot be made as asked."""


async def template_category(
    session: AsyncSession,
    workspace_id: int,
    phone_number_pk: int,
    *,
    template_id: int | None = None,
    name: str | None = None,
    language: str | None = None,
) -> str:
    """The category of the template a send would use (as the template catalog knows it)."""
    if template_id is not None:
        row = await get_template(session, workspace_id, template_id)
    elif name and language:
        account_id = await session.scalar(
            select(PhoneNumber.account_id).where(PhoneNumber.id == phone_number_pk)
        )
        row = await find_template(session, account_id, name, language)
    else:
        raise EstimateRefused(
            "template_missing", "name the template (id, or name and language) or a category"
        )
    if row is None:
        label = f"template {template_id}" if template_id is not None else f"{name} ({language})"
        raise EstimateRefused(
            "template_unknown",
            f"{label} is not in the template catalog; sync templates or give its category",
            404,
        )
    return row.category
