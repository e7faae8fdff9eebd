"""Inbound message deliveries ingested together, on both databases: a mixed corpus ends
exactly where one delivery at a time ends (contacts, conversations, messages, media,
statuses, the journal's rows and the events published), and a bad delivery fails alone."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import delete, select

from madoguchi.domain.events import MessageReceived
from madoguchi.services.channel import ingest
from madoguchi.services.channel.webhook_journal import DeliveryProcessor, Journal, ProcessorPolicy
from madoguchi.simulator import payloads
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    Media,
    Message,
    MessageStatusEvent,
    WebhookDelivery,
)
from tests.conftest import FIXTURES, PHONE_NUMBER_ID, WABA_ID, seed_workspace

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}
STRANGER = {**NUMBER, "phone_number_id": "399999999999999"}  # not a number of ours
NOW = float(int(time.time()))  # one clock for both runs
BAD = {"wa_id": "819000000666", "user_id": "JP.70000000000666", "name": "Bad"}


def person(i: int, *, phone: bool = True, bsuid: bool = True) -> dict:
    return {
        "wa_id": f"8190{i:08d}" if phone else None,
        "user_id": f"JP.7{i:016d}" if bsuid else None,
        "name": f"Customer {i}",
    }


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    await seed_workspace(database)
    yield database
    await database.dispose()


def delivery(number: dict, who: dict, type_: str, obj, wamid: str, at: float) -> bytes:
    message = payloads.inbound_message(who, type_, obj, wamid=wamid, timestamp=at)
    return json.dumps(payloads.message_webhook(number, who, message)).encode()


def known_customers() -> list[bytes]:
    """Before the corpus: customers 1-3 have a conversation, customer 9 by phone only."""
    now = NOW - 600
    return [
        delivery(NUMBER, person(i), "text", payloads.text("earlier"), f"wamid.EARLY{i}", now)
        for i in (1, 2, 3)
    ] + [
        delivery(
            NUMBER, person(9, bsuid=False), "text", payloads.text("by phone"), "wamid.EARLY9", now
        )
    ]


def corpus() -> list[bytes]:
    now = NOW
    out: list[bytes] = []
    # Every message type of the fixtures (one customer, many types; two identity changes).
    for path in sorted(FIXTURES.glob("message_*.json")):
        out.append(path.read_bytes())
    # New and known customers, several messages each, interleaved as a burst arrives.
    for k in range(3):
        for i in range(1, 8):
            who = person(i)
            out.append(
                delivery(NUMBER, who, "text", payloads.text(f"m{k}"), f"wamid.C{i}K{k}", now + k)
            )
    # Meta's retry of a delivery, and the same message in another delivery.
    out.append(out[-1])
    out.append(delivery(NUMBER, person(4), "text", payloads.text("m0"), "wamid.C4K0", now))
    # A status before its message (our number, a wamid not stored yet), a stranger's.
    status = payloads.status_webhook(NUMBER, "wamid.NOT-YET", "sent", person(5), timestamp=now)
    out.append(json.dumps(status).encode())
    out.append(delivery(STRANGER, person(6), "text", payloads.text("not ours"), "wamid.S1", now))
    # The phone-only customer now seen with a BSUID (a merge: left to one at a time).
    out.append(delivery(NUMBER, person(9), "text", payloads.text("merged"), "wamid.MERGE", now))
    # A referral, a reply, media, in the middle of a run.
    out.append(
        delivery(
            NUMBER,
            person(10),
            "image",
            payloads.media("media.IMG10", "image/jpeg", "c2hhMjU2", caption="look"),
            "wamid.IMG10",
            now,
        )
    )
    # A delivery that cannot be processed: fails alone, retried later.
    out.append(delivery(NUMBER, BAD, "text", payloads.text("boom"), "wamid.BAD", now))
    for i in range(11, 15):
        out.append(delivery(NUMBER, person(i), "text", payloads.text("after"), f"wamid.A{i}", now))
    return out


async def drain(db: Database, policy: ProcessorPolicy) -> list:
    events: list = []

    async def publish(batch):
        events.extend(batch)

    processor = DeliveryProcessor(db, publish, policy)
    while await processor.process_slice():
        pass
    return events


def ranks(ids) -> dict:
    """Ids in insertion order -> 0, 1, 2… (sequences differ between runs)."""
    return {value: i for i, value in enumerate(sorted(v for v in ids if v is not None))}


async def outcome(db: Database, events: list) -> dict:
    async with db.read() as session:
        contacts = (await session.scalars(select(Contact).order_by(Contact.id))).all()
        conversations = (
            await session.scalars(select(Conversation).order_by(Conversation.id))
        ).all()
        messages = (await session.scalars(select(Message).order_by(Message.id))).all()
        media = (await session.scalars(select(Media).order_by(Media.id))).all()
        statuses = (
            await session.scalars(select(MessageStatusEvent).order_by(MessageStatusEvent.id))
        ).all()
        journal = (
            await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        ).all()
    c = ranks(x.id for x in contacts)
    v = ranks(x.id for x in conversations)
    m = ranks(x.id for x in messages)
    md = ranks(x.id for x in media)
    d = ranks(x.id for x in journal)
    return {
        "contacts": [
            (c[x.id], x.user_id, x.wa_id, x.username, x.profile_name, x.parent_user_id)
            for x in contacts
        ],
        "conversations": [
            (
                v[x.id],
                c[x.contact_id],
                x.status,
                v.get(x.previous_conversation_id),
                x.last_inbound_at,
                x.free_entry_point_at,
                x.last_message_at,
            )
            for x in conversations
        ],
        "messages": [
            (
                m[x.id],
                v[x.conversation_id],
                x.wamid,
                x.direction,
                x.type,
                x.status,
                x.text,
                x.content,
                x.context_wamid,
                x.forwarded,
                x.frequently_forwarded,
                x.referral,
                x.errors,
                x.error_code,
                md.get(x.media_id),
                x.timestamp,
            )
            for x in messages
        ],
        "media": [(md[x.id], x.kind, x.meta_media_id, x.mime_type, x.status) for x in media],
        "statuses": [(x.wamid, x.status, x.message_id, x.applied) for x in statuses],
        "journal": [
            (
                d[x.id],
                x.state,
                x.attempts,
                x.messages_stored,
                x.duplicates,
                x.unrouted_count,
                x.workspace_id,
                (x.last_error or "")[:40],
            )
            for x in journal
        ],
        "events": [
            (type(e).__name__, v[e.conversation_id], m[e.message_id], c[e.contact_id])
            + (e.new_conversation,)
            for e in events
            if isinstance(e, MessageReceived)
        ]
        + sorted(type(e).__name__ for e in events if not isinstance(e, MessageReceived)),
    }


async def wipe(db: Database) -> None:
    async with db.write() as session:
        for model in (MessageStatusEvent, Message, Media, Conversation, Contact, WebhookDelivery):
            await session.execute(delete(model))


async def run(db: Database, batch: int) -> dict:
    journal = Journal(db)
    for body in known_customers():
        await journal.append(body, 1)
    await drain(db, ProcessorPolicy(batch=1))
    for body in corpus():
        await journal.append(body, 1)
    events = await drain(db, ProcessorPolicy(batch=batch, claim=64))
    return await outcome(db, events)


@pytest.fixture
def bad_delivery(monkeypatch):
    """The customer BAD cannot be ingested (both paths read the sender through here)."""
    observed = ingest._observed

    def failing(identity):
        if identity.wa_id == BAD["wa_id"]:
            raise RuntimeError("this delivery cannot be processed")
        return observed(identity)

    monkeypatch.setattr(ingest, "_observed", failing)


async def test_batched_and_one_at_a_time_processing_store_the_same(db, bad_delivery):
    alone = await run(db, batch=1)
    await wipe(db)
    together = await run(db, batch=64)

    for key in alone:
        assert together[key] == alone[key], key
    # The rules held (checked once, since both paths agree).
    journal = together["journal"]
    states = [row[1] for row in journal]
    assert states.count("pending") == 1  # the bad delivery, waiting for its retry
    bad = next(row for row in journal if row[1] == "pending")
    assert bad[2] == 1 and bad[7].startswith("RuntimeError: this delivery")
    assert states.count("failed") == 0
    wamids = [row[2] for row in together["messages"]]
    assert len(wamids) == len(set(wamids))  # duplicates stored once
    assert "wamid.BAD" not in wamids and "wamid.S1" not in wamids
    assert {"wamid.A11", "wamid.A14", "wamid.MERGE", "wamid.IMG10"} <= set(wamids)
    assert sum(row[4] for row in journal) == 2  # the retry and the repeated message
    assert sum(row[5] for row in journal) == 1  # the stranger's message
    assert ("wamid.NOT-YET", "sent", None, False) in together["statuses"]
    # a customer's messages joined one conversation, in order, after their earlier one
    c1 = [row for row in together["messages"] if row[2].startswith("wamid.C1")]
    assert [row[2] for row in c1] == ["wamid.C1K0", "wamid.C1K1", "wamid.C1K2"]
    assert len({row[1] for row in c1}) == 1
    # the phone-only contact was merged into the BSUID one: one contact for customer 9
    assert len([row for row in together["contacts"] if row[2] == person(9)["wa_id"]]) == 1


async def test_batches_use_far_fewer_statements(db):
    from sqlalchemy import event

    counter = [0]
    engine = (db._write_engine or db.engine).sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args):
        counter[0] += 1

    journal = Journal(db)
    bodies = [
        delivery(NUMBER, person(100 + i), "text", payloads.text("hi"), f"wamid.N{i}", NOW)
        for i in range(40)
    ]
    for body in bodies:
        await journal.append(body, 1)
    before = counter[0]
    await drain(db, ProcessorPolicy(batch=1, claim=64))
    alone = counter[0] - before
    await wipe(db)
    for body in bodies:
        await journal.append(body, 1)
    before = counter[0]
    await drain(db, ProcessorPolicy(batch=64, claim=64))
    together = counter[0] - before
    assert together * 5 < alone, (together, alone)
