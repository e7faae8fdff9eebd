"""The one rule deciding which conversations a caller may see — and through them, which
messages, media, contacts, notes, windows and flow logs.

- Admins see every conversation of their workspace; so do supervisors, unless they are
  listed as supervisors of some queues (a queue setting): then they see those queues'
  conversations and what is offered or assigned to them (a take-over), nothing else.
- An agent sees a conversation offered or assigned to them, or queued in one of their
  queues (their team's work); nothing else.
- A contact is visible when one of its conversations is, or when it has none yet (nobody's
  work: an agent may start one).

Every route that names such an object asks here (through ``madoguchi.web.scope``), so a
wrong id and a forbidden one look the same (404), and the rule lives in one place.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.models import Conversation, Message, QueueMember, QueueSupervisor


def sees_every_conversation(principal) -> bool:
    """Admins and supervisors bound to no user see all of their workspace's
    conversations without asking the database (a supervisor may be limited to queues)."""
    return principal.role == "admin" or (
        principal.role == "supervisor" and principal.user_id is None
    )


def supervised_queues(user_id: int | None):
    """The queues a user is listed as supervisor of (a subquery of queue ids)."""
    return select(QueueSupervisor.queue_id).where(QueueSupervisor.user_id == (user_id or -1))


async def supervised_queue_ids(session: AsyncSession, principal) -> set[int] | None:
    """The queues a caller may supervise: None means every queue of the workspace."""
    if principal.role != "supervisor" or principal.user_id is None:
        return None
    ids = set((await session.scalars(supervised_queues(principal.user_id))).all())
    return ids or None


def conversation_scope(principal) -> ColumnElement[bool]:
    """A WHERE clause on ``Conversation`` for what ``principal`` may see (workspace
    included)."""
    in_workspace = Conversation.workspace_id == principal.workspace_id
    if sees_every_conversation(principal):
        return in_workspace
    if principal.user_id is None:  # a workspace token with the agent role: nobody's work
        return false()
    if principal.role == "supervisor":
        mine = supervised_queues(principal.user_id)
        return in_workspace & or_(
            ~exists(mine),
            Conversation.queue_id.in_(mine),
            Conversation.assigned_agent_id == principal.user_id,
            Conversation.offered_agent_id == principal.user_id,
        )
    my_queues = select(QueueMember.queue_id).where(QueueMember.user_id == principal.user_id)
    return in_workspace & or_(
        Conversation.assigned_agent_id == principal.user_id,
        Conversation.offered_agent_id == principal.user_id,
        Conversation.queue_id.in_(my_queues),
    )


async def conversation_visible(session: AsyncSession, principal, conversation_id: int) -> bool:
    found = await session.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id, conversation_scope(principal)
        )
    )
    return found is not None


def contact_scope(principal, contact_id_column) -> ColumnElement[bool]:
    """A clause true when the contact in ``contact_id_column`` is visible."""
    if sees_every_conversation(principal):
        return true()
    visible = exists().where(
        Conversation.contact_id == contact_id_column, conversation_scope(principal)
    )
    none_yet = ~exists().where(Conversation.contact_id == contact_id_column)
    return or_(visible, none_yet)


async def contact_visible(session: AsyncSession, principal, contact_id: int) -> bool:
    """For an agent: one of the contact's conversations is theirs, or it has none."""
    if sees_every_conversation(principal):
        return True
    from madoguchi.store.models import Contact

    found = await session.scalar(
        select(Contact.id).where(
            Contact.id == contact_id,
            Contact.workspace_id == principal.workspace_id,
            contact_scope(principal, Contact.id),
        )
    )
    return found is not None


async def message_visible(session: AsyncSession, principal, message_id: int) -> bool:
    found = await session.scalar(
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, conversation_scope(principal))
    )
    return found is not None
