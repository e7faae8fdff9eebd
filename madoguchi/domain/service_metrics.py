"""Contact-center figures, defined once: the live wallboard computes them now, reports
will compute them over any period, both from the same definitions (docs/metrics.md).

Plain Python over facts read from the lifecycle log: a conversation *arrives* in a queue,
waits, and is then either *answered* (accepted by an agent, or taken over by a
supervisor) or *abandoned* (ended before anyone answered). Each answer and abandon
carries how long the customer had waited in the queue.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Lifecycle step names (domain.lifecycle.Step values), kept as strings: these rules are
# read by the wallboard over today's log and by reports over any period.
_WAITING = ("queued", "offered")
_ARRIVALS = ("queued", "overflow", "transferred")

DEFAULT_SERVICE_LEVEL_SECONDS = 60
DEFAULT_SHORT_ABANDON_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one wait in a queue ended: ``answered`` True (someone took it) or False
    (abandoned); ``wait_seconds`` None when the log predates wait recording."""

    answered: bool
    wait_seconds: float | None


@dataclass(frozen=True, slots=True)
class QueuePeriod:
    """A queue's figures over a period (today, for the wallboard)."""

    arrived: int
    answered: int
    abandoned: int
    short_abandoned: int
    average_wait_seconds: float | None
    p90_wait_seconds: float | None
    answered_in_target: int
    service_level_percent: float | None

    def as_dict(self) -> dict:
        return {
            "arrived": self.arrived,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "average_wait_seconds": self.average_wait_seconds,
            "p90_wait_seconds": self.p90_wait_seconds,
            "answered_in_target": self.answered_in_target,
            "service_level_percent": self.service_level_percent,
        }


def is_arrival(step: str, queue_id: int | None, agent_id: int | None) -> bool:
    """The step brings a conversation into a queue: queued, overflow into it, transferred
    to it (a transfer to a named agent keeps its queue and is not an arrival)."""
    if queue_id is None or step not in _ARRIVALS:
        return False
    return not (step == "transferred" and agent_id is not None)


def is_answer(step: str, from_status: str | None, queue_id: int | None) -> bool:
    """The step ends a customer's wait with a person: accepted, or taken over while
    waiting."""
    if queue_id is None:
        return False
    return step == "accepted" or (step == "taken_over" and from_status in _WAITING)


def is_abandon(step: str, from_status: str | None, queue_id: int | None) -> bool:
    """The customer left while waiting in the queue (a conversation that ends in a flow,
    never queued, is not an abandon of any queue)."""
    return queue_id is not None and step == "abandoned" and from_status in _WAITING


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least ``fraction`` of the
    values at or below it): always a wait that really happened."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def queue_period(
    arrived: int,
    outcomes: Iterable[Outcome],
    *,
    service_level_seconds: int = DEFAULT_SERVICE_LEVEL_SECONDS,
    short_abandon_seconds: int = DEFAULT_SHORT_ABANDON_SECONDS,
) -> QueuePeriod:
    """The figures of one queue from its arrivals and the waits that ended in the period.

    - answered / abandoned: waits that ended that way in the period;
    - short abandoned: abandons after less than ``short_abandon_seconds`` (a customer who
      wrote and left at once): counted, but left out of the service level;
    - average and p90 wait: over answered waits only;
    - service level %: answered within ``service_level_seconds`` over answered plus
      abandoned-not-short, ×100; None when both are 0.
    """
    answered_waits: list[float] = []
    answered = abandoned = short = in_target = 0
    for outcome in outcomes:
        wait = outcome.wait_seconds
        if outcome.answered:
            answered += 1
            if wait is not None:
                answered_waits.append(wait)
                if wait <= service_level_seconds:
                    in_target += 1
        else:
            abandoned += 1
            if wait is not None and wait < short_abandon_seconds:
                short += 1
    return QueuePeriod(
        arrived=arrived,
        answered=answered,
        abandoned=abandoned,
        short_abandoned=short,
        average_wait_seconds=(
            round(math.fsum(answered_waits) / len(answered_waits), 1) if answered_waits else None
        ),
        p90_wait_seconds=percentile(answered_waits, 0.9),
        answered_in_target=in_target,
        service_level_percent=service_level_percent(in_target, answered, abandoned, short),
    )


class PeriodTally:
    """``queue_period`` kept up to date one step at a time (the live wallboard's today):
    each arrival or ended wait is added once, and the figures are read without going
    over the period again. The waits are kept sorted (the p90 and the counts within a
    threshold are found by bisection, so a queue setting changed later still applies)
    and the answered waits' sum exactly (a ``math.fsum`` of them: the same average as
    ``queue_period`` to the last bit)."""

    __slots__ = ("arrived", "answered", "abandoned", "_answered_waits", "_abandon_waits", "_sum")

    def __init__(self) -> None:
        self.arrived = 0
        self.answered = 0
        self.abandoned = 0
        self._answered_waits: list[float] = []
        self._abandon_waits: list[float] = []
        self._sum: list[float] = []  # exact partial sums (Shewchuk), as math.fsum keeps

    def add(self, outcome: Outcome) -> None:
        wait = outcome.wait_seconds
        if outcome.answered:
            self.answered += 1
            if wait is not None:
                insort(self._answered_waits, wait)
                _add_exact(self._sum, float(wait))
        else:
            self.abandoned += 1
            if wait is not None:
                insort(self._abandon_waits, wait)

    def period(
        self,
        *,
        service_level_seconds: int = DEFAULT_SERVICE_LEVEL_SECONDS,
        short_abandon_seconds: int = DEFAULT_SHORT_ABANDON_SECONDS,
    ) -> QueuePeriod:
        waits = self._answered_waits
        in_target = bisect_right(waits, service_level_seconds)
        short = bisect_left(self._abandon_waits, short_abandon_seconds)
        rank = max(1, math.ceil(0.9 * len(waits)))
        return QueuePeriod(
            arrived=self.arrived,
            answered=self.answered,
            abandoned=self.abandoned,
            short_abandoned=short,
            average_wait_seconds=(round(math.fsum(self._sum) / len(waits), 1) if waits else None),
            p90_wait_seconds=waits[rank - 1] if waits else None,
            answered_in_target=in_target,
            service_level_percent=service_level_percent(
                in_target, self.answered, self.abandoned, short
            ),
        )


def _add_exact(partials: list[float], x: float) -> None:
    """Add ``x`` to ``partials``, non-overlapping floats whose exact sum is the running
    total (the first half of ``math.fsum``; ``math.fsum(partials)`` rounds it once)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def service_level_percent(
    in_target: int, answered: int, abandoned: int, short_abandoned: int
) -> float | None:
    """Answered within the target over answered plus abandoned-not-short, ×100 (one
    decimal); None when that is 0. The wallboard's today and every report use this."""
    denominator = answered + abandoned - short_abandoned
    return round(100 * in_target / denominator, 1) if denominator else None


def day_bounds(now: datetime, timezone: str) -> tuple[datetime, date]:
    """Midnight of ``now``'s day in ``timezone`` (as an aware UTC datetime) and that day:
    "today" is the workspace's day, not the server's."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    return midnight.astimezone(UTC), local.date()
