"""Rate windows that hold at the receiver, not just at the sender.

Meta counts a number's throughput (and a recipient's pair rate) by when requests
*arrive*. A limiter that stamps a send when it leaves (``limits``, aiolimiter…) lets
network and event-loop jitter squeeze two windows' worth into one second at Meta's end
(we measured 7–9 arrivals in one second from a 5/s limiter). So a slot here is held from
dispatch until one period after the *response*: a request always arrives before its
response, so any two sends ``limit`` apart arrive at least one period apart, whatever the
jitter. The cost is one round trip per window (0.2 % at 2 ms latency).
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
        self._finished: deque[float] = deque()
        self._changed = asyncio.Condition()

    def _expire(self, now: float) -> None:
        while self._finished and self._finished[0] <= now - self.period:
            self._finished.popleft()

    @property
    def idle(self) -> bool:
        self._expire(time.monotonic())
        return self._in_flight == 0 and not self._finished

    async def _acquire(self) -> None:
        async with self._changed:
            while True:
                now = time.monotonic()
                self._expire(now)
                if self._in_flight + len(self._finished) < self.limit:
                    self._in_flight += 1
                    return
                timeout = self._finished[0] + self.period - now if self._finished else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

    async def _release(self) -> None:
        async with self._changed:
            self._in_flight -= 1
            self._finished.append(time.monotonic())
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for one request; it counts until ``period`` after the block ends."""
        await self._acquire()
        try:
            yield
        finally:
            await self._release()
