"""A customer calls the business: the call rings the right agents, the agent's endpoint
answers with real WebRTC (audio flows both ways with the simulated phone), either side
hangs up; unanswered, declined or unstaffed calls are missed and rejected at Meta.
Over real HTTP with the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from madoguchi.domain.events import CallChanged
from madoguchi.simulator.webrtc import PhoneLine
from tests.calling.kit import Desk, audio_flows, make_desk
from tests.conftest import start_sim_stack
from tests.helpers import eventually


@pytest.fixture
async def desk(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path)
    lines: list[PhoneLine] = []
    d = await make_desk(s)
    d.lines = lines
    yield d
    for line in lines:
        await line.close()
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


async def answer(desk: Desk, who: str, call: dict) -> tuple[PhoneLine, dict]:
    line = PhoneLine()
    desk.lines.append(line)
    sdp = await line.answer(call["offer_sdp"])
    r = await desk.as_(who, "POST", f"/api/v1/calls/{call['id']}/accept", json={"sdp": sdp})
    assert r.status_code == 200, r.text
    return line, r.json()


async def test_customer_call_is_answered_in_the_agents_endpoint_and_audio_flows(desk):
    await desk.presence("aiko")
    hana = await desk.customer("819011110001")
    sim = await desk.customer_calls(hana)

    call = await desk.ringing_for("aiko")
    assert call["direction"] == "inbound"
    assert call["ringing_agent_ids"] == [desk.users["aiko"]]
    assert call["offer_sdp"].startswith("v=0")
    # Ben is offline: the call does not ring for him, and he may not read it.
    assert (await desk.as_("ben", "GET", "/api/v1/calls")).json() == []
    hidden = await desk.as_("ben", "GET", f"/api/v1/calls/{call['id']}")
    assert hidden.status_code == 404  # coded, like the calls' other refusals
    assert hidden.json()["detail"] == {
        "code": "not_found",
        "message": f"call {call['id']} not found",
    }

    line, accepted = await answer(desk, "aiko", call)
    assert accepted["status"] == "active"
    assert accepted["agent_id"] == desk.users["aiko"]
    state = await desk.sim_call_becomes(sim["id"], "ongoing")
    assert state["actions"] == ["pre_accept", "accept"]
    await audio_flows(line, desk, sim["id"])

    # The agent who answered has the conversation, with the call in its timeline.
    conv = (
        await desk.as_("aiko", "GET", f"/api/v1/conversations/{call['conversation_id']}")
    ).json()
    assert conv["assigned_agent_id"] == desk.users["aiko"]
    assert conv["status"] == "active"

    r = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/hangup")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended"
    ended = await desk.sim_call_becomes(sim["id"], "ended")
    assert ended["ended_by"] == "business"
    messages = (
        await desk.as_("aiko", "GET", f"/api/v1/conversations/{call['conversation_id']}/messages")
    ).json()
    entry = next(m for m in messages if m["type"] == "call")
    assert entry["content"]["status"] == "ended"
    assert entry["content"]["end_reason"] == "agent_hung_up"
    assert entry["content"]["agent_id"] == desk.users["aiko"]
    # Hanging up twice is refused with the reason.
    again = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/hangup")
    assert again.status_code == 409
    assert "already ended" in again.json()["detail"]["message"]


async def test_the_agents_hang_up_stays_theirs_when_metas_terminate_is_processed_first(
    desk, monkeypatch
):
    """Meta answers the business's terminate with a terminate webhook, which a busy
    machine may process before the hang-up commits its own end (a full-suite run saw the
    agent's hang-up recorded as ``customer_hung_up``). Here that order is made certain:
    the hang-up's commit waits until the webhook has ended the call."""
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110097"))
    call = await desk.ringing_for("aiko")
    await answer(desk, "aiko", call)
    await desk.sim_call_becomes(sim["id"], "ongoing")
    calls = desk.s.runtime.calls
    finish = calls._finish

    async def after_metas_terminate(*args):
        await desk.call_becomes(call["id"], "ended")
        return await finish(*args)

    monkeypatch.setattr(calls, "_finish", after_metas_terminate)
    r = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/hangup")
    assert r.status_code == 200, r.text
    ended = (await desk.as_("admin", "GET", f"/api/v1/calls/{call['id']}")).json()
    assert (ended["status"], ended["end_reason"]) == ("ended", "agent_hung_up")
    assert ended["duration_seconds"] is not None
    assert (await desk.sim_call(sim["id"]))["ended_by"] == "business"


async def test_customer_hangs_up_an_answered_call(desk):
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110002"))
    call = await desk.ringing_for("aiko")
    await answer(desk, "aiko", call)
    await desk.sim_call_becomes(sim["id"], "ongoing")
    r = await desk.s.sim_client.post(f"/_sim/calls/{sim['id']}/hangup")
    assert r.status_code == 200
    ended = await desk.call_becomes(call["id"], "ended")
    assert ended["end_reason"] == "customer_hung_up"
    assert ended["duration_seconds"] is not None


async def test_first_agent_to_answer_takes_the_call_the_other_is_refused(desk):
    await desk.presence("aiko")
    await desk.presence("ben")
    await desk.customer_calls(await desk.customer("819011110003"))
    call = await desk.ringing_for("ben")
    assert sorted(call["ringing_agent_ids"]) == sorted([desk.users["aiko"], desk.users["ben"]])
    await answer(desk, "ben", call)
    late = PhoneLine()
    desk.lines.append(late)
    sdp = await late.answer(call["offer_sdp"])
    r = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/accept", json={"sdp": sdp})
    assert r.status_code == 409
    assert r.json()["detail"]["code"] == "not_ringing"
    # An agent the call never rang for cannot answer it (Chie is in no queue).
    await desk.presence("chie")
    r = await desk.as_("chie", "POST", f"/api/v1/calls/{call['id']}/accept", json={"sdp": sdp})
    assert r.status_code == 404


async def test_call_with_nobody_available_is_missed_and_rejected_at_meta(desk):
    sim = await desk.customer_calls(await desk.customer("819011110004"))
    rejected = await desk.sim_call_becomes(sim["id"], "rejected")
    assert rejected["actions"] == ["reject"]
    calls = (await desk.as_("admin", "GET", "/api/v1/calls")).json()
    assert calls == []  # nothing live

    async def missed():
        convs = (await desk.as_("admin", "GET", "/api/v1/conversations")).json()
        for conv in convs:
            rows = (
                await desk.as_("admin", "GET", f"/api/v1/conversations/{conv['id']}/calls")
            ).json()
            if rows and rows[0]["status"] == "missed":
                return rows[0]
        return None

    row = await eventually(missed)
    assert row["end_reason"] == "no_agent"
    assert row == await desk.call_of(sim["id"])
    # The callback task: the new conversation waits in the number's queue.
    conv = (
        await desk.as_("admin", "GET", f"/api/v1/conversations/{row['conversation_id']}")
    ).json()
    assert conv["status"] == "queued"
    # Once an agent is available, the conversation is offered to them to call back.
    await desk.presence("aiko")

    async def offered():
        c = (
            await desk.as_("admin", "GET", f"/api/v1/conversations/{row['conversation_id']}")
        ).json()
        return c if c["status"] == "offered" else None

    assert (await eventually(offered))["offered_agent_id"] == desk.users["aiko"]


async def test_declined_by_every_rung_agent_is_missed(desk):
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110005"))
    call = await desk.ringing_for("aiko")
    r = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/decline")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "missed"
    assert r.json()["end_reason"] == "declined"
    await desk.sim_call_becomes(sim["id"], "rejected")

    # The conversation is queued for a call back and offered to Aiko; declining the call
    # again is refused: it no longer rings.
    async def offered():
        c = (
            await desk.as_("admin", "GET", f"/api/v1/conversations/{call['conversation_id']}")
        ).json()
        return c if c["status"] == "offered" else None

    assert (await eventually(offered))["offered_agent_id"] == desk.users["aiko"]
    r = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/decline")
    assert r.status_code == 409
    assert r.json()["detail"]["code"] == "not_ringing"
    r = await desk.as_("admin", "POST", f"/api/v1/calls/{call['id']}/decline")
    assert r.status_code == 403  # a workspace token is no agent


async def test_unanswered_call_times_out_as_missed(desk):
    desk.s.runtime.calls.ring_seconds = 0.3
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110006"))
    call = await desk.call_of(sim["id"])
    missed = await desk.call_becomes(call["id"], "missed")
    assert missed["end_reason"] == "no_answer"
    await desk.sim_call_becomes(sim["id"], "rejected")


async def test_caller_hanging_up_while_ringing_is_a_missed_call(desk):
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110007"))
    call = await desk.ringing_for("aiko")
    await desk.s.sim_client.post(f"/_sim/calls/{sim['id']}/hangup")
    missed = await desk.call_becomes(call["id"], "missed")
    assert missed["end_reason"] == "caller_hung_up"
    # The customer called, so the business may call back (callback permission).
    perm = (
        await desk.as_(
            "admin", "GET", f"/api/v1/conversations/{call['conversation_id']}/call-permission"
        )
    ).json()
    assert perm["can_call"] is True
    assert perm["source"] == "callback"


async def test_bad_answers_are_refused(desk):
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110008"))
    call = await desk.ringing_for("aiko")
    empty = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/accept", json={"sdp": ""})
    assert empty.status_code == 422
    garbage = await desk.as_(
        "aiko", "POST", f"/api/v1/calls/{call['id']}/accept", json={"sdp": "hello, not an SDP"}
    )
    assert garbage.status_code == 502
    assert garbage.json()["detail"]["code"] == "meta_refused"
    failed = await desk.call_becomes(call["id"], "failed")
    assert failed["end_reason"] == "accept_failed"
    assert (await desk.sim_call(sim["id"]))["state"] == "ringing"
    assert (await desk.as_("aiko", "GET", "/api/v1/calls/999999")).status_code == 404


async def test_an_agent_on_a_call_is_busy_and_not_rung_again(desk):
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110009"))
    call = await desk.ringing_for("aiko")
    await answer(desk, "aiko", call)
    directory = (await desk.as_("ben", "GET", "/api/v1/agents/directory")).json()
    aiko = next(e for e in directory if e["user_id"] == desk.users["aiko"])
    assert aiko["on_call"] is True and aiko["has_capacity"] is False
    # A second customer calls: Aiko is on a call, nobody else is available: missed.
    second = await desk.customer_calls(await desk.customer("819011110010"))
    assert (await desk.sim_call_becomes(second["id"], "rejected"))["actions"] == ["reject"]
    assert (await desk.call_of(second["id"]))["end_reason"] == "no_agent"
    await desk.s.sim_client.post(f"/_sim/calls/{sim['id']}/hangup")
    await desk.call_becomes(call["id"], "ended")
    directory = (await desk.as_("ben", "GET", "/api/v1/agents/directory")).json()
    aiko = next(e for e in directory if e["user_id"] == desk.users["aiko"])
    assert aiko["on_call"] is False


async def test_lifecycle_events_for_the_figures(desk):
    """What live figures need from ``call.changed``: the call offered (ringing), answered
    (active), ended with its duration, missed with its reason, and its callback task."""
    seen: list = []

    async def keep(event) -> None:
        seen.append(event)

    desk.s.runtime.bus.subscribe(CallChanged, keep)
    # Nobody available: missed, and its conversation queued for a callback.
    sim = await desk.customer_calls(await desk.customer("819011110099"))
    await desk.sim_call_becomes(sim["id"], "rejected")

    async def callback_created():
        return next((e for e in seen if e.callback_queue_id is not None), None)

    callback = await eventually(callback_created)
    assert callback.status == "missed" and callback.end_reason == "no_agent"
    conv = (
        await desk.as_("admin", "GET", f"/api/v1/conversations/{callback.conversation_id}")
    ).json()
    assert conv["status"] == "queued" and conv["queue_id"] == callback.callback_queue_id

    # Answered then hung up: offered, answered, ended with a duration.
    seen.clear()
    await desk.presence("aiko")
    sim = await desk.customer_calls(await desk.customer("819011110098"))
    call = await desk.ringing_for("aiko")
    await answer(desk, "aiko", call)
    r = await desk.as_("aiko", "POST", f"/api/v1/calls/{call['id']}/hangup")
    assert r.status_code == 200, r.text
    mine = [e for e in seen if e.call_id == call["id"]]
    statuses = [e.status for e in mine]
    assert statuses[0] == "ringing" and "active" in statuses and statuses[-1] == "ended"
    ended = mine[-1]
    assert ended.end_reason == "agent_hung_up" and ended.agent_id == desk.users["aiko"]
    assert ended.duration_seconds is not None and ended.duration_seconds >= 0
    assert ended.duration_seconds == (await desk.call_of(sim["id"]))["duration_seconds"]
