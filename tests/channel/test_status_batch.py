"""Status-only webhook deliveries ingested together, on both databases: the batch (plain
statements, no ORM objects) stores exactly what one delivery at a time (the ORM path)
stores — every column of the statuses and of the messages they move, the journal's rows
and the events published — over a mixed corpus (sent, delivered, read, failed; out of
order, duplicates within and across deliveries, Meta's grouped deliveries, pricing,
unknown wamids and numbers, statuses in deliveries that also carry a message), in a
fraction of the statements; a delivery that breaks the batch fails alone while the rest
are processed."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import delete, event, null, select, update

from madoguchi.domain.events import MessageStatusChanged
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
CUSTOMER = {"wa_id": "819012345678", "user_id": "JP.70211330012345", "name": "Taro"}
WAMIDS = [f"wamid.BATCH{i}" for i in range(10)]
INBOUND = [f"wamid.INBOUND{i}" for i in range(2)]
NOW = float(int(time.time()))  # one clock for both runs
PRICING = {"billable": True, "category": "utility", "pricing_model": "PMP"}
CONVERSATION = {"id": "c-1", "origin": {"type": "utility"}}


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
    out = []

    def status(wamid, name, at, number=NUMBER, **kwargs):
        payload = payloads.status_webhook(number, wamid, name, CUSTOMER, timestamp=at, **kwargs)
        out.append(json.dumps(payload).encode())

    def grouped(*items):  # Meta's grouping: several statuses in one delivery
        statuses = [payloads.status(w, name, CUSTOMER, timestamp=at) for w, name, at in items]
        out.append(json.dumps(payloads.statuses_webhook(NUMBER, statuses)).encode())

    def with_a_message(inbound_wamid, wamid, name, at):
        # a delivery carrying a customer's message and a status: processed alone (ORM)
        message = payloads.inbound_message(
            CUSTOMER, "text", payloads.text("hi"), wamid=inbound_wamid, timestamp=at
        )
        payload = payloads.message_webhook(NUMBER, CUSTOMER, message)
        value = payload["entry"][0]["changes"][0]["value"]
        value["statuses"] = [payloads.status(wamid, name, CUSTOMER, timestamp=at)]
        out.append(json.dumps(payload).encode())

    now = NOW
    for i, wamid in enumerate(WAMIDS[:6]):
        status(wamid, "sent", now + i)
        if wamid != WAMIDS[3]:
            status(wamid, "delivered", now + i + 1)
    status(WAMIDS[1], "delivered", now + 2)  # Meta's retry of the same status
    status(WAMIDS[2], "read", now + 9)
    status(WAMIDS[3], "read", now + 10)
    # arrives after the read it preceded, with the send's pricing and conversation
    status(WAMIDS[3], "delivered", now + 4, pricing=PRICING, conversation=CONVERSATION)
    status(
        WAMIDS[6],
        "failed",
        now + 5,
        errors=[{"code": 131026, "title": "Message undeliverable"}],
    )
    status(
        WAMIDS[5],  # failed after it was delivered: recorded, not applied
        "failed",
        now + 12,
        errors=[{"code": 131047, "title": "Re-engagement message"}],
    )
    status("wamid.NOT-OURS-YET", "sent", now)  # our number, a wamid not stored (yet)
    status("wamid.STRANGER", "sent", now, number=STRANGER)  # no number of ours
    status(WAMIDS[7], "sent", now + 1, pricing=PRICING, conversation=CONVERSATION)
    grouped(
        (WAMIDS[8], "read", now + 3),  # out of order within one delivery
        (WAMIDS[8], "sent", now + 1),
        (WAMIDS[8], "delivered", now + 2),
        (WAMIDS[8], "delivered", now + 2),  # twice in the same delivery
        (WAMIDS[7], "delivered", now + 2),
        ("wamid.NOT-OURS-YET", "delivered", now + 1),
    )
    # A message moved by a delivery processed alone, then by the batch, then by another
    # delivery processed alone: the last must see the batch's change (a stale "sent"
    # would let the late "delivered" step back over "read").
    with_a_message(INBOUND[0], WAMIDS[9], "sent", now + 1)
    grouped((WAMIDS[9], "read", now + 3))
    grouped((WAMIDS[0], "read", now + 4))
    with_a_message(INBOUND[1], WAMIDS[9], "delivered", now + 2)
    return out


def _columns(table, names: tuple[str, ...]) -> list:
    """The columns, and for the JSON ones whether SQL NULL is stored (JSON null and SQL
    NULL both read as None)."""
    out = []
    for name in names:
        column = table.c[name]
        out.append(column)
        if column.type._type_affinity.__name__ == "JSON":
            out.append(column.is_(None))
    return out


MESSAGE_COLUMNS = (
    "status",
    "status_updated_at",
    "error_code",
    "error_message",
    "errors",
    "pricing",
    "meta_conversation",
)
STATUS_COLUMNS = (
    "workspace_id",
    "status",
    "timestamp",
    "applied",
    "errors",
    "pricing",
    "meta_conversation",
    "raw",
)


async def outcome(db: Database) -> dict:
    """Every stored column the statuses touch (ids as what they name: a message by its
    wamid, a delivery by its place in the run)."""
    messages_table, statuses_table = Message.__table__, MessageStatusEvent.__table__
    async with db.read() as session:
        wamid_of = dict((await session.execute(select(Message.id, Message.wamid))).all())
        deliveries = (
            await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id).offset(1))
        ).all()
        place = {d.id: i for i, d in enumerate(deliveries)}
        messages = {
            row[0]: tuple(row[1:])
            for row in await session.execute(
                select(messages_table.c.wamid, *_columns(messages_table, MESSAGE_COLUMNS)).where(
                    messages_table.c.direction == "outbound"
                )
            )
        }
        statuses = sorted(
            (
                row[0],
                wamid_of.get(row[1]),
                place.get(row[2]),
                *row[3:],
            )
            for row in await session.execute(
                select(
                    statuses_table.c.wamid,
                    statuses_table.c.message_id,
                    statuses_table.c.delivery_id,
                    *_columns(statuses_table, STATUS_COLUMNS),
                )
            )
        )
        inbound = sorted(
            await session.scalars(select(Message.wamid).where(Message.wamid.in_(INBOUND)))
        )
        journal = [
            (d.state, d.unrouted_count, d.duplicates, d.messages_stored, d.workspace_id)
            for d in deliveries
        ]
    return {"messages": messages, "statuses": statuses, "inbound": inbound, "journal": journal}


async def reset(db: Database) -> None:
    async with db.write() as session:
        await session.execute(delete(MessageStatusEvent))
        await session.execute(delete(Message).where(Message.wamid.in_(INBOUND)))
        await session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.id > select_first_delivery())
        )
        await session.execute(
            update(Message)
            .where(Message.direction == "outbound")
            .values(
                status="accepted",
                status_updated_at=None,
                error_code=None,
                error_message=None,
                errors=null(),  # SQL NULL, as before the first run
                pricing=null(),
                meta_conversation=null(),
            )
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
    # one slice for the whole corpus: the units share a session, as under a stream
    policy = ProcessorPolicy(batch=status_batch, claim=64, slice_seconds=60)
    events = await drain(db, policy)
    statements = counter[0] - before
    wamids = await wamid_by_id(db)
    published = [
        (wamids[e.message_id], e.status, e.error_code, e.error_message, e.workspace_id)
        for e in events
        if isinstance(e, MessageStatusChanged)
    ]
    return await outcome(db), published, statements


async def wamid_by_id(db: Database) -> dict[int, str]:
    async with db.read() as session:
        return dict((await session.execute(select(Message.id, Message.wamid))).all())


async def test_a_batch_stores_what_one_at_a_time_stores_in_fewer_statements(db):
    await outbound_messages(db)
    alone, alone_events, alone_statements = await run(db, status_batch=1)
    await reset(db)
    together, together_events, together_statements = await run(db, status_batch=32)
    await reset(db)
    small_units, small_units_events, _ = await run(db, status_batch=3)

    assert together == alone
    assert together_events == alone_events  # the same changes, in the same order
    assert small_units == alone
    assert small_units_events == alone_events
    # the rules held (checked once, since the paths agree)
    messages = {wamid: values[0] for wamid, values in together["messages"].items()}
    assert messages[WAMIDS[0]] == "read"
    assert messages[WAMIDS[1]] == "delivered"
    assert messages[WAMIDS[2]] == "read"
    assert messages[WAMIDS[3]] == "read"  # the late "delivered" did not step back
    assert messages[WAMIDS[5]] == "delivered"  # a failure after delivery ends nothing
    assert messages[WAMIDS[6]] == "failed"
    assert messages[WAMIDS[8]] == "read"
    assert messages[WAMIDS[9]] == "read"  # the batch's "read" seen by the later delivery
    failed = together["messages"][WAMIDS[6]]
    assert failed[2] == 131026 and "could not deliver" in failed[3].lower()
    assert together["messages"][WAMIDS[3]][6] == PRICING  # kept from a stale status
    assert together["messages"][WAMIDS[7]][6] == PRICING
    assert together["inbound"] == INBOUND
    unmatched = [s for s in together["statuses"] if s[0] == "wamid.NOT-OURS-YET"]
    assert [(s[1], s[3], s[4]) for s in unmatched] == [(None, 1, "sent"), (None, 1, "delivered")]
    assert not [s for s in together["statuses"] if s[0] == "wamid.STRANGER"]
    assert len(together["statuses"]) == len({(s[0], s[4]) for s in together["statuses"]})
    assert all(state == "done" for state, *_ in together["journal"])
    assert sum(d for _, _, d, _, _ in together["journal"]) == 2  # the repeated statuses
    assert sum(u for _, u, _, _, _ in together["journal"]) == 1  # the stranger's status
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


def test_units_of_grouped_statuses_stop_at_their_update_budget():
    """Deliveries of up to 100 statuses each (Meta groups them): a unit holds no more
    than its budget of updates (one delivery over it still goes, alone), so one unit is
    never a write transaction of thousands of statuses; every row is in exactly one."""
    from types import SimpleNamespace

    from madoguchi.services.channel.webhook_journal import STATUSES, _units

    def delivery(row_id: int, count: int):
        items = [
            payloads.status(f"wamid.U{row_id}.{k}", "delivered", CUSTOMER) for k in range(count)
        ]
        body = json.dumps(payloads.statuses_webhook(NUMBER, items))
        return SimpleNamespace(id=row_id, body=body)

    rows = [delivery(1, 100), delivery(2, 100), delivery(3, 60), delivery(4, 250), delivery(5, 5)]
    units = list(_units(rows, batch=32, max_updates=200))
    assert [[row.id for row, _ in unit] for _, unit in units] == [[1, 2], [3], [4], [5]]
    assert units[0][0] == STATUSES
    assert all(sum(len(updates) for _, updates in unit) <= 250 for _, unit in units)
