"""``/api/v1/costs/estimate``: what a send will cost, shown before it goes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.billing.estimates import (
    EstimateRefused,
    Recipient,
    estimate_recipients,
    recipients_of_contacts,
    template_category,
)
from madoguchi.store.models import PhoneNumber
from madoguchi.web.deps import any_role, get_runtime
from madoguchi.web.scope import visible_conversation

router = APIRouter(prefix="/api/v1", tags=["billing"])

MAX_RECIPIENTS = 100_000


class EstimateRecipient(BaseModel):
    wa_id: str | None = Field(None, description="Phone with country code")
    user_id: str | None = Field(None, description="BSUID, e.g. JP.70211330012345")


class EstimateIn(BaseModel):
    conversation_id: int | None = Field(
        None, description="Price a send into this conversation (its number and customer)"
    )
    phone_number_id: str | None = Field(
        None, description="Or: the business number (Meta's phone number id) …"
    )
    recipients: list[EstimateRecipient] = Field(
        default_factory=list, description="… and the customers (phone and/or BSUID)"
    )
    contact_ids: list[int] = Field(default_factory=list, description="… or known contacts")
    template_id: int | None = None
    template_name: str | None = None
    language: str | None = None
    category: str | None = Field(
        None, description="MARKETING | UTILITY | AUTHENTICATION, when no template is named"
    )


def _refused(code: str, message: str, status: int = 422) -> HTTPException:
    return HTTPException(status, {"code": code, "message": message})


@router.post("/costs/estimate")
async def estimate(
    body: EstimateIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """The estimated cost of sending a template (or a free-form message, with no template
    and no category) by the card in force now: total, billable and free recipients, and
    the lines by market. Free when WhatsApp's rules say so (service window, entry point)."""
    if len(body.recipients) + len(body.contact_ids) > MAX_RECIPIENTS:
        raise _refused("too_many_recipients", f"at most {MAX_RECIPIENTS} recipients")
    ws = principal.workspace_id
    async with runtime.db.read() as session:
        contact_ids = list(body.contact_ids)
        if body.conversation_id is not None:
            conversation = await visible_conversation(session, principal, body.conversation_id)
            number_pk = conversation.phone_number_id
            contact_ids.append(conversation.contact_id)
        elif body.phone_number_id:
            number_pk = await session.scalar(
                select(PhoneNumber.id).where(
                    PhoneNumber.workspace_id == ws,
                    PhoneNumber.phone_number_id == body.phone_number_id,
                )
            )
            if number_pk is None:
                raise _refused("not_found", f"number {body.phone_number_id} not found", 404)
        else:
            raise _refused("number_missing", "give conversation_id or phone_number_id")
        if any(not r.wa_id and not r.user_id for r in body.recipients):
            raise _refused("no_recipient", "each recipient needs wa_id or user_id")
        try:
            category = body.category
            if body.template_id is not None or body.template_name:
                category = await template_category(
                    session,
                    ws,
                    number_pk,
                    template_id=body.template_id,
                    name=body.template_name,
                    language=body.language,
                )
            recipients = [Recipient(wa_id=r.wa_id, user_id=r.user_id) for r in body.recipients]
            recipients += await recipients_of_contacts(session, ws, contact_ids)
            result = await estimate_recipients(session, ws, number_pk, category, recipients)
        except EstimateRefused as exc:
            raise _refused(exc.code, exc.message, exc.status) from exc
        except ValueError as exc:  # an unknown category
            raise _refused("invalid_category", str(exc)) from exc
    return result.to_dict()
