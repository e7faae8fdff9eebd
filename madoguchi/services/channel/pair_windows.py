"""Each (number, recipient) pair's pace: Meta's pair rate limit, remembered for every
recipient a number wrote to recently, in little memory and constant time per send.

Meta tolerates short bursts to one recipient and about one message per 6 s sustained:
here at most 45 sends within any 6 s and 60 within any 360 s (``PAIR_RATE``), counted as
a number's send window counts them (``send_window``): a send counts from its dispatch
until one period after its response. The sender sends to one recipient one message at
a time (it holds the recipient's lock around the call), so a pair needs no queue of
waiters: only the times its recent sends ended, forgotten once the longest period has
passed since the last.

Why not a ``SendWindow`` per limit and pair, as before: a campaign writes to each
recipient once, so every recipient of the last 6 minutes kept two windows (3.5 kB), and
pruning them — a walk over all pairs on every new recipient once there were 10,000, none
of them idle within 6 minutes — took 70 % of the processing process: a campaign's sends
fell to 6–16/s after its first 10,000 and the journal's processing waited a minute
(docs/benchmarks.md, Campaigns, stop 5). Here a pair is a list of floats in a dict kept
in order of last use, pruned from its old end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

# (sends, within seconds): short bursts are tolerated, about one message per 6 s is the
# sustained pace.
PAIR_RATE = ((45, 6.0), (60, 360.0))


class PairWindows:
    """When each pair's recent sends ended, and how long its next send must wait."""

    def __init__(self, rates: tuple[tuple[int, float], ...] = PAIR_RATE) -> None:
        self.rates = rates
        self.keep = max(period for _, period in rates)  # older ends never matter
        self.most = max(limit for limit, _ in rates)  # nor more than this many
        # pair -> end times of its recent sends, ascending; least recently used first.
        self._ended: OrderedDict[Hashable, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ended)

    def wait_seconds(self, pair: Hashable, now: float) -> float:
        """How long a send to ``pair`` starting at ``now`` must wait (0: none)."""
        ended = self._ended.get(pair)
        if not ended:
            return 0.0
        wait = 0.0
        for limit, period in self.rates:
            if len(ended) >= limit and ended[-limit] > now - period:
                # ``limit`` sends ended within the period: the oldest of them must leave it.
                wait = max(wait, ended[-limit] + period - now)
        return wait

    def ended(self, pair: Hashable, at: float) -> None:
        """A send to ``pair`` ended (its response came, or it failed) at ``at``."""
        ended = self._ended.pop(pair, None) or []
        ended.append(at)
        if len(ended) > self.most:
            del ended[: -self.most]
        self._ended[pair] = ended  # now the most recently used
        cutoff = at - self.keep
        while self._ended:
            oldest, times = next(iter(self._ended.items()))
            if times[-1] > cutoff:
                break
            del self._ended[oldest]
