"""``/api/v1/phone-numbers``: the workspace's WhatsApp numbers, connected by admins.

HTTP in, :mod:`madoguchi.services.channel.numbers` does the work, JSON out. Access tokens go
in, never out: no answer and no error message ever contains one.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.channel import numbers as numbers
from madoguchi.services.channel.numbers import NumberInfo, NumberSpec, PhoneNumberError
from madoguchi.web.deps import admin_only, get_runtime, supervisor_or_admin

router = APIRouter(prefix="/api/v1", tags=["whatsapp"])


class PhoneNumberOut(BaseModel):
    id: int
    phone_number_id: str
    display_phone_number: str
    verified_name: str | None
    status: str = Field(description="Meta's status of the number, lower-case (connected…)")
    quality_rating: str | None
    rate_limit_per_second: int
    default_queue_id: int | None
    waba_id: str
    account_name: str

    @classmethod
    def of(cls, info: NumberInfo) -> PhoneNumberOut:
        return cls(**asdict(info))


class PhoneNumberIn(BaseModel):
    # Types only: the service checks values and names the field in words.
    waba_id: str = Field(max_length=64, description="Meta's WhatsApp Business Account id")
    account_name: str | None = Field(
        None, max_length=300, description="Needed when the WABA is new to this workspace"
    )
    phone_number_id: str = Field(max_length=64, description="Meta's phone number id")
    display_phone_number: str = Field(max_length=64, description="e.g. +1 555 0123")
    access_token: str = Field(
        max_length=8192, description="A system user token; stored encrypted, never returned"
    )
    rate_limit_per_second: int = Field(
        numbers.RATE_DEFAULT, description=f"{numbers.RATE_MIN}–{numbers.RATE_MAX}"
    )
    default_queue_id: int | None = Field(None, description="A queue of this workspace")


class PhoneNumberPatch(BaseModel):
    display_phone_number: str | None = Field(None, max_length=64)
    access_token: str | None = Field(
        None, max_length=8192, description="Checked with Meta before it replaces the old one"
    )
    rate_limit_per_second: int | None = None
    default_queue_id: int | None = Field(None, description="null: no default queue")


def http_error(exc: PhoneNumberError) -> HTTPException:
    """The error as ``{"detail": {code, message, field?}}`` with its status."""
    detail = {"code": exc.code, "message": exc.message}
    if exc.field:
        detail["field"] = exc.field
    return HTTPException(exc.status, detail)


@router.get("/phone-numbers", response_model=list[PhoneNumberOut])
async def list_phone_numbers(
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The workspace's WhatsApp numbers (their access tokens are never returned)."""
    async with runtime.db.read() as session:
        rows = await numbers.list_numbers(session, principal.workspace_id)
    return [PhoneNumberOut.of(n) for n in rows]


@router.post(
    "/phone-numbers",
    response_model=PhoneNumberOut,
    status_code=201,
    responses={
        409: {"description": "The WABA or number belongs to another workspace, or is here"},
        422: {"description": "A field is wrong, or Meta refused the token or the id"},
        502: {"description": "Meta's Graph API could not be reached"},
    },
)
async def connect_phone_number(
    body: PhoneNumberIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Connect a number: Meta confirms it with the token given before it is saved."""
    try:
        info = await numbers.connect_number(
            runtime.db,
            runtime.secrets,
            runtime.graph,
            principal.workspace_id,
            NumberSpec(**body.model_dump()),
        )
    except PhoneNumberError as exc:
        raise http_error(exc) from exc
    out = PhoneNumberOut.of(info)
    await _audit(runtime, principal, "number.connect", out, None, out.model_dump(mode="json"))
    return out


async def _audit(runtime: Runtime, principal: Principal, action, out, before, after) -> None:
    """The number services commit on their own: the entry follows in its own write."""
    async with runtime.db.write() as session:
        target = Target("phone_number", out.id, out.display_phone_number)
        await record(session, principal, action, target, before, after)


async def _current(runtime: Runtime, principal: Principal, number_id: int) -> dict | None:
    async with runtime.db.read() as session:
        for info in await numbers.list_numbers(session, principal.workspace_id):
            if info.id == number_id:
                return PhoneNumberOut.of(info).model_dump(mode="json")
    return None


@router.patch("/phone-numbers/{number_id}", response_model=PhoneNumberOut)
async def update_phone_number(
    number_id: int,
    body: PhoneNumberPatch,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Change the display number, token (checked with Meta), rate limit or default queue.

    Only the fields sent change; ``"default_queue_id": null`` removes the default queue.
    """
    changes = body.model_dump(include=body.model_fields_set)
    for key in ("display_phone_number", "access_token", "rate_limit_per_second"):
        if key in changes and changes[key] is None:
            raise http_error(
                PhoneNumberError(key, "cannot be null; leave it out to keep it", code="null")
            )
    before = await _current(runtime, principal, number_id)
    try:
        info = await numbers.update_number(
            runtime.db, runtime.secrets, runtime.graph, principal.workspace_id, number_id, changes
        )
    except PhoneNumberError as exc:
        raise http_error(exc) from exc
    out = PhoneNumberOut.of(info)
    after = out.model_dump(mode="json")
    if "access_token" in changes:
        before, after = {**(before or {}), "access_token": None}, {**after, "access_token": "x"}
    await _audit(runtime, principal, "number.update", out, before, after)
    return out


@router.delete(
    "/phone-numbers/{number_id}",
    status_code=204,
    responses={409: {"description": "The number has conversations: it stays"}},
)
async def remove_phone_number(
    number_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Remove a number that never had a conversation (one that has is refused: 409)."""
    before = await _current(runtime, principal, number_id)
    try:
        await numbers.remove_number(runtime.db, principal.workspace_id, number_id)
    except PhoneNumberError as exc:
        raise http_error(exc) from exc
    if before is not None:
        out = PhoneNumberOut.model_validate(before)
        await _audit(runtime, principal, "number.remove", out, before, None)
    return Response(status_code=204)
