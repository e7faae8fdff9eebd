"""Rows named in a URL, fetched only when the caller may see them (404 otherwise).

Every route that names a conversation, message, media or contact goes through here; the
rule itself is :mod:`madoguchi.services.access.visibility`. A wrong id and a forbidden one
look the same.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import exists, select

from madoguchi.services.access import visibility
from madoguchi.services.access.tokens import Principal
from madoguchi.services.contact_center import conversations as queries
from madoguchi.store.models import Contact, Conversation, Media, Message


async def visible_conversation(session, principal: Principal, conversation_id: int) -> Conversation:
    conversation = await queries.get_conversation(session, principal.workspace_id, conversation_id)
    if conversation is None or not await visible_conversation_row(session, principal, conversation):
        raise HTTPException(404, f"conversation {conversation_id} not found")
    return conversation


async def visible_conversation_row(session, principal: Principal, conversation) -> bool:
    if visibility.sees_every_conversation(principal):
        return conversation.workspace_id == principal.workspace_id
    return await visibility.conversation_visible(session, principal, conversation.id)


async def visible_contact(session, principal: Principal, contact_id: int) -> Contact:
    contact = await session.scalar(
        select(Contact).where(
            Contact.id == contact_id,
            Contact.workspace_id == principal.workspace_id,
            visibility.contact_scope(principal, Contact.id),
        )
    )
    if contact is None:
        raise HTTPException(404, f"contact {contact_id} not found")
    return contact


async def visible_message(session, principal: Principal, message_id: int) -> Message:
    message = await queries.get_message(session, principal.workspace_id, message_id)
    if message is None or not await visibility.message_visible(session, principal, message_id):
        raise HTTPException(404, f"message {message_id} not found")
    return message


async def visible_media(session, principal: Principal, media_id: int) -> Media:
    """Media of a message the caller may see. An agent does not see files nobody's
    message carries yet (another agent's upload)."""
    query = select(Media).where(Media.id == media_id, Media.workspace_id == principal.workspace_id)
    if not visibility.sees_every_conversation(principal):
        query = query.where(
            exists()
            .where(Message.media_id == Media.id)
            .where(
                Message.conversation_id.in_(
                    select(Conversation.id).where(visibility.conversation_scope(principal))
                )
            )
        )
    media = await session.scalar(query)
    if media is None:
        raise HTTPException(404, f"media {media_id} not found")
    return media
