"""Batched flow activations (``services.flows.batch``) store exactly what activating each
message on its own stores.

Two numbers run the guide's flow. The runner is unsubscribed while the customers write,
so their messages are stored and their ``MessageReceived`` events kept: the first
number's are then handed to the runner as one batch (as the journal's processor publishes
a slice), the second's one at a time (``_activate_on_message``, the one-at-a-time path).
The same corpus is written to both: new customers, a customer whose answer comes in the
same batch as their first message, answers that route to Sales and Support, an invalid
answer (the retry prompt is sent), an alias, a reaction (not an answer), and a customer
whose flow waits at the question while a second batch comes. Afterwards every customer's
stored result (replies, outbox rows, estimates, run, steps, timers, lifecycle, status,
queue) is the same on both numbers.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from madoguchi.domain.events import MessageReceived
from madoguchi.domain.flows.examples import guide_flow
from madoguchi.services.flows import batch
from madoguchi.simulator import payloads
from madoguchi.store.models import (
    Contact,
    Conversation,
    ConversationEvent,
    FlowBinding,
    FlowRun,
    FlowStep,
    Message,
    MessageCost,
    OutboxEntry,
    PhoneNumber,
    Queue,
    Timer,
)
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, start_stack

SECOND = "109000000000456"
NUMBERS = {
    "batch": {"phone_number_id": PHONE_NUMBER_ID, "display_phone_number": "15550123"},
    "single": {"phone_number_id": SECOND, "display_phone_number": "15550456"},
}


def workspace() -> str:
    flow = guide_flow([PHONE_NUMBER_ID, SECOND])
    return f"""
