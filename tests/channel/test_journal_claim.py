"""Several processes on one PostgreSQL journal: one customer's rows are processed in
order and never by two processes at once (services.channel.journal_claim).

A plain ``FOR UPDATE SKIP LOCKED`` claim does not give that: while one process holds a
customer's first row, another skips it and takes the same customer's second row. The
first test shows that claim doing so beside the keyed claim that does not."""

from __future__ import annotations

import asyncio
import contextvars
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import or_, select, update

from madoguchi.services.channel import webhook_journal
from madoguchi.services.channel.journal_claim import (
    claim_pending,
    customer_key,
    customer_keys,
)
from madoguchi.services.channel.webhook_journal import DeliveryProcessor, Journal, ProcessorPolicy
from madoguchi.store.db import Database
from madoguchi.store.models import Contact, Conversation, Message, WebhookDelivery
from madoguchi.whatsapp.updates import parse_delivery
from tests.conftest import fixture_payload, seed_workspace
from tests.helpers import eventually


def delivery(customer: int, seq: int) -> bytes:
    """A text message from customer ``customer`` (BSUID and phone of their own)."""
    payload = fixture_payload("message_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    phone, bsuid = f"8190{customer:08d}", f"JP.{customer:014d}"
    value["contacts"][0].update(wa_id=phone, user_id=bsuid)
    message = value["messages"][0]
    message.update(id=f"wamid.C{customer}.S{seq:04d}", **{"from": phone, "from_user_id": bsuid})
    message["text"]["body"] = f"message {seq}"
    return json.dumps(payload).encode()


def key_of(body: bytes) -> str | None:
    return customer_key(parse_delivery(json.loads(body)))


async def append(journal: Journal, body: bytes) -> int:
    return await journal.append(body, 1, key_of(body))


def test_the_customer_key_is_the_bsuid_else_the_phone():
    with_bsuid = parse_delivery(json.loads(delivery(7, 1)))
    assert customer_key(with_bsuid) == "JP.00000000000007"
    payload = json.loads(delivery(7, 1))
    value = payload["entry"][0]["changes"][0]["value"]
    del value["contacts"][0]["user_id"], value["messages"][0]["from_user_id"]
    assert customer_key(parse_delivery(payload)) == "819000000007"
    # a delivery about two customers needs both; one about nobody has no key
    two = parse_delivery(json.loads(delivery(2, 1))) + with_bsuid
    assert customer_keys(two) == ["JP.00000000000002", "JP.00000000000007"]
    assert customer_key(two) == "JP.00000000000002 JP.00000000000007"
    assert customer_key([]) is None


async def plain_skip_locked_claim(session, limit: int):
    """The claim the keyed one replaces: due rows in id order, locked rows skipped."""
    now = datetime.now(UTC)
    query = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.state == "pending",
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


@pytest.mark.postgres
async def test_a_customer_held_by_one_process_is_skipped_by_another(pg, postgres_database):
    journal = Journal(pg)
    x1 = await append(journal, delivery(1, 1))
    x2 = await append(journal, delivery(1, 2))
    y1 = await append(journal, delivery(2, 1))
    other = Database(postgres_database)  # a second process's connections
    try:
        async with pg.write() as first:  # process A is working on customer 1's first row
            now = datetime.now(UTC)
            taken = await claim_pending(first, sqlite=False, limit=1, now=now)
            assert [r.id for r in taken] == [x1]

            # A plain SKIP LOCKED claim would hand customer 1's second row to process B
            # while A is still on the first: the two would run at once, in either order.
            async with other.write() as second:
                plain = await plain_skip_locked_claim(second, 8)
                assert [r.id for r in plain] == [x2, y1]
                await second.rollback()

            # The keyed claim leaves customer 1 alone and takes customer 2.
            async with other.write() as second:
                keyed = await claim_pending(second, sqlite=False, limit=8, now=now)
                assert [r.id for r in keyed] == [y1]
                await second.rollback()

            taken[0].state = "done"
        # A committed: customer 1's next row is free for anyone now.
        async with other.write() as second:
            keyed = await claim_pending(second, sqlite=False, limit=8, now=datetime.now(UTC))
            assert [r.id for r in keyed] == [x2, y1]
    finally:
        await other.dispose()


@pytest.mark.postgres
async def test_a_row_waiting_for_its_retry_holds_back_its_customers_later_rows(pg):
    journal = Journal(pg)
    x1 = await append(journal, delivery(1, 1))
    x2 = await append(journal, delivery(1, 2))
    y1 = await append(journal, delivery(2, 1))
    later = datetime.now(UTC) + timedelta(minutes=5)
    async with pg.write() as session:
        await session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == x1).values(next_attempt_at=later)
        )
    async with pg.write() as session:
        taken = await claim_pending(session, sqlite=False, limit=8, now=datetime.now(UTC))
        assert [r.id for r in taken] == [y1]  # not x2 before x1
    async with pg.write() as session:
        taken = await claim_pending(session, sqlite=False, limit=8, now=later)
        assert [r.id for r in taken] == [x1, x2, y1]


