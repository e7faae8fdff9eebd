"""A number's health page (``/api/v1/phone-numbers/{id}/health``) and disconnecting it,
against the simulator over real HTTP: each warning from a simulated state; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from madoguchi.services.onboarding.health import HealthChecker
from madoguchi.store.models import Conversation, Message, PhoneNumber
from tests.conftest import PHONE_NUMBER_ID, SIM_NUMBER, WABA_ID, start_sim_stack
from tests.helpers import eventually
from tests.onboarding.test_signup import popup, sign_up


async def _stack(db_url, tmp_path, workers: bool):
    s = await start_sim_stack(db_url, tmp_path, workers=workers, numbers=[SIM_NUMBER])
    yield s
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


@pytest.fixture
async def meta(db_url, tmp_path):
    async for s in _stack(db_url, tmp_path, workers=True):
        yield s


@pytest.fixture
async def no_sender(db_url, tmp_path):
    """Workers off: what the agents send waits in the outbox."""
    async for s in _stack(db_url, tmp_path, workers=False):
        yield s


async def number_id(stack, phone_number_id: str = PHONE_NUMBER_ID) -> int:
    async with stack.runtime.db.read() as session:
        return await session.scalar(
            select(PhoneNumber.id).where(PhoneNumber.phone_number_id == phone_number_id)
        )


async def check(stack, nid: int) -> dict:
    response = await stack.api("POST", f"/api/v1/phone-numbers/{nid}/health/check")
    assert response.status_code == 200, response.text
    return response.json()


def codes(report: dict) -> set[str]:
    return {w["code"] for w in report["warnings"]}


async def customer_writes(stack, text: str = "hello") -> dict:
    customer = await stack.sim_client.post("/_sim/customers", json={"wa_id": "819011112222"})
    sent = await stack.sim_client.post(
        f"/_sim/customers/{customer.json()['user_id']}/messages",
        json={"phone_number_id": PHONE_NUMBER_ID, "text": text},
    )
    assert sent.json()["delivered"], sent.text
    await stack.runtime.processor.wait_idle()
    async with stack.runtime.db.read() as session:
        return {"conversation": await session.scalar(select(Conversation.id))}


async def reply(stack, conversation_id: int, text: str = "hi there"):
    return await stack.api(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"message": {"type": "text", "text": {"body": text}}},
    )


async def final_status(stack, message_id: int) -> str:
    async def settled():
        async with stack.runtime.db.read() as session:
            status = await session.scalar(select(Message.status).where(Message.id == message_id))
        return status if status not in ("queued",) else None

    return await eventually(settled)


async def test_a_healthy_number_reports_what_meta_says_and_no_warnings(meta):
    nid = await number_id(meta)
    before = (await meta.api("GET", f"/api/v1/phone-numbers/{nid}/health")).json()
    assert before["checked_at"] is None and codes(before) == {"never_checked"}

    report = await check(meta, nid)
    assert report["reached"] is True and report["warnings"] == []
    assert report["meta"]["quality_rating"] == "GREEN"
    assert report["meta"]["messaging_limit_tier"] == "TIER_1K"
    assert report["meta"]["throughput_level"] == "STANDARD"
    assert (report["meta"]["status"], report["meta"]["name_status"]) == ("CONNECTED", "APPROVED")
    assert report["token"]["checked"] and report["token"]["valid"]
    assert report["token"]["expires_at"] is None  # a system user token: never
    assert set(report["token"]["scopes"]) >= {"whatsapp_business_messaging"}
    assert report["webhooks"] == {"subscribed": True, "apps": ["100000000000777"]}
    assert SIM_NUMBER.access_token not in str(report)
    # Read again later: the stored answers, no new call to Meta.
    sent_before = len((await meta.sim_client.get("/_sim/sent")).json()["requests"])
    again = (await meta.api("GET", f"/api/v1/phone-numbers/{nid}/health")).json()
    assert again["checked_at"] == report["checked_at"] and again["warnings"] == []
    assert len((await meta.sim_client.get("/_sim/sent")).json()["requests"]) == sent_before


async def test_an_expiring_then_revoked_token_is_warned_about(meta):
    session = await popup(meta)
    doc = (await sign_up(meta, session)).json()
    nid = doc["number_id"]
    report = await check(meta, nid)
    assert report["token"]["expires_at"] is not None  # Embedded Signup's token: 60 days
    assert "token_expiring" not in codes(report)

    await meta.sim_client.post(
        "/_sim/tokens",
        json={"waba_id": session["waba_id"], "expires_in_seconds": 5 * 86400 + 3600},
    )
    report = await check(meta, nid)
    warning = next(w for w in report["warnings"] if w["code"] == "token_expiring")
    assert warning["level"] == "warning" and "expires in 5 days" in warning["message"]

    await meta.sim_client.post("/_sim/tokens", json={"waba_id": session["waba_id"], "revoke": True})
    report = await check(meta, nid)
    assert report["token"]["valid"] is False
    danger = next(w for w in report["warnings"] if w["code"] == "token_invalid")
    assert danger["level"] == "danger" and "Connect with Meta" in danger["message"]
    assert report["warnings"][0]["level"] == "danger"  # most urgent first


async def test_quality_and_limit_from_the_api_and_from_webhooks(meta):
    nid = await number_id(meta)
    await check(meta, nid)
    changed = await meta.sim_client.post(
        f"/_sim/numbers/{PHONE_NUMBER_ID}",
        json={
            "quality_rating": "RED",
            "messaging_limit_tier": "TIER_250",
            "webhook_event": "DOWNGRADE",
        },
    )
    assert changed.status_code == 200, changed.text
    await meta.runtime.processor.wait_idle()
    # Without a new check: the webhook already tells the new limit.
    report = (await meta.api("GET", f"/api/v1/phone-numbers/{nid}/health")).json()
    assert report["traffic"]["quality_event"]["event"] == "DOWNGRADE"
    assert report["meta"]["messaging_limit_tier"] == "TIER_250"
    report = await check(meta, nid)
    assert report["meta"]["quality_rating"] == "RED"
    quality = next(w for w in report["warnings"] if w["code"] == "quality")
    assert quality["level"] == "danger" and "RED" in quality["message"]
    listed = (await meta.api("GET", "/api/v1/phone-numbers")).json()
    assert listed[0]["quality_rating"] == "RED"

    await meta.sim_client.post(f"/_sim/numbers/{PHONE_NUMBER_ID}", json={"registered": False})
    report = await check(meta, nid)
    assert "not_connected" in codes(report) and "PENDING" in str(report["warnings"])


async def test_send_errors_grouped_by_meta_code_and_webhook_silence(meta):
    nid = await number_id(meta)
    conversation = (await customer_writes(meta))["conversation"]
    await meta.sim_client.post(
        "/_sim/faults", json={"phone_number_id": PHONE_NUMBER_ID, "code": 131048, "count": 2}
    )
    for text in ("one", "two"):
        sent = await reply(meta, conversation, text)
        assert sent.status_code == 202, sent.text
        assert await final_status(meta, sent.json()["id"]) == "failed"
    report = (await meta.api("GET", f"/api/v1/phone-numbers/{nid}/health")).json()
    assert [(e["code"], e["count"]) for e in report["traffic"]["errors"]] == [(131048, 2)]
    assert "send_error_131048" in codes(report)
    assert "webhook_silence" not in codes(report)

    # The customer wrote 3 hours ago; statuses stop arriving; a send succeeds.
    async with meta.runtime.db.write() as session:
        await session.execute(
            update(Message)
            .where(Message.direction == "inbound")
            .values(created_at=datetime.now(UTC) - timedelta(hours=3))
        )
    meta.sim.app.state.sim.config.status_delay_seconds = 3600
    sent = await reply(meta, conversation, "three")
    assert await final_status(meta, sent.json()["id"]) == "accepted"
    report = (await meta.api("GET", f"/api/v1/phone-numbers/{nid}/health")).json()
    silence = next(w for w in report["warnings"] if w["code"] == "webhook_silence")
    assert "no webhook for 2 hours while sends succeed" in silence["message"]
    assert report["traffic"]["last_send_at"] is not None


async def test_disconnect_unsubscribes_fails_unsent_and_keeps_history(no_sender):
    meta = no_sender
    nid = await number_id(meta)
    conversation = (await customer_writes(meta))["conversation"]
    waiting = await reply(meta, conversation, "still in the outbox")
    assert waiting.status_code == 202

    response = await meta.api("POST", f"/api/v1/phone-numbers/{nid}/disconnect")
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["unsubscribed"] is True and done["unsent_failed"] == 1
    assert "conversations stay readable" in done["message"]
    subscriptions = (await meta.sim_client.get("/_sim/subscriptions")).json()
    assert subscriptions[WABA_ID] == []
    async with meta.runtime.db.read() as session:
        message = await session.get(Message, waiting.json()["id"])
        assert message.status == "failed" and "disconnected" in message.error_message

    refused = await reply(meta, conversation, "after")
    assert refused.status_code == 409 and "disconnected" in refused.text
    history = await meta.api("GET", f"/api/v1/conversations/{conversation}/messages")
    assert history.status_code == 200 and "hello" in history.text
    report = (await meta.api("GET", f"/api/v1/phone-numbers/{nid}/health")).json()
    assert report["status"] == "disconnected" and "disconnected" in codes(report)
    again = await meta.api("POST", f"/api/v1/phone-numbers/{nid}/disconnect")
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_disconnected"
    missing = await meta.api("POST", "/api/v1/phone-numbers/999999/disconnect")
    assert missing.status_code == 404

    # A new token connects it again (Meta confirms it first).
    patched = await meta.api(
        "PATCH", f"/api/v1/phone-numbers/{nid}", json={"access_token": SIM_NUMBER.access_token}
    )
    assert patched.status_code == 200 and patched.json()["status"] == "connected"


async def test_periodic_checks_take_the_numbers_that_are_due(meta):
    runtime = meta.runtime
    checker = HealthChecker(runtime.db, runtime.graph, runtime.secrets, runtime.meta_app, 3600)
    now = datetime.now(UTC)
    assert await checker.check_due(now) == 1
    assert await checker.check_due(now + timedelta(minutes=10)) == 0
    assert await checker.check_due(now + timedelta(hours=2)) == 1
    nid = await number_id(meta)
    report = (await meta.api("GET", f"/api/v1/phone-numbers/{nid}/health")).json()
    assert report["checked_at"] is not None and report["warnings"] == []


async def test_health_of_an_unknown_number_and_roles(meta):
    from tests.access.people import add_token

    assert (await meta.api("GET", "/api/v1/phone-numbers/999999/health")).status_code == 404
    _, agent = await add_token(meta.runtime.db, "agent")
    nid = await number_id(meta)
    headers = {"Authorization": f"Bearer {agent}"}
    response = await meta.client.get(f"/api/v1/phone-numbers/{nid}/health", headers=headers)
    assert response.status_code == 403
