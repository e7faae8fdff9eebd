"""Calling API webhooks (`calls` field): call connects, terminations and call statuses.

A user-initiated call's SDP offer arrives here and must be answered within seconds, so
the call id, direction and session are typed for the calling service to act on at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from madoguchi.whatsapp.updates import _read
from madoguchi.whatsapp.updates.account import AccountEvent, UnknownFieldEvent
from madoguchi.whatsapp.updates.errors import MetaErrorInfo
from madoguchi.whatsapp.updates.identity import BusinessPhone

__all__ = ["CallEvent"]


@dataclass(frozen=True, slots=True)
class CallEvent(AccountEvent):
    """One `calls[]` entry (`event` connect/terminate) or call `statuses[]` entry
    (`event` "status", with `status` RINGING/ACCEPTED/REJECTED…)."""

    phone_number_id: str
    display_phone_number: str | None
    call_id: str
    event: str
    status: str | None
    direction: str | None
    from_: str | None
    to: str | None
    from_user_id: str | None
    to_user_id: str | None
    session: dict | None
    start_time: datetime | None
    end_time: datetime | None
    duration: int | None
    errors: tuple[MetaErrorInfo, ...]
    raw: dict

    @classmethod
    def from_change(
        cls, *, waba_id: str, field: str, value: dict, timestamp: datetime | None, path: str
    ) -> list[AccountEvent]:
        calls = _read.opt_list(value, "calls", path) or []
        statuses = _read.opt_list(value, "statuses", path) or []
        if not calls and not statuses:
            return UnknownFieldEvent.from_change(
                waba_id=waba_id, field=field, value=value, timestamp=timestamp, path=path
            )
        phone = BusinessPhone.of(value, path)
        events: list[AccountEvent] = []
        base = _read.child(path, "calls")
        for i, item in enumerate(calls):
            here = _read.index(base, i)
            obj = _read.as_dict(item, here)
            events.append(
                cls._make(waba_id, field, value, phone, obj, here, event=None, timestamp=timestamp)
            )
        base = _read.child(path, "statuses")
        for i, item in enumerate(statuses):
            here = _read.index(base, i)
            obj = _read.as_dict(item, here)
            events.append(
                cls._make(
                    waba_id, field, value, phone, obj, here, event="status", timestamp=timestamp
                )
            )
        return events

    @classmethod
    def _make(
        cls,
        waba_id: str,
        field: str,
        value: dict,
        phone: BusinessPhone,
        obj: dict,
        path: str,
        *,
        event: str | None,
        timestamp: datetime | None,
    ) -> CallEvent:
        is_status = event == "status"
        status = _read.opt_str(obj, "status", path)
        return cls(
            waba_id,
            field,
            value,
            _read.opt_time(obj, "timestamp", path) or timestamp,
            phone_number_id=phone.phone_number_id,
            display_phone_number=phone.display_phone_number,
            call_id=_read.req_str(obj, "id", path),
            event="status" if is_status else _read.req_str(obj, "event", path).lower(),
            status=status.upper() if status else None,
            direction=_read.opt_str(obj, "direction", path),
            from_=_read.opt_str(obj, "from", path),
            to=_read.opt_str(obj, "recipient_id" if is_status else "to", path),
            from_user_id=_read.opt_str(obj, "from_user_id", path),
            to_user_id=_read.opt_str(obj, "recipient_user_id" if is_status else "to_user_id", path),
            session=_read.opt_dict(obj, "session", path),
            start_time=_read.opt_time(obj, "start_time", path),
            end_time=_read.opt_time(obj, "end_time", path),
            duration=_read.opt_int(obj, "duration", path),
            errors=MetaErrorInfo.many(obj, "errors", path),
            raw=obj,
        )
