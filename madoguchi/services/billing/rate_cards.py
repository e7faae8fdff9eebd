"""Rate cards: versions of a workspace's prices, each in force from its effective date.

A card is never changed once written: an admin "edits" prices by adding a new card that
takes effect at a date (which may be now), so the messages priced by the old card keep
their price. A card not yet in force may be deleted. Because cards never change, the
rates of a card are cached per process by id (the sender prices every queued message).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.pricing import ANY_MARKET, CATEGORIES, TIERED_CATEGORIES, RateTable
from madoguchi.services.billing.errors import BillingError
from madoguchi.services.billing.rate_sheet import SheetRate, market_code
from madoguchi.store.models import RateCard, RateCardRate

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CACHE: OrderedDict[tuple[int, datetime], RateTable] = OrderedDict()
_CACHE_SIZE = 64


class RateCardError(BillingError):
    """A card cannot be written or removed as asked."""


def normal_currency(currency: str) -> str:
    """``usd`` → ``USD``; anything but three letters is refused."""
    value = currency.strip().upper()
    if not _CURRENCY.match(value):
        raise RateCardError("invalid_currency", f"currency {currency!r} is not an ISO 4217 code")
    return value


@dataclass(frozen=True, slots=True)
class RateIn:
    market: str
    category: str
    micros: int
    tier_from: int = 0


def check_rates(rates: list[RateIn] | list[SheetRate]) -> list[RateIn]:
    """Normalised rates (market codes, categories), or ``RateCardError`` naming the first
    bad one (its position in the list)."""
    checked: list[RateIn] = []
    seen: set[tuple[str, str, int]] = set()
    for index, rate in enumerate(rates):
        where = f"rate {index + 1}"
        try:
            market = market_code(rate.market)
        except ValueError as exc:
            raise RateCardError("invalid_rate", f"{where}: {exc}") from None
        category = rate.category.strip().lower().replace("-", "_")
        if category not in CATEGORIES:
            raise RateCardError("invalid_rate", f"{where}: unknown category {rate.category!r}")
        if rate.micros < 0 or rate.tier_from < 0:
            raise RateCardError("invalid_rate", f"{where}: rates and tiers cannot be negative")
        if rate.tier_from and category not in TIERED_CATEGORIES:
            raise RateCardError("invalid_rate", f"{where}: {category} has no volume tiers")
        key = (market, category, rate.tier_from)
        if key in seen:
            raise RateCardError("invalid_rate", f"{where}: {market} {category} given twice")
        seen.add(key)
        checked.append(RateIn(market, category, rate.micros, rate.tier_from))
    if not checked:
        raise RateCardError("invalid_rate", "a rate card needs at least one rate")
    return checked


async def create_card(
    session: AsyncSession,
    workspace_id: int,
    *,
    name: str,
    currency: str,
    effective_from: datetime,
    rates: list[RateIn] | list[SheetRate],
    source: str = "manual",
) -> RateCard:
    currency = normal_currency(currency)
    if effective_from.tzinfo is None:
        raise RateCardError("invalid_date", "effective_from needs a time zone (e.g. Z)")
    name = name.strip()
    if not name or len(name) > 200:
        raise RateCardError("invalid_name", "a rate card needs a name of 1 to 200 characters")
    card = RateCard(
        workspace_id=workspace_id,
        name=name,
        currency=currency,
        effective_from=effective_from,
        source=source,
        rates=[
            RateCardRate(
                market=r.market, category=r.category, tier_from=r.tier_from, micros=r.micros
            )
            for r in check_rates(rates)
        ],
    )
    session.add(card)
    await session.flush()
    return card


async def list_cards(session: AsyncSession, workspace_id: int) -> list[RateCard]:
    return list(
        await session.scalars(
            select(RateCard)
            .where(RateCard.workspace_id == workspace_id)
            .order_by(RateCard.effective_from.desc(), RateCard.id.desc())
        )
    )


async def get_card(session: AsyncSession, workspace_id: int, card_id: int) -> RateCard | None:
    return await session.scalar(
        select(RateCard).where(RateCard.id == card_id, RateCard.workspace_id == workspace_id)
    )


async def delete_card(
    session: AsyncSession, workspace_id: int, card_id: int, now: datetime | None = None
) -> None:
    card = await get_card(session, workspace_id, card_id)
    if card is None:
        raise RateCardError("not_found", f"rate card {card_id} not found", 404)
    if card.effective_from <= (now or datetime.now(UTC)):
        raise RateCardError(
            "card_in_force",
            "this card has been in force and priced messages; add a new card instead",
            409,
        )
    await session.delete(card)


async def card_rates(session: AsyncSession, card_id: int) -> list[RateCardRate]:
    return list(
        await session.scalars(
            select(RateCardRate)
            .where(RateCardRate.rate_card_id == card_id)
            .order_by(RateCardRate.market, RateCardRate.category, RateCardRate.tier_from)
        )
    )


async def table_of(session: AsyncSession, card: RateCard) -> RateTable:
    # Keyed with the creation time too: ids restart in a fresh database (tests, restores).
    key = (card.id, card.created_at)
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    rates: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for rate in await card_rates(session, card.id):
        rates.setdefault((rate.market, rate.category), []).append((rate.tier_from, rate.micros))
    for tiers in rates.values():
        tiers.sort()
    table = RateTable(card.id, card.currency, card.effective_from, rates)
    _CACHE[key] = table
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return table


async def table_in_force(
    session: AsyncSession, workspace_id: int, at: datetime
) -> RateTable | None:
    """The rates in force at ``at`` (the latest card effective by then), or None."""
    card = await session.scalar(
        select(RateCard)
        .where(RateCard.workspace_id == workspace_id, RateCard.effective_from <= at)
        .order_by(RateCard.effective_from.desc(), RateCard.id.desc())
        .limit(1)
    )
    return None if card is None else await table_of(session, card)


def markets_of(table: RateTable) -> list[str]:
    return sorted({market for market, _ in table.rates if market != ANY_MARKET})
