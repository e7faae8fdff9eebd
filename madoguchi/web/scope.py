"""Rows named in a URL, fetched only when the caller may see them (404 otherwise).

Every route that names a conversation or a contact goes through here, so that what a
caller may see is decided in one place and a wrong id and a forbidden one look the same.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import select

from madoguchi.services.access.tokens import Principal
from madoguchi.services.contact_center import conversations as queries
from madoguchi.store.models import Contact, Conversation


async def visible_conversation(session, principal: Principal, conversation_id: int) -> Conversation:
    conversation = await queries.get_conversation(session, principal.workspace_id, conversation_id)
    if conversation is None or not await queries.visible_to(session, principal, conversation):
        raise HTTPException(404, f"conversation {conversation_id} not found")
    return conversation


async def workspace_contact(session, principal: Principal, contact_id: int) -> Contact:
    contact = await session.scalar(
        select(Contact).where(
            Contact.id == contact_id, Contact.workspace_id == principal.workspace_id
        )
    )
    if contact is None:
        raise HTTPException(404, f"contact {contact_id} not found")
    return contact
