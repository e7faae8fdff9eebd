"""Customer satisfaction through the simulator over real HTTP, on SQLite and PostgreSQL:
the question is asked once when an agent's conversation closes, inside the service window
only and only where the queue has it on; the customer's tap (or typed digit) is stored
against the conversation, agent and queue without reopening it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from madoguchi.domain import csat
from madoguchi.store.models import Conversation, CsatResponse, Queue
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, start_sim_stack
from tests.contact_center.test_routing import CC, cc_of
from tests.helpers import eventually, reached_the_product

FILE = f"""
workspace: {{slug: acme, name: ACME}}
users:
  - {{email: aiko@acme.test, name: Aiko, role: agent}}
  - {{email: sam@acme.test, name: Sam, role: supervisor}}
queues:
  - name: Support
    max_per_agent: 5
    members:
      - {{email: aiko@acme.test}}
    csat:
      enabled: true
      kind: list
      texts:
        en: {{question: "How did Aiko do?"}}
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


class SimCC(CC):
    async def customer(self, wa_id: str) -> dict:
        r = await self.stack.sim_client.post("/_sim/customers", json={"wa_id": wa_id})
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def says(self, customer: dict, body: dict) -> dict:
        r = await self.stack.sim_client.post(
            f"/_sim/customers/{customer['user_id']}/messages", json=body
        )
        assert r.status_code == 200, r.text
        return await reached_the_product(self.stack.sim_client, r.json())

    async def thread(self, customer: dict) -> list[dict]:
        r = await self.stack.sim_client.get(f"/_sim/customers/{customer['user_id']}/thread")
        return r.json()["messages"]

    async def conversations_of(self, customer: dict) -> list[int]:
        async with self.stack.runtime.db.read() as session:
            return list(
                (
                    await session.scalars(
                        select(Conversation.id)
                        .where(Conversation.contact.has(wa_id=customer["wa_id"]))
                        .order_by(Conversation.id)
                    )
                ).all()
            )

    async def handled_conversation(self, customer: dict, text: str = "help please") -> int:
        """The customer writes; Aiko is offered the conversation and accepts it."""
        await self.says(customer, {"type": "text", "text": text})
        cid = (await eventually(lambda: self.conversations_of(customer)))[-1]
        await self.wait_status(cid, "offered", "aiko")
        accepted = await self.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
        assert accepted.status_code == 200, accepted.text
        return cid

    async def close(self, cid: int, who: str = "aiko"):
        r = await self.as_(who, "POST", f"/api/v1/conversations/{cid}/close", json={})
        assert r.status_code == 200, r.text

    async def csat_rows(self) -> list[CsatResponse]:
        async with self.stack.runtime.db.read() as session:
            return list((await session.scalars(select(CsatResponse))).all())

    async def questions(self, customer: dict) -> list[dict]:
        return [
            m
            for m in await self.thread(customer)
            if m["direction"] == "out" and m["type"] == "interactive"
        ]


@pytest.fixture
async def cc(db_url, tmp_path):
    stack = await start_sim_stack(db_url, tmp_path, workspace_file=FILE)
    c = await cc_of(stack, SimCC)
    await c.presence("aiko", "available")
    yield c
    await stack.client.aclose()
    await stack.sim_client.aclose()
    await stack.served.stop()
    await stack.sim.stop()


