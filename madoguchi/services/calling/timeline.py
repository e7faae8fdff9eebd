"""A call in the conversation's timeline: one message of type ``call``.

The entry is created when the call starts and rewritten as it moves (answered by whom,
ended, how long, missed), so the chat shows who called, when, for how long and how it
ended, beside the messages, with no second timeline to merge in the desktop.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.message_status import MessageStatus
from madoguchi.store.models import Call, Conversation, Message


def _content(call: Call) -> dict:
    return {
        "call_id": call.id,
        "direction": call.direction,
        "status": call.status,
        "agent_id": call.agent_id,
        "end_reason": call.end_reason,
        "duration_seconds": call.duration_seconds,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
    }


async def add_entry(
    session: AsyncSession, call: Call, conversation: Conversation, at: datetime
) -> Message:
    message = Message(
        workspace_id=call.workspace_id,
        conversation_id=call.conversation_id,
        direction=call.direction,
        type="call",
        status=MessageStatus.RECEIVED if call.direction == "inbound" else MessageStatus.SENT,
        content=_content(call),
        timestamp=at,
    )
    session.add(message)
    await session.flush()
    call.message_id = message.id
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
    return message


async def refresh_entry(session: AsyncSession, call: Call) -> None:
    if call.message_id is None:
        return
    message = await session.get(Message, call.message_id)
    if message is not None:
        message.content = _content(call)
