"""What each person has read: a per-person, per-conversation watermark.

The agent desktop counts the customer messages that arrived since someone last looked
at a conversation. Kept in the browser only, the counts vanished on every reload; kept
here, they are the same in every tab and after a restart. A marker only moves forward:
two tabs reporting out of order, or a late request, cannot make read messages unread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.db import Database
from madoguchi.store.models import ConversationRead, Message, utcnow


class ReadMarkerError(ValueError):
    """The marker cannot be placed as asked; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReadState:
    conversation_id: int
    last_read_message_id: int | None
    unread: int


async def unread_counts(
    session: AsyncSession, user_id: int, conversation_ids: Iterable[int]
) -> dict[int, int]:
    """Customer (inbound) messages after ``user_id``'s marker, per conversation.

    A conversation the person never opened counts all its customer messages. Every id
    asked about is in the answer (0 when nothing is unread).
    """
    ids = sorted(set(conversation_ids))
    if not ids:
        return {}
    marker = func.coalesce(ConversationRead.last_read_message_id, 0)
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .select_from(Message)
        .outerjoin(
            ConversationRead,
            and_(
                ConversationRead.conversation_id == Message.conversation_id,
                ConversationRead.user_id == user_id,
            ),
        )
        .where(
            Message.conversation_id.in_(ids),
            Message.direction == "inbound",
            Message.id > marker,
        )
        .group_by(Message.conversation_id)
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({conversation_id: count for conversation_id, count in rows.all()})
    return counts


async def mark_read(
    db: Database, workspace_id: int, user_id: int, conversation_id: int, message_id: int
) -> ReadState:
    """Move the person's marker up to ``message_id`` (a message of this conversation).

    One statement (insert, or on conflict raise the marker only if higher) so that two
    concurrent calls cannot lower it on either database.
    """
    async with db.write() as session:
        found = await session.scalar(
            select(Message.id).where(
                Message.id == message_id,
                Message.conversation_id == conversation_id,
                Message.workspace_id == workspace_id,
            )
        )
        if found is None:
            raise ReadMarkerError(
                "message_id",
                f"message {message_id} is not in conversation {conversation_id}; give the id "
                "of the newest message you have seen there",
            )
        table = ConversationRead.__table__
        insert = sqlite_insert if db.sqlite else postgresql_insert
        statement = insert(table).values(
            workspace_id=workspace_id,
            user_id=user_id,
            conversation_id=conversation_id,
            last_read_message_id=message_id,
            updated_at=utcnow(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.user_id, table.c.conversation_id],
            set_={
                "last_read_message_id": statement.excluded.last_read_message_id,
                "updated_at": statement.excluded.updated_at,
            },
            where=statement.excluded.last_read_message_id > table.c.last_read_message_id,
        )
        await session.execute(statement)
    return await read_state(db, user_id, conversation_id)


async def read_state(db: Database, user_id: int, conversation_id: int) -> ReadState:
    async with db.read() as session:
        marker = await session.scalar(
            select(ConversationRead.last_read_message_id).where(
                ConversationRead.user_id == user_id,
                ConversationRead.conversation_id == conversation_id,
            )
        )
        unread = (await unread_counts(session, user_id, [conversation_id]))[conversation_id]
    return ReadState(conversation_id=conversation_id, last_read_message_id=marker, unread=unread)
