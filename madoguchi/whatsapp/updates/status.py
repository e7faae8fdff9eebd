"""Status updates about messages we sent: sent, delivered, read, failed, played.

They arrive at least once and out of order; this module only reads them. Ranking them
(a late "delivered" never undoes a "read") is the domain's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from madoguchi.whatsapp.updates import _read
from madoguchi.whatsapp.updates.errors import MetaErrorInfo
from madoguchi.whatsapp.updates.identity import BusinessPhone, UserIdentity

__all__ = ["MessageStatus"]


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """One `statuses[]` entry: what happened to one wamid we sent.

    `recipient` may name nobody: a failed send to a phone carries no BSUID, and the
    wamid alone is enough to find the message it is about.
    """

    waba_id: str
    phone_number_id: str
    display_phone_number: str | None
    wamid: str
    status: str
    timestamp: datetime
    recipient: UserIdentity
    conversation: dict | None
    pricing: dict | None
    errors: tuple[MetaErrorInfo, ...]
    raw: dict
    biz_opaque_callback_data: str | None

    @classmethod
    def from_value(
        cls,
        value: object,
        path: str,
        *,
        waba_id: str,
        phone: BusinessPhone,
        contacts: Sequence[UserIdentity],
        lone: bool,
    ) -> MessageStatus:
        """Parse `statuses[i]`; `contacts` are the value's, `lone` if it holds one status."""
        obj = _read.as_dict(value, path)
        wamid = _read.req_str(obj, "id", path)
        status = _read.req_str(obj, "status", path).lower()
        timestamp = _read.req_time(obj, "timestamp", path)
        own = UserIdentity(
            user_id=_read.opt_str(obj, "recipient_user_id", path),
            wa_id=_read.opt_str(obj, "recipient_id", path),
            username=None,
            profile_name=None,
            parent_user_id=_read.opt_str(obj, "recipient_parent_user_id", path),
        )
        return cls(
            waba_id=waba_id,
            phone_number_id=phone.phone_number_id,
            display_phone_number=phone.display_phone_number,
            wamid=wamid,
            status=status,
            timestamp=timestamp,
            recipient=own.merged(own.matching(contacts, lone=lone)),
            conversation=_read.opt_dict(obj, "conversation", path),
            pricing=_read.opt_dict(obj, "pricing", path),
            errors=MetaErrorInfo.many(obj, "errors", path),
            raw=obj,
            biz_opaque_callback_data=_read.opt_str(obj, "biz_opaque_callback_data", path),
        )
