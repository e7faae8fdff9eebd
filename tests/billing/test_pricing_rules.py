"""Meta's pricing rules, table-tested: category × service window × free entry point ×
volume tier, per-message (PMP) and the conversation-based history (CBP) before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from madoguchi.domain.pricing import (
    PMP_START,
    RateTable,
    SendFacts,
    from_micros,
    normalise_category,
    price_from_meta,
    price_message,
    to_micros,
)

AFTER = datetime(2026, 3, 10, tzinfo=UTC)
BEFORE = datetime(2025, 3, 10, tzinfo=UTC)

TABLE = RateTable(
    card_id=7,
    currency="USD",
    effective_from=datetime(2024, 1, 1, tzinfo=UTC),
    rates={
        ("JP", "marketing"): [(0, to_micros("0.1097"))],
        ("JP", "utility"): [(0, to_micros("0.0106")), (1000, to_micros("0.0090"))],
        ("JP", "authentication"): [(0, to_micros("0.0106")), (1000, to_micros("0.0080"))],
        ("JP", "service"): [(0, to_micros("0.0100"))],
        ("IN", "authentication"): [(0, to_micros("0.0014"))],
        ("IN", "authentication_international"): [(0, to_micros("0.0280"))],
        ("*", "marketing"): [(0, to_micros("0.0604"))],
        ("*", "utility"): [(0, to_micros("0.0077"))],
    },
)

M, U, A, S = "MARKETING", "UTILITY", "AUTHENTICATION", None

# (at, category, window open, entry point open, volume, business market, market)
#   → (billable, category, type, amount)
PMP_CASES = [
    (M, False, False, 0, "US", "JP", True, "marketing", "regular", "0.1097"),
    (M, True, False, 0, "US", "JP", True, "marketing", "regular", "0.1097"),
    (M, True, True, 0, "US", "JP", False, "marketing", "free_entry_point", "0"),
    (U, False, False, 0, "US", "JP", True, "utility", "regular", "0.0106"),
    (U, True, False, 0, "US", "JP", False, "utility", "free_customer_service", "0"),
    (U, False, True, 0, "US", "JP", False, "utility", "free_entry_point", "0"),
    (U, False, False, 999, "US", "JP", True, "utility", "regular", "0.0106"),
    (U, False, False, 1000, "US", "JP", True, "utility", "regular", "0.009"),
    (U, False, False, 5000, "US", "JP", True, "utility", "regular", "0.009"),
    (A, False, False, 999, "JP", "JP", True, "authentication", "regular", "0.0106"),
    (A, True, False, 1000, "JP", "JP", True, "authentication", "regular", "0.008"),
    (A, False, False, 0, "IN", "IN", True, "authentication", "regular", "0.0014"),
    (A, False, False, 0, "US", "IN", True, "authentication_international", "regular", "0.028"),
    # no international rate for JP: a foreign business pays the authentication rate
    (A, False, False, 0, "US", "JP", True, "authentication", "regular", "0.0106"),
    (S, True, False, 0, "US", "JP", False, "service", "free_customer_service", "0"),
    (S, True, True, 0, "US", "JP", False, "service", "free_entry_point", "0"),
    # a market the card does not name pays the card's "*" rate; none at all: unpriced
    (M, False, False, 0, "US", "BR", True, "marketing", "regular", "0.0604"),
    (A, False, False, 0, "US", "BR", True, "authentication", "regular", None),
]


@pytest.mark.parametrize(
    "category,window,entry,volume,business,market,billable,billed_as,type_,amount", PMP_CASES
)
def test_per_message_pricing(
    category, window, entry, volume, business, market, billable, billed_as, type_, amount
):
    facts = SendFacts(
        at=AFTER,
        template_category=category,
        market=market,
        window_open=window,
        free_entry_point_open=entry,
        business_market=business,
        monthly_volume=volume,
    )
    price = price_message(facts, TABLE)
    assert (price.billable, price.category, price.type, price.pricing_model) == (
        billable,
        billed_as,
        type_,
        "PMP",
    )
    assert (None if price.amount is None else str(price.amount)) == amount
    assert price.currency == "USD" and price.card_id == 7


# CBP: the message that opens a conversation of its category pays; the rest of it is free
CBP_CASES = [
    (M, False, False, False, True, "0.1097"),
    (M, False, False, True, False, "0"),
    (U, True, False, False, True, "0.0106"),  # utility in the window still opened one
    (U, True, False, True, False, "0"),
    (S, True, False, False, True, "0.01"),  # a service conversation was charged
    (S, True, False, True, False, "0"),
    (M, False, True, False, False, "0"),  # free entry point: free
]


@pytest.mark.parametrize("category,window,entry,conversation_open,billable,amount", CBP_CASES)
def test_conversation_based_pricing_before_july_2025(
    category, window, entry, conversation_open, billable, amount
):
    facts = SendFacts(
        at=BEFORE,
        template_category=category,
        market="JP",
        window_open=window,
        free_entry_point_open=entry,
        cbp_conversation_open=conversation_open,
    )
    price = price_message(facts, TABLE)
    assert price.pricing_model == "CBP"
    assert price.billable is billable
    assert str(price.amount) == amount


def test_the_model_changes_at_midnight_utc_on_1_july_2025():
    facts = dict(template_category=U, market="JP", window_open=True)
    just_before = price_message(SendFacts(at=PMP_START - timedelta(seconds=1), **facts), TABLE)
    at_start = price_message(SendFacts(at=PMP_START, **facts), TABLE)
    assert (just_before.pricing_model, just_before.billable) == ("CBP", True)
    assert (at_start.pricing_model, at_start.billable) == ("PMP", False)


def test_no_card_means_billable_but_unpriced():
    price = price_message(SendFacts(at=AFTER, template_category=M, market="JP"), None)
    assert price.billable and price.micros is None and price.currency is None


def test_meta_pricing_object_is_priced_at_the_card_rate():
    meta = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
    assert str(price_from_meta(meta, "JP", TABLE).amount) == "0.1097"
    free = {
        "billable": False,
        "pricing_model": "PMP",
        "category": "utility",
        "type": "free_customer_service",
    }
    price = price_from_meta(free, "JP", TABLE)
    assert (price.billable, price.micros, price.type) == (False, 0, "free_customer_service")
    tiered = {"billable": True, "pricing_model": "PMP", "category": "utility"}
    assert str(price_from_meta(tiered, "JP", TABLE, monthly_volume=1000).amount) == "0.009"


@pytest.mark.parametrize("bad", ["promo", "", "utility!"])
def test_unknown_categories_are_refused(bad):
    if bad == "":
        assert normalise_category(bad) == "service"
        return
    with pytest.raises(ValueError, match="unknown pricing category"):
        normalise_category(bad)


def test_amounts_with_more_than_six_decimals_are_refused():
    assert to_micros("0.000001") == 1
    with pytest.raises(ValueError, match="six decimals"):
        to_micros("0.0000001")


@pytest.mark.parametrize(
    "amount, shown",
    [("500", "500"), ("500.00", "500"), ("10", "10"), ("0.25", "0.25"), ("0.000001", "0.000001")],
)
def test_amounts_are_shown_without_an_exponent(amount, shown):
    # a budget of 500 was shown as "5E+2" (Decimal.normalize), in the API and the alerts
    assert str(from_micros(to_micros(amount))) == shown
    assert str(from_micros(0)) == "0"
