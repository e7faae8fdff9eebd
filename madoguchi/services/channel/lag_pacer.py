"""How much of a number's sending to give to background work (campaigns), by event loop lag
and by how far the webhook journal's processing is behind.

When the server's event loop is late (the process, or the machine, is saturated),
everything queued on it waits: an agent's reply too. Campaign sends are the load that can
wait, so the share of sends in flight they may hold is cut by half each time the loop is
seen late and given back a tenth at a time once it keeps up again (additive increase,
multiplicative decrease, as TCP does with a congested link). Agents' and flows' sends are
never paced.

The journal counts too: every campaign send brings back Meta's three statuses, processed
by the journal's processor beside the sender. A campaign that sends faster than they are
processed only moves its cost into a backlog that grows without end — with the customers'
own messages queued in it behind the statuses (an agent sees a customer's message late),
and, when the campaign stops, a minute of catching up (docs/benchmarks.md, Campaigns).
So a journal whose oldest waiting delivery is ``JOURNAL_LATE`` old is late too: the
campaign sends at the pace its statuses are processed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

LATE = 0.1  # seconds behind: halve the campaigns' part
ON_TIME = 0.03  # seconds behind at most: give a tenth back
# Campaigns keep at least this part (and at least one row: they never stop outright).
# Low, because a row holds its place only until Meta answers (``outbox_sender``): at 5 %
# of a 1,000/s number's share, nine rows in flight still made a few hundred sends a second.
FLOOR = 0.01
SAMPLE_EVERY = 0.25
JOURNAL_LATE = 1.0  # seconds the oldest waiting delivery has waited: halve
JOURNAL_ON_TIME = 0.5  # …at most: give a tenth back


class LagPacer:
    def __init__(self) -> None:
        self.fraction = 1.0
        self.lag = 0.0
        self.journal_lag = 0.0

    def observe(self, lag: float, journal_lag: float = 0.0) -> float:
        """Take one sample of the loop's lag and of the journal's (seconds); returns the
        background fraction now."""
        self.lag, self.journal_lag = lag, journal_lag
        if lag > LATE or journal_lag > JOURNAL_LATE:
            self.fraction = max(FLOOR, self.fraction / 2)
        elif lag < ON_TIME and journal_lag < JOURNAL_ON_TIME:
            self.fraction = min(1.0, self.fraction + 0.1)
        return self.fraction

    def part(self, slots: int) -> int:
        """Of ``slots`` for background work, how many it may use now (at least one)."""
        return max(1, int(slots * self.fraction))

    async def watch(self, journal_lag: Callable[[], Awaitable[float]] | None = None) -> None:
        """Sample the loop's lag, and ``journal_lag()``, forever (a task beside the sender)."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(SAMPLE_EVERY)
            lag = loop.time() - start - SAMPLE_EVERY
            behind = 0.0
            if journal_lag is not None:
                try:
                    behind = await journal_lag()
                except Exception:  # the database is away: the loop's lag alone, meanwhile
                    log.exception("reading the journal's lag failed")
            self.observe(lag, behind)
