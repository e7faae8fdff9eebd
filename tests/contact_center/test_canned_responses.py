"""Canned responses (``/api/v1/canned-responses``) and the numbers list
(``/api/v1/phone-numbers``), on both databases."""

from __future__ import annotations

from madoguchi.store.models import CannedResponse
from tests.access.people import add_token
from tests.conftest import PHONE_NUMBER_ID, WA_TOKEN, WABA_ID

HOURS = {
    "shortcut": "hours",
    "title": "Opening hours",
    "body": "Hi {{contact.name}}, we are open 9:00-18:00.",
}


async def as_role(stack, role: str) -> dict[str, str]:
    _, token = await add_token(stack.runtime.db, role)
    return {"Authorization": f"Bearer {token}"}


async def test_admin_creates_updates_and_deletes(stack):
    created = await stack.api("POST", "/api/v1/canned-responses", json=HOURS)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert {k: doc[k] for k in HOURS} == HOURS
    assert doc["created_at"] and doc["updated_at"]

    changed = {**HOURS, "title": "Hours", "body": "Open daily."}
    updated = await stack.api("PUT", f"/api/v1/canned-responses/{doc['id']}", json=changed)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["title"], updated.json()["body"]) == ("Hours", "Open daily.")

    listed = await stack.api("GET", "/api/v1/canned-responses")
    assert [row["shortcut"] for row in listed.json()] == ["hours"]

    gone = await stack.api("DELETE", f"/api/v1/canned-responses/{doc['id']}")
    assert gone.status_code == 204
    assert (await stack.api("GET", "/api/v1/canned-responses")).json() == []
    again = await stack.api("DELETE", f"/api/v1/canned-responses/{doc['id']}")
    assert again.status_code == 404


async def test_query_filters_by_shortcut_or_title_prefix(stack):
    for spec in (
        HOURS,
        {"shortcut": "refund", "title": "Refund policy", "body": "30 days."},
        {"shortcut": "ship", "title": "Hours of shipping", "body": "Same day."},
        {"shortcut": "x_100", "title": "Percent", "body": "100%"},
    ):
        assert (await stack.api("POST", "/api/v1/canned-responses", json=spec)).status_code == 201

    async def shortcuts(q: str) -> list[str]:
        response = await stack.api("GET", "/api/v1/canned-responses", params={"q": q})
        assert response.status_code == 200, response.text
        return [row["shortcut"] for row in response.json()]

    assert await shortcuts("ho") == ["hours", "ship"]  # shortcut, then title prefix
    assert await shortcuts("/re") == ["refund"]  # the composer's leading slash is ignored
    assert await shortcuts("REF") == ["refund"]  # titles match case-insensitively
    assert await shortcuts("x_") == ["x_100"]
    assert await shortcuts("%") == []  # LIKE wildcards are literal
    assert await shortcuts("_") == []
    assert await shortcuts("nothing") == []
    assert len(await shortcuts("")) == 4


async def test_errors_name_the_field(stack):
    cases = [
        ({**HOURS, "shortcut": "Has Space"}, "shortcut"),
        ({**HOURS, "shortcut": ""}, "shortcut"),
        ({**HOURS, "shortcut": "a" * 33}, "shortcut"),
        ({**HOURS, "title": ""}, "title"),
        ({**HOURS, "body": "x" * 4097}, "body"),
        ({"shortcut": "hours", "title": "T"}, "body"),
    ]
    for body, field in cases:
        response = await stack.api("POST", "/api/v1/canned-responses", json=body)
        assert response.status_code == 422, (body, response.text)
        assert {tuple(item["loc"]) for item in response.json()["detail"]} == {("body", field)}

    assert (
        await stack.api("POST", "/api/v1/canned-responses", json={**HOURS, "body": "x" * 4096})
    ).status_code == 201


async def test_duplicate_shortcut_is_a_conflict(stack):
    first = (await stack.api("POST", "/api/v1/canned-responses", json=HOURS)).json()
    duplicate = await stack.api("POST", "/api/v1/canned-responses", json=HOURS)
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"]["field"] == "shortcut"

    other = await stack.api(
        "POST", "/api/v1/canned-responses", json={**HOURS, "shortcut": "hours2"}
    )
    clash = await stack.api("PUT", f"/api/v1/canned-responses/{other.json()['id']}", json=HOURS)
    assert clash.status_code == 409
    assert clash.json()["detail"]["field"] == "shortcut"
    # Keeping one's own shortcut is no clash.
    same = await stack.api("PUT", f"/api/v1/canned-responses/{first['id']}", json=HOURS)
    assert same.status_code == 200


async def test_agents_read_but_only_admins_write(stack):
    await stack.api("POST", "/api/v1/canned-responses", json=HOURS)
    [row] = (await stack.api("GET", "/api/v1/canned-responses")).json()
    for role in ("agent", "supervisor"):
        headers = await as_role(stack, role)
        listed = await stack.client.get("/api/v1/canned-responses", headers=headers)
        assert listed.status_code == 200 and listed.json()[0]["shortcut"] == "hours"
        for method, path, body in (
            ("POST", "/api/v1/canned-responses", {**HOURS, "shortcut": "mine"}),
            ("PUT", f"/api/v1/canned-responses/{row['id']}", HOURS),
            ("DELETE", f"/api/v1/canned-responses/{row['id']}", None),
        ):
            response = await stack.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, (role, method, response.text)


async def test_another_workspace_sees_nothing(stack):
    doc = (await stack.api("POST", "/api/v1/canned-responses", json=HOURS)).json()
    _, other = await add_token(stack.runtime.db, "admin", workspace="other")
    headers = {"Authorization": f"Bearer {other}"}
    assert (await stack.client.get("/api/v1/canned-responses", headers=headers)).json() == []
    for method in ("PUT", "DELETE"):
        response = await stack.client.request(
            method,
            f"/api/v1/canned-responses/{doc['id']}",
            json=HOURS if method == "PUT" else None,
            headers=headers,
        )
        assert response.status_code == 404
    # The same shortcut is free in another workspace.
    mine = await stack.client.post("/api/v1/canned-responses", json=HOURS, headers=headers)
    assert mine.status_code == 201
    async with stack.runtime.db.read() as session:
        row = await session.get(CannedResponse, doc["id"])
        assert row.body == HOURS["body"]


async def test_phone_numbers_list_without_tokens(stack):
    response = await stack.api("GET", "/api/v1/phone-numbers")
    assert response.status_code == 200, response.text
    [number] = response.json()
    assert number["phone_number_id"] == PHONE_NUMBER_ID
    assert number["display_phone_number"] == "+1 555 0123"
    assert (number["waba_id"], number["account_name"]) == (WABA_ID, "ACME")
    assert number["status"] and number["rate_limit_per_second"] > 0
    assert set(number) == {
        "id",
        "phone_number_id",
        "display_phone_number",
        "verified_name",
        "status",
        "quality_rating",
        "rate_limit_per_second",
        "default_queue_id",
        "waba_id",
        "account_name",
    }
    assert WA_TOKEN not in response.text and "token" not in response.text

    supervisor = await as_role(stack, "supervisor")
    assert (await stack.client.get("/api/v1/phone-numbers", headers=supervisor)).status_code == 200
    agent = await as_role(stack, "agent")
    assert (await stack.client.get("/api/v1/phone-numbers", headers=agent)).status_code == 403
    _, other = await add_token(stack.runtime.db, "admin", workspace="other")
    elsewhere = await stack.client.get(
        "/api/v1/phone-numbers", headers={"Authorization": f"Bearer {other}"}
    )
    assert elsewhere.json() == []
