"""Rate windows that hold at the receiver, not just at the sender.

Meta counts a number's throughput (and a recipient's pair rate) by when requests
*arrive*. A limiter that stamps a send when it leaves (``limits``, aiolimiter…) lets
network and event-loop jitter squeeze two windows' worth into one second at Meta's end
(we measured 7–9 arrivals in one second from a 5/s limiter). So a slot here is held from
dispatch until one period after the *response*: a request always arrives before its
response, so any two sends ``limit`` apart arrive at least one period apart, whatever the
jitter. The cost is one round trip per window (0.2 % at 2 ms latency).

Waiters are served first come, first served (a ``first`` waiter goes to the head of the
line), and woken only when a slot is theirs (a
timer at the moment the oldest finished send leaves the window): with hundreds of sends
waiting on a 1,000/s number, waking every waiter on every change cost more CPU than the
sends themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator


class SendWindow:
    """At most ``limit`` requests arrive within any ``period`` seconds."""

    def __init__(self, limit: int, period: float = 1.0) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a send window needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._in_flight = 0
        self._finished: deque[float] = deque()  # when each send of the last period ended
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def _room(self, now: float) -> int:
        while self._finished and self._finished[0] <= now - self.period:
            self._finished.popleft()
        return self.limit - self._in_flight - len(self._finished)

    @property
    def idle(self) -> bool:
        return self._room(time.monotonic()) == self.limit and all(w.done() for w in self._waiters)

    async def _acquire(self, first: bool = False) -> None:
        if not self._waiters and self._room(time.monotonic()) > 0:
            self._in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        self._grant()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._in_flight -= 1  # granted, but its task is gone: hand the slot on
                self._grant()
            raise

    def _release(self) -> None:
        self._in_flight -= 1
        self._finished.append(time.monotonic())
        self._grant()

    def _grant(self) -> None:
        """Give free slots to the first waiters; set a timer for when the next one frees."""
        room = self._room(time.monotonic())
        while room > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():  # cancelled while waiting
                continue
            self._in_flight += 1
            waiter.set_result(None)
            room -= 1
        if self._waiters and self._finished and self._timer is None:
            delay = self._finished[0] + self.period - time.monotonic()
            self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._on_timer)
        # With nothing finished, every slot is in flight: the next release grants.

    def _on_timer(self) -> None:
        self._timer = None
        self._grant()

    @contextlib.asynccontextmanager
    async def slot(self, *, first: bool = False) -> AsyncIterator[None]:
        """Hold a slot for one request; it counts until ``period`` after the block ends.

        ``first`` jumps the queue of waiters (an agent's reply ahead of a campaign's
        sends already waiting); the limit itself is never exceeded."""
        await self._acquire(first)
        try:
            yield
        finally:
            self._release()
