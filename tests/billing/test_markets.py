"""The market of a customer: their phone's country, else their BSUID's prefix."""

from __future__ import annotations

import pytest

from madoguchi.domain.markets import market_of, market_of_bsuid, market_of_phone


@pytest.mark.parametrize(
    "wa_id,market",
    [
        ("819012345678", "JP"),
        ("+81 90-1234-5678", "JP"),
        ("14155550123", "US"),
        ("16135550123", "CA"),  # +1 shared: the area code decides
        ("447700900123", "GB"),
        ("919812345678", "IN"),
        ("5511912345678", "BR"),
        ("", None),
        ("abc", None),
        ("999", None),
        (None, None),
    ],
)
def test_market_from_phone(wa_id, market):
    assert market_of_phone(wa_id) == market


@pytest.mark.parametrize(
    "user_id,market",
    [
        ("JP.70211330012345", "JP"),
        ("us.ENT.9988", "US"),
        ("70211330012345", None),
        ("J.123", None),
        (None, None),
    ],
)
def test_market_from_bsuid(user_id, market):
    assert market_of_bsuid(user_id) == market


def test_phone_wins_over_bsuid_and_username_only_customers_use_the_bsuid():
    assert market_of("819012345678", "US.123") == "JP"
    assert market_of(None, "BR.5511") == "BR"
    assert market_of(None, None) is None
