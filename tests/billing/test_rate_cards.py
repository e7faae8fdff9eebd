"""Rate cards over the API: import a sheet (all or nothing, bad rows named), versions in
force by date (a new card does not reprice the past), who may write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from madoguchi.services.access.tokens import create_token
from madoguchi.services.billing.rate_cards import table_in_force
from madoguchi.store.models import RateCard, Workspace

SHEET = """market,currency,marketing,utility,authentication,authentication_international,service
Japan,USD,0.1097,0.0106,0.0106,,0
IN,USD,0.0107,0.0014,0.0014,0.0280,0
*,USD,0.0604,0.0077,0.0077,,0
"""


async def import_sheet(stack, text, **params):
    query = {"name": "Meta 2026-01", "currency": "USD", **params}
    return await stack.client.post(
        "/api/v1/rate-cards/import",
        params=query,
        content=text.encode(),
        headers={**stack.auth, "Content-Type": "text/csv"},
    )


async def test_import_a_rate_sheet(stack):
    response = await import_sheet(stack, SHEET)
    assert response.status_code == 201, response.text
    card = response.json()
    assert card["in_force"] and card["currency"] == "USD" and card["source"] == "csv"
    rates = {(r["market"], r["category"], r["tier_from"]): r["rate"] for r in card["rates"]}
    assert rates[("JP", "marketing", 0)] == "0.1097"
    assert rates[("IN", "authentication_international", 0)] == "0.028"
    assert rates[("*", "service", 0)] == "0"
    assert ("JP", "authentication_international", 0) not in rates  # empty cell: no rate
    listed = (await stack.api("GET", "/api/v1/rate-cards")).json()
    assert [c["id"] for c in listed] == [card["id"]] and listed[0]["rates"] is None


async def test_volume_tier_rows(stack):
    response = await import_sheet(stack, "market,tier_from,utility\nJP,0,0.0106\nJP,1000,0.009\n")
    assert response.status_code == 201, response.text
    async with stack.runtime.db.read() as session:
        ws = await session.scalar(select(Workspace.id))
        table = await table_in_force(session, ws, datetime.now(UTC))
    assert table.rate("JP", "utility", 999) == 10600
    assert table.rate("JP", "utility", 1000) == 9000


async def test_a_malformed_row_is_named_and_nothing_is_imported(stack):
    bad = SHEET.replace("IN,USD,0.0107", "IN,USD,0.01x7") + "Atlantis,USD,1,1,1,,0\n"
    response = await import_sheet(stack, bad)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_sheet"
    assert detail["errors"] == [
        "line 3: marketing rate '0.01x7' is not a number",
        "line 5: unknown market 'Atlantis' (use an ISO country code such as JP, or * for the rest)",
    ]
    async with stack.runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(RateCard)) == 0


async def test_sheet_problems_are_explained(stack):
    cases = {
        "": "the sheet is empty",
        "country,marketing\nJP,1\n": "line 1: no 'market' column",
        "market,price\nJP,1\n": "no category column",
        "market,marketing\nJP,-1\n": "line 2: marketing rate '-1' must be zero or more",
        "market,marketing\nJP,0.00000001\n": "more than six decimals",
        "market,currency,marketing\nJP,EUR,1\n": "line 2: currency EUR differs",
        "market,tier_from,marketing\nJP,10,1\n": "marketing has no volume tiers",
        "market,marketing\nJP,1\nJapan,2\n": "JP marketing (tier 0) already given on line 2",
        "market,marketing\nJP,1,2\n": "line 2: 3 cells for 2 columns",
    }
    for text, message in cases.items():
        response = await import_sheet(stack, text)
        assert response.status_code == 422, text
        assert message in response.json()["detail"]["message"], (text, response.json())
    response = await import_sheet(stack, SHEET, currency="US")
    assert response.json()["detail"]["code"] == "invalid_currency"


async def test_a_new_card_does_not_reprice_the_past(stack):
    now = datetime.now(UTC)
    old = await import_sheet(stack, SHEET, effective_from=(now - timedelta(days=30)).isoformat())
    new = await import_sheet(
        stack,
        SHEET.replace("0.1097", "0.2000"),
        name="Meta 2026-07",
        effective_from=(now - timedelta(days=1)).isoformat(),
    )
    future = await import_sheet(
        stack,
        SHEET.replace("0.1097", "0.3000"),
        name="next",
        effective_from=(now + timedelta(days=10)).isoformat(),
    )
    async with stack.runtime.db.read() as session:
        ws = await session.scalar(select(Workspace.id))
        then = await table_in_force(session, ws, now - timedelta(days=5))
        today = await table_in_force(session, ws, now)
        later = await table_in_force(session, ws, now + timedelta(days=11))
        before_any = await table_in_force(session, ws, now - timedelta(days=31))
    assert then.card_id == old.json()["id"] and then.rate("JP", "marketing") == 109700
    assert today.card_id == new.json()["id"] and today.rate("JP", "marketing") == 200000
    assert later.card_id == future.json()["id"]
    assert before_any is None
    cards = (await stack.api("GET", "/api/v1/rate-cards")).json()
    assert [c["in_force"] for c in cards] == [False, True, False]
    # the card in force cannot be deleted; the future one can
    refused = await stack.api("DELETE", f"/api/v1/rate-cards/{new.json()['id']}")
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "card_in_force"
    gone = await stack.api("DELETE", f"/api/v1/rate-cards/{future.json()['id']}")
    assert gone.status_code == 204


async def test_create_a_card_from_json(stack):
    body = {
        "name": "manual",
        "currency": "jpy",
        "rates": [
            {"market": "JP", "category": "MARKETING", "rate": "15.5"},
            {"market": "jp", "category": "utility", "rate": "1.2", "tier_from": 0},
        ],
    }
    response = await stack.api("POST", "/api/v1/rate-cards", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["currency"] == "JPY"
    body["rates"].append({"market": "JP", "category": "marketing", "rate": "2"})
    twice = await stack.api("POST", "/api/v1/rate-cards", json=body)
    assert twice.status_code == 422 and "given twice" in twice.json()["detail"]["message"]
    body["rates"] = [{"market": "JP", "category": "marketing", "rate": "cheap"}]
    bad = await stack.api("POST", "/api/v1/rate-cards", json=body)
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "invalid_rate"


async def test_only_admins_write_cards_and_agents_do_not_read_them(stack):
    async with stack.runtime.db.write() as session:
        ws = await session.scalar(select(Workspace.id))
        agent = await create_token(session, ws, "agent", "agent")
        supervisor = await create_token(session, ws, "supervisor", "sup")
    as_agent = {"Authorization": f"Bearer {agent}"}
    as_supervisor = {"Authorization": f"Bearer {supervisor}"}
    assert (await stack.client.get("/api/v1/rate-cards", headers=as_agent)).status_code == 403
    assert (await stack.client.get("/api/v1/rate-cards", headers=as_supervisor)).status_code == 200
    response = await stack.client.post(
        "/api/v1/rate-cards/import",
        params={"name": "x", "currency": "USD"},
        content=SHEET.encode(),
        headers=as_supervisor,
    )
    assert response.status_code == 403
