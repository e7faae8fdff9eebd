"""Updates about the account rather than a conversation: templates, numbers, the WABA,
user preferences and identity changes, and value-level errors.

Each field Meta documents gets a typed class so admin pages and alerts read attributes;
any other field becomes an `UnknownFieldEvent`, stored and never refused, because Meta
adds fields faster than we do and a refused delivery is retried for a week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from madoguchi.whatsapp.updates import _read
from madoguchi.whatsapp.updates.errors import MetaErrorInfo
from madoguchi.whatsapp.updates.identity import BusinessPhone, UserIdentity, parse_contacts

__all__ = [
    "AccountEvent",
    "AccountUpdate",
    "BusinessCapabilityUpdate",
    "PhoneNumberNameUpdate",
    "PhoneNumberQualityUpdate",
    "TemplateQualityUpdate",
    "TemplateStatusUpdate",
    "UnknownFieldEvent",
    "UserIdUpdate",
    "UserPreferencesUpdate",
    "WebhookErrors",
]


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """Base of every non-message update; `value` is the change's value as received.

    `timestamp` is the entry's `time` (or the item's own time) when Meta sends one.
    """

    waba_id: str
    field: str
    value: dict
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class UnknownFieldEvent(AccountEvent):
    """A field (or a messages value) this parser does not model yet; kept for later."""

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        return [cls(waba_id, field, value, timestamp)]


@dataclass(frozen=True, slots=True)
class TemplateStatusUpdate(AccountEvent):
    """A template was approved, rejected, paused, disabled…: what may be sent changes."""

    event: str | None
    message_template_id: str | None
    message_template_name: str | None
    message_template_language: str | None
    reason: str | None
    message_template_category: str | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        return [
            cls(
                waba_id,
                field,
                value,
                timestamp,
                event=_read.opt_str(value, "event", path),
                message_template_id=_read.opt_id(value, "message_template_id", path),
                message_template_name=_read.opt_str(value, "message_template_name", path),
                message_template_language=_read.opt_str(value, "message_template_language", path),
                reason=_read.opt_str(value, "reason", path),
                message_template_category=_read.opt_str(value, "message_template_category", path),
            )
        ]


@dataclass(frozen=True, slots=True)
class TemplateQualityUpdate(AccountEvent):
    """A template's quality score moved; RED comes before a pause."""

    message_template_id: str | None
    message_template_name: str | None
    message_template_language: str | None
    previous_quality_score: str | None
    new_quality_score: str | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        return [
            cls(
                waba_id,
                field,
                value,
                timestamp,
                message_template_id=_read.opt_id(value, "message_template_id", path),
                message_template_name=_read.opt_str(value, "message_template_name", path),
                message_template_language=_read.opt_str(value, "message_template_language", path),
                previous_quality_score=_read.opt_str(value, "previous_quality_score", path),
                new_quality_score=_read.opt_str(value, "new_quality_score", path),
            )
        ]


@dataclass(frozen=True, slots=True)
class PhoneNumberQualityUpdate(AccountEvent):
    """A number's messaging limit or throughput changed (or it was flagged)."""

    display_phone_number: str | None
    event: str | None
    current_limit: str | None
    old_limit: str | None
    max_daily_conversations_per_business: str | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        return [
            cls(
                waba_id,
                field,
                value,
                timestamp,
                display_phone_number=_read.opt_str(value, "display_phone_number", path),
                event=_read.opt_str(value, "event", path),
                current_limit=_read.opt_str(value, "current_limit", path),
                old_limit=_read.opt_str(value, "old_limit", path),
                max_daily_conversations_per_business=_read.opt_str(
                    value, "max_daily_conversations_per_business", path
                ),
            )
        ]


@dataclass(frozen=True, slots=True)
class PhoneNumberNameUpdate(AccountEvent):
    """The outcome of a display-name review for one number."""

    display_phone_number: str | None
    decision: str | None
    requested_verified_name: str | None
    rejection_reason: str | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        return [
            cls(
                waba_id,
                field,
                value,
                timestamp,
                display_phone_number=_read.opt_str(value, "display_phone_number", path),
                decision=_read.opt_str(value, "decision", path),
                requested_verified_name=_read.opt_str(value, "requested_verified_name", path),
                rejection_reason=_read.opt_str(value, "rejection_reason", path),
            )
        ]


@dataclass(frozen=True, slots=True)
class AccountUpdate(AccountEvent):
    """WABA lifecycle: verification, bans, restrictions, violations, partner sharing.

    Only the common parts are typed; each event's own detail object stays in `value`.
    """

    event: str | None
    phone_number: str | None
    ban_info: dict | None
    violation_info: dict | None
    restriction_info: tuple[dict, ...]
    waba_info: dict | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        restrictions = value.get("restriction_info")
        if isinstance(restrictions, dict):
            restrictions = [restrictions]
        elif restrictions is not None:
            restrictions = _read.opt_list(value, "restriction_info", path)
        base = _read.child(path, "restriction_info")
        restriction_info = tuple(
            _read.as_dict(item, _read.index(base, i)) for i, item in enumerate(restrictions or [])
        )
        return [
            cls(
                waba_id,
                field,
                value,
                timestamp,
                event=_read.opt_str(value, "event", path),
                phone_number=_read.opt_id(value, "phone_number", path),
                ban_info=_read.opt_dict(value, "ban_info", path),
                violation_info=_read.opt_dict(value, "violation_info", path),
                restriction_info=restriction_info,
                waba_info=_read.opt_dict(value, "waba_info", path),
            )
        ]


