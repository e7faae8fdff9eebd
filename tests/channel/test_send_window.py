"""The send window alone: at most ``limit`` sends arrive in any period (a slot counts
until a period after its send ended), waiters go first come first served, and a waiter
that gives up never takes a slot with it."""

from __future__ import annotations

import asyncio
import time

import pytest

from madoguchi.services.channel.send_window import SendWindow


async def test_refuses_a_window_without_room():
    with pytest.raises(ValueError):
        SendWindow(0)
    with pytest.raises(ValueError):
        SendWindow(5, 0)


async def test_no_more_than_limit_sends_start_within_a_period_of_earlier_ends():
    window = SendWindow(5, period=0.2)
    spans: list[tuple[float, float]] = []

    async def send() -> None:
        async with window.slot():
            began = time.monotonic()
            await asyncio.sleep(0.01)
            spans.append((began, time.monotonic()))

    started = time.monotonic()
    await asyncio.gather(*(send() for _ in range(20)))
    took = time.monotonic() - started
    # 20 sends at 5 per 0.2 s: the 6th cannot begin before the 1st ended + 0.2 s, etc.
    spans.sort()
    for k in range(5, len(spans)):
        assert spans[k][0] >= spans[k - 5][1] + 0.2 - 1e-3
    assert took >= 3 * 0.2  # four waves, three waits between them
    if time.monotonic() < spans[-1][1] + 0.2 - 1e-3:  # unless a busy machine paused us
        assert window.idle is False  # the last sends still count for a period
    await asyncio.sleep(0.25)
    assert window.idle is True


async def test_waiters_are_served_in_arrival_order():
    window = SendWindow(1, period=0.02)
    order: list[int] = []

    async def send(i: int) -> None:
        async with window.slot():
            order.append(i)

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(send(i)))
        await asyncio.sleep(0)  # queue them in this order
    await asyncio.gather(*tasks)
    assert order == list(range(6))


async def test_a_cancelled_waiter_does_not_keep_a_slot():
    window = SendWindow(1, period=0.05)
    release = asyncio.Event()

    async def holder() -> None:
        async with window.slot():
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    gave_up = asyncio.create_task(holder())  # waits: the one slot is in flight
    await asyncio.sleep(0)
    gave_up.cancel()
    await asyncio.gather(gave_up, return_exceptions=True)
    release.set()
    await first
    # The slot frees a period after the first send ended; a new send gets it then.
    began = time.monotonic()
    async with window.slot():
        pass
    assert time.monotonic() - began >= 0.03
    await asyncio.sleep(0.06)
    assert window.idle


async def test_a_first_waiter_jumps_the_line_but_not_the_limit():
    window = SendWindow(1, period=0.05)
    order: list[str] = []

    async def send(name: str, first: bool = False) -> None:
        async with window.slot(first=first):
            order.append(name)

    async with window.slot():  # the one slot is taken: everyone below waits
        waiting = [asyncio.create_task(send(f"campaign {i}")) for i in range(3)]
        await asyncio.sleep(0)
        waiting.append(asyncio.create_task(send("agent", first=True)))
        await asyncio.sleep(0)
    await asyncio.gather(*waiting)
    assert order == ["agent", "campaign 0", "campaign 1", "campaign 2"]
