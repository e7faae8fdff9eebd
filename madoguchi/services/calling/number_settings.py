"""A number's calling settings, kept at Meta (``POST /{phone_number_id}/settings``).

Calling on or off, the call icon in the customer's chat, call hours (time zone, weekly
hours, holidays) and callback permission live in Meta's phone number settings, not
here: Madoguchi checks what is asked (so a bad time zone or hour is refused with the
field named, before Meta sees it) and reads them back from Meta.
"""

from __future__ import annotations

import datetime
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from madoguchi.domain.timezones import timezone_problem
from madoguchi.security.secrets import SecretBox
from madoguchi.services.audit.record import Target, record
from madoguchi.services.calling.errors import CallRefused
from madoguchi.store.db import Database
from madoguchi.store.models import PhoneNumber
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.graph import GraphClient

HHMM = re.compile(r"^([01]\d|2[0-3])[0-5]\d$")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


class OpeningHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day_of_week: Literal[DAYS]  # type: ignore[valid-type]
    open_time: str = Field(description="HHMM, e.g. 0900")
    close_time: str = Field(description="HHMM, after open_time")

    @model_validator(mode="after")
    def _times(self) -> OpeningHours:
        for name in ("open_time", "close_time"):
            if not HHMM.match(getattr(self, name)):
                raise ValueError(f"{name} must be HHMM (0000-2359)")
        if self.close_time <= self.open_time:
            raise ValueError("close_time must be after open_time")
        return self


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    start_time: str = "0000"
    end_time: str = "2359"

    @model_validator(mode="after")
    def _times(self) -> Holiday:
        try:
            datetime.date.fromisoformat(self.date)
        except ValueError:
            raise ValueError(f"date {self.date} is not a calendar date") from None
        for name in ("start_time", "end_time"):
            if not HHMM.match(getattr(self, name)):
                raise ValueError(f"{name} must be HHMM (0000-2359)")
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class CallHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ENABLED", "DISABLED"]
    timezone_id: str | None = None
    weekly_operating_hours: list[OpeningHours] = Field(default_factory=list, max_length=14)
    holiday_schedule: list[Holiday] = Field(default_factory=list, max_length=20)

    @field_validator("timezone_id")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            problem = timezone_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _needed(self) -> CallHours:
        if self.status == "ENABLED" and (not self.timezone_id or not self.weekly_operating_hours):
            raise ValueError("enabled call hours need timezone_id and weekly_operating_hours")
        by_day: dict[str, list[OpeningHours]] = {}
        for hours in self.weekly_operating_hours:
            by_day.setdefault(hours.day_of_week, []).append(hours)
        for day, spans in by_day.items():
            if len(spans) > 2:
                raise ValueError(f"{day}: at most two opening spans a day")
            spans.sort(key=lambda h: h.open_time)
            for first, second in zip(spans, spans[1:], strict=False):
                if second.open_time < first.close_time:
                    raise ValueError(
                        f"{day}: {first.open_time}-{first.close_time} and "
                        f"{second.open_time}-{second.close_time} overlap"
                    )
        dates = [h.date for h in self.holiday_schedule]
        for date in dates:
            if dates.count(date) > 1:
                raise ValueError(f"holiday {date} is listed twice")
        return self


