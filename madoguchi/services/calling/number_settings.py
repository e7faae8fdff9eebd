"""A number's calling settings, kept at Meta (``POST /{phone_number_id}/settings``).

Calling on or off, the call icon in the customer's chat, call hours (time zone, weekly
hours, holidays) and callback permission live in Meta's phone number settings, not
here: Madoguchi checks what is asked (so a bad time zone or hour is refused with the
field named, before Meta sees it) and reads them back from Meta.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select

from madoguchi.domain.timezones import timezone_problem
from madoguchi.security.secrets import SecretBox
from madoguchi.services.calling.errors import CallRefused
from madoguchi.store.db import Database
from madoguchi.store.models import PhoneNumber
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.graph import GraphClient

HHMM = re.compile(r"^([01]\d|2[0-3])[0-5]\d$")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


class OpeningHours(BaseModel):
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
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    start_time: str = "0000"
    end_time: str = "2359"

    @model_validator(mode="after")
    def _times(self) -> Holiday:
        for name in ("start_time", "end_time"):
            if not HHMM.match(getattr(self, name)):
                raise ValueError(f"{name} must be HHMM (0000-2359)")
        return self


class CallHours(BaseModel):
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
        return self


class CallingSettings(BaseModel):
    """What may be changed; a field left out stays as Meta has it."""

    status: Literal["ENABLED", "DISABLED"] | None = None
    call_icon_visibility: Literal["DEFAULT", "DISABLE_ALL"] | None = None
    callback_permission_status: Literal["ENABLED", "DISABLED"] | None = None
    call_hours: CallHours | None = None


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


def _meta(exc: Exception) -> CallRefused:
    if isinstance(exc, MetaApiError):
        return CallRefused("meta_refused", f"WhatsApp refused the settings: {exc}", 502)
    return CallRefused("meta_unreachable", f"WhatsApp could not be reached: {exc}", 502)


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
) -> dict:
    number = await _number(db, workspace_id, number_pk)
    token = secrets.decrypt(number.access_token_encrypted)
    changes = settings.model_dump(mode="json", exclude_none=True)
    if not changes:
        raise CallRefused("nothing_to_change", "name at least one calling setting to change", 422)
    try:
        await graph.set_calling_settings(number.phone_number_id, token, changes)
        return await graph.calling_settings(number.phone_number_id, token)
    except (MetaApiError, GraphTransportError) as exc:
        raise _meta(exc) from exc
