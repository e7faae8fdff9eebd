"""The webhook journal on both databases: what was acknowledged is processed even after a
restart, a delivery that keeps failing is kept as failed with its error (and can be
retried), the processor gives way while webhooks arrive, and the operator's CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from madoguchi.services.channel.webhook_journal import (
    DeliveryProcessor,
    Journal,
    ProcessorPolicy,
    list_deliveries,
    retry_deliveries,
)
from madoguchi.store.db import Database
from madoguchi.store.models import Message, WebhookDelivery
from madoguchi.store.models.core import utcnow
from tests.conftest import fixture_payload, seed_workspace
from tests.helpers import eventually


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    await seed_workspace(database)
    yield database
    await database.dispose()


def text_delivery(wamid: str) -> bytes:
    payload = fixture_payload("message_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = wamid
    return json.dumps(payload).encode()


async def count(db: Database, model, *where) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def published_into(sink: list):
    async def publish(events):
        sink.extend(events)

    return publish


async def test_acknowledged_deliveries_are_processed_after_a_restart(db, db_url):
    journal = Journal(db)
    ids = [await journal.append(text_delivery(f"wamid.J{i}"), 1) for i in range(3)]
    assert ids == sorted(ids)
    # the process "dies" here: nothing processed the rows it had acknowledged
    assert await count(db, WebhookDelivery, WebhookDelivery.state == "pending") == 3
    assert await count(db, Message) == 0

    restarted = Database(db_url)
    events: list = []
    processor = DeliveryProcessor(restarted, await published_into(events))
    try:
        while await processor.process_slice():
            pass
    finally:
        await restarted.dispose()
    assert await count(db, Message) == 3
    assert await count(db, WebhookDelivery, WebhookDelivery.state == "done") == 3
    assert [type(e).__name__ for e in events] == ["MessageReceived"] * 3


async def test_an_appended_row_has_every_default_of_the_model(db):
    """On SQLite the journal appends with plain SQL: the row must read back as one the
    model's defaults would have made."""
    before = utcnow()
    [first, second] = await asyncio.gather(
        Journal(db).append(b"{}", 2), Journal(db).append(text_delivery("wamid.D"), 1)
    )
    assert second == first + 1
    async with db.read() as session:
        row = await session.get(WebhookDelivery, first)
    assert (row.body, row.update_count, row.state) == (b"{}", 2, "pending")
    assert (row.unrouted_count, row.attempts, row.messages_stored, row.duplicates) == (0,) * 4
    assert row.workspace_id is None and row.last_error is None and row.next_attempt_at is None
    assert row.processed_at is None
    assert before <= row.received_at <= utcnow()


