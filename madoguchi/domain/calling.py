"""Rules of WhatsApp calls as plain Python: call states, Meta's limits on permission
requests, and reading a customer's answer to a permission request.

Meta limits how often a business may ask one customer for permission to call (at the
time of writing: one request per 24 hours and two per 7 days); asking past the limit is
refused by Meta, so it is refused here first, with the time the next request is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

RINGING = "ringing"
CONNECTING = "connecting"  # business-initiated: Meta is ringing the customer
ACTIVE = "active"
ENDED = "ended"
MISSED = "missed"
REJECTED = "rejected"
FAILED = "failed"
LIVE_STATUSES = frozenset({RINGING, CONNECTING, ACTIVE})
FINAL_STATUSES = frozenset({ENDED, MISSED, REJECTED, FAILED})

# The reasons the business's own hang-up records. It records its reason before it asks
# Meta to terminate, because Meta answers that with a terminate webhook which may be
# processed before the hang-up commits: on a call not yet final, one of these reasons
# says the hang-up is the business's, not the customer's.
HANG_UP_REASONS = frozenset({"agent_hung_up", "cancelled"})


def hang_up_outcome(status: str, direction: str) -> tuple[str, str]:
    """The final status and reason of a call the business hangs up while it is ``status``:
    an answered call ends; an outbound call not answered yet is cancelled; an inbound call
    still ringing is missed."""
    if status == ACTIVE:
        return ENDED, "agent_hung_up"
    if direction == "outbound":
        return ENDED, "cancelled"
    return MISSED, "agent_hung_up"


# (window, how many requests it may hold)
PERMISSION_REQUEST_LIMITS: tuple[tuple[timedelta, int], ...] = (
    (timedelta(hours=24), 1),
    (timedelta(days=7), 2),
)
# A customer who calls the business may be called back for this long (callback permission).
CALLBACK_PERMISSION = timedelta(days=7)


def next_request_allowed_at(requested: Sequence[datetime], now: datetime) -> datetime | None:
    """When the next permission request is allowed, or None if it is allowed now."""
    latest: datetime | None = None
    for window, limit in PERMISSION_REQUEST_LIMITS:
        recent = sorted(t for t in requested if now - t < window)
        if len(recent) >= limit:
            free_at = recent[len(recent) - limit] + window
            latest = free_at if latest is None or free_at > latest else latest
    return latest


@dataclass(frozen=True, slots=True)
class PermissionReply:
    """A customer's `call_permission_reply`: accepted or not, until when, for good or not."""

    accepted: bool
    expires_at: datetime | None
    permanent: bool
    source: str | None


def read_permission_reply(content: dict) -> PermissionReply | None:
    """The permission answer inside an interactive message's content, if it is one."""
    if not isinstance(content, dict) or content.get("type") != "call_permission_reply":
        return None
    reply = content.get("call_permission_reply")
    if not isinstance(reply, dict):
        return None
    response = str(reply.get("response", "")).lower()
    expires = reply.get("expiration_timestamp")
    expires_at = None
    if isinstance(expires, (int, str)) and str(expires).isdigit():
        expires_at = datetime.fromtimestamp(int(expires), UTC)
    return PermissionReply(
        accepted=response == "accept",
        expires_at=expires_at,
        permanent=bool(reply.get("is_permanent")),
        source=reply.get("response_source"),
    )


def permission_holds(
    status: str, permanent: bool, expires_at: datetime | None, now: datetime
) -> bool:
    """Whether an answered request still allows calling."""
    if status != "accepted":
        return False
    return permanent or expires_at is None or expires_at > now
