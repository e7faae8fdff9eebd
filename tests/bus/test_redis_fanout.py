"""The Redis fan-out against the real Redis: events cross processes once, a lost
subscription comes back and reports the gap, a Redis outage never stops local delivery."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
import redis.asyncio as aioredis

from madoguchi.bus.fanout import LocalFanOut
from madoguchi.bus.redis_fanout import RedisFanOut
from madoguchi.domain.events import Event, PresenceChanged, QueueChanged

REDIS_URL = os.environ.get("MADOGUCHI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_url():
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    except aioredis.ConnectionError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.gaps: list[str] = []
        self.changed = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()

    def gap(self, reason: str) -> None:
        self.gaps.append(reason)
        self.changed.set()

    async def wait_for(self, predicate, within: float = 10) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def started(url: str, prefix: str) -> tuple[RedisFanOut, Recorder]:
    fanout = RedisFanOut(url, prefix, min_backoff=0.01, max_backoff=0.2)
    recorder = Recorder()
    fanout.add_listener(recorder, recorder.gap)
    await fanout.start()
    assert fanout.subscribed.is_set()
    return fanout, recorder


async def test_local_fanout_delivers_to_its_listeners_and_survives_a_failing_one():
    fanout = LocalFanOut()
    recorder = Recorder()

    async def broken(event):
        raise RuntimeError("boom")

    fanout.add_listener(broken)
    fanout.add_listener(recorder)
    await fanout.publish(PresenceChanged(1, user_id=2, status="away"))
    assert recorder.events == [PresenceChanged(1, user_id=2, status="away")]
    fanout.remove_listener(recorder)
    await fanout.publish(PresenceChanged(1, user_id=2, status="available"))
    assert len(recorder.events) == 1


async def test_events_reach_every_process_exactly_once(redis_url):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    one, got_one = await started(redis_url, prefix)
    two, got_two = await started(redis_url, prefix)
    try:
        events = [QueueChanged(1, queue_id=7, waiting=n) for n in range(300)]
        for event in events:
            await one.publish(event)
        await got_two.wait_for(lambda: len(got_two.events) >= 300)
        assert got_two.events == events  # in order, rebuilt as the same dataclasses
        await two.publish(PresenceChanged(1, user_id=3, status="available"))
        await got_one.wait_for(lambda: len(got_one.events) == 301)
        # The publisher delivered its own events locally, once (not again from Redis).
        assert got_one.events == [*events, PresenceChanged(1, user_id=3, status="available")]
        await asyncio.sleep(0.2)
        assert len(got_one.events) == 301 and len(got_two.events) == 301
    finally:
        await one.stop()
        await two.stop()


async def test_another_channel_prefix_is_another_deployment(redis_url):
    one, _ = await started(redis_url, f"test-{uuid.uuid4().hex[:8]}")
    two, got_two = await started(redis_url, f"test-{uuid.uuid4().hex[:8]}")
    try:
        await one.publish(PresenceChanged(1, user_id=3, status="available"))
        await asyncio.sleep(0.3)
        assert got_two.events == []
    finally:
        await one.stop()
        await two.stop()


async def test_a_lost_subscription_reconnects_and_reports_the_gap(redis_url):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    one, _ = await started(redis_url, prefix)
    two, got_two = await started(redis_url, prefix)
    admin = aioredis.from_url(redis_url)
    try:
        # Kill exactly process two's subscriber connection (others may share this Redis).
        clients = await admin.client_list(_type="pubsub")
        mine = [c for c in clients if c.get("name") == f"madoguchi-fanout-{two.origin}"]
        assert len(mine) == 1
        await admin.client_kill_filter(_id=mine[0]["id"])
        await got_two.wait_for(lambda: got_two.gaps == ["bus reconnected"])
        await one.publish(PresenceChanged(1, user_id=3, status="away"))
        await got_two.wait_for(lambda: got_two.events)
        assert got_two.events == [PresenceChanged(1, user_id=3, status="away")]
    finally:
        await admin.aclose()
        await one.stop()
        await two.stop()


async def test_without_redis_local_delivery_goes_on_and_nothing_crashes(caplog):
    fanout = RedisFanOut("redis://127.0.0.1:9/0", "nowhere", startup_wait=0.2, max_backoff=0.05)
    recorder = Recorder()
    fanout.add_listener(recorder)
    fanout.max_pending = 5
    await fanout.start()
    try:
        assert not fanout.subscribed.is_set()
        for n in range(20):
            await fanout.publish(QueueChanged(1, queue_id=1, waiting=n))
        assert [e.waiting for e in recorder.events] == list(range(20))
        await asyncio.sleep(0.3)  # both loops keep retrying quietly
        assert fanout.dropped == 15  # the oldest waiting events went first
    finally:
        await fanout.stop()
    warnings = [r for r in caplog.records if r.name == "madoguchi.bus.redis_fanout"]
    # One warning per loop per outage (plus the queue overflow), not one per retry.
    assert len(warnings) <= 4


async def test_a_process_outside_the_fan_out_publishes_to_every_process(redis_url):
    """``madoguchi apply`` is no fan-out member: ``publish_once`` reaches the servers'."""
    from madoguchi.bus.redis_fanout import publish_once
    from madoguchi.domain.events import QueueSettingsChanged

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    server, heard = await started(redis_url, prefix)
    try:
        await publish_once(redis_url, prefix, [QueueSettingsChanged(7, queue_id=3)])
        await heard.wait_for(lambda: heard.events)
        assert heard.events == [QueueSettingsChanged(7, queue_id=3)]
    finally:
        await server.stop()