@dataclass(frozen=True, slots=True)
class BusinessCapabilityUpdate(AccountEvent):
    """New capability limits (numbers per WABA, daily conversation tier)."""

    max_daily_conversation_per_phone: int | None
    max_phone_numbers_per_business: int | None
    max_phone_numbers_per_waba: int | None
    max_daily_conversations_per_business: str | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        tier = value.get("max_daily_conversations_per_business")
        return [
            cls(
                waba_id,
                field,
                value,
                timestamp,
                max_daily_conversation_per_phone=_read.opt_int(
                    value, "max_daily_conversation_per_phone", path
                ),
                max_phone_numbers_per_business=_read.opt_int(
                    value, "max_phone_numbers_per_business", path
                ),
                max_phone_numbers_per_waba=_read.opt_int(value, "max_phone_numbers_per_waba", path),
                # A tier name ("TIER_2K") in current versions, a bare number in older ones.
                max_daily_conversations_per_business=None if tier is None else str(tier),
            )
        ]


@dataclass(frozen=True, slots=True)
class UserPreferencesUpdate(AccountEvent):
    """One user stopped or resumed marketing messages; one event per user in the value.

    Sending marketing templates after a "stop" fails (131050), so the contact's opt-out
    flag must follow this.
    """

    phone_number_id: str | None
    display_phone_number: str | None
    user: UserIdentity
    category: str | None
    preference: str
    detail: str | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        phone = BusinessPhone.maybe(value, path)
        contacts = parse_contacts(value, path)
        items = _read.opt_list(value, "user_preferences", path) or []
        if not items:
            return UnknownFieldEvent.from_change(
                waba_id=waba_id, field=field, value=value, timestamp=timestamp, path=path
            )
        base = _read.child(path, "user_preferences")
        events: list[AccountEvent] = []
        for i, item in enumerate(items):
            here = _read.index(base, i)
            obj = _read.as_dict(item, here)
            own = UserIdentity(
                user_id=_read.opt_str(obj, "user_id", here),
                wa_id=_read.opt_str(obj, "wa_id", here),
                username=None,
                profile_name=None,
                parent_user_id=_read.opt_str(obj, "parent_user_id", here),
            )
            user = own.merged(own.matching(contacts, lone=len(items) == 1))
            user.require(here)
            events.append(
                cls(
                    waba_id,
                    field,
                    value,
                    _read.opt_time(obj, "timestamp", here) or timestamp,
                    phone_number_id=phone.phone_number_id if phone else None,
                    display_phone_number=phone.display_phone_number if phone else None,
                    user=user,
                    category=_read.opt_str(obj, "category", here),
                    preference=_read.req_str(obj, "value", here).lower(),
                    detail=_read.opt_str(obj, "detail", here),
                )
            )
        return events


# Meta's documentation is not settled on this shape (see UserIdUpdate); these are the
# spellings seen or announced, tried in order.
_USER_ID_LISTS = ("user_id_updates", "user_id_update", "user_id_changes", "user_id_change")
_PREVIOUS_KEYS = ("previous_user_id", "old_user_id")
_CURRENT_KEYS = ("user_id", "new_user_id", "current_user_id")
_PREVIOUS_PARENT_KEYS = ("previous_parent_user_id", "old_parent_user_id")
_CURRENT_PARENT_KEYS = ("parent_user_id", "new_parent_user_id", "current_parent_user_id")


def _first_str(obj: dict, keys: tuple[str, ...], path: str) -> str | None:
    for key in keys:
        found = _read.opt_str(obj, key, path)
        if found:
            return found
    return None


@dataclass(frozen=True, slots=True)
class UserIdUpdate(AccountEvent):
    """A user's BSUID changed, announced on a field of its own.

    Meta first announced a `user_id_update` webhook field, then (changelog, 2026-08)
    said BSUID changes arrive as `system` messages instead (see `IdentityChange`). Both
    are read, so whichever a given app receives moves the contact to its new id.
    """

    phone_number_id: str | None
    display_phone_number: str | None
    previous_user_id: str | None
    user_id: str | None
    previous_parent_user_id: str | None
    parent_user_id: str | None
    wa_id: str | None

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        phone = BusinessPhone.maybe(value, path)
        items: list[tuple[object, str]] = [(value, path)]
        for key in _USER_ID_LISTS:
            found = _read.opt_list(value, key, path)
            if found:
                base = _read.child(path, key)
                items = [(item, _read.index(base, i)) for i, item in enumerate(found)]
                break
        events: list[AccountEvent] = []
        for item, here in items:
            obj = _read.as_dict(item, here)
            events.append(
                cls(
                    waba_id,
                    field,
                    value,
                    _read.opt_time(obj, "timestamp", here) or timestamp,
                    phone_number_id=phone.phone_number_id if phone else None,
                    display_phone_number=phone.display_phone_number if phone else None,
                    previous_user_id=_first_str(obj, _PREVIOUS_KEYS, here),
                    user_id=_first_str(obj, _CURRENT_KEYS, here),
                    previous_parent_user_id=_first_str(obj, _PREVIOUS_PARENT_KEYS, here),
                    parent_user_id=_first_str(obj, _CURRENT_PARENT_KEYS, here),
                    wa_id=_read.opt_str(obj, "wa_id", here),
                )
            )
        return events


@dataclass(frozen=True, slots=True)
class WebhookErrors(AccountEvent):
    """A messages value carrying only `errors[]`: Meta failed on something not tied to
    one message (e.g. a rate limit on the number), and admins should hear of it."""

    phone_number_id: str | None
    display_phone_number: str | None
    errors: tuple[MetaErrorInfo, ...]

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        phone = BusinessPhone.maybe(value, path)
        return [
            cls(
                waba_id,
                field,
                value,
                timestamp,
                phone_number_id=phone.phone_number_id if phone else None,
                display_phone_number=phone.display_phone_number if phone else None,
                errors=MetaErrorInfo.many(value, "errors", path),
            )
        ]
