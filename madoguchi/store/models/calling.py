"""Calls (WhatsApp Calling API) and the customers' permissions to be called.

A call row follows one WhatsApp call from its first webhook or request to its end; the
session descriptions are kept so the agent's browser can answer an offer that arrived
while it was elsewhere. A permission request row is both the history Meta's limits are
counted on and, once answered, the permission itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, JSONType, UTCDateTime, utcnow

__all__ = ["Call", "CallPermissionRequest", "VideoRoom"]


class Call(Base):
    """One voice call between a customer and the business, either direction."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    phone_number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The timeline entry (a message of type "call") that shows this call in the chat.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    meta_call_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    # ringing | connecting | active | ended | missed | rejected | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ringing_agent_ids: Mapped[list] = mapped_column(JSONType, default=list)
    declined_agent_ids: Mapped[list] = mapped_column(JSONType, default=list)
    offer_sdp: Mapped[str | None] = mapped_column(Text)
    answer_sdp: Mapped[str | None] = mapped_column(Text)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallPermissionRequest(Base):
    """One request for permission to call a customer, and the customer's answer."""

    __tablename__ = "call_permission_requests"
    __table_args__ = (
        Index("ix_call_permission_contact", "contact_id", "phone_number_id", "requested_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    phone_number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # requested | accepted | rejected; "callback" rows come from the customer calling in.
    status: Mapped[str] = mapped_column(String(16), default="requested")
    source: Mapped[str] = mapped_column(String(16), default="request")  # request | callback
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VideoRoom(Base):
    """A one-time video link sent to a customer: a browser room with one agent.

    Only the token's hash is kept; the link works until ``expires_at`` or until the
    session ended, whichever comes first.
    """

    __tablename__ = "video_rooms"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | live | ended
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
