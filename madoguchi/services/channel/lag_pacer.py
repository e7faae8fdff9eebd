"""How much of a number's sending to give to background work (campaigns), by event loop lag.

When the server's event loop is late (the process, or the machine, is saturated),
everything queued on it waits: an agent's reply too. Campaign sends are the load that can
wait, so the share of sends in flight they may hold is cut by half each time the loop is
seen late and given back a tenth at a time once it keeps up again (additive increase,
multiplicative decrease, as TCP does with a congested link). Agents' and flows' sends are
never paced.
"""

from __future__ import annotations

import asyncio

LATE = 0.1  # seconds behind: halve the campaigns' part
ON_TIME = 0.03  # seconds behind at most: give a tenth back
FLOOR = 0.05  # campaigns keep at least this part (they never stop outright)
SAMPLE_EVERY = 0.25


class LagPacer:
    def __init__(self) -> None:
        self.fraction = 1.0
        self.lag = 0.0

    def observe(self, lag: float) -> float:
        """Take one lag sample (seconds); returns the background fraction now."""
        self.lag = lag
        if lag > LATE:
            self.fraction = max(FLOOR, self.fraction / 2)
        elif lag < ON_TIME:
            self.fraction = min(1.0, self.fraction + 0.1)
        return self.fraction

    def part(self, slots: int) -> int:
        """Of ``slots`` for background work, how many it may use now (at least one)."""
        return max(1, int(slots * self.fraction))

    async def watch(self) -> None:
        """Sample the loop's lag forever (run as a task beside the sender)."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(SAMPLE_EVERY)
            self.observe(loop.time() - start - SAMPLE_EVERY)
