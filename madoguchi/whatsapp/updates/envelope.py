"""One webhook delivery (the POSTed JSON body) into an ordered list of typed updates.

All of it is parsed before anything is returned. Strict by default (the first malformed
place raises); given a ``rejected`` list, an update (a message, a status, an account
change) that does not parse is put there with its raw JSON and the reason, and the rest
is returned: a signed delivery from Meta is never refused as a whole for one bad update
(Meta would redeliver it for days, then drop every update in it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

__all__ = ["OBJECT", "RejectedUpdate", "Update", "parse_delivery"]

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


@dataclass(frozen=True, slots=True)
class RejectedUpdate:
    """One update that did not parse: where it was, why, and its raw JSON."""

    path: str
    reason: str
    raw: object


def _lenient(rejected: list[RejectedUpdate] | None, path: str, raw: object, parse):
    """``parse()``'s updates; with ``rejected``, a malformed one is kept there instead."""
    if rejected is None:
        return parse()
    try:
        return parse()
    except WebhookFormatError as exc:
        rejected.append(RejectedUpdate(path, str(exc), raw))
        return []
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        rejected.append(RejectedUpdate(path, f"{path}: {type(exc).__name__}: {exc}", raw))
        return []


def parse_delivery(payload: object, rejected: list[RejectedUpdate] | None = None) -> list[Update]:
    """Every update in `payload` (the json-decoded body), in payload order.

    Raises `WebhookFormatError` naming the first malformed place (with ``rejected``: only
    when the envelope itself is malformed; bad updates are collected there); an unknown
    field is not malformed and comes back as an `UnknownFieldEvent`.
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
        path = _read.index("entry", i)
        updates.extend(
            _lenient(rejected, path, entry, lambda e=entry, p=path: _parse_entry(e, p, rejected))
        )
    return updates


def _parse_entry(
    entry: object, path: str, rejected: list[RejectedUpdate] | None = None
) -> list[Update]:
    obj = _read.as_dict(entry, path)
    waba_id = _read.req_id(obj, "id", path)
    entry_time = _read.opt_time(obj, "time", path)
    changes = _read.req_list(obj, "changes", path)
    updates: list[Update] = []
    base = _read.child(path, "changes")
    for i, change in enumerate(changes):
        here = _read.index(base, i)
        updates.extend(
            _lenient(
                rejected,
                here,
                change,
                lambda c=change, h=here: _parse_change(waba_id, entry_time, c, h, rejected),
            )
        )
    return updates


def _parse_change(
    waba_id: str,
    entry_time: datetime | None,
    change: object,
    here: str,
    rejected: list[RejectedUpdate] | None,
) -> list[Update]:
    change_obj = _read.as_dict(change, here)
    field = _read.req_str(change_obj, "field", here)
    value = _read.req_dict(change_obj, "value", here)
    value_path = _read.child(here, "value")
    if field == "messages":
        return _parse_messages_value(waba_id, value, value_path, entry_time, rejected)
    parser = _ACCOUNT_FIELDS.get(field, UnknownFieldEvent.from_change)
    return parser(waba_id=waba_id, field=field, value=value, timestamp=entry_time, path=value_path)


def _parse_messages_value(
    waba_id: str,
    value: dict,
    path: str,
    entry_time: datetime | None,
    rejected: list[RejectedUpdate] | None = None,
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
    for kind, items, base in (
        (InboundMessage, messages, _read.child(path, "messages")),
        (MessageStatus, statuses, _read.child(path, "statuses")),
    ):
        for i, item in enumerate(items):
            here = _read.index(base, i)

            def one(kind=kind, item=item, here=here, lone=len(items) == 1) -> list[Update]:
                return [
                    kind.from_value(
                        item, here, waba_id=waba_id, phone=phone, contacts=contacts, lone=lone
                    )
                ]

            updates.extend(_lenient(rejected, here, item, one))
    if errors:
        updates.extend(
            WebhookErrors.from_change(
                waba_id=waba_id, field="messages", value=value, timestamp=entry_time, path=path
            )
        )
    return updates