class CallingSettings(BaseModel):
    """What may be changed; a field left out stays as Meta has it. Unknown fields are
    refused (a typo in the workspace file must not pass silently)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ENABLED", "DISABLED"] | None = None
    call_icon_visibility: Literal["DEFAULT", "DISABLE_ALL"] | None = None
    callback_permission_status: Literal["ENABLED", "DISABLED"] | None = None
    call_hours: CallHours | None = None


def normalized(calling: dict) -> dict:
    """Meta's settings in the form Madoguchi sends them (defaults filled in), so what a
    file declares compares equal to what Meta answers; unknown fields (``sip``…) dropped."""
    out = {k: calling[k] for k in CallingSettings.model_fields if calling.get(k) is not None}
    try:
        return CallingSettings.model_validate(out).model_dump(mode="json", exclude_none=True)
    except ValueError:
        return out


def differences(current: dict, wanted: CallingSettings) -> list[str]:
    """The fields of ``wanted`` that Meta has otherwise (in declaration order)."""
    have = normalized(current)
    want = wanted.model_dump(mode="json", exclude_none=True)
    return [k for k, v in want.items() if have.get(k) != v]


async def _number(db: Database, workspace_id: int, number_pk: int) -> PhoneNumber:
    async with db.read() as session:
        number = await session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.id == number_pk, PhoneNumber.workspace_id == workspace_id
            )
        )
    if number is None:
        raise CallRefused("not_found", f"phone number {number_pk} not found", 404)
    return number


# What Meta's error code means for an admin changing calling settings: a stable
# ``reason`` (the web app words it in the admin's language) and the English sentence.
MEANINGS: tuple[tuple[str, str, frozenset[int] | range], ...] = (
    (
        "token",
        "Meta refused this number's access token (invalid or expired): "
        "reconnect the number with a new token.",
        frozenset({190}),
    ),
    (
        "permission",
        "The access token may not change this number's settings: give the app the "
        "whatsapp_business_management permission again in Meta's Business settings.",
        frozenset({3, 10, *range(200, 300)}),
    ),
    (
        "not_registered",
        "The number is not registered for the Cloud API: register it first.",
        frozenset({133010}),
    ),
    (
        "rate_limited",
        "Meta is limiting how often this number's settings may change: try again in a few minutes.",
        frozenset({4, 17, 32, 613, 80007, 80008, 130429}),
    ),
    (
        "temporary",
        "Meta had a temporary problem: try again.",
        frozenset({1, 2, 131000, 133004}),
    ),
    (
        "invalid",
        "Meta refused a value as invalid.",
        frozenset({100, 131008, 131009}),
    ),
    (
        "calling",
        "Meta refused calling for this number (calling needs the number's messaging "
        "limit at 2,000 or more and the business to be eligible).",
        range(138000, 139000),
    ),
)


def meaning_of(exc: MetaApiError) -> tuple[str, str]:
    """(reason, sentence) for Meta's error; Meta's own words are added by the caller."""
    for reason, sentence, codes in MEANINGS:
        if exc.code is not None and exc.code in codes:
            return reason, sentence
    return "other", "WhatsApp refused the settings."


def _meta(exc: Exception) -> CallRefused:
    if isinstance(exc, MetaApiError):
        reason, sentence = meaning_of(exc)
        said = exc.details or exc.message or exc.title or ""
        label = f"#{exc.code}" if exc.code is not None else "no code"
        return CallRefused(
            "meta_refused",
            f"{sentence} (Meta: {label}{': ' + said if said else ''})",
            502,
            {"reason": reason, "meta_code": exc.code, "meta_message": said or None},
        )
    return CallRefused(
        "meta_unreachable",
        f"WhatsApp could not be reached: {exc}",
        502,
        {"reason": "unreachable", "meta_code": None, "meta_message": None},
    )


async def read(
    db: Database, graph: GraphClient, secrets: SecretBox, workspace_id: int, number_pk: int
) -> dict:
    number = await _number(db, workspace_id, number_pk)
    try:
        return await graph.calling_settings(
            number.phone_number_id, secrets.decrypt(number.access_token_encrypted)
        )
    except (MetaApiError, GraphTransportError) as exc:
        raise _meta(exc) from exc


async def write(
    db: Database,
    graph: GraphClient,
    secrets: SecretBox,
    workspace_id: int,
    number_pk: int,
    settings: CallingSettings,
    actor=None,
) -> dict:
    """Send the fields given to Meta and answer the settings as Meta then has them.
    With ``actor`` (a Principal), an audit entry records what changed (before: as Meta
    had it just before, when Meta said)."""
    number = await _number(db, workspace_id, number_pk)
    token = secrets.decrypt(number.access_token_encrypted)
    changes = settings.model_dump(mode="json", exclude_none=True)
    if not changes:
        raise CallRefused("nothing_to_change", "name at least one calling setting to change", 422)
    try:
        before = await graph.calling_settings(number.phone_number_id, token)
    except (MetaApiError, GraphTransportError):
        before = None
    try:
        await graph.set_calling_settings(number.phone_number_id, token, changes)
        after = await graph.calling_settings(number.phone_number_id, token)
    except (MetaApiError, GraphTransportError) as exc:
        raise _meta(exc) from exc
    if actor is not None:
        async with db.write() as session:
            await record(
                session,
                actor,
                "number.calling_update",
                Target("phone_number", number.id, number.display_phone_number),
                {k: (before or {}).get(k) for k in changes} if before is not None else None,
                {k: after.get(k) for k in changes},
            )
    return after
