"""Reading conversations and their messages, always within one workspace, and the one
visibility rule: agents see their own work and their queues'; a supervisor listed as
supervisor of some queues sees those queues (and what is assigned to them); admins and
supervisors listed on no queue see the whole workspace."""

from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

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
    scope = scope_of(principal) if principal is not None else None
    if scope is not None:
        query = query.where(scope)
    return list((await session.scalars(query)).all())


def scope_of(principal):
    """The condition on ``Conversation`` a caller's reads are limited to (None: all)."""
    if principal.role == "agent":
        return _agent_scope(principal)
    if principal.role == "supervisor":
        return _supervisor_scope(principal)
    return None


def supervised_queues(user_id: int | None):
    """The queues a user is listed as supervisor of (a subquery of queue ids)."""
    from madoguchi.store.models import QueueSupervisor

    return select(QueueSupervisor.queue_id).where(QueueSupervisor.user_id == (user_id or -1))


async def supervised_queue_ids(session: AsyncSession, principal) -> set[int] | None:
    """The queues a caller may supervise: None means every queue of the workspace."""
    if principal.role != "supervisor":
        return None
    ids = set((await session.scalars(supervised_queues(principal.user_id))).all())
    return ids or None


def _supervisor_scope(principal):
    user_id = principal.user_id or -1
    mine = supervised_queues(user_id)
    return or_(
        ~exists(mine),
        Conversation.queue_id.in_(mine),
        Conversation.assigned_agent_id == user_id,
        Conversation.offered_agent_id == user_id,
    )


def _agent_scope(principal):
    """What an agent may see: conversations offered or assigned to them, and the
    conversations of the queues they belong to (their team's work)."""
    from madoguchi.store.models import QueueMember

    user_id = principal.user_id or -1
    my_queues = select(QueueMember.queue_id).where(QueueMember.user_id == user_id)
    return or_(
        Conversation.assigned_agent_id == user_id,
        Conversation.offered_agent_id == user_id,
        Conversation.queue_id.in_(my_queues),
    )


async def visible_to(session: AsyncSession, principal, conversation: Conversation) -> bool:
    if conversation.workspace_id != principal.workspace_id:
        return False
    scope = scope_of(principal)
    if scope is None:
        return True
    found = await session.scalar(
        select(Conversation.id).where(Conversation.id == conversation.id, scope)
    )
    return found is not None


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
