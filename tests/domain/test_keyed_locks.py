"""KeyedLocks: one lock per key, serialising holders, and gone once nobody needs it."""

from __future__ import annotations

import asyncio

from madoguchi.keyed_locks import KeyedLocks


async def test_holders_of_one_key_take_turns_and_the_entry_goes_after():
    locks = KeyedLocks()
    order: list[str] = []
    inside = asyncio.Event()
    go_on = asyncio.Event()

    async def first():
        async with locks.hold("a"):
            order.append("first in")
            inside.set()
            await go_on.wait()
            order.append("first out")

    async def second():
        await inside.wait()
        async with locks.hold("a"):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await inside.wait()
    async with locks.hold("b"):  # another key is not held up
        order.append("b")
    go_on.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "b", "first out", "second in"]
    assert len(locks) == 0


async def test_try_hold_refuses_a_held_key_and_release_frees_it():
    locks = KeyedLocks()
    assert await locks.try_hold(7)
    assert not await locks.try_hold(7)
    locks.release(7)
    assert len(locks) == 0
    assert await locks.try_hold(7)
    locks.release(7)
    assert len(locks) == 0
