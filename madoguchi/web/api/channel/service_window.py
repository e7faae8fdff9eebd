"""``/api/v1/…/window``: WhatsApp's customer service window of a conversation or a contact."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.channel.service_window import conversation_window, window_facts
from madoguchi.store.models import (
    PhoneNumber,
)
from madoguchi.web.deps import any_role, get_runtime
from madoguchi.web.scope import visible_contact, visible_conversation

router = APIRouter(prefix="/api/v1", tags=["templates"])


@router.get("/conversations/{conversation_id}/window")
async def conversation_service_window(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """WhatsApp's customer service window for this conversation's customer and number."""
    async with runtime.db.read() as session:
        conversation = await visible_conversation(session, principal, conversation_id)
        facts = await conversation_window(session, conversation)
        return {
            "conversation_id": conversation.id,
            "contact_id": conversation.contact_id,
            "phone_number_id": conversation.phone_number.phone_number_id,
            **facts.describe(datetime.now(UTC)),
        }


@router.get("/contacts/{contact_id}/window")
async def contact_service_window(
    contact_id: int,
    phone_number_id: str | None = Query(None, description="One business number (Meta's id)"),
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """The window with each business number of the workspace (or the one named)."""
    now = datetime.now(UTC)
    async with runtime.db.read() as session:
        contact = await visible_contact(session, principal, contact_id)
        query = select(PhoneNumber).where(PhoneNumber.workspace_id == principal.workspace_id)
        if phone_number_id:
            query = query.where(PhoneNumber.phone_number_id == phone_number_id)
        numbers = list((await session.scalars(query.order_by(PhoneNumber.id))).all())
        if phone_number_id and not numbers:
            raise HTTPException(404, f"phone number {phone_number_id} not found")
        windows = []
        for number in numbers:
            facts = await window_facts(session, contact.id, number.id)
            windows.append({"phone_number_id": number.phone_number_id, **facts.describe(now)})
    return {"contact_id": contact.id, "windows": windows}
