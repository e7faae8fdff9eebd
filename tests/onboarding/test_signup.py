"""Embedded Signup's server half (``/api/v1/onboarding/signups``) against the simulator
over real HTTP: each step at Meta, each step's failure in words, retries; on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from madoguchi.security.secrets import SecretBox
from madoguchi.store.models import Conversation, PhoneNumber, Signup
from tests.channel.test_numbers import BETA_FILE
from tests.conftest import SECRET_KEY, SIM_NUMBER, WABA_ID, seed_workspace, start_sim_stack

BETA_NUMBER = SIM_NUMBER.model_copy(
    update={
        "phone_number_id": "309999999999999",
        "display_phone_number": "+1 555 0999",
        "waba_id": "209999999999999",
        "access_token": "sim-token-beta",
    }
)


@pytest.fixture
async def meta(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path, workers=True, numbers=[SIM_NUMBER, BETA_NUMBER])
    yield s
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


async def popup(stack, **choices) -> dict:
    """What the signup popup hands the browser: a code, the WABA and the number."""
    body = {"display_phone_number": "+1 555 0142", "business_name": "Kobe Bakery", **choices}
    response = await stack.sim_client.post("/_sim/signup/finish", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def sign_up(stack, session: dict, pin: str = "123456", **extra):
    return await stack.api(
        "POST",
        "/api/v1/onboarding/signups",
        json={
            "code": session["code"],
            "waba_id": session["waba_id"],
            "phone_number_id": session["phone_number_id"],
            "pin": pin,
            **extra,
        },
    )


def steps(doc: dict) -> dict[str, str]:
    return {s["step"]: s["state"] for s in doc["steps"]}


async def sim_requests(stack, path: str) -> list[dict]:
    answer = await stack.sim_client.get("/_sim/sent", params={"path_contains": path})
    return answer.json()["requests"]


async def stored_number(stack, phone_number_id: str) -> PhoneNumber | None:
    async with stack.runtime.db.read() as session:
        return await session.scalar(
            select(PhoneNumber).where(PhoneNumber.phone_number_id == phone_number_id)
        )


async def test_admin_page_learns_how_to_launch_signup_and_what_is_missing(meta):
    config = (await meta.api("GET", "/api/v1/onboarding/meta-app")).json()
    assert config["ready"] is True and config["missing"] == []
    assert config["app_id"] == "100000000000777" and config["config_id"] == "100000000000888"
    # Not Meta's Graph API: the simulator's stand-in SDK, and its origin for the popup.
    assert config["sdk_url"] == f"{meta.sim.url}/en_US/sdk.js"
    assert config["dialog_origins"] == [meta.sim.url] and config["simulated"] is True
    sdk = await meta.sim_client.get("/en_US/sdk.js")
    assert sdk.status_code == 200 and "FB" in sdk.text

    meta.runtime.meta_app = dataclasses.replace(meta.runtime.meta_app, config_id=None)
    meta.runtime.signups.app = meta.runtime.meta_app
    config = (await meta.api("GET", "/api/v1/onboarding/meta-app")).json()
    assert config["ready"] is False and config["missing"] == ["MADOGUCHI_META_CONFIG_ID"]
    refused = await sign_up(meta, await popup(meta))
    assert refused.status_code == 409
    assert "MADOGUCHI_META_CONFIG_ID" in refused.json()["detail"]["message"]


async def test_signup_connects_a_new_number_that_then_receives_messages(meta):
    session = await popup(meta, verified_name="Kobe Bakery")
    response = await sign_up(meta, session, account_name="Kobe")
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["state"] == "completed" and doc["failed_step"] is None
    assert steps(doc) == {
        "exchange": "done",
        "subscribe": "done",
        "register": "done",
        "details": "done",
    }
    details = next(s for s in doc["steps"] if s["step"] == "details")["message"]
    assert "+1 555 0142" in details and "quality GREEN" in details and "TIER_1K" in details
    assert "sim-business" not in response.text  # the token never leaves the server

    # Meta's side: the app is subscribed, the number registered with the PIN chosen.
    subscriptions = (await meta.sim_client.get("/_sim/subscriptions")).json()
    assert subscriptions[session["waba_id"]] == ["100000000000777"]
    register = await sim_requests(meta, f"/{session['phone_number_id']}/register")
    assert [r["body"]["pin"] for r in register] == ["123456"]

    row = await stored_number(meta, session["phone_number_id"])
    assert row is not None and row.id == doc["number_id"]
    assert row.display_phone_number == "+1 555 0142" and row.verified_name == "Kobe Bakery"
    token = SecretBox(SECRET_KEY).decrypt(row.access_token_encrypted)
    assert token.startswith("sim-business-") and token not in row.access_token_encrypted
    listed = (await meta.api("GET", "/api/v1/phone-numbers")).json()
    assert {n["account_name"] for n in listed if n["phone_number_id"] == row.phone_number_id} == {
        "Kobe"
    }

    # A customer writes to the new number: it arrives in the workspace.
    customer = await meta.sim_client.post("/_sim/customers", json={"wa_id": "819012345678"})
    sent = await meta.sim_client.post(
        f"/_sim/customers/{customer.json()['user_id']}/messages",
        json={"phone_number_id": session["phone_number_id"], "text": "hello new number"},
    )
    assert sent.json()["delivered"] is True, sent.text
    await meta.runtime.processor.wait_idle()
    async with meta.runtime.db.read() as db:
        count = await db.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.phone_number_id == row.id)
        )
    assert count == 1

    # The same code again: Meta refuses it (used), and says what to do.
    again = await sign_up(meta, {**session, "phone_number_id": session["phone_number_id"]})
    assert again.status_code == 409  # the number is connected now: refused before Meta


async def test_a_bad_or_expired_code_fails_the_exchange_and_asks_for_a_new_signup(meta):
    session = await popup(meta)
    bad = await sign_up(meta, {**session, "code": "sim-code-made-up"})
    assert bad.status_code == 201
    doc = bad.json()
    assert doc["state"] == "failed" and doc["failed_step"] == "exchange"
    assert doc["retry_needs"] == "new_signup"
    assert "Meta refused the authorization code" in doc["message"] and "#100" in doc["message"]
    assert "launch Connect with Meta again" in doc["message"]
    assert steps(doc) == {
        "exchange": "failed",
        "subscribe": "pending",
        "register": "pending",
        "details": "pending",
    }
    assert await stored_number(meta, session["phone_number_id"]) is None
    retry = await meta.api("POST", f"/api/v1/onboarding/signups/{doc['id']}/retry", json={})
    assert retry.status_code == 409 and retry.json()["detail"]["code"] == "new_signup_needed"

    late = await popup(meta, display_phone_number="+1 555 0143")
    await meta.sim_client.post("/_sim/clock", json={"advance_seconds": 31})
    expired = (await sign_up(meta, late)).json()
    assert expired["failed_step"] == "exchange" and "has expired" in expired["message"]


async def test_a_refused_subscription_is_shown_and_retried(meta):
    await meta.sim_client.post(
        "/_sim/signup/faults",
        json={"step": "subscribe", "code": 200, "details": "Permissions error"},
    )
    session = await popup(meta)
    doc = (await sign_up(meta, session)).json()
    assert doc["state"] == "failed" and doc["failed_step"] == "subscribe"
    assert steps(doc)["exchange"] == "done" and steps(doc)["register"] == "pending"
    assert "Meta refused to send this account's webhooks to the app" in doc["message"]
    assert "#200" in doc["message"] and "whatsapp_business_management" in doc["message"]
    assert doc["retry_needs"] is None
    assert await stored_number(meta, session["phone_number_id"]) is None  # not half-connected
    async with meta.runtime.db.read() as db:
        row = await db.get(Signup, doc["id"])
        assert row.access_token_encrypted and "sim-business" not in row.access_token_encrypted

    # The retry keeps the token already obtained: no second code exchange.
    retried = await meta.api("POST", f"/api/v1/onboarding/signups/{doc['id']}/retry", json={})
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "completed"
    assert len(await sim_requests(meta, "/oauth/access_token")) == 1
    assert await stored_number(meta, session["phone_number_id"]) is not None
    fetched = await meta.api("GET", f"/api/v1/onboarding/signups/{doc['id']}")
    assert fetched.json()["state"] == "completed"
    done = await meta.api("POST", f"/api/v1/onboarding/signups/{doc['id']}/retry", json={})
    assert done.status_code == 409 and done.json()["detail"]["code"] == "completed"


async def test_a_wrong_pin_fails_registration_and_the_retry_takes_the_right_one(meta):
    session = await popup(meta, existing_pin="246810")
    doc = (await sign_up(meta, session, pin="123456")).json()
    assert doc["failed_step"] == "register" and doc["retry_needs"] == "pin"
    assert "#133005" in doc["message"] and "number's current PIN" in doc["message"]
    assert "123456" not in doc["message"]
    url = f"/api/v1/onboarding/signups/{doc['id']}/retry"
    for bad in ({}, {"pin": "12345"}, {"pin": "abcdef"}):
        refused = await meta.api("POST", url, json=bad)
        assert refused.status_code == 422 and refused.json()["detail"]["field"] == "pin"
    retried = (await meta.api("POST", url, json={"pin": "246810"})).json()
    assert retried["state"] == "completed" and steps(retried)["register"] == "done"
    # Exchange and subscription ran once: the retry started at the failed step.
    assert len(await sim_requests(meta, "/subscribed_apps")) == 1


async def test_an_already_registered_number_skips_registration(meta):
    session = await popup(meta)
    await meta.sim_client.post(
        f"/_sim/numbers/{session['phone_number_id']}", json={"registered": True}
    )
    doc = (await sign_up(meta, session)).json()
    assert doc["state"] == "completed" and steps(doc)["register"] == "skipped"
    assert await sim_requests(meta, f"/{session['phone_number_id']}/register") == []


async def test_bad_requests_and_a_waba_of_another_workspace_are_refused_before_meta(meta):
    await seed_workspace(meta.runtime.db, BETA_FILE, slug="beta")
    session = await popup(meta)
    cases = [
        ({"pin": "1234"}, 422, "pin", "six digits"),
        ({"pin": ""}, 422, "pin", "six digits"),
        ({"code": "two words"}, 422, "code", "Connect with Meta again"),
        ({"waba_id": "acme"}, 422, "waba_id", "numeric id"),
        ({"phone_number_id": "+1 555"}, 422, "phone_number_id", "numeric id"),
        ({"default_queue_id": 99999}, 422, "default_queue_id", "no queue 99999"),
        ({"waba_id": "209999999999999"}, 409, "waba_id", "one solution provider"),
        ({"phone_number_id": SIM_NUMBER.phone_number_id}, 409, "phone_number_id", "already"),
    ]
    base = {k: session[k] for k in ("code", "waba_id", "phone_number_id")}
    for change, status, field, words in cases:
        body = {**base, "pin": "123456", **change}
        response = await meta.api("POST", "/api/v1/onboarding/signups", json=body)
        assert response.status_code == status, (change, response.text)
        detail = response.json()["detail"]
        assert detail["field"] == field and words in detail["message"], (change, detail)
    assert await sim_requests(meta, "/oauth/access_token") == []
    async with meta.runtime.db.read() as db:
        assert await db.scalar(select(func.count()).select_from(Signup)) == 0
    # The popup can pick the workspace's own WABA: the new number joins that account.
    own = await popup(meta, waba_id=WABA_ID, display_phone_number="+1 555 0144")
    doc = (await sign_up(meta, own)).json()
    assert doc["state"] == "completed", doc
    listed = (await meta.api("GET", "/api/v1/phone-numbers")).json()
    assert {n["waba_id"] for n in listed} == {WABA_ID}


async def test_only_admins_run_signups(meta):
    from tests.access.people import add_token

    _, supervisor = await add_token(meta.runtime.db, "supervisor")
    response = await meta.client.post(
        "/api/v1/onboarding/signups",
        headers={"Authorization": f"Bearer {supervisor}"},
        json={"code": "x", "waba_id": "1", "phone_number_id": "2", "pin": "123456"},
    )
    assert response.status_code == 403


def test_the_page_may_load_the_sdk_only_from_its_origin_once_set_up():
    from madoguchi.services.onboarding.meta_app import MetaApp

    meta = MetaApp("1234", "secret", "5678", "https://graph.facebook.com", "v26.0")
    assert meta.script_origins() == ("https://connect.facebook.net",)
    config = meta.browser_config()
    assert config["sdk_url"] == "https://connect.facebook.net/en_US/sdk.js"
    assert "https://www.facebook.com" in config["dialog_origins"] and not config["simulated"]
    assert "secret" not in str(config)
    unset = MetaApp(None, "secret", None, "https://graph.facebook.com", "v26.0")
    assert unset.script_origins() == ()  # the strict policy stays until it is set up
    assert unset.missing() == ["MADOGUCHI_META_APP_ID", "MADOGUCHI_META_CONFIG_ID"]
