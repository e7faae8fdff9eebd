"""Bad inputs to the newer routes get a clear 4xx naming the field, never a 500.

Found by walking the campaign, report, cost report, presence and supervision routes with
wrong types, NaN, NUL characters, blank lists and bad enum values (the generated requests
of test_api_fuzz.py run on SQLite only and rarely send NaN or U+0000).
"""

from __future__ import annotations

import json
import typing

from sqlalchemy import select

from madoguchi.services.contact_center.presence import PRESENCE
from madoguchi.store.models import MessageTemplate
from madoguchi.web.api.contact_center.presence import PresenceIn
from tests.access.people import add_user
from tests.billing.costing import approve_templates
from tests.conftest import PHONE_NUMBER_ID

JSON = {"Content-Type": "application/json"}


def field_of(response) -> str | None:
    """The field an error names: ours (``detail.field``) or FastAPI's (``loc``)."""
    detail = response.json()["detail"]
    if isinstance(detail, dict):
        return detail.get("field")
    return ".".join(str(part) for part in detail[0]["loc"][1:])


async def a_campaign(stack) -> tuple[dict, int]:
    await approve_templates(stack)
    async with stack.runtime.db.read() as session:
        template = await session.scalar(
            select(MessageTemplate.id).where(MessageTemplate.name == "spring_sale")
        )
    body = {"name": "Spring", "phone_number_id": PHONE_NUMBER_ID, "template_id": template}
    created = await stack.api("POST", "/api/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    return body, created.json()["id"]


async def test_a_nan_in_a_campaign_is_refused_by_name(stack):
    body, campaign = await a_campaign(stack)
    # Python's JSON parser reads NaN: the validation error about it must still be written
    raw = json.dumps({**body, "route_back_hours": float("nan")})  # NaN, as Python writes it
    response = await stack.client.post(
        "/api/v1/campaigns", content=raw, headers={**stack.auth, **JSON}
    )
    assert response.status_code == 422, response.text
    assert field_of(response) == "route_back_hours"
    assert response.json()["detail"][0]["input"] == "nan"
    # a literal value that could not be shown again, or would be sent as Python's text
    for value in (float("nan"), [1, 2]):
        response = await stack.client.put(
            f"/api/v1/campaigns/{campaign}",
            content=json.dumps({**body, "values": {"1": value}}),
            headers={**stack.auth, **JSON},
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["code"] == "invalid_value"
        assert field_of(response) == "values.1"
    shown = await stack.api("GET", f"/api/v1/campaigns/{campaign}")
    assert shown.status_code == 200 and shown.json()["values"] == {}


async def test_blank_audience_tags_are_refused(stack):
    _, campaign = await a_campaign(stack)
    response = await stack.api(
        "POST", f"/api/v1/campaigns/{campaign}/audience/tags", json={"tags": [" ", ""]}
    )
    assert response.status_code == 422, response.text
    assert (response.json()["detail"]["code"], field_of(response)) == ("invalid_tags", "tags")


async def test_a_nul_character_is_a_422_naming_the_parameter(stack):
    body, _ = await a_campaign(stack)
    report = await stack.api("GET", "/api/v1/reports/overview", params={"disposition": "a\x00b"})
    named = await stack.api("POST", "/api/v1/campaigns", json={**body, "name": "a\x00b"})
    valued = await stack.api(  # a JSON column's text
        "POST", "/api/v1/campaigns", json={**body, "values": {"1": "a\x00b"}}
    )
    if stack.runtime.db.sqlite:  # SQLite's text holds U+0000: nothing to refuse
        assert (report.status_code, named.status_code, valued.status_code) == (200, 201, 201)
        return
    assert report.status_code == 422, report.text
    assert report.json()["detail"]["code"] == "nul_character"
    assert field_of(report) == "disposition"
    # a body's text: refused all the same (which field cannot be told apart there)
    for response in (named, valued):
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["code"] == "nul_character"


async def test_a_presence_outside_the_list_names_the_field(stack):
    assert typing.get_args(PresenceIn.model_fields["status"].annotation) == PRESENCE
    agent = await add_user(stack.runtime.db, "ana@acme.test", "agent")
    for path in (
        f"/api/v1/supervision/agents/{agent}/presence",
        f"/api/v1/agents/{agent}/presence",
    ):
        response = await stack.api("PUT", path, json={"status": "lunch"})
        assert response.status_code == 422, (path, response.text)
        assert field_of(response) == "status"
        assert "away" in response.json()["detail"][0]["msg"]


async def test_cost_report_parameters_are_checked_by_name(stack):
    response = await stack.api("GET", "/api/v1/costs/report", params={"currency": "dollars"})
    assert response.status_code == 422, response.text
    assert (response.json()["detail"]["code"], field_of(response)) == (
        "invalid_currency",
        "currency",
    )
    response = await stack.api(
        "GET", "/api/v1/costs/report.csv", params={"from": "2026-12-01", "to": "2026-11-01"}
    )
    assert response.status_code == 422, response.text
    assert (response.json()["detail"]["code"], field_of(response)) == ("invalid_period", "from")
    fine = await stack.api("GET", "/api/v1/costs/report", params={"currency": "usd"})
    assert fine.status_code == 200 and fine.json()["currency"] == "USD"


async def test_a_budget_amount_is_checked_by_name(stack):
    for monthly, code, field in [
        ("Infinity", "invalid_budget", "monthly"),
        ("1e400", "invalid_budget", "monthly"),
        ("NaN", "invalid_budget", "monthly"),
        ("0", "invalid_budget", "monthly"),
        ("500", "invalid_currency", "currency"),
    ]:
        currency = "USD" if code != "invalid_currency" else "dollars"
        response = await stack.api(
            "PUT", "/api/v1/costs/budget", json={"monthly": monthly, "currency": currency}
        )
        assert response.status_code == 422, (monthly, response.text)
        assert (response.json()["detail"]["code"], field_of(response)) == (code, field), monthly
    fine = await stack.api(
        "PUT", "/api/v1/costs/budget", json={"monthly": "500", "currency": "usd"}
    )
    assert fine.status_code == 200 and fine.json()["monthly"] == "500"
