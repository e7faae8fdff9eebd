"""Monitor, whisper, barge, take over and steering agents, through the real API with
the simulator as Meta, on SQLite and PostgreSQL: what each does, what the agent sees
live, what reaches (and never reaches) the customer's phone, the lifecycle log and the
audit log, and who may do it (agent 403, supervisor of another queue 404)."""

from __future__ import annotations

import json

import pytest

from madoguchi.services.supervision.board import apply_delta
from tests.contact_center.test_routing import make_cc
from tests.helpers import eventually
from tests.supervision.sim_cc import make_sim_cc
from tests.supervision.test_wallboard import _queue_doc
from tests.web.test_realtime import open_live

TEXT = {"type": "text", "text": {"body": "Let me help too."}}


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_sim_cc(db_url, tmp_path)
    yield c
    await c.close()


async def handled_by_aiko(cc) -> tuple[dict, int]:
    await cc.presence("aiko", "available")
    customer, cid = await cc.sim_customer_writes("my order is late")
    await cc.wait_status(cid, "offered", "aiko")
    accepted = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    assert accepted.status_code == 200
    return customer, cid


async def steps(cc, cid: int) -> list[tuple]:
    events = (await cc.as_("sam", "GET", f"/api/v1/conversations/{cid}/events")).json()
    return [(e["type"], e["actor_user_id"], e["to_status"]) for e in events]


async def audit_actions(cc) -> list[str]:
    entries = (await cc.as_("admin", "GET", "/api/v1/audit-log")).json()
    return [e["action"] for e in entries if e["action"].startswith("supervision.")]


async def test_monitoring_shows_the_agent_an_indicator_one_session_at_a_time(cc):
    _, first = await handled_by_aiko(cc)
    aiko_live = await open_live(cc.stack.url, cc.tokens["aiko"])
    started = await cc.as_("sam", "POST", f"/api/v1/conversations/{first}/monitor")
    assert started.status_code == 200 and started.json()["supervisor_id"] == cc.users["sam"]
    frame = await aiko_live.until("conversation.monitor")
    assert frame["active"] is True and frame["supervisor_id"] == cc.users["sam"]
    monitors = (await cc.as_("aiko", "GET", f"/api/v1/conversations/{first}/monitors")).json()
    assert [m["supervisor_id"] for m in monitors] == [cc.users["sam"]]
    # Again on the same conversation: the same session, nothing new.
    again = await cc.as_("sam", "POST", f"/api/v1/conversations/{first}/monitor")
    assert again.json()["id"] == started.json()["id"]

    # One at a time: monitoring another conversation ends the first session.
    _, second = await cc.sim_customer_writes("another question")
    await cc.wait_status(second, "offered", "aiko")
    moved = await cc.as_("sam", "POST", f"/api/v1/conversations/{second}/monitor")
    assert moved.status_code == 200
    ended = await aiko_live.until("conversation.monitor")
    assert ended["active"] is False and ended["conversation_id"] == first
    assert (await cc.as_("aiko", "GET", f"/api/v1/conversations/{first}/monitors")).json() == []
    rows = (await cc.as_("sam", "GET", "/api/v1/wallboard")).json()["conversations"]
    assert {r["id"]: r["monitored_by"] for r in rows} == {first: [], second: [cc.users["sam"]]}
    assert (
        await cc.as_("sam", "DELETE", f"/api/v1/conversations/{first}/monitor")
    ).status_code == 404
    assert (
        await cc.as_("sam", "DELETE", f"/api/v1/conversations/{second}/monitor")
    ).status_code == 200
    log = await steps(cc, first)
    assert ("monitor_started", cc.users["sam"], "active") in log
    assert ("monitor_ended", cc.users["sam"], "active") in log
    assert (await audit_actions(cc)).count("supervision.monitor") == 2
    # A closed conversation cannot be monitored, and closing one ends its sessions.
    await cc.as_("sam", "POST", f"/api/v1/conversations/{first}/monitor")
    closed = await cc.as_(
        "aiko", "POST", f"/api/v1/conversations/{first}/close", json={"disposition": "solved"}
    )
    assert closed.status_code == 200

    async def released():
        monitors = await cc.as_("sam", "GET", f"/api/v1/conversations/{first}/monitors")
        return monitors.json() == []

    await eventually(released)
    refused = await cc.as_("sam", "POST", f"/api/v1/conversations/{first}/monitor")
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "conversation_closed"
    await aiko_live.ws.close()


