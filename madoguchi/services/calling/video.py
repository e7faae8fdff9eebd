"""Video with a customer: a one-time link to a browser room with the agent.

WhatsApp's Calling API carries voice only, so video leaves WhatsApp: the agent sends the
customer a link (a text message in the conversation) that opens a page where the two
browsers talk WebRTC directly, with Madoguchi's websocket relaying their session
descriptions. The link is a random token (only its hash is stored), valid for
``MADOGUCHI_VIDEO_LINK_MINUTES`` and for one session; the session is an entry in the
conversation's timeline (started, ended, how long), like a call.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from madoguchi.domain.events import MessageQueued
from madoguchi.domain.message_status import MessageStatus
from madoguchi.services.calling.errors import CallRefused
from madoguchi.services.channel.outbox import OutboundRefused, queue_message
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation, Message, VideoRoom
from madoguchi.whatsapp.outbound import TextBody, TextMessage


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _content(room: VideoRoom) -> dict:
    seconds = None
    if room.started_at and room.ended_at:
        seconds = max(0, round((room.ended_at - room.started_at).total_seconds()))
    return {
        "room_id": room.id,
        "status": room.status,
        "agent_id": room.agent_id,
        "expires_at": room.expires_at.isoformat(),
        "started_at": room.started_at.isoformat() if room.started_at else None,
        "ended_at": room.ended_at.isoformat() if room.ended_at else None,
        "duration_seconds": seconds,
    }


async def create_room(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    agent_id: int,
    *,
    base_url: str,
    minutes: int,
    now: datetime,
) -> tuple[VideoRoom, str, str, MessageQueued]:
    """A new room and its link, sent to the customer; returns (room, token, url, event)."""
    token = secrets.token_urlsafe(24)
    url = f"{base_url.rstrip('/')}/video/{token}"
    expires = now + timedelta(minutes=minutes)
    async with db.write() as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
            )
        )
        if conversation is None:
            raise CallRefused("not_found", f"conversation {conversation_id} not found", 404)
        text = (
            f"Join the video call with us: {url}\n"
            f"(valid until {expires.strftime('%Y-%m-%d %H:%M')} UTC)"
        )
        try:
            _, queued = await queue_message(
                db,
                workspace_id,
                conversation.id,
                TextMessage(text=TextBody(body=text, preview_url=False)),
                now=now,
                session=session,
            )
        except OutboundRefused as exc:
            raise CallRefused(exc.code, exc.message, exc.status) from exc
        room = VideoRoom(
            workspace_id=workspace_id,
            conversation_id=conversation.id,
            agent_id=agent_id,
            token_hash=token_hash(token),
            status="open",
            expires_at=expires,
            created_at=now,
        )
        session.add(room)
        await session.flush()
        entry = Message(
            workspace_id=workspace_id,
            conversation_id=conversation.id,
            direction="outbound",
            type="video_call",
            status=MessageStatus.SENT,
            content=_content(room),
            timestamp=now,
        )
        session.add(entry)
        await session.flush()
        room.message_id = entry.id
    return room, token, url, queued


async def room_for_token(db: Database, token: str, now: datetime) -> VideoRoom | None:
    """The room a link opens, unless it expired or its session is over."""
    async with db.read() as session:
        room = await session.scalar(
            select(VideoRoom).where(VideoRoom.token_hash == token_hash(token))
        )
    if room is None or room.status == "ended" or room.expires_at <= now:
        return None
    return room


async def mark(db: Database, room_id: int, status: str, now: datetime) -> VideoRoom | None:
    """The session started (``live``) or ended; the timeline entry follows."""
    async with db.write() as session:
        room = await session.get(VideoRoom, room_id)
        if room is None or room.status == "ended" or room.status == status:
            return room
        if status == "ended" and room.status != "live":
            return room  # a customer who left before the agent came may come back
        room.status = status
        if status == "live":
            room.started_at = now
        else:
            room.ended_at = now
        if room.message_id is not None:
            entry = await session.get(Message, room.message_id)
            if entry is not None:
                entry.content = _content(room)
    return room
