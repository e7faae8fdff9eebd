"""One webhook delivery (the POSTed JSON body) into an ordered list of typed updates.

All of it is parsed before anything is returned: a delivery is stored whole or refused
whole, never half-way, so a retry from Meta cannot meet a partly stored first attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeAlias

from madoguchi.whatsapp.updates import _read
from madoguchi.whatsapp.updates._read import WebhookFormatError
from madoguchi.whatsapp.updates.account import (
    AccountEvent,
    AccountUpdate,
    BusinessCapabilityUpdate,
    PhoneNumberNameUpdate,
    PhoneNumberQualityUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UnknownFieldEvent,
    UserIdUpdate,
    UserPreferencesUpdate,
    WebhookErrors,
)
from madoguchi.whatsapp.updates.calls import CallEvent
from madoguchi.whatsapp.updates.identity import BusinessPhone, parse_contacts
from madoguchi.whatsapp.updates.message import InboundMessage
from madoguchi.whatsapp.updates.status import MessageStatus

__all__ = ["OBJECT", "Update", "parse_delivery"]

OBJECT = "whatsapp_business_account"

Update: TypeAlias = InboundMessage | MessageStatus | AccountEvent

_FieldParser = Callable[..., list[AccountEvent]]

_ACCOUNT_FIELDS: dict[str, _FieldParser] = {
    "message_template_status_update": TemplateStatusUpdate.from_change,
    "message_template_quality_update": TemplateQualityUpdate.from_change,
    "phone_number_quality_update": PhoneNumberQualityUpdate.from_change,
    "phone_number_name_update": PhoneNumberNameUpdate.from_change,
    "account_update": AccountUpdate.from_change,
    "business_capability_update": BusinessCapabilityUpdate.from_change,
    "user_preferences": UserPreferencesUpdate.from_change,
    "user_id_update": UserIdUpdate.from_change,
    "user_id_change": UserIdUpdate.from_change,
    "calls": CallEvent.from_change,
}


def parse_delivery(payload: object) -> list[Update]:
    """Every update in `payload` (the json-decoded body), in payload order.

    Raises `WebhookFormatError` naming the first malformed place; an unknown field is
    not malformed and comes back as an `UnknownFieldEvent`.
    """
    body = _read.as_dict(payload, "body")
    kind = body.get("object")
    if kind != OBJECT:
        raise WebhookFormatError("object", f"must be {OBJECT!r}, got {kind!r}")
    entries = _read.req_list(body, "entry", "")
    if not entries:
        raise WebhookFormatError("entry", "must not be empty")
    updates: list[Update] = []
    for i, entry in enumerate(entries):
        updates.extend(_parse_entry(entry, _read.index("entry", i)))
    return updates


def _parse_entry(entry: object, path: str) -> list[Update]:
    obj = _read.as_dict(entry, path)
    waba_id = _read.req_id(obj, "id", path)
    entry_time = _read.opt_time(obj, "time", path)
    changes = _read.req_list(obj, "changes", path)
    updates: list[Update] = []
    base = _read.child(path, "changes")
    for i, change in enumerate(changes):
        here = _read.index(base, i)
        change_obj = _read.as_dict(change, here)
        field = _read.req_str(change_obj, "field", here)
        value = _read.req_dict(change_obj, "value", here)
        value_path = _read.child(here, "value")
        if field == "messages":
            updates.extend(_parse_messages_value(waba_id, value, value_path, entry_time))
            continue
        parser = _ACCOUNT_FIELDS.get(field, UnknownFieldEvent.from_change)
        updates.extend(
            parser(waba_id=waba_id, field=field, value=value, timestamp=entry_time, path=value_path)
        )
    return updates


def _parse_messages_value(
    waba_id: str, value: dict, path: str, entry_time: datetime | None
) -> list[Update]:
    messages = _read.opt_list(value, "messages", path) or []
    statuses = _read.opt_list(value, "statuses", path) or []
    errors = _read.opt_list(value, "errors", path) or []
    if not messages and not statuses:
        maker = WebhookErrors if errors else UnknownFieldEvent
        return list(
            maker.from_change(
                waba_id=waba_id, field="messages", value=value, timestamp=entry_time, path=path
            )
        )
    phone = BusinessPhone.of(value, path)
    contacts = parse_contacts(value, path)
    updates: list[Update] = []
    base = _read.child(path, "messages")
    for i, message in enumerate(messages):
        updates.append(
            InboundMessage.from_value(
                message,
                _read.index(base, i),
                waba_id=waba_id,
                phone=phone,
                contacts=contacts,
                lone=len(messages) == 1,
            )
        )
    base = _read.child(path, "statuses")
    for i, status in enumerate(statuses):
        updates.append(
            MessageStatus.from_value(
                status,
                _read.index(base, i),
                waba_id=waba_id,
                phone=phone,
                contacts=contacts,
                lone=len(statuses) == 1,
            )
        )
    if errors:
        updates.extend(
            WebhookErrors.from_change(
                waba_id=waba_id, field="messages", value=value, timestamp=entry_time, path=path
            )
        )
    return updates
