"""Status-only webhook deliveries ingested together, on both databases: the batch ends
exactly where one delivery at a time ends (statuses by rank, duplicates, stale statuses,
failures explained, unknown wamids and numbers), in a fraction of the statements, and a
delivery that breaks the batch fails alone while the rest are processed."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import delete, event, select, update

from madoguchi.services.channel import ingest
from madoguchi.services.channel.webhook_journal import DeliveryProcessor, Journal, ProcessorPolicy
from madoguchi.simulator import payloads
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation, Message, MessageStatusEvent, WebhookDelivery
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, fixture_payload, seed_workspace
from tests.helpers import accepted_outbound

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}
STRANGER = {**NUMBER, "phone_number_id": "399999999999999"}  # not a number of ours
CUSTOMER = {"wa_id": "819012345678", "user_id": "JP.70211330012345"}
WAMIDS = [f"wamid.BATCH{i}" for i in range(8)]


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    await seed_workspace(database)
    yield database
    await database.dispose()


async def drain(db: Database, policy: ProcessorPolicy) -> list:
    events: list = []

    async def publish(batch):
        events.extend(batch)

    processor = DeliveryProcessor(db, publish, policy)
    while await processor.process_slice():
        pass
    return events


async def outbound_messages(db: Database) -> None:
    """A conversation from a real inbound delivery, and outbound messages Meta accepted."""
    await Journal(db).append(json.dumps(fixture_payload("message_text.json")).encode(), 1)
    await drain(db, ProcessorPolicy())
    async with db.write() as session:
        conversation = await session.scalar(select(Conversation))
        for wamid in WAMIDS:
            session.add(accepted_outbound(conversation, wamid))


def deliveries() -> list[bytes]:
    now = time.time()
    out = []

    def status(wamid, name, at, number=NUMBER, **kwargs):
        payload = payloads.status_webhook(number, wamid, name, CUSTOMER, timestamp=at, **kwargs)
        out.append(json.dumps(payload).encode())

    for i, wamid in enumerate(WAMIDS[:6]):
        status(wamid, "sent", now + i)
        if wamid != WAMIDS[3]:
            status(wamid, "delivered", now + i + 1)
    status(WAMIDS[1], "delivered", now + 2)  # Meta's retry of the same status
    status(WAMIDS[2], "read", now + 9)
    status(WAMIDS[3], "read", now + 10)
    status(WAMIDS[3], "delivered", now + 4)  # arrives after the read it preceded
    status(
        WAMIDS[6],
        "failed",
        now + 5,
        errors=[{"code": 131026, "title": "Message undeliverable"}],
    )
    status("wamid.NOT-OURS-YET", "sent", now)  # our number, a wamid not stored (yet)
    status("wamid.STRANGER", "sent", now, number=STRANGER)  # no number of ours
    status(WAMIDS[7], "sent", now + 1, pricing={"billable": True, "category": "utility"})
    return out


async def outcome(db: Database) -> dict:
    async with db.read() as session:
        messages = {
            m.wamid: (m.status, m.error_code, m.error_message, m.pricing)
            for m in await session.scalars(select(Message).where(Message.direction == "outbound"))
        }
        statuses = sorted(
            (e.wamid, e.status, e.applied, e.message_id is not None, e.workspace_id)
            for e in await session.scalars(select(MessageStatusEvent))
        )
        journal = [
            (d.state, d.unrouted_count, d.duplicates, d.workspace_id is not None)
            for d in await session.scalars(
                select(WebhookDelivery).order_by(WebhookDelivery.id).offset(1)
            )
        ]
    return {"messages": messages, "statuses": statuses, "journal": journal}


async def reset(db: Database) -> None:
    async with db.write() as session:
        await session.execute(delete(MessageStatusEvent))
        await session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.id > select_first_delivery())
        )
        await session.execute(
            update(Message)
            .where(Message.direction == "outbound")
            .values(status="accepted", error_code=None, error_message=None, pricing=None)
        )


def select_first_delivery():
    return select(WebhookDelivery.id).order_by(WebhookDelivery.id).limit(1).scalar_subquery()


def counting_statements(db: Database) -> list[int]:
    counter = [0]
    engine = (db._write_engine or db.engine).sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args):
        counter[0] += 1

    return counter


async def run(db: Database, status_batch: int) -> tuple[dict, list, int]:
    journal = Journal(db)
    for body in deliveries():
        await journal.append(body, 1)
    counter = counting_statements(db)
    before = counter[0]
    events = await drain(db, ProcessorPolicy(batch=status_batch, claim=64))
    statements = counter[0] - before
    published = sorted((e.message_id, e.status) for e in events)
    return await outcome(db), published, statements


async def test_a_batch_ends_where_one_at_a_time_ends_in_fewer_statements(db):
    await outbound_messages(db)
    alone, alone_events, alone_statements = await run(db, status_batch=1)
    await reset(db)
    together, together_events, together_statements = await run(db, status_batch=32)

    assert together == alone
    assert together_events == alone_events
    # the rules held (checked once, since both paths agree)
    messages = together["messages"]
    assert messages[WAMIDS[0]][0] == "delivered"
    assert messages[WAMIDS[2]][0] == "read"
    assert messages[WAMIDS[3]][0] == "read"  # the late "delivered" did not step back
    assert messages[WAMIDS[6]][:2] == ("failed", 131026)
    assert "could not deliver" in messages[WAMIDS[6]][2].lower()
    assert messages[WAMIDS[7]][3] == {"billable": True, "category": "utility"}
    assert ("wamid.NOT-OURS-YET", "sent", False, False, 1) in together["statuses"]
    assert not [s for s in together["statuses"] if s[0] == "wamid.STRANGER"]
    assert all(state == "done" for state, *_ in together["journal"])
    assert sum(d for _, _, d, _ in together["journal"]) == 1  # the repeated delivery
    assert sum(u for _, u, _, _ in together["journal"]) == 1  # the stranger's status
    assert together_statements * 3 < alone_statements, (together_statements, alone_statements)


async def test_a_delivery_that_breaks_the_batch_fails_alone(db, monkeypatch):
    await outbound_messages(db)
    real_apply = ingest.apply_status

    def apply_status(message, record):
        if record.wamid == WAMIDS[4]:
            raise RuntimeError("cannot apply this one")
        return real_apply(message, record)

    monkeypatch.setattr(ingest, "apply_status", apply_status)
    result, _, _ = await run(db, status_batch=32)
    states = [state for state, *_ in result["journal"]]
    # WAMIDS[4] has two deliveries (sent, delivered): both wait for a retry; all else done
    assert states.count("pending") == 2
    assert states.count("done") == len(states) - 2
    assert result["messages"][WAMIDS[5]][0] == "delivered"
    async with db.read() as session:
        errors = (
            await session.scalars(
                select(WebhookDelivery.last_error).where(WebhookDelivery.state == "pending")
            )
        ).all()
    assert errors and all("cannot apply this one" in e for e in errors)
