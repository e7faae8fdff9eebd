"""Who a WhatsApp user is: BSUID first, phone when known.

Since 2026 every user has a business-scoped user id (BSUID, ``user_id``); a phone number
(``wa_id``) is only present when the user has not hidden it behind a username. One person
can therefore reach us first by phone and later by BSUID (or the reverse), and must stay
one contact. These rules decide which stored contact an observed identity belongs to and
how the stored identity is brought up to date, without knowing how contacts are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class ObservedIdentity:
    """What one webhook told us about a user."""

    user_id: str | None
    wa_id: str | None
    username: str | None = None
    profile_name: str | None = None
    parent_user_id: str | None = None

    def __post_init__(self) -> None:
        if not self.user_id and not self.wa_id:
            raise ValueError("a WhatsApp user needs a BSUID (user_id) or a phone (wa_id)")


@dataclass(slots=True)
class KnownIdentity:
    """The identity part of a stored contact (mutable: updates are applied to it)."""

    user_id: str | None
    wa_id: str | None
    username: str | None
    profile_name: str | None
    parent_user_id: str | None = None


def choose_contact(by_user_id: C | None, by_wa_id: C | None) -> C | None:
    """Pick the stored contact an observation belongs to.

    The BSUID wins: it is the identity Meta keys on. A phone match is used only when no
    contact carries the BSUID yet (the user was first seen by phone).
    """
    return by_user_id if by_user_id is not None else by_wa_id


def merge_identity(known: KnownIdentity, seen: ObservedIdentity) -> bool:
    """Bring ``known`` up to date with ``seen``; return whether anything changed.

    A BSUID is filled in when missing but never silently replaced: a new BSUID for a known
    phone means the user changed numbers, which the ingest treats as a new contact. A phone
    is filled in or updated (a user may reveal it later). Names and usernames follow the
    latest observation, but an absent value never erases a known one.
    """
    changed = False
    if seen.user_id and not known.user_id:
        known.user_id, changed = seen.user_id, True
    if seen.wa_id and seen.wa_id != known.wa_id:
        known.wa_id, changed = seen.wa_id, True
    for attr in ("username", "profile_name", "parent_user_id"):
        value = getattr(seen, attr)
        if value and value != getattr(known, attr):
            setattr(known, attr, value)
            changed = True
    return changed
