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

    def is_open(self, now: datetime) -> bool:
        return self.closes_at is not None and now < self.closes_at

    def remaining(self, now: datetime) -> timedelta:
        if not self.is_open(now):
            return timedelta(0)
        return self.closes_at - now  # type: ignore[operator]


def service_window(
    last_inbound_at: datetime | None, free_entry_point_at: datetime | None = None
) -> ServiceWindow:
    candidates = []
    if last_inbound_at is not None:
        candidates.append(last_inbound_at + SERVICE_WINDOW)
    if free_entry_point_at is not None:
        candidates.append(free_entry_point_at + FREE_ENTRY_POINT_WINDOW)
    return ServiceWindow(max(candidates) if candidates else None)
