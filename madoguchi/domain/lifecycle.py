"""The conversation lifecycle: which step may follow which.

Every change of a conversation's status goes through ``next_status`` so that reporting can
trust the event log: a conversation cannot be "answered" without having been offered or
transferred to someone, nor closed twice. The names are the contact-center vocabulary the
reports use (wait time = queued → active, handle time = active → wrap-up/close…).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"  # arrived, not routed yet
    IN_FLOW = "in_flow"  # a flow is talking to the customer
    QUEUED = "queued"  # waiting for an agent
    OFFERED = "offered"  # offered to one agent, waiting for accept/decline
    ACTIVE = "active"  # an agent is handling it
    WRAP_UP = "wrap_up"  # the agent finished talking, records the outcome
    CLOSED = "closed"
    ABANDONED = "abandoned"  # ended before any agent answered


TERMINAL = frozenset({Status.CLOSED, Status.ABANDONED})
OPEN_STATUSES = tuple(s.value for s in Status if s not in TERMINAL)


class Step(StrEnum):
    START_FLOW = "flow_started"
    QUEUE = "queued"
    OFFER = "offered"
    ACCEPT = "accepted"
    DECLINE = "declined"
    OFFER_TIMEOUT = "offer_timeout"
    TRANSFER = "transferred"
    REQUEUE = "requeued"  # the agent went offline: handed back to the queue
    OVERFLOW = "overflow"
    WRAP_UP = "wrap_up"
    CLOSE = "closed"
    ABANDON = "abandoned"
    # A supervisor takes the conversation: assigned to them, whoever had it loses it.
    TAKE_OVER = "taken_over"


class InvalidTransition(ValueError):
    def __init__(self, current: str, step: str) -> None:
        super().__init__(f"a conversation that is {current} cannot be {step}")
        self.current = current
        self.step = step


_ALLOWED: dict[Step, tuple[frozenset[Status], Status]] = {
    Step.START_FLOW: (frozenset({Status.NEW}), Status.IN_FLOW),
    Step.QUEUE: (frozenset({Status.NEW, Status.IN_FLOW}), Status.QUEUED),
    Step.OFFER: (frozenset({Status.QUEUED}), Status.OFFERED),
    Step.ACCEPT: (frozenset({Status.OFFERED}), Status.ACTIVE),
    Step.DECLINE: (frozenset({Status.OFFERED}), Status.QUEUED),
    Step.OFFER_TIMEOUT: (frozenset({Status.OFFERED}), Status.QUEUED),
    Step.TRANSFER: (
        frozenset({Status.NEW, Status.IN_FLOW, Status.QUEUED, Status.OFFERED, Status.ACTIVE}),
        Status.QUEUED,
    ),
    Step.REQUEUE: (frozenset({Status.OFFERED, Status.ACTIVE}), Status.QUEUED),
    Step.OVERFLOW: (frozenset({Status.QUEUED}), Status.QUEUED),
    Step.WRAP_UP: (frozenset({Status.ACTIVE}), Status.WRAP_UP),
    Step.CLOSE: (frozenset(s for s in Status if s not in TERMINAL), Status.CLOSED),
    Step.ABANDON: (
        frozenset({Status.NEW, Status.IN_FLOW, Status.QUEUED, Status.OFFERED}),
        Status.ABANDONED,
    ),
    Step.TAKE_OVER: (
        frozenset({Status.NEW, Status.IN_FLOW, Status.QUEUED, Status.OFFERED, Status.ACTIVE}),
        Status.ACTIVE,
    ),
}

# Steps where a waiting customer got a person: the end of their wait (docs/metrics.md).
ANSWERING_STEPS = frozenset({Step.ACCEPT.value, Step.TAKE_OVER.value})


def next_status(current: str, step: Step) -> Status:
    allowed_from, target = _ALLOWED[step]
    if current not in allowed_from:
        raise InvalidTransition(current, step.value)
    return target


def end_step(current: str) -> Step:
    """How a conversation ends when the customer goes quiet: abandoned if no agent had it."""
    return Step.CLOSE if current in (Status.ACTIVE, Status.WRAP_UP) else Step.ABANDON
