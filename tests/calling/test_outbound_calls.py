"""An agent calls a customer from a chat ("upgrade to voice"): permission asked and
answered in the conversation, Meta's limits refused locally with the reason, then a real
WebRTC call placed from the agent's endpoint that the simulated phone answers.
Over real HTTP with the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from madoguchi.simulator.webrtc import PhoneLine
from tests.calling.kit import audio_flows, make_desk
from tests.conftest import PHONE_NUMBER_ID, WA_TOKEN, start_sim_stack
from tests.helpers import eventually, reached_the_product


@pytest.fixture
async def desk(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path)
    d = await make_desk(s)
    d.lines = []
    yield d
    for line in d.lines:
        await line.close()
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


async def chat_with_aiko(desk, wa_id: str) -> tuple[dict, int]:
    """A customer writes; Aiko (the only available agent) takes the conversation."""
    await desk.presence("aiko")
    customer = await desk.customer(wa_id)
    r = await desk.s.sim_client.post(
        f"/_sim/customers/{customer['user_id']}/messages", json={"type": "text", "text": "hi"}
    )
    await reached_the_product(desk.s.sim_client, r.json())

    async def offered():
        convs = (await desk.as_("aiko", "GET", "/api/v1/conversations")).json()
        return next((c for c in convs if c["status"] == "offered"), None)

    conv = await eventually(offered)
    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{conv['id']}/accept")
    assert r.status_code == 200, r.text
    return customer, conv["id"]


async def permission(desk, conversation_id: int) -> dict:
    r = await desk.as_("aiko", "GET", f"/api/v1/conversations/{conversation_id}/call-permission")
    assert r.status_code == 200, r.text
    return r.json()


async def request_reaches_phone(desk, customer: dict) -> dict:
    async def check():
        thread = (
            await desk.s.sim_client.get(f"/_sim/customers/{customer['user_id']}/thread")
        ).json()
        return next(
            (
                m
                for m in thread["messages"]
                if m["direction"] == "out" and m["content"].get("type") == "call_permission_request"
            ),
            None,
        )

    return await eventually(check)


async def test_permission_asked_granted_then_the_agent_calls_and_audio_flows(desk):
    customer, cid = await chat_with_aiko(desk, "819022220001")
    assert (await permission(desk, cid))["status"] == "none"

    line = PhoneLine()
    desk.lines.append(line)
    offer = await line.offer()
    refused = await desk.as_(
        "aiko", "POST", f"/api/v1/conversations/{cid}/calls", json={"sdp": offer}
    )
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "no_permission"

    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/call-permission", json={})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "requested"
    again = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/call-permission", json={})
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "already_requested"

    asked = await request_reaches_phone(desk, customer)
    r = await desk.s.sim_client.post(
        f"/_sim/customers/{customer['user_id']}/messages",
        json={
            "type": "call_permission_reply",
            "message_wamid": asked["wamid"],
            "response": "accept",
        },
    )
    await reached_the_product(desk.s.sim_client, r.json())

    async def granted():
        state = await permission(desk, cid)
        return state if state["can_call"] else None

    state = await eventually(granted)
    assert state["status"] == "accepted" and state["expires_at"] is not None

    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/calls", json={"sdp": offer})
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["direction"] == "outbound" and call["status"] == "connecting"
    assert call["agent_id"] == desk.users["aiko"]

    # The phone rings; its SDP answer comes back in a connect webhook.
    sims = (
        await desk.s.sim_client.get("/_sim/calls", params={"customer_id": customer["user_id"]})
    ).json()
    sim = sims["calls"][0]
    assert sim["direction"] == "BUSINESS_INITIATED" and sim["state"] == "ringing"

    async def answer_known():
        got = (await desk.as_("aiko", "GET", f"/api/v1/calls/{call['id']}")).json()
        return got if got["answer_sdp"] else None

    got = await eventually(answer_known)
    await line.take_answer(got["answer_sdp"])
    assert (await desk.s.sim_client.post(f"/_sim/calls/{sim['id']}/answer")).status_code == 200
    active = await desk.call_becomes(call["id"], "active")
    assert active["answered_at"] is not None
    await audio_flows(line, desk, sim["id"])

    r = await desk.s.sim_client.post(f"/_sim/calls/{sim['id']}/hangup")
    assert r.status_code == 200
    ended = await desk.call_becomes(call["id"], "ended")
    assert ended["end_reason"] == "customer_hung_up"
    messages = (await desk.as_("aiko", "GET", f"/api/v1/conversations/{cid}/messages")).json()
    kinds = [m["type"] for m in messages]
    assert "call" in kinds
    reply = next(m for m in messages if m["content"].get("type") == "call_permission_reply")
    assert reply["direction"] == "inbound"


async def test_permission_refused_and_meta_limits_refused_locally(desk):
    customer, cid = await chat_with_aiko(desk, "819022220002")
    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/call-permission", json={})
    assert r.status_code == 202
    asked = await request_reaches_phone(desk, customer)
    await desk.s.sim_client.post(
        f"/_sim/customers/{customer['user_id']}/messages",
        json={
            "type": "call_permission_reply",
            "message_wamid": asked["wamid"],
            "response": "reject",
        },
    )

    async def rejected():
        state = await permission(desk, cid)
        return state if state["status"] == "rejected" else None

    state = await eventually(rejected)
    assert state["can_call"] is False
    assert state["next_request_at"] is not None  # one request per day
    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/call-permission", json={})
    assert r.status_code == 429
    assert "next one is allowed at" in r.json()["detail"]["message"]
    # Meta refuses a call without permission too (the simulator plays Meta's rule).
    line = PhoneLine()
    desk.lines.append(line)
    offer = await line.offer()
    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/calls", json={"sdp": offer})
    assert r.status_code == 409
    sent = await desk.s.sim_client.post(
        f"/v26.0/{PHONE_NUMBER_ID}/calls",
        json={
            "messaging_product": "whatsapp",
            "to": customer["wa_id"],
            "action": "connect",
            "session": {"sdp_type": "offer", "sdp": offer},
        },
        headers={"Authorization": f"Bearer {WA_TOKEN}"},
    )
    assert sent.status_code == 400
    assert sent.json()["error"]["code"] == 138006


async def test_customer_rejects_the_agents_call(desk):
    customer, cid = await chat_with_aiko(desk, "819022220003")
    # The customer called earlier: callback permission lets the agent call back.
    sim_in = await desk.customer_calls(customer)
    call_in = await desk.ringing_for("aiko")
    await desk.s.sim_client.post(f"/_sim/calls/{sim_in['id']}/hangup")
    await desk.call_becomes(call_in["id"], "missed")

    line = PhoneLine()
    desk.lines.append(line)
    r = await desk.as_(
        "aiko", "POST", f"/api/v1/conversations/{cid}/calls", json={"sdp": await line.offer()}
    )
    assert r.status_code == 201, r.text
    call = r.json()
    busy = await desk.as_(
        "aiko", "POST", f"/api/v1/conversations/{cid}/calls", json={"sdp": await line.offer()}
    )
    assert busy.status_code == 409
    assert busy.json()["detail"]["code"] in ("call_in_progress", "on_a_call")

    sims = (
        await desk.s.sim_client.get("/_sim/calls", params={"customer_id": customer["user_id"]})
    ).json()
    sim = next(c for c in sims["calls"] if c["direction"] == "BUSINESS_INITIATED")
    await desk.s.sim_client.post(f"/_sim/calls/{sim['id']}/reject")
    rejected = await desk.call_becomes(call["id"], "rejected")
    assert rejected["end_reason"] == "customer_rejected"
