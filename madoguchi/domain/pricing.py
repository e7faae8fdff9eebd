"""What WhatsApp charges for one outbound message: Meta's pricing rules as plain Python.

Since 2025-07-01 Meta charges per delivered template message (per-message pricing, PMP):
by the template's category and the recipient's market. Free-form (service) messages are
free; a utility template inside an open customer service window is free; everything is
free inside a free entry point window (72 h after a click-to-WhatsApp ad). Utility and
authentication rates fall with the month's volume (tiers). Authentication templates to a
market with an "authentication-international" rate cost that rate when the business's
number is in another country.

Until 2025-06-30 Meta charged per 24-hour conversation (conversation-based pricing, CBP):
the message that opened a conversation of a category paid for it; the rest of that
conversation was free. Old messages are still priced under those rules, so a report over
a period that spans the change is right on both sides.

Amounts are integer micro-units of the rate card's currency (1 USD = 1,000,000): sums are
exact on every database, and Meta's rates have at most four decimals.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

PMP_START = datetime(2025, 7, 1, tzinfo=UTC)

MARKETING = "marketing"
UTILITY = "utility"
AUTHENTICATION = "authentication"
AUTHENTICATION_INTERNATIONAL = "authentication_international"
SERVICE = "service"
CATEGORIES = (MARKETING, UTILITY, AUTHENTICATION, AUTHENTICATION_INTERNATIONAL, SERVICE)
TEMPLATE_CATEGORIES = (MARKETING, UTILITY, AUTHENTICATION)
TIERED_CATEGORIES = (UTILITY, AUTHENTICATION, AUTHENTICATION_INTERNATIONAL)
ANY_MARKET = "*"  # the rate of every market the card does not name

# pricing.type as Meta writes it under PMP
REGULAR = "regular"
FREE_CUSTOMER_SERVICE = "free_customer_service"
FREE_ENTRY_POINT = "free_entry_point"

MICROS = 1_000_000


def to_micros(amount: Decimal | str | int) -> int:
    """A decimal amount (``"0.0250"``) in micro-units; more than six decimals is an error."""
    value = Decimal(str(amount)) * MICROS
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more than six decimals")
    return int(value)


def from_micros(micros: int) -> Decimal:
    """Micro-units as the shortest decimal amount: ``0.025``, and ``500`` (``normalize``
    alone makes that ``5E+2``, which every ``str()`` of an amount showed)."""
    if not micros:
        return Decimal(0)
    value = (Decimal(micros) / MICROS).normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


def normalise_category(category: str | None) -> str:
    """Meta's spellings (``MARKETING``, ``authentication-international``) → ours; None →
    service (a free-form message)."""
    if not category:
        return SERVICE
    value = category.strip().lower().replace("-", "_").replace(" ", "_")
    if value not in CATEGORIES:
        raise ValueError(f"unknown pricing category {category!r}")
    return value


@dataclass(frozen=True, slots=True)
class RateTable:
    """One version of a rate card: ``rates[(market, category)]`` = [(tier_from, micros)],
    sorted by ``tier_from``: the rate applies once the month's billable volume of that
    category in that market has reached ``tier_from`` messages."""

    card_id: int | None
    currency: str
    effective_from: datetime
    rates: dict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=dict)

    def has(self, market: str, category: str) -> bool:
        return (market, category) in self.rates

    def rate(self, market: str | None, category: str, volume: int = 0) -> int | None:
        """Micro-units for one message, or None when the card has no rate for it."""
        tiers = self.rates.get((market or ANY_MARKET, category))
        if tiers is None:
            tiers = self.rates.get((ANY_MARKET, category))
        if not tiers:
            return None
        index = bisect_right([start for start, _ in tiers], max(volume, 0)) - 1
        return tiers[max(index, 0)][1]


@dataclass(frozen=True, slots=True)
class SendFacts:
    """What is known about one send when it is priced."""

    at: datetime
    template_category: str | None  # None: a free-form (service) message
    market: str | None
    window_open: bool = False  # the customer wrote in the last 24 h
    free_entry_point_open: bool = False  # 72 h after a click-to-WhatsApp ad
    business_market: str | None = None  # the country of the sending number
    monthly_volume: int = 0  # billable messages of this category+market this month before
    cbp_conversation_open: bool = False  # CBP only: a conversation of this category is open


@dataclass(frozen=True, slots=True)
class Price:
    billable: bool
    category: str
    pricing_model: str  # PMP | CBP
    type: str  # regular | free_customer_service | free_entry_point
    micros: int | None  # None: billable but the card has no rate for this market
    currency: str | None
    card_id: int | None = None

    @property
    def amount(self) -> Decimal | None:
        return None if self.micros is None else from_micros(self.micros)


def pricing_model_at(at: datetime) -> str:
    return "PMP" if at >= PMP_START else "CBP"


def billing_category(facts: SendFacts, table: RateTable | None) -> str:
    """The category Meta bills: authentication becomes authentication-international when
    the card has that rate for the market and the business number is elsewhere."""
    category = normalise_category(facts.template_category)
    if (
        category == AUTHENTICATION
        and table is not None
        and facts.market
        and facts.business_market
        and facts.market != facts.business_market
        and table.has(facts.market, AUTHENTICATION_INTERNATIONAL)
    ):
        return AUTHENTICATION_INTERNATIONAL
    return category


def _free(category: str, model: str, type_: str, table: RateTable | None) -> Price:
    currency = table.currency if table else None
    card_id = table.card_id if table else None
    return Price(False, category, model, type_, 0, currency, card_id)


def price_message(facts: SendFacts, table: RateTable | None) -> Price:
    """Price one message by the rules in force at ``facts.at`` and the card ``table``."""
    model = pricing_model_at(facts.at)
    category = billing_category(facts, table)
    if facts.free_entry_point_open:
        return _free(category, model, FREE_ENTRY_POINT, table)
    if model == "PMP":
        if category == SERVICE:
            return _free(category, model, FREE_CUSTOMER_SERVICE, table)
        if category == UTILITY and facts.window_open:
            return _free(category, model, FREE_CUSTOMER_SERVICE, table)
    else:  # CBP: the message that opens a conversation of its category pays for it
        if category == SERVICE and not facts.window_open:
            # a free-form message cannot open a conversation; nothing is charged
            return _free(category, model, REGULAR, table)
        if facts.cbp_conversation_open:
            return _free(category, model, REGULAR, table)
    if table is None:
        return Price(True, category, model, REGULAR, None, None, None)
    volume = facts.monthly_volume if category in TIERED_CATEGORIES else 0
    micros = table.rate(facts.market, category, volume)
    return Price(True, category, model, REGULAR, micros, table.currency, table.card_id)


def price_from_meta(
    pricing: dict, market: str | None, table: RateTable | None, monthly_volume: int = 0
) -> Price:
    """The price of a message as Meta's status webhook ``pricing`` object states it:
    Meta's verdict (billable, category, model, type) at the card's rate."""
    try:
        category = normalise_category(pricing.get("category") or SERVICE)
    except ValueError:  # a category newer than these rules: kept as Meta wrote it, unpriced
        category = str(pricing["category"]).lower()
    model = (pricing.get("pricing_model") or "PMP").upper()
    type_ = pricing.get("type") or REGULAR
    currency = table.currency if table else None
    card_id = table.card_id if table else None
    if not pricing.get("billable", False):
        return Price(False, category, model, type_, 0, currency, card_id)
    if table is None:
        return Price(True, category, model, type_, None, None, None)
    volume = monthly_volume if category in TIERED_CATEGORIES else 0
    return Price(
        True, category, model, type_, table.rate(market, category, volume), currency, card_id
    )
