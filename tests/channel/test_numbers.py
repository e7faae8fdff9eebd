"""Connecting WhatsApp numbers from the API (``/api/v1/phone-numbers``): Meta — here the
simulator over real HTTP — confirms each number with the token given before it is saved;
on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from madoguchi.security.secrets import SecretBox, token_fingerprint
from madoguchi.simulator.config import SimNumber
from madoguchi.store.models import Conversation, PhoneNumber, Queue, WhatsAppAccount
from tests.access.people import add_token
from tests.conftest import (
    PHONE_NUMBER_ID,
    SECRET_KEY,
    SIM_NUMBER,
    WA_TOKEN,
    WABA_ID,
    fixture_payload,
    seed_workspace,
    start_sim_stack,
)

# Numbers Meta (the simulator) knows but the workspace has not connected yet.
SPARE = SimNumber(
    phone_number_id="301234567890999",
    display_phone_number="+1 555 0199",
    waba_id="202222222222222",
    access_token="sim-token-spare",
    verified_name="ACME Spare",
    quality_rating="YELLOW",
)
SECOND = SimNumber(
    phone_number_id="301234567890888",
    display_phone_number="+1 555 0188",
    waba_id=WABA_ID,  # the account the workspace file already connected
    access_token="sim-token-second",
    verified_name="ACME Second",
)
CONNECT = {
    "waba_id": SPARE.waba_id,
    "account_name": "ACME Japan",
    "phone_number_id": SPARE.phone_number_id,
    "display_phone_number": SPARE.display_phone_number,
    "access_token": SPARE.access_token,
}
BETA_FILE = """
workspace: {slug: beta, name: Beta}
queues:
  - name: Beta queue
whatsapp:
  accounts:
    - waba_id: "209999999999999"
      name: Beta
      phone_numbers:
        - phone_number_id: "309999999999999"
          display_phone_number: "+1 555 0999"
          access_token: ${WA_TOKEN}
