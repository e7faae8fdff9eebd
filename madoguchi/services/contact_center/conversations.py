"""Reading conversations and their messages, always within one workspace."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from madoguchi.services.access import visibility
from madoguchi.store.models import Conversation, Message


async def list_conversations(
    session: AsyncSession,
    workspace_id: int,
    *,
    status: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
    contact_id: int | None = None,
    principal=None,
) -> list[Conversation]:
    query = (
        select(Conversation)
        .where(Conversation.workspace_id == workspace_id)
        .options(selectinload(Conversation.contact), selectinload(Conversation.phone_number))
        .order_by(Conversation.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(Conversation.status == status)
    if before_id:
        query = query.where(Conversation.id < before_id)
    if contact_id:
        query = query.where(Conversation.contact_id == contact_id)
    if principal is not None:
        query = query.where(visibility.conversation_scope(principal))
    return list((await session.scalars(query)).all())


async def get_conversation(
    session: AsyncSession, workspace_id: int, conversation_id: int
) -> Conversation | None:
    return await session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id, Conversation.workspace_id == workspace_id)
        .options(selectinload(Conversation.contact), selectinload(Conversation.phone_number))
    )


async def list_messages(
    session: AsyncSession,
    workspace_id: int,
    conversation_id: int,
    *,
    after_id: int | None = None,
    limit: int = 100,
) -> list[Message]:
    query = (
        select(Message)
        .where(Message.workspace_id == workspace_id, Message.conversation_id == conversation_id)
        .options(selectinload(Message.media))
        .order_by(Message.id)
        .limit(limit)
    )
    if after_id:
        query = query.where(Message.id > after_id)
    return list((await session.scalars(query)).all())


async def get_message(session: AsyncSession, workspace_id: int, message_id: int) -> Message | None:
    return await session.scalar(
        select(Message)
        .where(Message.id == message_id, Message.workspace_id == workspace_id)
        .options(selectinload(Message.media))
    )


async def latest_inbound_wamid(session: AsyncSession, conversation_id: int) -> str | None:
    return await session.scalar(
        select(Message.wamid)
        .where(Message.conversation_id == conversation_id, Message.direction == "inbound")
        .order_by(Message.id.desc())
        .limit(1)
    )
