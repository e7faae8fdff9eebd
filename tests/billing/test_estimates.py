"""Estimates before a send (one customer, many, by market) and the estimate every
queued message keeps."""

from __future__ import annotations

import time

from sqlalchemy import select

from madoguchi.store.models import MessageCost
from tests.billing.costing import approve_templates, customer_writes, import_card, template
from tests.conftest import PHONE_NUMBER_ID


async def estimate(stack, **body):
    return await stack.api("POST", "/api/v1/costs/estimate", json=body)


async def test_estimate_for_a_conversation_follows_the_window(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    utility = await estimate(
        stack, conversation_id=conversation, template_name="order_shipped", language="en"
    )
    assert utility.status_code == 200, utility.text
    assert utility.json() | {"by_market": None} == {
        "category": "utility",
        "pricing_model": "PMP",
        "currency": "USD",
        "rate_card_id": utility.json()["rate_card_id"],
        "recipients": 1,
        "billable": 0,
        "free": 1,
        "unpriced": 0,
        "total": "0",
        "by_market": None,
    }
    marketing = (
        await estimate(
            stack, conversation_id=conversation, template_name="spring_sale", language="en"
        )
    ).json()
    assert (marketing["total"], marketing["billable"]) == ("0.1097", 1)
    free_form = (await estimate(stack, conversation_id=conversation)).json()
    assert (free_form["category"], free_form["total"]) == ("service", "0")


async def test_estimate_outside_the_window(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation = await customer_writes(stack, at=time.time() - 25 * 3600)
    utility = (
        await estimate(
            stack, conversation_id=conversation, template_name="order_shipped", language="en"
        )
    ).json()
    assert (utility["billable"], utility["total"]) == (1, "0.0106")


async def test_estimate_many_recipients_by_market(stack):
    await import_card(stack)
    await approve_templates(stack)
    recipients = [
        {"wa_id": "819011112222"},
        {"wa_id": "+81 90 3333 4444"},
        {"user_id": "BR.5511998877"},  # username only: the BSUID's country
        {"wa_id": "919812345678"},
        {"user_id": "XX"},  # no market we can tell: the card's "*" rate
    ]
    response = await estimate(
        stack, phone_number_id=PHONE_NUMBER_ID, category="MARKETING", recipients=recipients
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["recipients"], result["billable"], result["total"]) == (5, 5, "0.3509")
    lines = {line["market"]: (line["recipients"], line["total"]) for line in result["by_market"]}
    assert lines == {
        "JP": (2, "0.2194"),
        "BR": (1, "0.0604"),
        "IN": (1, "0.0107"),
        None: (1, "0.0604"),
    }
    auth = (
        await estimate(
            stack,
            phone_number_id=PHONE_NUMBER_ID,
            template_name="login_code",
            language="en",
            recipients=[{"wa_id": "919812345678"}],
        )
    ).json()
    # the number is American: Indian authentication is international
    assert (auth["category"], auth["total"]) == ("authentication_international", "0.028")


async def test_estimate_without_a_card_is_unpriced(stack):
    response = await estimate(
        stack,
        phone_number_id=PHONE_NUMBER_ID,
        category="MARKETING",
        recipients=[{"wa_id": "819011112222"}],
    )
    result = response.json()
    assert (result["currency"], result["billable"], result["unpriced"]) == (None, 1, 1)


async def test_bad_estimate_requests_are_explained(stack):
    await approve_templates(stack)
    cases = [
        ({}, 422, "number_missing"),
        ({"phone_number_id": "nope", "category": "MARKETING"}, 404, "not_found"),
        ({"phone_number_id": PHONE_NUMBER_ID, "category": "promo"}, 422, "invalid_category"),
        (
            {"phone_number_id": PHONE_NUMBER_ID, "template_name": "nope", "language": "en"},
            404,
            "template_unknown",
        ),
        ({"phone_number_id": PHONE_NUMBER_ID, "template_name": "nope"}, 422, "template_missing"),
        ({"phone_number_id": PHONE_NUMBER_ID, "recipients": [{}]}, 422, "no_recipient"),
    ]
    for body, status, code in cases:
        response = await estimate(stack, **body)
        assert (response.status_code, response.json()["detail"]["code"]) == (status, code), body
    missing = await estimate(stack, conversation_id=999)
    assert missing.status_code == 404


async def test_a_queued_message_keeps_its_estimate(stack):
    card = await import_card(stack)
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    for name in ("spring_sale", "order_shipped", "unknown_one"):
        response = await stack.api(
            "POST", f"/api/v1/conversations/{conversation}/messages", json=template(name)
        )
        assert response.status_code == 202, response.text
    text = {"message": {"type": "text", "text": {"body": "hi"}}}
    assert (
        await stack.api("POST", f"/api/v1/conversations/{conversation}/messages", json=text)
    ).status_code == 202
    async with stack.runtime.db.read() as session:
        costs = list(await session.scalars(select(MessageCost).order_by(MessageCost.id)))
    seen = [
        (
            c.template_name,
            c.estimated_category,
            c.estimated_billable,
            c.estimated_type,
            c.estimated_micros,
            c.market,
        )
        for c in costs
    ]
    assert seen == [
        ("spring_sale", "marketing", True, "regular", 109700, "JP"),
        ("order_shipped", "utility", False, "free_customer_service", 0, "JP"),
        ("unknown_one", "unknown", True, "regular", None, "JP"),
        (None, "service", False, "free_customer_service", 0, "JP"),
    ]
    # templates are priced by the card; a free-form reply is free without one
    assert [c.rate_card_id for c in costs] == [card["id"]] * 3 + [None]
    assert [c.currency for c in costs] == ["USD"] * 3 + [None]
    assert all(c.settled_at is None for c in costs)
