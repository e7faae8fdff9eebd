"""``/api/v1/contacts/{id}/marketing``: whether a customer accepts marketing templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.channel import marketing_optout
from madoguchi.web.deps import any_role, get_runtime
from madoguchi.web.scope import visible_contact

router = APIRouter(prefix="/api/v1", tags=["templates"])


class PreferenceIn(BaseModel):
    opted_out: bool = Field(description="True: no marketing templates to this customer")


def _preference_out(contact_id: int, preference) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "opted_out": bool(preference and preference.opted_out),
        "source": preference.source if preference else None,
        "detail": preference.detail if preference else None,
        "changed_at": preference.changed_at if preference else None,
        "opted_out_at": preference.opted_out_at if preference else None,
    }


@router.get("/contacts/{contact_id}/marketing")
async def marketing_preference(
    contact_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Whether marketing templates may be sent to this customer, and why not."""
    async with runtime.db.read() as session:
        contact = await visible_contact(session, principal, contact_id)
        return _preference_out(
            contact.id, await marketing_optout.preference_of(session, contact.id)
        )


@router.put("/contacts/{contact_id}/marketing")
async def set_marketing_preference(
    contact_id: int,
    request: PreferenceIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Record an opt-out (or opt-in) the customer told an agent."""
    async with runtime.db.write() as session:
        contact = await visible_contact(session, principal, contact_id)
        previous = await marketing_optout.preference_of(session, contact.id)
        before = {"opted_out": bool(previous and previous.opted_out)}
        await marketing_optout.set_preference(
            session,
            contact,
            opted_out=request.opted_out,
            source="agent",
            detail=f"set by user {principal.user_id}" if principal.user_id else "set by API",
        )
        await record(
            session,
            principal,
            "contact.marketing",
            Target("contact", contact.id, contact.profile_name or contact.wa_id),
            before,
            {"opted_out": request.opted_out},
        )
        return _preference_out(
            contact.id, await marketing_optout.preference_of(session, contact.id)
        )
