"""Choosing the agent a queued conversation is offered to.

Pure rules over a snapshot of candidates, so each routing method is testable alone; the
routing service builds the snapshot under row locks so the choice is safe under
concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Method(StrEnum):
    LONGEST_IDLE = "longest_idle"  # the agent whose last assignment is oldest
    LEAST_BUSY = "least_busy"  # the agent with the fewest open conversations
    ROUND_ROBIN = "round_robin"  # members in turn, after the last one offered


@dataclass(frozen=True, slots=True)
class Candidate:
    user_id: int
    priority: int  # queue member priority: lower is offered first
    load: int  # conversations offered, active or in wrap-up
    last_assigned_at: datetime | None


def eligible(candidates: list[Candidate], capacity: int, excluded: set[int]) -> list[Candidate]:
    return [c for c in candidates if c.load < capacity and c.user_id not in excluded]


def choose(
    candidates: list[Candidate], method: Method, last_offered_user_id: int | None = None
) -> Candidate | None:
    """The candidate to offer to, among those with spare capacity (already filtered).

    Member priority decides first; the method breaks ties; the user id makes the choice
    deterministic.
    """
    if not candidates:
        return None
    best_priority = min(c.priority for c in candidates)
    pool = sorted((c for c in candidates if c.priority == best_priority), key=lambda c: c.user_id)
    if method == Method.LEAST_BUSY:
        return min(pool, key=lambda c: (c.load, _idle_key(c)))
    if method == Method.ROUND_ROBIN:
        if last_offered_user_id is None:
            return pool[0]
        after = [c for c in pool if c.user_id > last_offered_user_id]
        return after[0] if after else pool[0]
    return min(pool, key=_idle_key)


def _idle_key(c: Candidate) -> tuple[int, float]:
    # Never-assigned agents are the longest idle of all.
    return (0, 0.0) if c.last_assigned_at is None else (1, c.last_assigned_at.timestamp())
