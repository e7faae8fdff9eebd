"""SQLite's single writer: urgent writes are served before the background ones waiting."""

from __future__ import annotations

import asyncio

import pytest

from madoguchi.store.db import Database, PriorityLock


async def _waiting(tasks: list[asyncio.Task], lock: PriorityLock, n: int) -> None:
    """Let the tasks reach the lock (poll: no fixed sleep)."""
    for _ in range(1000):
        if len(lock._urgent) + len(lock._normal) >= n:
            return
        await asyncio.sleep(0)
    raise AssertionError("the waiters never queued")


async def test_urgent_waiters_go_first_then_the_others_in_order():
    lock = PriorityLock()
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        async with lock.hold(urgent=urgent):
            order.append(name)

    await lock.acquire()
    tasks = [
        asyncio.create_task(take("campaign slice 1", False)),
        asyncio.create_task(take("status batch", False)),
        asyncio.create_task(take("agent reply", True)),
        asyncio.create_task(take("agent claim", True)),
    ]
    await _waiting(tasks, lock, 4)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["agent reply", "agent claim", "campaign slice 1", "status batch"]
    assert not lock.locked()


async def test_a_cancelled_waiter_never_keeps_the_lock():
    lock = PriorityLock()
    await lock.acquire()
    cancelled = asyncio.create_task(lock.acquire(urgent=True))
    after = asyncio.create_task(lock.acquire())
    await _waiting([cancelled, after], lock, 2)
    lock.release()  # handed to the urgent waiter…
    cancelled.cancel()  # …cancelled before it ran: the lock goes on to the next one
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await asyncio.wait_for(after, 5)
    assert lock.locked()
    lock.release()
    # A waiter cancelled while still queued leaves no trace.
    await lock.acquire()
    gone = asyncio.create_task(lock.acquire())
    await _waiting([gone], lock, 1)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    lock.release()
    assert not lock.locked()


async def test_urgent_writes_on_both_databases(db_url):
    """``write(urgent=True)`` commits like any write (SQLite orders it first; PostgreSQL
    has no single writer)."""
    from sqlalchemy import text

    db = Database(db_url)
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE IF NOT EXISTS urgent_probe (n INTEGER)"))
            await session.execute(text("DELETE FROM urgent_probe"))
        order: list[int] = []

        async def write(n: int, urgent: bool) -> None:
            async with db.write(urgent=urgent) as session:
                await session.execute(text("INSERT INTO urgent_probe (n) VALUES (:n)"), {"n": n})
                order.append(n)

        await asyncio.gather(write(1, False), write(2, False), write(3, True))
        async with db.read() as session:
            stored = (await session.execute(text("SELECT n FROM urgent_probe"))).scalars().all()
        assert sorted(stored) == [1, 2, 3]
        if db.sqlite:
            # 1 took the free lock at once; 3 (urgent) went before 2, queued earlier.
            assert order == [1, 3, 2]
        async with db.write() as session:
            await session.execute(text("DROP TABLE urgent_probe"))
    finally:
        await db.dispose()
