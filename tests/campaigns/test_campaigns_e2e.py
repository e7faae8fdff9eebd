"""Campaigns end to end against the simulator: audience, tier limit, statuses, replies
routed to the campaign's queue, stop mid-way (nothing more, nothing twice after a
restart), agents' sends before a campaign's backlog, export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from madoguchi.services.campaigns.sending import AGENTS_USED_SECONDS, CampaignWorker
from madoguchi.simulator.config import SeedTemplate, SimNumber
from madoguchi.store.models import (
    Budget,
    CampaignRecipient,
    Conversation,
    MessageCost,
    MessageTemplate,
    MessagingLimit,
    WhatsAppAccount,
)
from tests.conftest import PHONE_NUMBER_ID, WA_TOKEN, WABA_ID, start_sim_stack
from tests.e2e.test_simulator_roundtrip import customer, customer_says, sent_requests
from tests.helpers import eventually

ORDER_READY = SeedTemplate(
    name="order_ready",
    language="ja",
    category="UTILITY",
    components=[
        {
            "type": "BODY",
            "text": "{{1}}様、ご注文 {{2}} の準備ができました。",
            "example": {"body_text": [["山田", "A-1"]]},
        }
    ],
)
VALUES = {"body.1": {"from": "contact.name"}, "body.2": {"from": "row.order_no"}}


async def _stack(db_url, tmp_path, *, tier="TIER_1K", workers=True):
    number = SimNumber(
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="+1 555 0123",
        waba_id=WABA_ID,
        access_token=WA_TOKEN,
        verified_name="ACME",
        messaging_limit_tier=tier,
    )
    s = await start_sim_stack(
        db_url, tmp_path, numbers=[number], templates=[ORDER_READY], workers=workers
    )
    synced = await s.api("POST", "/api/v1/templates/sync", json={"waba_id": WABA_ID})
    assert synced.status_code == 200, synced.text
    [template] = (await s.api("GET", "/api/v1/templates", params={"status": "APPROVED"})).json()
    s.template_id = template["id"]
    queue = await s.api("POST", "/api/v1/queues", json={"name": "Campaign replies"})
    assert queue.status_code in (200, 201), queue.text
    s.queue_id = queue.json()["id"]
    return s


async def _close(s):
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


@pytest.fixture
async def limited(db_url, tmp_path):
    s = await _stack(db_url, tmp_path, tier="TIER_3")
    yield s
    await _close(s)


@pytest.fixture
async def manual(db_url, tmp_path):
    """Workers off: the test drives the campaign worker and the sender itself."""
    s = await _stack(db_url, tmp_path, workers=False)
    yield s
    await _close(s)


async def new_campaign(s, **extra) -> dict:
    body = {
        "name": "Order ready",
        "phone_number_id": PHONE_NUMBER_ID,
        "template_id": s.template_id,
        "values": VALUES,
        "queue_id": s.queue_id,
        **extra,
    }
    response = await s.api("POST", "/api/v1/campaigns", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def upload(s, campaign_id: int, text: str, **data) -> dict:
    response = await s.api(
        "POST",
        f"/api/v1/campaigns/{campaign_id}/audience",
        files={"file": ("audience.csv", ("\ufeff" + text).encode(), "text/csv")},
        data=data,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def detail(s, campaign_id: int) -> dict:
    response = await s.api("GET", f"/api/v1/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def people(s, n: int) -> list[dict]:
    return [
        await customer(s, wa_id=f"8190123400{i:02d}", name=f"客{i}", country="JP")
        for i in range(1, n + 1)
    ]


def audience_csv(customers: list[dict], extra: str = "") -> str:
    lines = ["phone,name,order_no"]
    lines += [f"+{c['wa_id']},{c['name']},A-{i}" for i, c in enumerate(customers, 1)]
    return "\n".join(lines) + "\n" + extra


async def test_tier_limit_statuses_replies_routed_and_export(limited):
    s = limited
    customers = await people(s, 4)
    card = await s.api(
        "POST",
        "/api/v1/rate-cards",
        json={
            "name": "Meta 2026",
            "currency": "USD",
            "effective_from": "2026-01-01T00:00:00Z",
            "rates": [{"market": "JP", "category": "UTILITY", "rate": "0.0080"}],
        },
    )
    assert card.status_code == 201, card.text
    campaign = await new_campaign(s)
    cid = campaign["id"]
    report = await upload(
        s,
        cid,
        audience_csv(
            customers, "+819099990000,Nobody,A-9\nbad-phone,X,A-0\n+819012340001,Dup,A-1\n"
        ),
    )
    assert (report["added"], report["invalid"], report["duplicates"]) == (5, 1, 1)
    assert report["problems"] == [
        {"line": 7, "code": "invalid_phone", "message": report["problems"][0]["message"]}
    ]
    preview = (await s.api("GET", f"/api/v1/campaigns/{cid}/preview")).json()
    assert preview["message"]["body"] == "客1様、ご注文 A-1 の準備ができました。"
    estimate = preview["cost_estimate"]
    assert (estimate["messages"], estimate["currency"], estimate["total"]) == (5, "USD", "0.04")
    [japan] = estimate["by_market"]
    assert (japan["market"], japan["recipients"], japan["total"]) == ("JP", 5, "0.04")

    scheduled = await s.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={})
    assert scheduled.status_code == 200, scheduled.text

    # TIER_3 at the simulator: three customers today, the rest wait.
    async def limited_now():
        d = await detail(s, cid)
        reason = d["status_reason"] or ""
        return d if reason.startswith("messaging limit reached") else None

    d = await eventually(limited_now)
    assert d["messaging_limit"]["tier"] == "TIER_3"
    assert d["messaging_limit"]["remaining_today"] == 0
    assert d["progress"]["counts"]["pending"] == 2

    async def three_sent():
        bodies = [r["body"] for r in await sent_requests(s) if r["body"].get("type") == "template"]
        return bodies if len(bodies) == 3 else None

    sent = await eventually(three_sent)
    assert sent[0]["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "客1"},
        {"type": "text", "text": "A-1"},
    ]

    # The first customer answers: the reply goes to the campaign's queue, named after it.
    async def delivered():
        d = await detail(s, cid)
        counts = d["progress"]["counts"]
        return d if counts["delivered"] + counts["read"] == 3 else None

    await eventually(delivered)
    await customer_says(s, customers[0], {"type": "text", "text": "ありがとう"})

    async def routed():
        async with s.runtime.db.read() as session:
            conversation = await session.scalar(
                select(Conversation)
                .where(Conversation.campaign_id == cid)
                .order_by(Conversation.id)
            )
            return conversation if conversation.queue_id == s.queue_id else None

    conversation = await eventually(routed)
    assert conversation.status in ("queued", "offered", "active")
    shown = (await s.api("GET", f"/api/v1/conversations/{conversation.id}")).json()
    assert (shown["campaign_id"], shown["campaign_name"]) == (cid, "Order ready")
    d = await eventually(
        lambda: _when(detail(s, cid), lambda d: d["progress"]["counts"]["replied"] == 1)
    )

    # More room (Meta raised the tier): the rest go; the unknown number fails with 131026.
    async with s.runtime.db.write() as session:
        await session.execute(update(MessagingLimit).values(tier="TIER_1K", per_day=1000))

    async def finished():
        d = await detail(s, cid)
        return d if d["status"] == "finished" and d["progress"]["counts"]["failed"] == 1 else None

    d = await eventually(finished)
    assert d["progress"]["failures"][0]["error_code"] == 131026
    assert d["cost_estimate"]["total"] == "0.04"  # kept from when it was scheduled
    # Five sends priced as queued (the failed one too, until Meta's verdict settles it).
    assert (d["cost_actual"]["messages"], d["cost_actual"]["currency"]) == (5, "USD")

    export = await s.api("GET", f"/api/v1/campaigns/{cid}/export.csv")
    assert export.status_code == 200
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    by_phone = {r["phone"]: r for r in rows}
    assert by_phone["+819012340001"]["status"] == "replied"
    assert by_phone["+819012340001"]["name"] == "客1"
    assert by_phone["+819099990000"]["status"] == "failed"
    assert by_phone["+819099990000"]["error_code"] == "131026"
    assert by_phone["+819012340002"]["order_no"] == "A-2"


async def _when(awaitable, check):
    value = await awaitable
    return value if check(value) else None


async def test_stop_mid_way_sends_nothing_more_even_after_a_restart(manual):
    s = manual
    customers = await people(s, 6)
    cid = (await new_campaign(s))["id"]
    await upload(s, cid, audience_csv(customers))
    assert (await s.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={})).status_code == 200
    worker = s.runtime.campaigns
    await worker.start_due(datetime.now(UTC))
    assert await worker.feed(cid, datetime.now(UTC), most=2) == 2
    await s.runtime.sender.drain()
    assert await worker.feed(cid, datetime.now(UTC), most=2) == 2  # queued, not sent yet

    stopped = await s.api("POST", f"/api/v1/campaigns/{cid}/stop")
    assert stopped.status_code == 200, stopped.text
    d = stopped.json()
    assert d["status"] == "stopped"
    assert d["progress"]["counts"]["stopped"] == 4
    await s.runtime.sender.drain()
    assert await worker.tick() == 0

    # A restarted process: a new sender and a new worker find nothing to send.
    restarted = s.runtime.new_sender()
    await restarted.recover(startup=True)
    await restarted.drain()
    await CampaignWorker(s.runtime.db, s.runtime.settings, wake_sender=lambda **_: None).tick()
    templates = [r for r in await sent_requests(s) if r["body"].get("type") == "template"]
    assert len(templates) == 2
    assert len({r["body"]["to"] for r in templates}) == 2
    again = await s.api("POST", f"/api/v1/campaigns/{cid}/resume")
    assert again.status_code == 409 and again.json()["detail"]["code"] == "wrong_state"


async def test_an_agents_reply_is_claimed_before_the_campaign_backlog(manual):
    s = manual
    customers = await people(s, 3)
    agent_customer = await customer(s, wa_id="819055550001", name="Agent's customer")
    said = await customer_says(s, agent_customer, {"type": "text", "text": "help"})
    assert said
    # 60 recipients: more than the number's share of sends in flight (32 at 80/s).
    extra = "\n".join(f"+8190777{i:05d},P{i},B-{i}" for i in range(57)) + "\n"
    cid = (await new_campaign(s))["id"]
    await upload(s, cid, audience_csv(customers, extra))
    assert (await s.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={})).status_code == 200
    assert await s.runtime.campaigns.tick() == 60

    sender = s.runtime.sender
    try:
        # The campaign's rows never fill the whole share of sends in flight…
        first = await sender.claim()
        assert 0 < len(first) <= sender.share(first[0].number_id) * 3 // 4
        assert await sender.claim() == []  # its part is full; 36 rows wait
        async with s.runtime.db.read() as session:
            conversation_id = await session.scalar(
                select(Conversation.id)
                .where(Conversation.campaign_id.is_(None))
                .order_by(Conversation.id.desc())
            )
        reply = await s.api(
            "POST",
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"message": {"type": "text", "text": {"body": "On it!"}}},
        )
        assert reply.status_code == 202, reply.text
        # …so an agent's reply queued behind them is claimed at once, ahead of them.
        [claimed] = await sender.claim()
        assert claimed.conversation_id == conversation_id and claimed.priority == 0
    finally:
        await sender.stop()


async def test_opted_out_customers_are_excluded_and_counted(manual):
    s = manual
    customers = await people(s, 3)
    async with s.runtime.db.write() as session:
        account_id = await session.scalar(select(WhatsAppAccount.id))
        template = MessageTemplate(
            workspace_id=1,
            account_id=account_id,
            name="spring_sale",
            language="ja",
            category="MARKETING",
            status="APPROVED",
            components=[{"type": "BODY", "text": "セール開催中"}],
        )
        session.add(template)
        await session.flush()
        template_id = template.id
    first = await upload(s, (await new_campaign(s))["id"], audience_csv(customers))
    assert first["added"] == 3
    async with s.runtime.db.read() as session:
        contact_id = await session.scalar(
            select(CampaignRecipient.contact_id).where(
                CampaignRecipient.wa_id == customers[1]["wa_id"]
            )
        )
    opted = await s.api("PUT", f"/api/v1/contacts/{contact_id}/marketing", json={"opted_out": True})
    assert opted.status_code == 200, opted.text
    cid = (await new_campaign(s, template_id=template_id, values={}))["id"]
    report = await upload(s, cid, audience_csv(customers))
    assert (report["added"], report["opted_out"]) == (2, 1)
    d = await detail(s, cid)
    assert d["progress"]["counts"]["opted_out"] == 1
    assert d["progress"]["counts"]["pending"] == 2
    listed = await s.api(
        "GET", f"/api/v1/campaigns/{cid}/recipients", params={"status": "opted_out"}
    )
    [row] = listed.json()["recipients"]
    assert row["wa_id"] == customers[1]["wa_id"] and "opted out" in row["error"]
    async with s.runtime.db.read() as session:
        total = await session.scalar(
            select(func.count()).where(CampaignRecipient.campaign_id == cid)
        )
    assert total == 3


async def test_a_hard_limit_budget_pauses_the_campaign_before_it_overspends(manual):
    s = manual
    customers = await people(s, 3)
    card = await s.api(
        "POST",
        "/api/v1/rate-cards",
        json={
            "name": "Meta 2026",
            "currency": "USD",
            "effective_from": "2026-01-01T00:00:00Z",
            "rates": [{"market": "JP", "category": "UTILITY", "rate": "0.0080"}],
        },
    )
    assert card.status_code == 201, card.text
    async with s.runtime.db.write() as session:
        session.add(Budget(workspace_id=1, monthly_micros=10_000, currency="USD", hard_limit=True))
    cid = (await new_campaign(s))["id"]
    await upload(s, cid, audience_csv(customers))
    assert (await s.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={})).status_code == 200
    worker = s.runtime.campaigns
    await worker.start_due(datetime.now(UTC))
    # Three sends at 0.008 USD would spend 0.024 of a 0.01 budget: none is queued.
    assert await worker.feed(cid, datetime.now(UTC)) == 0
    d = await detail(s, cid)
    assert d["status"] == "paused" and "budget" in d["status_reason"]
    assert d["progress"]["counts"]["pending"] == 3
    async with s.runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(MessageCost)) == 0


async def test_an_agents_own_template_counts_against_the_messaging_limit_once(manual):
    """Unique customers per 24 h on the number: an agent's template counts, and a customer
    reached by both an agent and the campaign counts once."""
    s = manual
    customers = await people(s, 4)
    said = await customer_says(s, customers[0], {"type": "text", "text": "hi"})
    assert said

    async def conversation_of_first():
        async with s.runtime.db.read() as session:
            return await session.scalar(
                select(Conversation.id).where(Conversation.campaign_id.is_(None))
            )

    conversation_id = await eventually(conversation_of_first)
    # Two days later (the window closed): the agent's template opens a conversation.
    async with s.runtime.db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(days=2))
        )
    sent = await s.api(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={
            "message": {
                "type": "template",
                "template": {
                    "name": "order_ready",
                    "language": {"code": "ja"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "客1"},
                                {"type": "text", "text": "A-0"},
                            ],
                        }
                    ],
                },
            }
        },
    )
    assert sent.status_code == 202, sent.text
    # The agent's customer is not in the first campaign: 1 of 3 is used, 2 can go.
    first = (await new_campaign(s))["id"]
    await upload(s, first, audience_csv(customers[1:]))
    assert (await s.api("POST", f"/api/v1/campaigns/{first}/schedule", json={})).status_code == 200
    worker = s.runtime.campaigns
    now = datetime.now(UTC)
    await worker.start_due(now)  # reads the tier from Meta (TIER_1K)…
    async with s.runtime.db.write() as session:  # …which Meta lowers to 3
        await session.execute(update(MessagingLimit).values(tier="TIER_3", per_day=3))
    limit = (await detail(s, first))["messaging_limit"]
    assert (limit["used_last_24h"], limit["used_by_agents_last_24h"]) == (1, 1)
    assert limit["remaining_today"] == 2
    assert await worker.feed(first, now) == 2
    d = await detail(s, first)
    assert d["progress"]["counts"]["pending"] == 1
    assert d["status_reason"] is None or "messaging limit" not in d["status_reason"]
    assert await worker.feed(first, now) == 0
    assert (await detail(s, first))["status_reason"].startswith("messaging limit reached")
    # Meta raises the tier to 4: the agent's customer joins a second campaign and is
    # still counted once (3 used: two of the first campaign's, the agent's customer).
    second = (await new_campaign(s))["id"]
    await upload(s, second, audience_csv(customers[:1]))
    assert (await s.api("POST", f"/api/v1/campaigns/{second}/schedule", json={})).status_code == 200
    await worker.start_due(datetime.now(UTC))
    async with s.runtime.db.write() as session:
        await session.execute(update(MessagingLimit).values(tier="TIER_4", per_day=4))
    later = datetime.now(UTC) + timedelta(seconds=AGENTS_USED_SECONDS + 1)
    assert await worker.feed(second, later) == 1
    limit = (await detail(s, second))["messaging_limit"]
    assert (limit["used_last_24h"], limit["used_by_agents_last_24h"]) == (3, 0)
    assert limit["remaining_today"] == 1


async def test_a_recipient_who_opts_out_after_receiving_is_flagged(manual):
    s = manual
    customers = await people(s, 2)
    cid = (await new_campaign(s))["id"]
    await upload(s, cid, audience_csv(customers))
    assert (await s.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={})).status_code == 200
    worker = s.runtime.campaigns
    await worker.start_due(datetime.now(UTC))
    assert await worker.feed(cid, datetime.now(UTC)) == 2
    await s.runtime.sender.drain()

    async def delivered():
        counts = (await detail(s, cid))["progress"]["counts"]
        return counts if counts["delivered"] + counts["read"] == 2 else None

    await eventually(delivered)
    await customer_says(s, customers[1], {"type": "text", "text": "配信停止"})

    async def flagged():
        d = await detail(s, cid)
        return d if d["progress"]["opted_out_after_sending"] == 1 else None

    d = await eventually(flagged)
    # Still counted as reached by their message's status; opted out shown per recipient.
    assert d["progress"]["reached"] == 2 and d["progress"]["counts"]["opted_out"] == 0
    rows = (await s.api("GET", f"/api/v1/campaigns/{cid}/recipients")).json()["recipients"]
    by_phone = {r["wa_id"]: r for r in rows}
    stopped = by_phone[customers[1]["wa_id"]]
    assert stopped["status"] == "opted_out" and stopped["opted_out_at"]
    kept = by_phone[customers[0]["wa_id"]]
    assert kept["status"] in ("delivered", "read") and kept["opted_out_at"] is None
    listed = await s.api(
        "GET", f"/api/v1/campaigns/{cid}/recipients", params={"status": "opted_out"}
    )
    assert [r["wa_id"] for r in listed.json()["recipients"]] == [customers[1]["wa_id"]]
    export = await s.api("GET", f"/api/v1/campaigns/{cid}/export.csv")
    exported = {
        r["phone"]: r for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))
    }
    assert exported[f"+{customers[1]['wa_id']}"]["status"] == "opted_out"
    assert exported[f"+{customers[1]['wa_id']}"]["opted_out_at"]
    assert exported[f"+{customers[0]['wa_id']}"]["opted_out_at"] == ""