async def test_a_delivery_processed_twice_changes_nothing(db):
    journal = Journal(db)
    body = text_delivery("wamid.TWICE")
    await journal.append(body, 1)
    await journal.append(body, 1)  # Meta's retry of the same delivery
    processor = DeliveryProcessor(db, await published_into([]))
    while await processor.process_slice():
        pass
    assert await count(db, Message) == 1
    async with db.read() as session:
        rows = (await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
    assert [(r.messages_stored, r.duplicates) for r in rows] == [(1, 0), (0, 1)]


async def test_failing_delivery_is_retried_then_kept_as_failed_without_blocking_others(db):
    journal = Journal(db)
    bad = await journal.append(b"{not json", 1)
    good = await journal.append(text_delivery("wamid.AFTER"), 1)
    # A retry due at once, and slices that never run out of time: what is checked is the
    # order of events, not how much CPU time a slice gets on a busy machine.
    policy = ProcessorPolicy(max_attempts=2, retry_base_seconds=0, slice_seconds=3600)
    processor = DeliveryProcessor(db, await published_into([]), policy)

    assert await processor.process_slice() == 2  # the bad row does not hold the good one
    async with db.read() as session:
        first = await session.get(WebhookDelivery, bad)
        assert first.state == "pending" and first.attempts == 1
        assert "JSONDecodeError" in first.last_error
        assert first.next_attempt_at is not None  # retried later, not in the same slice
        assert (await session.get(WebhookDelivery, good)).state == "done"
    assert await processor.process_slice() == 1  # the retry (due at once), nothing else
    async with db.read() as session:
        failed = await session.get(WebhookDelivery, bad)
    assert failed.state == "failed" and failed.attempts == 2 and failed.processed_at is not None
    assert failed.body == b"{not json"  # kept as received

    [listed] = await list_deliveries(db, "failed", 10)
    assert listed.id == bad and "JSONDecodeError" in listed.last_error
    assert await retry_deliveries(db, [bad, good]) == [bad]  # only a failed one goes back
    async with db.read() as session:
        again = await session.get(WebhookDelivery, bad)
    assert again.state == "pending" and again.attempts == 0


async def test_list_refuses_an_unknown_state(db):
    with pytest.raises(ValueError, match="pending, done, failed"):
        await list_deliveries(db, "stuck", 10)


async def test_processor_waits_while_acknowledgements_are_pending(db):
    """Between slices the processor gives way to webhooks waiting for their commit: it
    goes on only once they are answered."""
    journal = Journal(db)
    ids = [await journal.append(text_delivery(f"wamid.W{i}"), 1) for i in range(6)]
    gate = asyncio.Event()  # closed: "an acknowledgement is still waiting"
    waits = 0
    waiting = asyncio.Event()

    async def acknowledgements_done():
        nonlocal waits
        waits += 1
        waiting.set()
        await gate.wait()

    processor = DeliveryProcessor(
        db,
        await published_into([]),
        ProcessorPolicy(claim=2, batch=2, slice_seconds=60, ack_wait_seconds=60),
        acknowledgements_done,
    )
    task = asyncio.create_task(processor.run())
    try:
        await asyncio.wait_for(waiting.wait(), 30)  # a condition: the first slice is done
        await asyncio.sleep(0.1)  # time for a wrong second slice to show (cannot hide one)
        # One slice done (two rows), then it waits: the other four are still pending.
        assert waits == 1
        assert await count(db, WebhookDelivery, WebhookDelivery.state == "done") == 2
        gate.set()
        await asyncio.wait_for(processor.wait_idle(), 10)
        assert await count(db, WebhookDelivery, WebhookDelivery.state == "done") == len(ids)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_processor_goes_on_while_acknowledgements_never_settle(db):
    """Under a burst the journal is never quiet: the processor waits a bounded time
    between slices and keeps processing (it used to wait for the burst to end)."""
    journal = Journal(db)
    ids = [await journal.append(text_delivery(f"wamid.N{i}"), 1) for i in range(6)]
    never = asyncio.Event()
    processor = DeliveryProcessor(
        db,
        await published_into([]),
        ProcessorPolicy(claim=2, batch=2, ack_wait_seconds=0.01),
        never.wait,
    )
    task = asyncio.create_task(processor.run())
    try:
        await asyncio.wait_for(processor.wait_idle(), 30)
        assert await count(db, WebhookDelivery, WebhookDelivery.state == "done") == len(ids)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_stream_kept_up_with_is_taken_in_gathered_slices(db):
    """Woken by each commit, the processor takes a first row after a lull at once, then
    lets the rows that come while it waits gather into one slice (a slice costs the
    same CPU whatever it holds), instead of a slice per row."""
    journal = Journal(db)
    processor = DeliveryProcessor(db, await published_into([]), ProcessorPolicy(gather_seconds=2.0))
    journal.on_commit = processor.wake
    slices: list[int] = []
    take = processor.process_slice

    async def counted() -> int:
        handled = await take()
        if handled:
            slices.append(handled)
        return handled

    processor.process_slice = counted
    task = asyncio.create_task(processor.run())
    try:
        await journal.append(text_delivery("wamid.G0"), 1)

        async def first_taken():
            return slices == [1]

        await eventually(first_taken)  # at once, not after the gathering wait
        for i in range(1, 5):  # one at a time, each commit waking the processor
            await journal.append(text_delivery(f"wamid.G{i}"), 1)
        await asyncio.wait_for(processor.wait_idle(), 30)
        assert slices == [1, 4]
        assert await count(db, WebhookDelivery, WebhookDelivery.state == "done") == 5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_journal_is_busy_until_every_append_is_committed(db):
    journal = Journal(db)
    assert not journal.busy
    appends = [
        asyncio.create_task(journal.append(text_delivery(f"wamid.B{i}"), 1)) for i in range(5)
    ]
    await asyncio.sleep(0)  # the appends are queued, their commit not yet done
    assert journal.busy
    await asyncio.wait_for(journal.quiet(), 10)
    assert not journal.busy
    assert all(task.done() for task in appends)
    assert await count(db, WebhookDelivery) == 5


async def test_processor_rests_only_under_a_heavy_stream(db):
    rate = {"now": 0.0}
    policy = ProcessorPolicy(yield_factor=3.0, busy_rate=100)
    processor = DeliveryProcessor(
        db, await published_into([]), policy, arrival_rate=lambda: rate["now"]
    )
    assert processor._rest(0.01) == 0
    rate["now"] = 99
    assert processor._rest(0.01) == 0  # a light stream is processed as it comes
    rate["now"] = 500
    assert processor._rest(0.01) == pytest.approx(0.03)


async def test_journal_counts_arrivals_per_second(db):
    """The rate is the last whole second's count, or this second's if higher; a second
    with no arrival after them brings it to 0 (a clock of the test's own, so a slow commit
    on a busy machine changes nothing)."""
    now = [100.2]
    journal = Journal(db, clock=lambda: now[0])
    assert journal.arrival_rate() == 0
    await asyncio.gather(*(journal.append(text_delivery(f"wamid.R{i}"), 1) for i in range(30)))
    assert journal.arrival_rate() == 30  # this second
    now[0] = 100.9
    await asyncio.gather(*(journal.append(text_delivery(f"wamid.S{i}"), 1) for i in range(10)))
    assert journal.arrival_rate() == 40
    now[0] = 101.1
    assert journal.arrival_rate() == 40  # the last whole second
    await asyncio.gather(*(journal.append(text_delivery(f"wamid.T{i}"), 1) for i in range(45)))
    assert journal.arrival_rate() == 45  # this one, higher
    now[0] = 102.5
    assert journal.arrival_rate() == 45  # the last whole second again
    await journal.append(text_delivery("wamid.U0"), 1)
    assert journal.arrival_rate() == 45
    now[0] = 104.0  # a second with no arrival in between
    assert journal.arrival_rate() == 0
    await journal.append(text_delivery("wamid.V0"), 1)
    assert journal.arrival_rate() == 1  # the quiet second before does not count


async def test_journal_commit_failure_is_reported_to_every_waiter(tmp_path):
    unmigrated = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        journal = Journal(unmigrated)
        results = await asyncio.gather(
            journal.append(b"{}", 0), journal.append(b"{}", 0), return_exceptions=True
        )
    finally:
        await unmigrated.dispose()
    assert len(results) == 2
    assert all("webhook_deliveries" in str(r) for r in results)  # each caller hears why


def test_cli_lists_and_retries_failed_deliveries(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "MADOGUCHI_DATABASE_URL": url, "MADOGUCHI_SECRET_KEY": "cli-test-key"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "madoguchi.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert cli("migrate").returncode == 0

    async def fail_one() -> int:
        database = Database(url)
        try:
            delivery_id = await Journal(database).append(b"{broken", 1)
            processor = DeliveryProcessor(
                database, await published_into([]), ProcessorPolicy(max_attempts=1)
            )
            await processor.process_slice()
            return delivery_id
        finally:
            await database.dispose()

    delivery_id = asyncio.run(fail_one())
    listed = cli("deliveries", "list", "--state", "failed")
    assert listed.returncode == 0, listed.stderr
    assert f"{delivery_id}\tfailed" in listed.stdout and "JSONDecodeError" in listed.stdout
    bad_state = cli("deliveries", "list", "--state", "stuck")
    assert bad_state.returncode == 2 and "pending, done, failed" in bad_state.stderr
    retried = cli("deliveries", "retry", str(delivery_id), "999")
    assert retried.returncode == 1
    assert f"back to pending: {delivery_id}" in retried.stdout
    assert "999" in retried.stderr
    assert "no deliveries in state failed" in cli("deliveries", "list", "--state", "failed").stdout


async def one_unit_slices(db, deliveries: int, behind_factor: float) -> DeliveryProcessor:
    """A processor whose slice budget ends after its first unit (each delivery alone in
    its unit) unless it is behind, over ``deliveries`` pending rows."""
    journal = Journal(db)
    for n in range(deliveries):
        await journal.append(text_delivery(f"wamid.SLICE{n}"), 1)
    await journal.close()
    policy = ProcessorPolicy(claim=64, batch=1, slice_seconds=1e-9, behind_factor=behind_factor)
    return DeliveryProcessor(db, await published_into([]), policy)


async def test_a_slice_after_one_that_left_rows_behind_runs_longer(db):
    """With a backlog the processor takes a larger share of its process: a slice that
    follows one which left rows pending may run ``behind_factor`` times as long."""
    processor = await one_unit_slices(db, 6, behind_factor=1e12)
    assert await processor.process_slice() == 1  # not known to be behind: one unit
    assert await processor.process_slice() == 5  # behind: the rest in one slice
    assert await count(db, WebhookDelivery, WebhookDelivery.state == "pending") == 0


async def test_without_a_backlog_factor_a_slice_keeps_its_budget(db):
    processor = await one_unit_slices(db, 3, behind_factor=1.0)
    assert [await processor.process_slice() for _ in range(3)] == [1, 1, 1]