"""


@pytest.fixture
async def meta(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path, workers=False, numbers=[SIM_NUMBER, SPARE, SECOND])
    yield s
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


async def headers_for(stack, role: str, workspace: str = "acme") -> dict[str, str]:
    _, token = await add_token(stack.runtime.db, role, workspace=workspace)
    return {"Authorization": f"Bearer {token}"}


async def stored(stack, phone_number_id: str) -> PhoneNumber | None:
    async with stack.runtime.db.read() as session:
        return await session.scalar(
            select(PhoneNumber).where(PhoneNumber.phone_number_id == phone_number_id)
        )


async def number_count(stack) -> int:
    async with stack.runtime.db.read() as session:
        return await session.scalar(select(func.count()).select_from(PhoneNumber))


def field_error(response, status: int, field: str | None) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail.get("field") == field, detail
    assert detail["message"] and detail["code"]
    return detail["message"]


async def test_admin_connects_a_number_that_meta_confirms(meta):
    response = await meta.api("POST", "/api/v1/phone-numbers", json=CONNECT)
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["phone_number_id"] == SPARE.phone_number_id
    assert doc["display_phone_number"] == "+1 555 0199"
    # Meta's answer: verified name, quality, status.
    assert (doc["verified_name"], doc["quality_rating"], doc["status"]) == (
        "ACME Spare",
        "YELLOW",
        "connected",
    )
    assert (doc["waba_id"], doc["account_name"]) == (SPARE.waba_id, "ACME Japan")
    assert doc["rate_limit_per_second"] == 80 and doc["default_queue_id"] is None
    assert SPARE.access_token not in response.text and "token" not in response.text

    listed = await meta.api("GET", "/api/v1/phone-numbers")
    assert {n["phone_number_id"] for n in listed.json()} == {
        PHONE_NUMBER_ID,
        SPARE.phone_number_id,
    }
    assert SPARE.access_token not in listed.text

    row = await stored(meta, SPARE.phone_number_id)
    assert SPARE.access_token not in row.access_token_encrypted  # encrypted at rest
    assert SecretBox(SECRET_KEY).decrypt(row.access_token_encrypted) == SPARE.access_token
    assert row.access_token_fingerprint == token_fingerprint(SPARE.access_token)

    # A second number of an account the workspace already has: no account name needed.
    queue = await meta.api("POST", "/api/v1/queues", json={"name": "Support"})
    second = await meta.api(
        "POST",
        "/api/v1/phone-numbers",
        json={
            "waba_id": WABA_ID,
            "phone_number_id": SECOND.phone_number_id,
            "display_phone_number": SECOND.display_phone_number,
            "access_token": SECOND.access_token,
            "rate_limit_per_second": 1000,
            "default_queue_id": queue.json()["id"],
        },
    )
    assert second.status_code == 201, second.text
    assert (second.json()["account_name"], second.json()["verified_name"]) == (
        "ACME",
        "ACME Second",
    )
    assert second.json()["rate_limit_per_second"] == 1000
    assert second.json()["default_queue_id"] == queue.json()["id"]
    async with meta.runtime.db.read() as session:
        accounts = await session.scalar(select(func.count()).select_from(WhatsAppAccount))
    assert accounts == 2


async def test_meta_refusals_are_errors_on_the_field_to_fix(meta):
    before = await number_count(meta)
    bad_token = await meta.api(
        "POST", "/api/v1/phone-numbers", json={**CONNECT, "access_token": "EAAG-not-a-token"}
    )
    message = field_error(bad_token, 422, "access_token")
    assert "Meta refused this access token" in message and "#190" in message
    assert "EAAG-not-a-token" not in bad_token.text

    # A real token, but of another number: Meta says it grants no access to this one.
    foreign = await meta.api(
        "POST", "/api/v1/phone-numbers", json={**CONNECT, "access_token": WA_TOKEN}
    )
    assert "does not grant access" in field_error(foreign, 422, "access_token")
    assert WA_TOKEN not in foreign.text

    unknown = await meta.api(
        "POST", "/api/v1/phone-numbers", json={**CONNECT, "phone_number_id": "301234567890000"}
    )
    message = field_error(unknown, 422, "phone_number_id")
    assert "Meta knows no phone number 301234567890000" in message and "#100" in message
    assert await number_count(meta) == before
    assert await stored(meta, SPARE.phone_number_id) is None


async def test_bad_inputs_name_their_field_and_save_nothing(meta):
    _, beta_token = await add_token(meta.runtime.db, "admin", workspace="beta")
    await seed_workspace(meta.runtime.db, BETA_FILE, slug="beta")
    async with meta.runtime.db.read() as session:
        beta_queue = await session.scalar(select(Queue.id).where(Queue.name == "Beta queue"))
    before = await number_count(meta)
    cases = [
        ({"rate_limit_per_second": 0}, 422, "rate_limit_per_second", "from 1 to 1000"),
        ({"rate_limit_per_second": 5000}, 422, "rate_limit_per_second", "from 1 to 1000"),
        ({"default_queue_id": 999999}, 422, "default_queue_id", "no queue 999999"),
        ({"default_queue_id": beta_queue}, 422, "default_queue_id", "in this workspace"),
        ({"phone_number_id": "+1 555 0199"}, 422, "phone_number_id", "numeric id"),
        ({"waba_id": "acme"}, 422, "waba_id", "numeric id"),
        ({"display_phone_number": "  "}, 422, "display_phone_number", "+1 555 0123"),
        ({"access_token": ""}, 422, "access_token", "access token"),
        ({"account_name": None}, 422, "account_name", "give it a name"),
        ({"phone_number_id": PHONE_NUMBER_ID}, 409, "phone_number_id", "already connected"),
        ({"phone_number_id": "309999999999999"}, 409, "phone_number_id", "another workspace"),
        ({"waba_id": "209999999999999"}, 409, "waba_id", "another workspace"),
    ]
    for change, status, field, words in cases:
        response = await meta.api("POST", "/api/v1/phone-numbers", json={**CONNECT, **change})
        assert words in field_error(response, status, field), (change, response.text)
    assert await number_count(meta) == before

    # The same number, connected twice: the second is a conflict on phone_number_id.
    assert (await meta.api("POST", "/api/v1/phone-numbers", json=CONNECT)).status_code == 201
    twice = await meta.api("POST", "/api/v1/phone-numbers", json=CONNECT)
    assert "already connected to this workspace" in field_error(twice, 409, "phone_number_id")
    # Beta may not take it either.
    elsewhere = await meta.client.post(
        "/api/v1/phone-numbers",
        json={**CONNECT, "waba_id": "209999999999999"},
        headers={"Authorization": f"Bearer {beta_token}"},
    )
    assert "another workspace" in field_error(elsewhere, 409, "phone_number_id")


async def test_graph_api_unreachable_is_a_502_in_words(stack):
    """The plain stack points its Graph API at a closed port."""
    response = await stack.api("POST", "/api/v1/phone-numbers", json=CONNECT)
    message = field_error(response, 502, None)
    assert "could not be reached" in message and "MADOGUCHI_GRAPH_API_URL" in message
    assert SPARE.access_token not in response.text
    assert await stored(stack, SPARE.phone_number_id) is None


async def test_admin_changes_a_number_and_a_new_token_is_checked_first(meta):
    created = (await meta.api("POST", "/api/v1/phone-numbers", json=CONNECT)).json()
    path = f"/api/v1/phone-numbers/{created['id']}"
    queue = (await meta.api("POST", "/api/v1/queues", json={"name": "Japan"})).json()

    changed = await meta.api(
        "PATCH",
        path,
        json={
            "display_phone_number": "+1 (555) 0199",
            "rate_limit_per_second": 20,
            "default_queue_id": queue["id"],
        },
    )
    assert changed.status_code == 200, changed.text
    doc = changed.json()
    assert (doc["display_phone_number"], doc["rate_limit_per_second"]) == ("+1 (555) 0199", 20)
    assert doc["default_queue_id"] == queue["id"]

    # Fields left out stay; null clears the default queue only.
    cleared = await meta.api("PATCH", path, json={"default_queue_id": None})
    assert cleared.json()["default_queue_id"] is None
    assert cleared.json()["rate_limit_per_second"] == 20

    for body, field in (
        ({"rate_limit_per_second": 0}, "rate_limit_per_second"),
        ({"rate_limit_per_second": 5000}, "rate_limit_per_second"),
        ({"default_queue_id": 999999}, "default_queue_id"),
        ({"display_phone_number": None}, "display_phone_number"),
        ({"access_token": "EAAG-revoked"}, "access_token"),
    ):
        response = await meta.api("PATCH", path, json=body)
        field_error(response, 422, field)
    row = await stored(meta, SPARE.phone_number_id)
    assert SecretBox(SECRET_KEY).decrypt(row.access_token_encrypted) == SPARE.access_token
    assert row.rate_limit_per_second == 20

    # Meta rotates the number's token: the new one is confirmed, then replaces the old.
    hosted = meta.sim.app.state.sim.state.numbers
    hosted[SPARE.phone_number_id] = SPARE.model_copy(update={"access_token": "sim-token-new"})
    renewed = await meta.api("PATCH", path, json={"access_token": "sim-token-new"})
    assert renewed.status_code == 200, renewed.text
    assert "sim-token-new" not in renewed.text
    row = await stored(meta, SPARE.phone_number_id)
    assert SecretBox(SECRET_KEY).decrypt(row.access_token_encrypted) == "sim-token-new"


async def test_remove_an_unused_number_but_not_one_with_conversations(meta):
    created = (await meta.api("POST", "/api/v1/phone-numbers", json=CONNECT)).json()
    assert (await meta.post_webhook(fixture_payload("message_text.json"))).status_code == 200
    async with meta.runtime.db.read() as session:
        seeded = await session.scalar(
            select(PhoneNumber.id).where(PhoneNumber.phone_number_id == PHONE_NUMBER_ID)
        )
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
    assert conversations == 1

    refused = await meta.api("DELETE", f"/api/v1/phone-numbers/{seeded}")
    assert "1 conversation" in field_error(refused, 409, None)
    assert await stored(meta, PHONE_NUMBER_ID) is not None
    async with meta.runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1

    gone = await meta.api("DELETE", f"/api/v1/phone-numbers/{created['id']}")
    assert gone.status_code == 204
    assert await stored(meta, SPARE.phone_number_id) is None
    again = await meta.api("DELETE", f"/api/v1/phone-numbers/{created['id']}")
    assert again.status_code == 404
    # Its account stays, and the number can be connected again.
    assert (await meta.api("POST", "/api/v1/phone-numbers", json=CONNECT)).status_code == 201


async def test_only_admins_of_the_workspace_manage_numbers(meta):
    created = (await meta.api("POST", "/api/v1/phone-numbers", json=CONNECT)).json()
    path = f"/api/v1/phone-numbers/{created['id']}"
    second = {
        **CONNECT,
        "waba_id": WABA_ID,
        "phone_number_id": SECOND.phone_number_id,
        "access_token": SECOND.access_token,
    }
    for role in ("agent", "supervisor"):
        headers = await headers_for(meta, role)
        for method, url, body in (
            ("POST", "/api/v1/phone-numbers", second),
            ("PATCH", path, {"rate_limit_per_second": 1}),
            ("DELETE", path, None),
        ):
            response = await meta.client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (role, method, response.text)
    agent = await headers_for(meta, "agent")
    assert (await meta.client.get("/api/v1/phone-numbers", headers=agent)).status_code == 403

    beta = await headers_for(meta, "admin", workspace="beta")
    for method, body in (("PATCH", {"rate_limit_per_second": 1}), ("DELETE", None)):
        response = await meta.client.request(method, path, json=body, headers=beta)
        assert response.status_code == 404, response.text
    assert (await meta.client.get("/api/v1/phone-numbers", headers=beta)).json() == []
    row = await stored(meta, SPARE.phone_number_id)
    assert row is not None and row.rate_limit_per_second == 80
