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


def test_the_fast_path_answers_as_the_full_parse():
    """A calling code of one country is answered without ``phonenumbers.parse``: over a
    spread of numbers (one-country codes, shared +1/+7/+44, non-geographic 800/882,
    unknown codes, short and long) it must answer what the parse answers."""
    import random

    import phonenumbers

    def parsed(digits: str) -> str | None:
        try:
            number = phonenumbers.parse("+" + digits)
        except phonenumbers.NumberParseException:
            return None
        region = phonenumbers.region_code_for_number(number)
        if region and region not in (phonenumbers.UNKNOWN_REGION, "001"):
            return region
        region = phonenumbers.region_code_for_country_code(number.country_code)
        return None if region in (None, phonenumbers.UNKNOWN_REGION, "001") else region

    rng = random.Random(20)
    codes = ["1", "7", "44", "81", "800", "882", "39", "262", "999", "42", "0"]
    numbers = [
        rng.choice(codes) + str(rng.randrange(10 ** rng.randint(2, 13))) for _ in range(5_000)
    ]
    wrong = [n for n in numbers if market_of_phone.__wrapped__(n) != parsed(n)]
    assert wrong == []