workspace: {{slug: acme, name: ACME}}
queues:
  - {{name: Sales}}
  - {{name: Support}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{PHONE_NUMBER_ID}"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}
        - phone_number_id: "{SECOND}"
          display_phone_number: "+1 555 0456"
          access_token: ${{WA_TOKEN}}
flows: {json.dumps([{"name": "Guide", "definition": flow}], ensure_ascii=False)}
"""


def customer(mode: str, i: int) -> dict:
    base = 819020000000 if mode == "batch" else 819030000000
    return {"wa_id": str(base + i), "name": f"Customer {i}"}


# (customer, text or None for a reaction) in the order they write, per round; a round's
# messages reach the runner together.
ROUNDS = [
    [(0, "hi"), (1, "hello"), (2, "hi"), (3, "hi"), (4, "hi"), (5, "hi"), (5, "2"), (6, "hi")],
    [(0, "1"), (1, "2"), (2, "banana"), (3, "sales"), (4, None), (6, "1")],
    [(2, "3"), (4, "2"), (7, "hi")],
]


async def write(stack, mode: str, i: int, text: str | None, last_wamid: dict) -> None:
    who = customer(mode, i)
    if text is None:  # a reaction to the customer's own last message
        message = payloads.inbound_message(who, "reaction", payloads.reaction(last_wamid[i], "👍"))
    else:
        message = payloads.inbound_message(who, "text", payloads.text(text))
        last_wamid[i] = message["id"]
    number = {**NUMBERS[mode], "waba_id": WABA_ID}
    response = await stack.post_webhook(payloads.message_webhook(number, who, message))
    assert response.status_code == 200, response.text


async def snapshot(stack, mode: str, count: int) -> dict:
    """Everything the flows stored, per customer, without ids and times."""
    out = {}
    async with stack.runtime.db.read() as session:
        number = await session.scalar(
            select(PhoneNumber.id).where(
                PhoneNumber.phone_number_id == NUMBERS[mode]["phone_number_id"]
            )
        )
        for i in range(count):
            contact = await session.scalar(
                select(Contact.id).where(Contact.wa_id == customer(mode, i)["wa_id"])
            )
            conversation = await session.scalar(
                select(Conversation).where(
                    Conversation.contact_id == contact, Conversation.phone_number_id == number
                )
            )
            cid = conversation.id
            queue = (
                await session.get(Queue, conversation.queue_id) if conversation.queue_id else None
            )
            replies = (
                await session.execute(
                    select(Message.type, Message.text, Message.status, Message.content)
                    .where(Message.conversation_id == cid, Message.direction == "outbound")
                    .order_by(Message.id)
                )
            ).all()
            outbox = (
                await session.execute(
                    select(OutboxEntry.recipient_key, OutboxEntry.body, OutboxEntry.state)
                    .join(Message, Message.id == OutboxEntry.message_id)
                    .where(Message.conversation_id == cid)
                    .order_by(OutboxEntry.id)
                )
            ).all()
            costs = (
                await session.execute(
                    select(
                        MessageCost.estimated_category,
                        MessageCost.estimated_billable,
                        MessageCost.market,
                        MessageCost.queue_id,
                    )
                    .where(MessageCost.conversation_id == cid)
                    .order_by(MessageCost.message_id)
                )
            ).all()
            runs = (
                await session.execute(
                    select(
                        FlowRun.status,
                        FlowRun.node_id,
                        FlowRun.wait_kind,
                        FlowRun.wait_seq,
                        FlowRun.retries,
                        FlowRun.variables,
                        FlowRun.wait_until.is_(None),
                        FlowRun.ended_at.is_(None),
                    )
                    .where(FlowRun.conversation_id == cid)
                    .order_by(FlowRun.id)
                )
            ).all()
            run_ids = (
                await session.scalars(select(FlowRun.id).where(FlowRun.conversation_id == cid))
            ).all()
            steps = (
                await session.execute(
                    select(FlowStep.node_id, FlowStep.widget, FlowStep.result, FlowStep.detail)
                    .where(FlowStep.conversation_id == cid)
                    .order_by(FlowStep.id)
                )
            ).all()
            timers = (
                await session.execute(
                    select(Timer.kind, Timer.state, Timer.payload)
                    .where(Timer.ref_id.in_(run_ids))
                    .order_by(Timer.id)
                )
            ).all()
            lifecycle = (
                await session.execute(
                    select(
                        ConversationEvent.type,
                        ConversationEvent.from_status,
                        ConversationEvent.to_status,
                        ConversationEvent.reason,
                        ConversationEvent.data,
                    )
                    .where(ConversationEvent.conversation_id == cid)
                    .order_by(ConversationEvent.id)
                )
            ).all()
            out[i] = {
                "status": conversation.status,
                "queue": queue.name if queue else None,
                "last_message_at set": conversation.last_message_at is not None,
                "replies": [tuple(r) for r in replies],
                "outbox": [(r[0][-4:], _body(r[1]), r[2]) for r in outbox],
                "costs": [tuple(r[:3]) + (r[3] is not None,) for r in costs],
                "runs": [_run(r) for r in runs],
                "steps": [tuple(r) for r in steps],
                "timers": [(k, s, (p or {}).get("seq")) for k, s, p in timers],
                "lifecycle": [tuple(r) for r in lifecycle],
            }
    return out


def _body(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "to"}


def _run(row) -> tuple:
    status, node, wait, seq, retries, variables, no_wait_until, open_ = row
    variables = {
        k: v
        for k, v in variables.items()
        if k not in ("contact.id", "contact.wa_id", "conversation.id", "message.id")
        and not k.startswith("number.")
    }
    return (status, node, wait, seq, retries, variables, no_wait_until, open_)


@pytest.mark.parametrize("rounds", [ROUNDS])
async def test_batched_activations_store_what_one_at_a_time_stores(
    db_url, tmp_path, rounds, monkeypatch, caplog
):
    handled: list[int] = []  # conversations each batch did itself (not one at a time)
    together = batch._batch

    async def counting(runner, events):
        done = await together(runner, events)
        handled.append(len(done))
        return done

    monkeypatch.setattr(batch, "_batch", counting)
    stack = await start_stack(db_url, tmp_path, workspace_file=workspace())
    try:
        runtime = stack.runtime
        runner = runtime.flows
        handlers = runtime.bus._handlers[MessageReceived]
        wired = [h for h in handlers if getattr(h[0], "__self__", None) is runner]
        assert len(wired) == 1
        captured: list[MessageReceived] = []

        async def keep(events):
            captured.extend(events)

        handlers[handlers.index(wired[0])] = (keep, True)
        wamids: dict[str, dict] = {"batch": {}, "single": {}}
        for messages in rounds:
            by_mode = {}
            for mode in ("batch", "single"):
                captured.clear()
                for i, text in messages:
                    await write(stack, mode, i, text, wamids[mode])
                by_mode[mode] = list(captured)
                assert len(by_mode[mode]) == len(messages)
            await runner.on_messages(by_mode["batch"])  # together
            for event in by_mode["single"]:  # each on its own
                await runner._activate_on_message(event)
        # Each round's first message of each customer went through the batch; customer
        # 5's answer, in the same round as their first message, came after it.
        assert handled == [7, 6, 3]
        assert not [r for r in caplog.records if r.name == batch.__name__]
        count = 1 + max(i for messages in rounds for i, _ in messages)
        batched, single = (
            await snapshot(stack, "batch", count),
            await snapshot(stack, "single", count),
        )
        for i in range(count):
            assert batched[i] == single[i], f"customer {i}"
        # The corpus goes where it should (so the comparison compares something).
        assert [batched[i]["queue"] for i in range(count)] == [
            "Sales", "Support", None, "Sales", "Support", "Support", "Sales", None,
        ]  # fmt: skip
        assert [len(batched[i]["replies"]) for i in range(count)] == [2, 2, 4, 2, 2, 2, 2, 2]
        assert batched[7]["runs"][0][:2] == ("waiting", "Ask_Department")
        assert [t[:2] for t in batched[7]["timers"]] == [("flow_timeout", "pending")]
        assert [t[:2] for t in batched[0]["timers"]] == [("flow_timeout", "cancelled")]
        assert batched[2]["runs"][0][:5] == ("waiting", "Ask_Department", "input", 3, 2)
        assert all(len(batched[i]["costs"]) == len(batched[i]["replies"]) for i in range(count))
    finally:
        await stack.client.aclose()
        await stack.served.stop()


async def test_a_flow_start_lost_in_a_crash_is_recovered_once(db_url, tmp_path):
    """The process stored a new customer's messages and died before their flow started:
    ``recover`` starts it from their first message, once; a repeated activation of a
    message the run already took changes nothing (both paths)."""
    stack = await start_stack(db_url, tmp_path, workspace_file=workspace())
    try:
        runtime = stack.runtime
        runner = runtime.flows
        handlers = runtime.bus._handlers[MessageReceived]
        wired = next(h for h in handlers if getattr(h[0], "__self__", None) is runner)
        position = handlers.index(wired)
        captured: list[MessageReceived] = []

        async def keep(events):
            captured.extend(events)

        handlers[position] = (keep, True)  # "the process died": no activation
        wamids: dict[int, str] = {}
        for i, text in [(0, "hi"), (0, "anyone?"), (1, "hi")]:
            await write(stack, "batch", i, text, wamids)
        await write(stack, "single", 0, "hi", {})  # a conversation too young to recover
        handlers[position] = wired
        assert await runner.recover() == 0  # the live path has had no time yet
        async with runtime.db.write() as session:  # a minute later
            for conversation in await session.scalars(select(Conversation)):
                conversation.created_at -= timedelta(minutes=2)
            for binding in await session.scalars(select(FlowBinding)):
                binding.created_at -= timedelta(minutes=10)
        async with runtime.db.write() as session:
            young = await session.scalar(
                select(Conversation)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Contact.wa_id == customer("single", 0)["wa_id"])
            )
            young.created_at += timedelta(minutes=2)

        assert await runner.recover() == 2
        assert await runner.recover() == 0
        state = await snapshot(stack, "batch", 2)
        for i in (0, 1):
            assert state[i]["status"] == "in_flow"
            assert [r[0] for r in state[i]["runs"]] == ["waiting"]
            assert len(state[i]["replies"]) == 2  # welcome and question, once
            assert state[i]["runs"][0][5]["message.text"] == "hi"  # the first message
        # The live event of a message already taken, again: through the batch, then alone.
        await runner.on_messages(captured[:1] + captured[2:3])
        for event in captured[:1]:
            await runner._activate_on_message(event)
        assert await snapshot(stack, "batch", 2) == state
    finally:
        await stack.client.aclose()
        await stack.served.stop()


async def test_a_batch_that_fails_is_done_one_at_a_time(db_url, tmp_path, monkeypatch, caplog):
    """Nothing of a failed batch is stored; its activations are then done one at a time
    (where a bad one fails alone), each exactly once."""
    stack = await start_stack(db_url, tmp_path, workspace_file=workspace())
    try:
        runtime = stack.runtime
        runner = runtime.flows
        handlers = runtime.bus._handlers[MessageReceived]
        wired = next(h for h in handlers if getattr(h[0], "__self__", None) is runner)
        position = handlers.index(wired)
        captured: list[MessageReceived] = []

        async def keep(events):
            captured.extend(events)

        handlers[position] = (keep, True)
        for i in range(3):
            await write(stack, "batch", i, "hi", {})
        handlers[position] = wired

        async def broken(*args, **kwargs):
            raise RuntimeError("the disk is full")

        monkeypatch.setattr(batch, "queue_messages", broken)
        await runner.on_messages(captured)
        assert any("one at a time" in r.getMessage() for r in caplog.records)
        state = await snapshot(stack, "batch", 3)
        for i in range(3):
            assert state[i]["status"] == "in_flow"
            assert [r[:2] for r in state[i]["runs"]] == [("waiting", "Ask_Department")]
            assert len(state[i]["replies"]) == 2
            assert [s[:3] for s in state[i]["steps"]] == [
                ("Start", "start", "next"),
                ("Welcome", "send_media", "next"),
                ("Ask_Department", "collect_input", "waiting"),
            ]
            assert [e[0] for e in state[i]["lifecycle"]] == ["flow_started"]
    finally:
        await stack.client.aclose()
        await stack.served.stop()