@pytest.mark.postgres
@pytest.mark.parametrize("claim", ["keyed", "plain"])
async def test_two_processes_never_work_on_one_customer_at_once_and_keep_its_order(
    pg, postgres_database, monkeypatch, claim
):
    """Processor A claims first and holds its first unit (its claim open, its customers
    being worked on) until processor B has claimed and worked a whole slice: the moment
    a plain SKIP LOCKED claim hands B the next rows of A's customers (and the moment the
    keyed claim once found nothing, A's customers filling the head of the journal). The keyed claim
    gives B other customers only (no overlap, every customer's order kept); the plain
    claim (``claim="plain"``, the control) is caught overlapping. Deterministic: both
    processors always get work, whatever the machine's speed."""
    customers, per_customer = 12, 8
    journal = Journal(pg)
    for seq in range(per_customer):  # interleaved, as a burst arrives
        for customer in range(customers):
            await append(journal, delivery(customer, seq))

    # Watch ingest: which customers are being worked on, by which processor.
    working: dict[str, str] = {}
    overlaps: list[str] = []
    handled: dict[str, int] = {"A": 0, "B": 0}
    a_working, b_worked = asyncio.Event(), asyncio.Event()

    async def working_on(name: str, keys: set[str]) -> None:
        for key in keys:
            if key in working:
                overlaps.append(f"{key}: {working[key]} and {name}")
            working[key] = name
        if name == "A" and not b_worked.is_set():
            # A's claim stays open, its first customers being worked on, until B has
            # claimed and worked a whole slice.
            a_working.set()
            await b_worked.wait()
        for _ in range(3):  # give the other processor turns meanwhile
            await asyncio.sleep(0)

    def done_with(name: str, keys: set[str], count: int) -> None:
        for key in keys:
            del working[key]
        handled[name] += count

    ingest = webhook_journal.ingest_delivery_row

    async def dispatch(session, row, updates):
        name = PROCESS.get()
        await working_on(name, {row.customer_key})
        try:
            return await ingest(session, row, updates)
        finally:
            done_with(name, {row.customer_key}, 1)

    # Message-only deliveries go in batches: each row of a batch is watched the same way.
    batch_ingest = webhook_journal.ingest_message_deliveries

    async def dispatch_batch(session, unit):
        name, keys = PROCESS.get(), {row.customer_key for row, _ in unit}
        await working_on(name, keys)
        try:
            return await batch_ingest(session, unit)
        finally:
            done_with(name, keys, len(unit))

    monkeypatch.setattr(webhook_journal, "ingest_delivery_row", dispatch)
    monkeypatch.setattr(webhook_journal, "ingest_message_deliveries", dispatch_batch)

    second = Database(postgres_database)
    # Small claims, so that each process finds customers the other has not taken; a slice
    # works through its whole claim (however slow the machine).
    policy = ProcessorPolicy(claim=8, batch=4, slice_seconds=60)
    processors = {
        "A": DeliveryProcessor(pg, _ignore, policy),
        "B": DeliveryProcessor(second, _ignore, policy),
    }

    def claiming(name: str, processor: DeliveryProcessor) -> None:
        keyed = processor.select_rows

        async def select_rows(session, limit):
            if name == "B":
                await a_working.wait()  # A has claimed and is working on its first rows
            if claim == "plain":
                return await plain_skip_locked_claim(session, limit)
            return await keyed(session, limit)

        processor.select_rows = select_rows  # type: ignore[method-assign]

    def reporting(processor: DeliveryProcessor) -> None:
        process_slice = processor.process_slice

        async def slice_then_report() -> int:
            count = await process_slice()
            if count:
                b_worked.set()
            return count

        processor.process_slice = slice_then_report  # type: ignore[method-assign]

    for name, processor in processors.items():
        claiming(name, processor)
    reporting(processors["B"])

    async def run(name: str) -> None:
        PROCESS.set(name)
        await processors[name].run()

    tasks = [asyncio.create_task(run(name)) for name in processors]
    try:
        if claim == "plain":
            # The control: B's slice took the next rows of customers A holds.
            await asyncio.wait_for(b_worked.wait(), 120)
            assert overlaps, "a plain SKIP LOCKED claim was not caught"
            return

        async def all_done() -> bool:
            async with pg.read() as session:
                states = (await session.scalars(select(WebhookDelivery.state))).all()
            assert "failed" not in states
            return set(states) == {"done"}

        await eventually(all_done, within=120)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await second.dispose()

    assert overlaps == []
    assert handled["A"] + handled["B"] == customers * per_customer, handled
    assert handled["A"] and handled["B"], handled  # both worked, at the same time
    async with pg.read() as session:
        stored = (
            await session.execute(
                select(Contact.wa_id, Message.wamid)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .order_by(Message.id)
            )
        ).all()
    assert len(stored) == customers * per_customer
    by_customer: dict[str, list[str]] = {}
    for phone, wamid in stored:
        by_customer.setdefault(phone, []).append(wamid)
    for wamids in by_customer.values():
        assert wamids == sorted(wamids)  # stored in the order they arrived


