"""WhatsApp's customer service window.

A business may send free-form messages only within 24 hours of the customer's last
message to that number (72 hours after a free entry point such as a click-to-WhatsApp ad);
outside it only approved templates go out, and Meta refuses anything else with 131047.
Checking it here, before the outbox, tells the agent at once instead of after a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SERVICE_WINDOW = timedelta(hours=24)
FREE_ENTRY_POINT_WINDOW = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class ServiceWindow:
    closes_at: datetime | None  # None: the customer never wrote
    # What set ``closes_at``: "customer_message" (24 h), "free_entry_point" (72 h), or
    # "closed_by_meta" (Meta refused a send with 131047 before our clock said so).
    basis: str | None = None

    def is_open(self, now: datetime) -> bool:
        return self.closes_at is not None and now < self.closes_at

    def remaining(self, now: datetime) -> timedelta:
        if not self.is_open(now):
            return timedelta(0)
        return self.closes_at - now  # type: ignore[operator]


def service_window(
    last_inbound_at: datetime | None,
    free_entry_point_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> ServiceWindow:
    """The window from the customer's last message and a free entry point.

    The boundary is exclusive: at exactly 24 h (72 h) after the message the window is
    closed, so a send that races the boundary is refused here rather than by Meta.
    ``closed_at`` is when Meta answered 131047: the window stays closed from then until
    the customer writes again (a message after it reopens the window as usual; storage
    also clears ``closed_at`` when a message arrives, as Meta's timestamps are seconds).
    """
    candidates: list[tuple[datetime, str]] = []
    if last_inbound_at is not None:
        candidates.append((last_inbound_at + SERVICE_WINDOW, "customer_message"))
    if free_entry_point_at is not None:
        candidates.append((free_entry_point_at + FREE_ENTRY_POINT_WINDOW, "free_entry_point"))
    if not candidates:
        return ServiceWindow(None)
    closes_at, basis = max(candidates)
    reopened = last_inbound_at is not None and closed_at is not None and last_inbound_at > closed_at
    if closed_at is not None and not reopened and closed_at < closes_at:
        return ServiceWindow(closed_at, "closed_by_meta")
    return ServiceWindow(closes_at, basis)