async def test_asked_once_answered_by_a_tap_and_stored_without_reopening(cc):
    ken = await cc.customer("15550001001")
    cid = await cc.handled_conversation(ken)
    await cc.close(cid)

    [question] = await eventually(lambda: cc.questions(ken))
    assert question["content"]["type"] == "list"
    assert question["content"]["body"]["text"] == "How did Aiko do?"
    rows = question["content"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == ["csat:5", "csat:4", "csat:3", "csat:2", "csat:1"]
    again = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/close", json={})
    assert again.status_code == 409  # closed once, asked once

    tap = {"type": "list_reply", "message_wamid": question["wamid"]}
    await cc.says(ken, {**tap, "row_id": "csat:4"})

    async def answered():
        conv = await cc.conversation(cid)
        return conv if conv["csat"] and conv["csat"]["score"] is not None else None

    conv = await eventually(answered)
    assert conv["status"] == "closed"
    assert conv["csat"]["score"] == 4 and conv["csat"]["agent_id"] == cc.users["aiko"]
    assert conv["csat"]["queue_id"] == conv["queue_id"] and conv["csat"]["language"] == "en"
    assert await cc.conversations_of(ken) == [cid]  # the reply opened nothing new
    [row] = await cc.csat_rows()
    assert (row.conversation_id, row.score) == (cid, 4)
    assert row.answered_at >= row.asked_at

    # A second tap changes nothing; the question is still there only once.
    await cc.says(ken, {**tap, "row_id": "csat:1"})
    await eventually(lambda: _messages_in(cc, cid, 3))
    assert (await cc.conversation(cid))["csat"]["score"] == 4
    assert len(await cc.questions(ken)) == 1

    # Counted: the CSAT report reads the same row (asked once, answered once, 4).
    report = await cc.as_("sam", "GET", "/api/v1/reports/csat", params={"period": "today"})
    assert report.status_code == 200, report.text
    totals = report.json()["totals"]
    assert (totals["asked"], totals["answered"], totals["score"]) == (1, 1, 4)
    assert totals["response_rate_percent"] == 100 and totals["satisfied_percent"] == 100
    [by_agent] = report.json()["agents"]
    assert by_agent["agent_id"] == cc.users["aiko"] and by_agent["score"] == 4


async def _messages_in(cc, cid: int, count: int):
    messages = (await cc.as_("admin", "GET", f"/api/v1/conversations/{cid}/messages")).json()
    return messages if len(messages) >= count else None


async def test_a_typed_digit_answers_and_other_text_starts_a_new_conversation(cc):
    yui = await cc.customer("819000001002")
    cid = await cc.handled_conversation(yui)
    await cc.close(cid)
    [question] = await eventually(lambda: cc.questions(yui))
    assert question["content"]["body"]["text"] == csat.DEFAULT_TEXTS["ja"]["question"]
    await cc.says(yui, {"type": "text", "text": "５"})  # full-width

    async def answered():
        conv = await cc.conversation(cid)
        return conv["csat"] if conv["csat"] and conv["csat"]["score"] else None

    assert (await eventually(answered))["score"] == 5
    assert await cc.conversations_of(yui) == [cid]

    # The next conversation: other text after the question is a new conversation.
    mei = await cc.customer("15550001003")
    first = await cc.handled_conversation(mei)
    await cc.close(first)
    await eventually(lambda: cc.questions(mei))
    await cc.says(mei, {"type": "text", "text": "one more question about my bill"})
    conversations = await eventually(lambda: _more_than_one(cc.conversations_of(mei)))
    assert conversations[0] == first
    [_, mei_row] = sorted(await cc.csat_rows(), key=lambda r: r.id)
    assert mei_row.conversation_id == first and mei_row.score is None


async def _more_than_one(found):
    ids = await found
    return ids if len(ids) > 1 else None


async def test_not_asked_outside_the_service_window(cc):
    old = await cc.customer("15550001004")
    cid = await cc.handled_conversation(old)
    async with cc.stack.runtime.db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == cid)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
        )
    await cc.close(cid)
    conv = await cc.conversation(cid)
    assert conv["status"] == "closed" and conv["csat"] is None
    assert await cc.csat_rows() == []
    assert await cc.questions(old) == []


async def test_not_asked_when_the_queue_has_it_off(cc):
    async with cc.stack.runtime.db.read() as session:
        queue_id = await session.scalar(select(Queue.id).where(Queue.name == "Support"))
    spec = (await cc.as_("admin", "GET", f"/api/v1/queues/{queue_id}")).json()
    assert spec["csat"]["enabled"] is True and spec["csat"]["kind"] == "list"
    spec["csat"]["enabled"] = False
    body = {k: v for k, v in spec.items() if k not in ("id", "waiting")}
    body["members"] = [{"user_id": m["user_id"]} for m in spec["members"]]
    body["supervisors"] = None
    r = await cc.as_("admin", "PUT", f"/api/v1/queues/{queue_id}", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["csat"]["enabled"] is False
    assert r.json()["csat"]["texts"]["en"]["question"] == "How did Aiko do?"  # kept

    off = await cc.customer("15550001005")
    cid = await cc.handled_conversation(off)
    await cc.close(cid)
    assert (await cc.conversation(cid))["csat"] is None
    async with cc.stack.runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(CsatResponse)) == 0
    assert await cc.questions(off) == []


async def test_a_conversation_nobody_answered_is_never_asked(cc):
    await cc.presence("aiko", "away", "lunch")
    nobody = await cc.customer("15550001006")
    await cc.says(nobody, {"type": "text", "text": "hello?"})
    [cid] = await eventually(lambda: cc.conversations_of(nobody))
    await cc.wait_status(cid, "queued")
    await cc.close(cid, who="sam")
    assert (await cc.conversation(cid))["csat"] is None
    assert await cc.questions(nobody) == []


async def test_auto_close_after_the_customers_silence_asks_too(cc):
    """Decided (docs/reports.md): a conversation an agent handled and the queue's
    auto-close ended is asked, inside the window like any other."""
    from madoguchi.services.contact_center import assignment

    quiet = await cc.customer("15550001007")
    cid = await cc.handled_conversation(quiet)
    async with cc.stack.runtime.db.write() as session:
        await session.execute(update(Queue).values(auto_close_after_seconds=60))
        await session.execute(
            update(Conversation)
            .where(Conversation.id == cid)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        workspace_id = await session.scalar(
            select(Conversation.workspace_id).where(Conversation.id == cid)
        )
    outcome = await assignment.auto_close_if_idle(cc.stack.runtime.db, workspace_id, cid)
    await cc.stack.runtime.bus.publish(outcome.events)
    conv = await cc.conversation(cid)
    assert conv["status"] == "closed" and conv["csat"]["score"] is None
    [question] = await eventually(lambda: cc.questions(quiet))
    assert question["content"]["type"] == "list"