PROCESS: contextvars.ContextVar[str] = contextvars.ContextVar("process")


async def _ignore(events) -> None:
    return None


async def test_a_failed_row_holds_back_its_customers_later_rows_until_its_retry(
    db_url, monkeypatch
):
    """On both databases: customer 1's first message fails (a passing fault); their
    second is not processed before it, customer 2 is not held up, and after the retry
    both of customer 1's are stored in order."""
    db = Database(db_url)
    await seed_workspace(db)
    try:
        journal = Journal(db)
        x1 = await append(journal, delivery(1, 1))
        x2 = await append(journal, delivery(1, 2))
        y1 = await append(journal, delivery(2, 1))
        faults = {"wamid.C1.S0001": 1}

        def failing(ingest):
            async def wrapper(session, *args):
                rows = [args[0]] if len(args) == 2 else [row for row, _ in args[0]]
                for row in rows:
                    wamid = json.loads(row.body)["entry"][0]["changes"][0]["value"]["messages"][0]
                    if faults.get(wamid["id"]):
                        if len(args) == 2:
                            faults[wamid["id"]] -= 1
                        raise RuntimeError("a passing fault")
                return await ingest(session, *args)

            return wrapper

        monkeypatch.setattr(
            webhook_journal,
            "ingest_delivery_row",
            failing(webhook_journal.ingest_delivery_row),
        )
        monkeypatch.setattr(
            webhook_journal,
            "ingest_message_deliveries",
            failing(webhook_journal.ingest_message_deliveries),
        )
        policy = webhook_journal.ProcessorPolicy(retry_base_seconds=600, slice_seconds=10)
        processor = DeliveryProcessor(db, _ignore, policy)
        await processor.process_slice()

        async def state_of(delivery_id: int) -> WebhookDelivery:
            async with db.read() as session:
                return await session.get(WebhookDelivery, delivery_id)

        assert (await state_of(x1)).state == "pending" and (await state_of(x1)).attempts == 1
        assert (await state_of(x2)).state == "pending" and (await state_of(x2)).attempts == 0
        assert (await state_of(y1)).state == "done"
        # Until the retry is due, customer 1's second message is not taken either.
        await processor.process_slice()
        assert (await state_of(x2)).state == "pending"

        async with db.write() as session:  # the retry comes due
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == x1)
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        await processor.process_slice()
        assert [(await state_of(i)).state for i in (x1, x2)] == ["done", "done"]
        async with db.read() as session:
            wamids = (
                await session.scalars(
                    select(Message.wamid)
                    .where(Message.wamid.like("wamid.C1.%"))
                    .order_by(Message.id)
                )
            ).all()
        assert wamids == ["wamid.C1.S0001", "wamid.C1.S0002"]
    finally:
        await db.dispose()
