"""Message status ranks: a status only ever moves forward.

Meta delivers status webhooks at least once and out of order (a ``read`` can arrive before
its ``delivered``). Applying them in arrival order would move a message backwards, so every
status has a rank and only a higher rank is applied; lower or equal ones are recorded in
the history but leave the message as it is. ``failed`` ends a send: nothing after it is
applied, and it cannot replace ``delivered``/``read`` (a message the customer has read was
delivered, whatever a late failure claims).
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    QUEUED = "queued"  # ours: in the outbox, not yet handed to Meta
    ACCEPTED = "accepted"  # Meta answered the send with a wamid
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"  # voice message listened to
    FAILED = "failed"
    RECEIVED = "received"  # inbound messages


_RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.PLAYED: 5,
}


def rank(status: str) -> int | None:
    """The rank of a delivery status, or None for statuses outside the ladder."""
    return _RANK.get(status)


def should_apply(current: str, incoming: str) -> bool:
    """Whether a status webhook ``incoming`` may replace the message's ``current`` status."""
    if current in (MessageStatus.FAILED, MessageStatus.RECEIVED):
        return False
    current_rank = rank(current)
    if incoming == MessageStatus.FAILED:
        # A failure only ends a send that had not reached the phone yet.
        return current_rank is not None and current_rank < _RANK[MessageStatus.DELIVERED]
    incoming_rank = rank(incoming)
    if incoming_rank is None or current_rank is None:
        return False
    return incoming_rank > current_rank
