"""Who a webhook is about: the WhatsApp user, and the business number it reached.

Since 2026 a user may arrive with a BSUID and no phone (username adopters), so an
identity is a bundle of optional identifiers; which ones must be present depends on the
update, and each parser says so where it reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from madoguchi.whatsapp.updates import _read
from madoguchi.whatsapp.updates._read import WebhookFormatError

__all__ = ["BusinessPhone", "UserIdentity"]


@dataclass(frozen=True, slots=True)
class UserIdentity:
    """A WhatsApp user as one webhook names them.

    `user_id` (BSUID) is the key to store on; `wa_id` (phone) is what older payloads and
    replies by `to` need. Both are kept because either can be missing.
    """

    user_id: str | None
    wa_id: str | None
    username: str | None
    profile_name: str | None
    parent_user_id: str | None

    @property
    def key(self) -> str | None:
        """The identifier to look a contact up by: BSUID first, phone otherwise."""
        return self.user_id or self.wa_id

    @classmethod
    def empty(cls) -> UserIdentity:
        return cls(None, None, None, None, None)

    @classmethod
    def from_contact(cls, value: object, path: str) -> UserIdentity:
        """One `contacts[]` entry of a messages value."""
        obj = _read.as_dict(value, path)
        profile = _read.opt_dict(obj, "profile", path) or {}
        profile_path = _read.child(path, "profile")
        identity = cls(
            user_id=_read.opt_str(obj, "user_id", path),
            wa_id=_read.opt_str(obj, "wa_id", path),
            username=_read.opt_str(profile, "username", profile_path),
            profile_name=_read.opt_str(profile, "name", profile_path),
            parent_user_id=_read.opt_str(obj, "parent_user_id", path),
        )
        identity.require(path)
        return identity

    def require(self, path: str) -> None:
        """Refuse an identity nobody could be found or answered by."""
        if not self.user_id and not self.wa_id:
            raise WebhookFormatError(path, "names no user: needs a user_id (BSUID) or a wa_id")

    def merged(self, contact: UserIdentity | None) -> UserIdentity:
        """Fill what this (message- or status-level) identity lacks from its contact entry."""
        if contact is None:
            return self
        return UserIdentity(
            user_id=self.user_id or contact.user_id,
            wa_id=self.wa_id or contact.wa_id,
            username=self.username or contact.username,
            profile_name=self.profile_name or contact.profile_name,
            parent_user_id=self.parent_user_id or contact.parent_user_id,
        )

    def matching(self, contacts: Sequence[UserIdentity], *, lone: bool) -> UserIdentity | None:
        """The `contacts[]` entry describing this user.

        BSUID decides when both sides carry one, so two users who share a recycled phone
        number are never merged; the phone decides otherwise. `lone` (one item and one
        contact in the value) pairs them even when the item names nobody itself.
        """
        if self.user_id:
            for contact in contacts:
                if contact.user_id == self.user_id:
                    return contact
        if self.wa_id:
            for contact in contacts:
                if contact.wa_id == self.wa_id and (
                    not contact.user_id or not self.user_id or contact.user_id == self.user_id
                ):
                    return contact
        if lone and len(contacts) == 1:
            only = contacts[0]
            conflicting = (self.user_id and only.user_id and only.user_id != self.user_id) or (
                self.wa_id and only.wa_id and only.wa_id != self.wa_id
            )
            if not conflicting:
                return only
        return None


@dataclass(frozen=True, slots=True)
class BusinessPhone:
    """The business number a messages or calls value concerns (its `metadata`)."""

    phone_number_id: str
    display_phone_number: str | None

    @classmethod
    def from_value(cls, value: object, path: str) -> BusinessPhone:
        obj = _read.as_dict(value, path)
        return cls(
            phone_number_id=_read.req_id(obj, "phone_number_id", path),
            display_phone_number=_read.opt_str(obj, "display_phone_number", path),
        )

    @classmethod
    def of(cls, value: dict, path: str) -> BusinessPhone:
        """The required `metadata` of a value that carries messages, statuses or calls."""
        metadata = _read.req_dict(value, "metadata", path)
        return cls.from_value(metadata, _read.child(path, "metadata"))

    @classmethod
    def maybe(cls, value: dict, path: str) -> BusinessPhone | None:
        metadata = _read.opt_dict(value, "metadata", path)
        if metadata is None:
            return None
        return cls.from_value(metadata, _read.child(path, "metadata"))


def parse_contacts(value: dict, path: str) -> tuple[UserIdentity, ...]:
    """The `contacts[]` of a value; absent means none."""
    items = _read.opt_list(value, "contacts", path) or []
    base = _read.child(path, "contacts")
    return tuple(
        UserIdentity.from_contact(item, _read.index(base, i)) for i, item in enumerate(items)
    )
