"""Campaigns' part of a number's sending shrinks while the event loop is late."""

from __future__ import annotations

from madoguchi.services.channel.lag_pacer import FLOOR, LagPacer


def test_late_loop_halves_the_part_and_a_punctual_one_gives_it_back():
    pacer = LagPacer()
    assert pacer.part(180) == 180
    assert pacer.observe(0.25) == 0.5
    assert pacer.observe(0.25) == 0.25
    assert pacer.part(180) == 45
    assert pacer.observe(0.05) == 0.25  # between late and on time: held
    for _ in range(8):
        pacer.observe(0.0)
    assert pacer.fraction == 1.0
    assert pacer.part(180) == 180


def test_the_part_never_reaches_zero():
    pacer = LagPacer()
    for _ in range(20):
        pacer.observe(1.0)
    assert pacer.fraction == FLOOR
    assert pacer.part(3) == 1


def test_a_journal_behind_halves_the_part_until_it_has_caught_up():
    """Statuses (and customers' messages) waiting in the journal slow the campaigns down
    as a late loop does: they must not send faster than their statuses are processed."""
    pacer = LagPacer()
    assert pacer.observe(0.0, journal_lag=2.0) == 0.5
    assert pacer.observe(0.0, journal_lag=2.0) == 0.25
    assert pacer.observe(0.0, journal_lag=0.8) == 0.25  # between late and on time: held
    assert pacer.observe(0.0, journal_lag=0.1) == 0.35
    assert pacer.observe(0.25, journal_lag=0.0) == 0.175  # the loop's lag still counts


async def test_the_sender_reads_how_long_the_oldest_waiting_delivery_has_waited(db_url):
    """The journal's lag the campaigns follow: the oldest delivery waiting for its first
    processing (one being retried after an error does not hold campaigns back)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from madoguchi.services.channel.outbox_sender import Sender
    from madoguchi.store.db import Database
    from madoguchi.store.models import WebhookDelivery
    from tests.conftest import seed_workspace

    db = Database(db_url)
    try:
        await seed_workspace(db)
        sender = Sender(db, None, None, None, None)
        assert await sender.journal_lag() == 0.0
        now = datetime.now(UTC)
        async with db.write() as session:
            retried = WebhookDelivery(body=b"{}", received_at=now - timedelta(seconds=60))
            retried.attempts = 1
            waiting = WebhookDelivery(body=b"{}", received_at=now - timedelta(seconds=5))
            session.add_all([retried, waiting])
        assert 5.0 <= await sender.journal_lag() < 60.0
        async with db.write() as session:
            await session.execute(update(WebhookDelivery).values(state="done"))
        assert await sender.journal_lag() == 0.0
    finally:
        await db.dispose()