async def test_a_whisper_reaches_the_agent_live_and_never_meta(cc):
    customer, cid = await handled_by_aiko(cc)
    aiko_live = await open_live(cc.stack.url, cc.tokens["aiko"])
    secret = "Offer the 10% voucher, quietly"
    sent = await cc.as_(
        "sam", "POST", f"/api/v1/conversations/{cid}/whispers", json={"body": secret}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["agent_id"] == cc.users["aiko"]
    frame = await aiko_live.until("conversation.whisper")
    assert frame["body"] == secret and frame["author_id"] == cc.users["sam"]
    listed = (await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}/whispers")).json()
    assert [w["body"] for w in listed] == [secret]
    # Ben is in the same queue and may read the conversation, not Aiko's coaching.
    assert (await cc.as_("ben", "GET", f"/api/v1/conversations/{cid}/whispers")).json() == []
    # Nothing of it at Meta's side, on the phone or among the conversation's messages.
    reply = await cc.as_(
        "aiko", "POST", f"/api/v1/conversations/{cid}/messages", json={"message": TEXT}
    )
    assert reply.status_code == 202

    async def reply_on_phone():
        return any(m["direction"] == "out" for m in await cc.phone_thread(customer))

    await eventually(reply_on_phone)
    assert all(secret not in str(r) for r in await cc.sent_to_meta())
    assert all(secret not in str(m) for m in await cc.phone_thread(customer))
    messages = (await cc.as_("sam", "GET", f"/api/v1/conversations/{cid}/messages")).json()
    assert all(secret not in str(m) for m in messages)
    assert ("whispered", cc.users["sam"], "active") in await steps(cc, cid)
    assert "supervision.whisper" in await audit_actions(cc)
    empty = await cc.as_("sam", "POST", f"/api/v1/conversations/{cid}/whispers", json={"body": ""})
    assert empty.status_code == 422
    await aiko_live.ws.close()


async def test_a_barge_reaches_the_phone_signed_by_the_supervisor(cc):
    customer, cid = await handled_by_aiko(cc)
    aiko_live = await open_live(cc.stack.url, cc.tokens["aiko"])
    barged = await cc.as_(
        "sam", "POST", f"/api/v1/conversations/{cid}/barge", json={"message": TEXT}
    )
    assert barged.status_code == 202, barged.text
    assert barged.json()["author_user_id"] == cc.users["sam"]
    frame = await aiko_live.until("conversation.barge")
    assert frame["message_id"] == barged.json()["id"] and frame["agent_id"] == cc.users["aiko"]

    async def on_phone():
        return [m for m in await cc.phone_thread(customer) if m["direction"] == "out"]

    [out] = await eventually(on_phone)
    assert out["content"]["body"] == "Let me help too."
    assert ("barged", cc.users["sam"], "active") in await steps(cc, cid)
    assert "supervision.barge" in await audit_actions(cc)
    bad = await cc.as_(
        "sam", "POST", f"/api/v1/conversations/{cid}/barge", json={"message": {"type": "text"}}
    )
    assert bad.status_code == 422
    # Nobody is handling a queued conversation: barging in there is refused.
    await cc.presence("aiko", "away", "break")
    _, waiting = await cc.sim_customer_writes("hello?")
    await cc.wait_status(waiting, "queued")
    refused = await cc.as_(
        "sam", "POST", f"/api/v1/conversations/{waiting}/barge", json={"message": TEXT}
    )
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "no_agent"
    await aiko_live.ws.close()


async def test_a_barge_follows_the_window_rules_a_template_once_it_closed(cc):
    """Sent like the agent's reply: with the customer silent for 24 hours free text is
    refused as the agent's is (``window_closed``); an approved template goes out."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from madoguchi.store.models import Conversation
    from tests.e2e.test_templates_e2e import ORDER_UPDATE

    customer, cid = await handled_by_aiko(cc)
    async with cc.stack.runtime.db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == cid)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
        )
    before = len(await cc.sent_to_meta())
    for who, path in (("sam", "barge"), ("aiko", "messages")):
        refused = await cc.as_(
            who, "POST", f"/api/v1/conversations/{cid}/{path}", json={"message": TEXT}
        )
        assert refused.status_code == 409, (who, refused.text)
        assert refused.json()["detail"]["code"] == "window_closed"
    assert len(await cc.sent_to_meta()) == before
    created = await cc.as_("admin", "POST", "/api/v1/templates", json=ORDER_UPDATE)
    assert created.status_code == 201, created.text

    async def approved():
        got = await cc.as_("admin", "GET", f"/api/v1/templates/{created.json()['id']}")
        return got.json()["status"] == "APPROVED"

    await eventually(approved)
    template = {
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Yui"}, {"type": "text", "text": "7"}],
                }
            ],
        },
    }
    barged = await cc.as_(
        "sam", "POST", f"/api/v1/conversations/{cid}/barge", json={"message": template}
    )
    assert barged.status_code == 202, barged.text
    assert barged.json()["author_user_id"] == cc.users["sam"]

    async def on_phone():
        return [m for m in await cc.phone_thread(customer) if m["direction"] == "out"]

    [out] = await eventually(on_phone)
    assert "order 7 is on its way" in str(out)


async def test_take_over_moves_the_conversation_and_the_customer_notices_nothing(cc):
    customer, cid = await handled_by_aiko(cc)
    aiko_live = await open_live(cc.stack.url, cc.tokens["aiko"])
    before = len(await cc.sent_to_meta())
    taken = await cc.as_("sam", "POST", f"/api/v1/conversations/{cid}/take-over")
    assert taken.status_code == 200, taken.text
    assert taken.json()["status"] == "active"
    assert taken.json()["assigned_agent_id"] == cc.users["sam"]
    frame = await aiko_live.until("conversation.changed")
    assert frame["step"] == "taken_over" and frame["previous_agent_id"] == cc.users["aiko"]
    # It left Aiko's desk: she may no longer write in it; Sam may.
    denied = await cc.as_(
        "aiko", "POST", f"/api/v1/conversations/{cid}/messages", json={"message": TEXT}
    )
    assert denied.status_code == 403
    assert len(await cc.sent_to_meta()) == before  # nothing was sent for the take-over
    assert not [m for m in await cc.phone_thread(customer) if m["direction"] == "out"]
    assert ("taken_over", cc.users["sam"], "active") in await steps(cc, cid)
    assert "supervision.take_over" in await audit_actions(cc)
    again = await cc.as_("sam", "POST", f"/api/v1/conversations/{cid}/take-over")
    assert again.status_code == 409

    # A waiting conversation taken over counts as answered for its queue today.
    await cc.presence("aiko", "away", "break")
    _, waiting = await cc.sim_customer_writes("anyone?")
    await cc.wait_status(waiting, "queued")
    assert (
        await cc.as_("sam", "POST", f"/api/v1/conversations/{waiting}/take-over")
    ).status_code == 200
    board = (await cc.as_("sam", "GET", "/api/v1/wallboard")).json()
    support = next(q for q in board["queues"] if q["name"] == "Support")
    assert support["today"]["answered"] == 2 and support["waiting"] == 0
    await aiko_live.ws.close()


async def test_steering_agents_from_the_wallboard(cc):
    ben = f"/api/v1/supervision/agents/{cc.users['ben']}"
    await cc.presence("ben", "available")
    _, cid = await cc.sim_customer_writes("hi")
    await cc.wait_status(cid, "offered", "ben")
    # Ben is sent away and his offer released: the conversation waits in the queue.
    away = await cc.as_("sam", "PUT", f"{ben}/presence", json={"status": "away"})
    assert away.status_code == 200
    released = await cc.as_("sam", "POST", f"{ben}/release-offers")
    assert released.status_code == 200 and released.json()["released"] == [cid]
    await cc.wait_status(cid, "queued")
    assert ("declined", cc.users["sam"], "queued") in await steps(cc, cid)
    # Signed out of Support, Ben leaves its members, and the watched wallboard's row for
    # him loses the queue live.
    support = (await _queue_doc(cc, "Support"))["id"]
    watching = await open_live(cc.stack.url, cc.tokens["sam"])
    await watching.ws.send(json.dumps({"event": "wallboard.watch"}))
    held = (await watching.until("wallboard.snapshot"))["board"]
    out = await cc.as_("sam", "DELETE", f"{ben}/queues/{support}")
    assert out.status_code == 200
    assert (await cc.as_("sam", "DELETE", f"{ben}/queues/{support}")).status_code == 404
    doc = await _queue_doc(cc, "Support")
    assert [m["email"] for m in doc["members"]] == ["aiko@acme.test"]

    async def ben_left_support_on_the_board():
        nonlocal held
        frame = await watching.next()
        if frame["event"] == "wallboard.delta":
            held = apply_delta(held, frame)
        ben_now = next(a for a in held["agents"] if a["user_id"] == cc.users["ben"])
        return support not in ben_now["queue_ids"]

    await eventually(ben_left_support_on_the_board)
    await watching.ws.close()
    # Aiko is made available from the wallboard and gets the waiting conversation.
    aiko = f"/api/v1/supervision/agents/{cc.users['aiko']}"
    assert (
        await cc.as_("sam", "PUT", f"{aiko}/presence", json={"status": "available"})
    ).status_code == 200
    await cc.wait_status(cid, "offered", "aiko")
    bad = await cc.as_("sam", "PUT", f"{aiko}/presence", json={"status": "asleep"})
    assert bad.status_code == 422
    actions = set(await audit_actions(cc))
    assert {
        "supervision.release_offers",
        "supervision.sign_out_of_queue",
        "supervision.set_presence",
    } <= actions


@pytest.fixture
async def plain(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def test_who_may_supervise_agent_403_other_queues_supervisor_404(plain):
    cc = plain
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "offered", "aiko")
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    conv = f"/api/v1/conversations/{cid}"
    agent = f"/api/v1/supervision/agents/{cc.users['aiko']}"
    calls = [
        ("POST", f"{conv}/monitor", None),
        ("DELETE", f"{conv}/monitor", None),
        ("POST", f"{conv}/whispers", {"body": "psst"}),
        ("POST", f"{conv}/barge", {"message": TEXT}),
        ("POST", f"{conv}/take-over", None),
        ("PUT", f"{agent}/presence", {"status": "away"}),
        ("POST", f"{agent}/release-offers", None),
        ("DELETE", f"{agent}/queues/1", None),
    ]
    for method, path, body in calls:
        response = await cc.as_("ben", method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    # Sam supervises Sales only: Support's conversation and agents do not exist for him.
    sales = await _queue_doc(cc, "Sales")
    sales_id = sales.pop("id")
    sales["supervisors"] = [{"email": "sam@acme.test"}]
    assert (
        await cc.as_("admin", "PUT", f"/api/v1/queues/{sales_id}", json=sales)
    ).status_code == 200
    for method, path, body in calls:
        response = await cc.as_("sam", method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        # Coded like these routes' other refusals, not a bare string.
        assert response.json()["detail"]["code"] == "not_found", (method, path, response.text)
        assert "not found" in response.json()["detail"]["message"]
    for path in (f"{conv}/monitors", f"{conv}/whispers"):
        hidden = await cc.as_("sam", "GET", path)
        assert hidden.status_code == 404 and hidden.json()["detail"]["code"] == "not_found"
    # A workspace token (no person behind it) cannot act as a supervisor; an unknown
    # conversation is 404 for everyone.
    token = await cc.as_("admin", "POST", f"{conv}/whispers", json={"body": "ok"})
    assert token.status_code == 403 and token.json()["detail"]["code"] == "user_required"
    missing = await cc.as_("admin", "POST", "/api/v1/conversations/999999/take-over")
    assert missing.status_code == 404
