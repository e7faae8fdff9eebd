"""Queues, offers, capacity, transfers, presence and the lifecycle log, through the
real HTTP API and real webhooks, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from madoguchi.services.access.tokens import create_token
from madoguchi.services.contact_center import assignment
from madoguchi.simulator import payloads
from madoguchi.store.models import Conversation, Queue, User
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, start_stack
from tests.helpers import eventually

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}

FILE = f"""
workspace: {{slug: acme, name: ACME}}
users:
  - {{email: aiko@acme.test, name: Aiko, role: agent}}
  - {{email: ben@acme.test, name: Ben, role: agent}}
  - {{email: chie@acme.test, name: Chie, role: agent}}
  - {{email: sam@acme.test, name: Sam, role: supervisor}}
queues:
  - name: Support
    routing_method: {{method}}
    max_per_agent: 2
    offer_timeout_seconds: 30
    members:
      - {{email: aiko@acme.test}}
      - {{email: ben@acme.test}}
    dispositions:
      - {{code: solved, label: Solved}}
      - {{code: follow_up, label: Needs follow-up}}
  - name: Sales
    members:
      - {{email: chie@acme.test}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{PHONE_NUMBER_ID}"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}
          default_queue: Support
"""

_phones = itertools.count(819000000001)


class CC:
    """The contact-center stack plus a client per person."""

    def __init__(self, stack, tokens: dict[str, str], users: dict[str, int]) -> None:
        self.stack = stack
        self.tokens = tokens
        self.users = users

    async def as_(self, who: str, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.stack.client.request(method, path, headers=headers, **kwargs)

    async def presence(self, who: str, status: str, reason: str | None = None):
        r = await self.as_(
            who, "PUT", "/api/v1/agents/me/presence", json={"status": status, "away_reason": reason}
        )
        assert r.status_code == 200, r.text

    async def customer_writes(self, text: str = "hello", phone: str | None = None) -> int:
        customer = {"wa_id": phone or str(next(_phones)), "name": "Customer"}
        message = payloads.inbound_message(customer, "text", payloads.text(text))
        response = await self.stack.post_webhook(
            payloads.message_webhook(NUMBER, customer, message)
        )
        assert response.status_code == 200
        async with self.stack.runtime.db.read() as session:
            return await session.scalar(
                select(Conversation.id)
                .join(Conversation.contact)
                .where(Conversation.contact.has(wa_id=customer["wa_id"]))
                .order_by(Conversation.id.desc())
                .limit(1)
            )

    async def conversation(self, cid: int) -> dict:
        r = await self.as_("admin", "GET", f"/api/v1/conversations/{cid}")
        return r.json()

    async def wait_status(self, cid: int, status: str, agent: str | None = None) -> dict:
        async def check():
            conv = await self.conversation(cid)
            if conv["status"] != status:
                return None
            if (
                agent
                and (conv["offered_agent_id"] or conv["assigned_agent_id"]) != self.users[agent]
            ):
                return None
            return conv

        return await eventually(check)


async def make_cc(db_url, tmp_path, method="longest_idle") -> CC:
    stack = await start_stack(db_url, tmp_path, workspace_file=FILE.replace("{method}", method))
    return await cc_of(stack)


async def cc_of(stack, cls: type[CC] = CC) -> CC:
    """A token for each person of the workspace file, around a running stack."""
    tokens, users = {"admin": stack.token}, {}
    async with stack.runtime.db.write() as session:
        for user in await session.scalars(select(User)):
            who = user.email.split("@")[0]
            users[who] = user.id
            tokens[who] = await create_token(session, user.workspace_id, user.role, who, user.id)
    return cls(stack, tokens, users)


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def test_conversation_is_queued_offered_accepted_and_closed_with_a_full_log(cc):
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "offered", "aiko")
    ben_try = await cc.as_("ben", "POST", f"/api/v1/conversations/{cid}/accept")
    assert ben_try.status_code == 409 and "not offered to you" in ben_try.json()["detail"]
    accepted = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"

    note = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/notes", json={"body": "VIP"})
    assert note.status_code == 201
    await cc.presence("ben", "available")
    moved = await cc.as_(
        "aiko",
        "POST",
        f"/api/v1/conversations/{cid}/transfer",
        json={"agent_id": cc.users["ben"], "note": "billing question"},
    )
    assert moved.status_code == 200, moved.text
    await cc.wait_status(cid, "offered", "ben")
    await cc.as_("ben", "POST", f"/api/v1/conversations/{cid}/accept")
    no_code = await cc.as_("ben", "POST", f"/api/v1/conversations/{cid}/close", json={})
    assert no_code.status_code == 422 and "solved" in no_code.json()["detail"]
    bad_code = await cc.as_(
        "ben", "POST", f"/api/v1/conversations/{cid}/close", json={"disposition": "nope"}
    )
    assert bad_code.status_code == 422
    assert (await cc.as_("ben", "POST", f"/api/v1/conversations/{cid}/wrap-up")).status_code == 200
    closed = await cc.as_(
        "ben", "POST", f"/api/v1/conversations/{cid}/close", json={"disposition": "solved"}
    )
    assert closed.status_code == 200 and closed.json()["disposition_code"] == "solved"

    events = (await cc.as_("sam", "GET", f"/api/v1/conversations/{cid}/events")).json()
    steps = [(e["type"], e["from_status"], e["to_status"]) for e in events]
    assert steps == [
        ("queued", "new", "queued"),
        ("offered", "queued", "offered"),
        ("accepted", "offered", "active"),
        ("transferred", "active", "queued"),
        ("offered", "queued", "offered"),
        ("accepted", "offered", "active"),
        ("wrap_up", "active", "wrap_up"),
        ("closed", "wrap_up", "closed"),
    ]
    assert (
        events[3]["actor_user_id"] == cc.users["aiko"] and events[3]["reason"] == "billing question"
    )
    assert events[5]["agent_id"] == cc.users["ben"]
    assert all(e["at"] for e in events)
    notes = (await cc.as_("ben", "GET", f"/api/v1/conversations/{cid}/notes")).json()
    assert [n["body"] for n in notes] == ["VIP", "billing question"]


async def test_capacity_is_never_exceeded(cc):
    await cc.presence("aiko", "available")
    cids = [await cc.customer_writes() for _ in range(3)]
    for cid in cids[:2]:
        await cc.wait_status(cid, "offered", "aiko")
    third = await cc.conversation(cids[2])
    assert third["status"] == "queued"  # max_per_agent is 2 (offers count)
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cids[0]}/accept")
    assert (await cc.conversation(cids[2]))["status"] == "queued"
    await cc.as_(
        "aiko", "POST", f"/api/v1/conversations/{cids[0]}/close", json={"disposition": "solved"}
    )
    await cc.wait_status(cids[2], "offered", "aiko")  # room freed: the next one is offered


async def test_decline_and_timeout_move_the_offer_on(cc):
    await cc.presence("aiko", "available")
    await cc.presence("ben", "available")
    cid = await cc.customer_writes()
    first = (await cc.wait_status(cid, "offered"))["offered_agent_id"]
    names = {v: k for k, v in cc.users.items()}
    other = "ben" if names[first] == "aiko" else "aiko"
    declined = await cc.as_(names[first], "POST", f"/api/v1/conversations/{cid}/decline")
    assert declined.status_code == 200
    await cc.wait_status(cid, "offered", other)
    # the second agent lets it time out: the timer fires and it goes back to the first
    await cc.stack.runtime.timers.fire_due(now=datetime.now(UTC) + timedelta(seconds=31))
    await cc.wait_status(cid, "offered", names[first])
    events = (await cc.as_("admin", "GET", f"/api/v1/conversations/{cid}/events")).json()
    assert [e["type"] for e in events].count("offer_timeout") == 1
    assert [e["type"] for e in events].count("declined") == 1


async def test_offline_agent_hands_work_back_to_the_queue(cc):
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "offered", "aiko")
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    await cc.presence("aiko", "offline")
    conv = await cc.wait_status(cid, "queued")
    assert conv["assigned_agent_id"] is None
    await cc.presence("ben", "available")
    await cc.wait_status(cid, "offered", "ben")


async def test_away_agents_get_no_offers(cc):
    await cc.presence("aiko", "away", "lunch")
    cid = await cc.customer_writes()
    agents = (await cc.as_("sam", "GET", "/api/v1/agents")).json()
    assert {a["name"]: (a["presence"], a["away_reason"]) for a in agents}["Aiko"] == (
        "away",
        "lunch",
    )
    assert (await cc.conversation(cid))["status"] == "queued"
    bad = await cc.as_("aiko", "PUT", "/api/v1/agents/me/presence", json={"status": "asleep"})
    assert bad.status_code == 422


async def test_transfer_to_a_queue_waits_there(cc):
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "offered", "aiko")
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    async with cc.stack.runtime.db.read() as session:
        sales = await session.scalar(select(Queue.id).where(Queue.name == "Sales"))
    moved = await cc.as_(
        "aiko",
        "POST",
        f"/api/v1/conversations/{cid}/transfer",
        json={"queue_id": sales, "note": "wants a quote"},
    )
    assert moved.json()["queue_id"] == sales and moved.json()["status"] == "queued"
    await cc.presence("chie", "available")
    await cc.wait_status(cid, "offered", "chie")
    neither = await cc.as_("admin", "POST", f"/api/v1/conversations/{cid}/transfer", json={})
    assert neither.status_code == 422


async def test_agents_see_and_act_only_on_their_own_work(cc):
    await cc.presence("chie", "available")
    async with cc.stack.runtime.db.read() as session:
        sales = await session.scalar(select(Queue.id).where(Queue.name == "Sales"))
    cid = await cc.customer_writes()
    await cc.as_("admin", "POST", f"/api/v1/conversations/{cid}/transfer", json={"queue_id": sales})
    await cc.wait_status(cid, "offered", "chie")
    # Aiko is not in Sales and the conversation is not hers
    assert (await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}")).status_code == 404
    assert cid not in [
        c["id"] for c in (await cc.as_("aiko", "GET", "/api/v1/conversations")).json()
    ]
    await cc.as_("chie", "POST", f"/api/v1/conversations/{cid}/accept")
    refused = await cc.as_(
        "aiko",
        "POST",
        f"/api/v1/conversations/{cid}/messages",
        json={"message": {"type": "text", "text": {"body": "hi"}}},
    )
    assert refused.status_code == 404


async def test_customer_writing_after_close_starts_a_linked_conversation(cc):
    await cc.presence("aiko", "available")
    phone = str(next(_phones))
    first = await cc.customer_writes("first", phone)
    await cc.wait_status(first, "offered", "aiko")
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{first}/accept")
    await cc.as_(
        "aiko", "POST", f"/api/v1/conversations/{first}/close", json={"disposition": "solved"}
    )
    second = await cc.customer_writes("again", phone)
    assert second != first
    conv = await cc.conversation(second)
    assert conv["previous_conversation_id"] == first
    history = (
        await cc.as_("aiko", "GET", f"/api/v1/contacts/{conv['contact']['id']}/conversations")
    ).json()
    assert [c["id"] for c in history] == [second, first]


async def test_overflow_after_max_wait_and_abandon_after_inactivity(cc):
    async with cc.stack.runtime.db.write() as session:
        sales = await session.scalar(select(Queue.id).where(Queue.name == "Sales"))
        await session.execute(
            update(Queue)
            .where(Queue.name == "Support")
            .values(max_wait_seconds=60, overflow_queue_id=sales)
        )
        await session.execute(
            update(Queue).where(Queue.name == "Sales").values(auto_close_after_seconds=600)
        )
    cid = await cc.customer_writes()
    await cc.wait_status(cid, "queued")
    await cc.stack.runtime.timers.fire_due(now=datetime.now(UTC) + timedelta(seconds=61))
    conv = await cc.conversation(cid)
    assert conv["queue_id"] == sales and conv["status"] == "queued"
    # the customer writes again in Sales: the inactivity timer starts from that message
    async with cc.stack.runtime.db.read() as session:
        phone = (await session.get(Conversation, cid, options=[])).contact_id
    assert phone
    async with cc.stack.runtime.db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == cid)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(seconds=601))
        )
        from madoguchi.services.scheduling import timers

        await timers.schedule(session, 1, "auto_close", cid, datetime.now(UTC))
    await cc.stack.runtime.timers.fire_due()
    conv = await cc.conversation(cid)
    assert conv["status"] == "abandoned"
    events = [
        e["type"]
        for e in (await cc.as_("admin", "GET", f"/api/v1/conversations/{cid}/events")).json()
    ]
    assert events == ["queued", "overflow", "abandoned"]


@pytest.mark.parametrize("method", ["longest_idle", "least_busy", "round_robin"])
async def test_routing_methods_end_to_end(db_url, tmp_path, method):
    cc = await make_cc(db_url, tmp_path, method)
    try:
        await cc.presence("aiko", "available")
        await cc.presence("ben", "available")
        offered = []
        for _ in range(4):
            cid = await cc.customer_writes()
            conv = await cc.wait_status(cid, "offered")
            offered.append(conv["offered_agent_id"])
        # both methods spread 4 conversations 2/2 over two agents with capacity 2
        assert sorted(offered) == sorted([cc.users["aiko"], cc.users["ben"]] * 2)
        if method == "round_robin":
            assert offered[0] != offered[1] and offered[1] != offered[2]
    finally:
        await cc.stack.client.aclose()
        await cc.stack.served.stop()


async def test_reply_to_an_outbound_contact_is_offered_back_to_its_agent(cc):
    await cc.presence("aiko", "available")
    await cc.presence("ben", "available")  # longest idle would pick Aiko (lower id) first
    phone = str(next(_phones))
    started = await cc.as_(
        "ben",
        "POST",
        "/api/v1/outbound",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"wa_id": phone},
            "template": {"name": "order_update", "language": "en_US", "components": []},
        },
    )
    assert started.status_code == 202, started.text
    cid = started.json()["conversation"]["id"]
    assert (await cc.customer_writes("thanks, when?", phone)) == cid
    conv = await cc.wait_status(cid, "offered", "ben")
    assert conv["queue_id"] is not None
    events = (await cc.as_("admin", "GET", f"/api/v1/conversations/{cid}/events")).json()
    assert events[0]["reason"] == "reply to an outbound contact"


async def test_reply_after_the_route_back_time_goes_to_the_queue(cc):
    await cc.presence("aiko", "available")
    await cc.presence("ben", "available")
    phone = str(next(_phones))
    started = await cc.as_(
        "ben",
        "POST",
        "/api/v1/outbound",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"wa_id": phone},
            "template": {"name": "order_update", "language": "en_US", "components": []},
        },
    )
    cid = started.json()["conversation"]["id"]
    async with cc.stack.runtime.db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == cid)
            .values(route_back_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await cc.customer_writes("late reply", phone)
    await cc.wait_status(cid, "offered", "aiko")  # routed like any other: longest idle


async def test_outside_business_hours_the_customer_is_told_and_routed_to_the_closed_target(cc):
    async with cc.stack.runtime.db.write() as session:
        sales = await session.scalar(select(Queue.id).where(Queue.name == "Sales"))
        await session.execute(
            update(Queue)
            .where(Queue.name == "Support")
            .values(
                timezone="Asia/Tokyo",
                hours={"mon": []},  # never open
                closed_message="We are closed; Sales will answer.",
                closed_target_queue_id=sales,
            )
        )
    cid = await cc.customer_writes("anyone there?")
    conv = await cc.wait_status(cid, "queued")
    assert conv["queue_id"] == sales
    messages = (await cc.as_("admin", "GET", f"/api/v1/conversations/{cid}/messages")).json()
    told = [m for m in messages if m["direction"] == "outbound"]
    assert [m["text"] for m in told] == ["We are closed; Sales will answer."]
    events = (await cc.as_("admin", "GET", f"/api/v1/conversations/{cid}/events")).json()
    assert events[0]["reason"] == "Support is closed"


async def test_a_conversation_queued_while_its_queue_is_being_kicked_is_offered_at_once(
    cc, monkeypatch
):
    """A customer is queued just after a running kick of the queue last looked: the kick
    this causes finds that one running and returns at once; the running kick looks again
    before it stops, so the conversation is offered now, not at the next sweep (the
    sweep is off in these tests)."""
    await cc.presence("aiko", "available")
    async with cc.stack.runtime.db.read() as session:
        support = await session.scalar(select(Queue.id).where(Queue.name == "Support"))
    real_offer_next = assignment.offer_next
    late: list[int] = []

    async def offer_next(db, queue_id, **kwargs):
        outcome = await real_offer_next(db, queue_id, **kwargs)
        if outcome is None and not late:  # this kick found nothing; now a customer writes
            late.append(await cc.customer_writes("hello, anyone?"))
        return outcome

    monkeypatch.setattr(assignment, "offer_next", offer_next)
    await cc.stack.runtime.routing.kick(support)
    conversation = await cc.conversation(late[0])
    assert (conversation["status"], conversation["offered_agent_id"]) == (
        "offered",
        cc.users["aiko"],
    )
